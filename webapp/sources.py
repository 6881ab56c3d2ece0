"""The sources' scores for one profile: the scope a call scores (`Scope`), the profile as catalog
indices (`Query`), and the `Sources` mixin of `webapp.recommend.Recommender` that sums the liked
(minus the disliked) movies' kNN, EASE and NeuMF lists and folds the profile into the ALS space,
giving one call's `Scores`. The lists' sums are kept only on the movies the lists reach: a few
hundred, where a scope holds thousands (tens of thousands on the full releases).

Imports only numpy and the standard library (the web app stays light).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from webapp.profile import Profile
from webapp.reasons import MODELS
from webapp.recommend_tables import TrainedArrays
from webapp.recommendation import LIKED, PICKED

# How hard a disliked movie pushes the implicit-ALS fold-in: a "preference 0" with confidence
# NEGATIVE_ALS * alpha * weight. On two folds of ml-latest-small the ALS push cost HR@10 (0.867
# without it, 0.842 with it), and on all five folds at today's blend the push of 0.25 to 2 never
# raised the second round (A 0.808 at 0, 0.806 at 1; B 0.820 at 0, 0.814 at 1). So the ALS
# fold-in leaves disliked movies out (docs/EVALUATION.md); their kNN / EASE / NeuMF lists push
# through BlendWeights.negative.
NEGATIVE_ALS = 0.0
LIST_SOURCES = ("knn", "ease", "neumf")  # the sources summed from per-movie lists
PICK_LISTS_CACHE = 1024  # picks whose kNN / EASE / NeuMF lists are kept per scope (a few kB each)


@dataclass(frozen=True)
class Scope:
    """The catalog indices one call scores; its score arrays are indexed by position in `idx`.

    Usually the members of the two sections (about a third of the catalog on ml-latest-small);
    every movie only when a section cannot fill itself and the fallbacks need all scores.
    """

    idx: np.ndarray  # catalog indices, ascending
    where: np.ndarray  # catalog index -> its position in idx, -1 outside
    key: int | None  # the less-known minimum count it was made for (None: every movie)
    # The scope's rows of the ALS factors and of the log vote counts, contiguous: a call scores
    # only these rows (a third of the work of scoring every movie and picking the scope's out).
    factors: np.ndarray | None
    log_votes: np.ndarray


@dataclass(frozen=True)
class PickLists:
    """What one pick adds to the kNN, EASE and NeuMF scores of a scope: its three lists one
    after the other (LIST_SOURCES order), as positions, values and which source each entry is
    of, each list in the order it is summed (the same order, so the same floats, as over the
    whole catalog)."""

    pos: np.ndarray
    vals: np.ndarray
    source: np.ndarray  # per entry: its list's place in LIST_SOURCES
    cf_cols: np.ndarray  # catalog columns of its positive co-rating (cf) neighbours


@dataclass(frozen=True)
class Scores:
    """One call's source scores over a scope.

    The list sources (kNN, EASE, NeuMF) reach only the movies on the profile's lists, a few
    hundred of a scope of thousands (tens of thousands on the full releases), so they are kept
    on those positions only (`at`); every other movie scores 0 in them. The ALS fold-in and the
    popularity prior score every movie.
    """

    at: np.ndarray  # scope positions some list reaches, ascending
    reached: np.ndarray  # per scope position: whether some list reaches it
    place: np.ndarray  # per scope position some list reaches: its index in `at`
    lists: np.ndarray  # (LIST_SOURCES, len(at)): the list sources' totals at `at`
    rows: np.ndarray  # (LIST_SOURCES, liked movies, len(at)): each liked movie's (weighted) part
    als: np.ndarray  # over the whole scope
    popularity: np.ndarray  # log vote counts over the whole scope
    knn_cf_cols: np.ndarray  # catalog columns of the liked movies' positive cf neighbours

    def found(self, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For scope positions: a mask of those some list reaches, and their index in `at`."""
        return self.reached[positions], self.place[positions]

    def models_at(self, positions: np.ndarray) -> np.ndarray:
        """The MODELS' totals (rows: knn, als, ease, neumf) at scope positions."""
        hit, where = self.found(positions)
        out = np.zeros((len(MODELS), len(positions)))
        for source, total in zip(LIST_SOURCES, self.lists):
            out[MODELS.index(source), hit] = total[where[hit]]
        out[MODELS.index("als")] = self.als[positions]
        return out

    def rows_at(self, source: str, positions: np.ndarray) -> np.ndarray:
        """One list source's per-liked-movie parts at scope positions (rows: liked movies)."""
        hit, where = self.found(positions)
        rows = self.rows[LIST_SOURCES.index(source)]
        out = np.zeros((len(rows), len(positions)))
        out[:, hit] = rows[:, where[hit]]
        return out

    def dense(self, source: str) -> np.ndarray:
        """One source's scores over the whole scope."""
        if source == "als":
            return self.als
        if source == "popularity":
            return self.popularity
        out = np.zeros(len(self.reached))
        out[self.at] = self.lists[LIST_SOURCES.index(source)]
        return out


@dataclass(frozen=True)
class Query:
    """A validated profile as catalog indices and weights (None: every weight 1.0, the plain
    picks, for which the arithmetic stays exactly that of three picks)."""

    ids: tuple[int, ...]  # liked ids, in profile order
    idx: np.ndarray
    weights: np.ndarray | None
    neg_idx: np.ndarray
    neg_weights: np.ndarray
    every: np.ndarray  # every profile movie's index: none is recommended
    liked_stars: np.ndarray | None  # explicit fold-in targets (None: 5 for each)
    disliked_stars: np.ndarray
    verb: str  # the reasons' verb: PICKED for plain picks, else LIKED
    feedback: bool  # a profile beyond the plain picks: BlendWeights.after_feedback applies
    profile: Profile  # what it was made from (hashable: Recommender.remember's keys)

    @classmethod
    def of(cls, profile: Profile, index: Mapping[int, int]) -> "Query":
        def at(ids: Sequence[int]) -> np.ndarray:
            return np.array([index[m] for m in ids], dtype=np.int64)

        stars = profile.stars()
        weights = None if profile.is_plain else profile.liked_weights()
        liked_stars = (
            None if not stars else np.array([stars.get(m, 5.0) for m in profile.liked], dtype=np.float64)
        )
        return cls(
            ids=tuple(profile.liked),
            idx=at(profile.liked),
            weights=weights,
            neg_idx=at(profile.disliked),
            neg_weights=profile.disliked_weights(),
            every=at(profile.ids()),
            liked_stars=liked_stars,
            disliked_stars=np.array([stars.get(m, 1.0) for m in profile.disliked], dtype=np.float64),
            verb=PICKED if profile.is_plain else LIKED,
            feedback=profile.has_feedback,
            profile=profile,
        )


class Sources(TrainedArrays):
    """The source-scoring half of Recommender (see the module docstring)."""

    # set by Recommender.__init__ (besides TrainedArrays')
    als_reg: float
    als_alpha: float
    als_mode: str
    _gram: np.ndarray | None
    _eye: np.ndarray | None
    _everyone: Scope
    _pick_lists: Callable[[int, int | None], PickLists]
    _sections_scope: Callable[[int], Scope]

    def _pick_scores(self, query: "Query", scope: Scope) -> "Scores":
        """The sources' scores over scope: the liked movies' kNN / EASE / NeuMF lists summed
        (each weighted; disliked movies subtract theirs) on the positions the lists reach, the
        ALS fold-in on every position, and the (catalog) columns of positive cf neighbours."""
        m = len(scope.idx)
        liked = [self._pick_lists(p, scope.key) for p in query.idx.tolist()]
        disliked = [self._pick_lists(p, scope.key) for p in query.neg_idx.tolist()]
        reached = np.zeros(m, dtype=bool)
        for lists in liked + disliked:
            reached[lists.pos] = True
        at = np.flatnonzero(reached)
        place = np.zeros(m, dtype=np.int64)  # scope position -> its index in `at`
        place[at] = np.arange(len(at))
        rows = self._rows(liked, query.weights, place, len(at))
        totals = np.empty((len(LIST_SOURCES), len(at)))
        for total, source_rows in zip(totals, rows):
            source_rows.sum(axis=0, out=total)
        if disliked:
            negative = self._rows(disliked, self.weights.negative * query.neg_weights, place, len(at))
            for total, source_rows in zip(totals, negative):
                total -= source_rows.sum(axis=0)
        return Scores(
            at=at,
            reached=reached,
            place=place,
            lists=totals,
            rows=rows,
            als=self._als_scores(query, scope),
            popularity=scope.log_votes,
            knn_cf_cols=np.concatenate([lists.cf_cols for lists in liked]),
        )

    @staticmethod
    def _rows(
        pick_lists: Sequence[PickLists], weights: np.ndarray | None, place: np.ndarray, n: int
    ) -> np.ndarray:
        """Per list source, per movie: its contributions at the n reached positions (place: scope
        position -> index among them), times its weight (a weight of 1.0 leaves every float as it
        was). One np.bincount sums them all: each (source, movie, position) gets its entries in
        list order, so every value is the float a sum over the whole scope gives."""
        k = len(pick_lists)
        if not k:
            return np.zeros((len(LIST_SOURCES), 0, n))
        pos = np.concatenate([lists.pos for lists in pick_lists])
        source = np.concatenate([lists.source for lists in pick_lists])
        movie = np.repeat(np.arange(k), [len(lists.pos) for lists in pick_lists])
        bins = (source * k + movie) * n + place[pos]
        vals = np.concatenate([lists.vals for lists in pick_lists])
        summed = np.bincount(bins, weights=vals, minlength=len(LIST_SOURCES) * k * n)
        # (without entries, np.bincount answers integers whatever the weights)
        rows = summed.astype(np.float64, copy=False).reshape(len(LIST_SOURCES), k, n)
        if weights is not None:
            rows *= weights[None, :, None]
        return rows

    def _make_pick_lists(self, p: int, scope_key: int | None) -> PickLists:
        """One pick's kNN neighbours (similarities clipped at 0) and NeuMF two-hop movies
        (its top users -> their top movies, the two scores multiplied), as positions in the scope
        with their values. np.bincount then sums them in this order, so every total is the same
        float as a sum over the whole catalog."""
        scope = self._everyone if scope_key is None else self._sections_scope(scope_key)
        empty_pos, empty_vals = np.zeros(0, dtype=np.int64), np.zeros(0)
        knn_pos, knn_vals, cf_cols = empty_pos, empty_vals, empty_pos
        if self.knn is not None:
            lo, hi = self.knn.ptr[p], self.knn.ptr[p + 1]
            cols, vals = self.knn.cols[lo:hi], np.maximum(self.knn.vals[lo:hi], 0.0)
            knn_pos, knn_vals = self._in_scope(scope, cols, vals)
            # The reasons only ask whether a movie has a positive co-rating (cf) similarity, so
            # the cf neighbours are kept as a short column list instead of a total.
            positive = vals > 0  # a cf total is positive iff one of its clipped terms is
            if self.knn.extra is not None:
                positive &= self.knn.extra[lo:hi] == 0
            cf_cols = cols[positive]
        neumf_pos, neumf_vals = empty_pos, empty_vals
        if self.movie_users is not None and self.user_movies is not None:
            users, user_w = self.movie_users.row(p)
            if len(users):
                owner, movies, movie_w = self.user_movies.rows(users)
                neumf_pos, neumf_vals = self._in_scope(scope, movies, user_w[owner] * movie_w)
        ease_pos, ease_vals = empty_pos, empty_vals
        if self.ease is not None:
            ease_pos, ease_vals = self._in_scope(scope, *self.ease.row(p))
        by_source = ((knn_pos, knn_vals), (ease_pos, ease_vals), (neumf_pos, neumf_vals))  # LIST_SOURCES
        return PickLists(
            pos=np.concatenate([pos for pos, _ in by_source]),
            vals=np.concatenate([vals for _, vals in by_source]),
            source=np.repeat(np.arange(len(by_source)), [len(pos) for pos, _ in by_source]),
            cf_cols=cf_cols,
        )

    @staticmethod
    def _in_scope(scope: Scope, cols: np.ndarray, vals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(positions in scope, values) of the entries whose column is in scope, order kept."""
        pos = scope.where[cols]
        keep = pos >= 0
        return pos[keep], vals[keep]

    def _als_scores(self, query: "Query", scope: Scope) -> np.ndarray:
        """Fold the profile into the ALS item space (ridge solve) and score the scope's movies.

        Implicit mode is Spark's implicit normal equation for one user: a liked movie has
        preference 1 and confidence 1 + alpha * weight, a disliked one preference 0 and
        confidence NEGATIVE_ALS * alpha * weight, which pulls the taste vector away from it (0
        by default, see above). With three plain picks this is exactly the earlier three-pick
        fold-in.
        """
        if self.als_factors is None or self._gram is None or self._eye is None or scope.factors is None:
            return np.zeros(len(scope.idx))
        idx, w = query.idx, query.weights
        picked = self.als_factors[idx]
        disliked = self.als_factors[query.neg_idx]
        n = len(idx) + len(query.neg_idx)  # Spark scales reg by the user's rating count
        if self.als_mode == "explicit":
            targets = np.full(len(idx), 5.0) if query.liked_stars is None else query.liked_stars
            rows = np.vstack([picked, disliked])
            y = np.concatenate([targets, query.disliked_stars])
            c = np.ones(len(y)) if w is None else np.concatenate([w, query.neg_weights])
            a = (rows.T * c) @ rows + self.als_reg * n * self._eye
            b = rows.T @ (c * y)
        elif w is None and not len(query.neg_idx):
            a = self._gram + self.als_alpha * (picked.T @ picked) + self.als_reg * n * self._eye
            b = (1.0 + self.als_alpha) * picked.sum(axis=0)
        else:
            weights = np.ones(len(idx)) if w is None else w
            a = (
                self._gram
                + self.als_alpha * ((picked.T * weights) @ picked)
                + self.als_alpha * ((disliked.T * (NEGATIVE_ALS * query.neg_weights)) @ disliked)
                + self.als_reg * n * self._eye
            )
            b = ((1.0 + self.als_alpha * weights)[:, None] * picked).sum(axis=0)
        user = np.linalg.solve(a, b)
        return scope.factors @ user
