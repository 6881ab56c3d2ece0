"""The sources' scores for one profile: the scope a call scores (`Scope`), the profile as catalog
indices (`Query`), and the `Sources` mixin of `webapp.recommend.Recommender` that sums the liked
(minus the disliked) movies' kNN, EASE and NeuMF lists and folds the profile into the ALS space.

Imports only numpy and the standard library (the web app stays light).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from webapp.profile import Profile
from webapp.reasons import MODELS
from webapp.recommend_tables import TrainedArrays

# How hard a disliked movie pushes the implicit-ALS fold-in: a "preference 0" with confidence
# NEGATIVE_ALS * alpha * weight. On two folds of ml-latest-small the ALS push cost HR@10 (0.867
# without it, 0.842 with it), and on all five folds at today's blend the push of 0.25 to 2 never
# raised the second round (A 0.808 at 0, 0.806 at 1; B 0.820 at 0, 0.814 at 1). So the ALS
# fold-in leaves disliked movies out (docs/EVALUATION.md); their kNN / EASE / NeuMF lists push
# through BlendWeights.negative.
NEGATIVE_ALS = 0.0
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
    """What one pick adds to the kNN, EASE and NeuMF scores of a scope: positions and values, in
    the order they are summed (the same order, so the same floats, as over the whole catalog)."""

    knn_pos: np.ndarray
    knn_vals: np.ndarray
    cf_cols: np.ndarray  # catalog columns of its positive co-rating (cf) neighbours
    neumf_pos: np.ndarray
    neumf_vals: np.ndarray
    ease_pos: np.ndarray
    ease_vals: np.ndarray


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
    verb: str  # "picked" for plain picks, else "liked"
    feedback: bool  # a profile beyond the plain picks: BlendWeights.after_feedback applies

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
            verb="picked" if profile.is_plain else "liked",
            feedback=profile.has_feedback,
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

    def _pick_scores(self, query: "Query", scope: Scope) -> dict[str, np.ndarray]:
        """Source totals over scope, plus per-liked-movie kNN / EASE / NeuMF rows (weighted) and
        the (catalog) columns of positive cf neighbours. Disliked movies subtract their own rows."""
        m = len(scope.idx)
        knn_rows, ease_rows, neumf_rows = self._rows(query.idx, query.weights, scope)
        cf_cols = [self._pick_lists(p, scope.key).cf_cols for p in query.idx.tolist()]
        knn_cf_cols = np.concatenate(cf_cols)
        # The models' totals, one row each in MODELS order (knn, als, ease, neumf): the blend
        # scales the rows it needs at once.
        stack = np.empty((len(MODELS), m))
        knn, als, ease, neumf = stack
        knn_rows.sum(axis=0, out=knn)
        ease_rows.sum(axis=0, out=ease)
        neumf_rows.sum(axis=0, out=neumf)
        if len(query.neg_idx):
            negative = self._rows(query.neg_idx, self.weights.negative * query.neg_weights, scope)
            for total, rows in zip((knn, ease, neumf), negative):
                total -= rows.sum(axis=0)
        als[:] = self._als_scores(query, scope)
        return {
            "stack": stack,
            "knn": knn,
            "als": als,
            "ease": ease,
            "neumf": neumf,
            "popularity": scope.log_votes,
            "knn_rows": knn_rows,
            "knn_cf_cols": knn_cf_cols,
            "neumf_rows": neumf_rows,
            "ease_rows": ease_rows,
        }

    def _rows(
        self, idx: np.ndarray, weights: np.ndarray | None, scope: Scope
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per movie of idx, its kNN, EASE and NeuMF contributions over scope, times its weight
        (a weight of 1.0 leaves every float as it was)."""
        m = len(scope.idx)
        knn_rows, ease_rows, neumf_rows = (np.zeros((len(idx), m)) for _ in range(3))
        for j, p in enumerate(idx.tolist()):
            lists = self._pick_lists(p, scope.key)
            knn_rows[j] = np.bincount(lists.knn_pos, weights=lists.knn_vals, minlength=m)
            ease_rows[j] = np.bincount(lists.ease_pos, weights=lists.ease_vals, minlength=m)
            neumf_rows[j] = np.bincount(lists.neumf_pos, weights=lists.neumf_vals, minlength=m)
        if weights is not None:
            for rows in (knn_rows, ease_rows, neumf_rows):
                rows *= weights[:, None]
        return knn_rows, ease_rows, neumf_rows

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
        return PickLists(knn_pos, knn_vals, cf_cols, neumf_pos, neumf_vals, ease_pos, ease_vals)

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
