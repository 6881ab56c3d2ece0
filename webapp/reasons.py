"""The reasons of the recommendations: which model chose each movie, the liked movies behind it,
the numbers behind the sentence (`Evidence`), and the sentence itself, made in one place
(`Reasons._detail`) for the page and the API alike.

A mixin of `webapp.recommend.Recommender`: it reads the recommender's tables (titles, genres,
vote counts, the kNN / EASE / NeuMF lists, the ALS factors) and the scores of one call.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from webapp.recommend_tables import TrainedArrays
from webapp.recommendation import Evidence, Recommendation, join_titles, reason_head

if TYPE_CHECKING:  # recommend imports this module; only the annotations need these
    from webapp.sources import Query, Scope, Scores

MODELS = ("knn", "als", "ease", "neumf")  # the sources a reason can name
EVIDENCE_CACHE = 4096  # movies whose kNN / EASE lookup, NeuMF counts are kept (about 2 kB each)


class Reasons(TrainedArrays):
    """The reason-building half of Recommender (see the module docstring)."""

    # set by Recommender.__init__ (besides TrainedArrays')
    titles: list[str]
    genres: Sequence[tuple[str, ...]] | None
    vote_count: np.ndarray
    _index: dict[int, int]
    _knn_lookup: Callable[[int], dict[int, tuple[int, int | None]]]
    _ease_lookup: Callable[[int], dict[int, int | None]]
    _neumf_counts: Callable[[int], tuple[int, dict[int, int]]]

    def _explain(
        self,
        sections: Mapping[str, list[int]],
        query: "Query",
        raw: "Scores",
        scores: Mapping[str, list[float]],
        scope: Scope,
        popular_picks: bool = False,
    ) -> dict[str, tuple[Recommendation, ...]]:
        """The Recommendations for each section's chosen catalog indices (scores: their blended
        scores, in the same order): for each movie, the model that contributed most, the liked
        movies (positions) that led to it, and the reason. The source scores are read once for
        all the chosen movies."""
        picks, idx = query.ids, query.idx
        chosen = [(section, i) for section, members in sections.items() for i in members]
        if not chosen:
            return {section: () for section in sections}
        at = scope.where[[i for _, i in chosen]]  # their positions in the score arrays
        # Python floats: the same values, cheaper to compare one at a time
        values = raw.models_at(at).T.tolist()  # per movie, the MODELS' totals
        columns = {source: raw.rows_at(source, at).T.tolist() for source in ("knn", "ease", "neumf")}
        blended = [score for section in sections for score in scores[section]]
        weights = {}
        for section in sections:
            section_weights = self.weights.for_section(section, query.feedback, popular_picks)
            weights[section] = [float(section_weights.get(source, 0.0)) for source in MODELS]
        cf = set(raw.knn_cf_cols.tolist())
        picked = None if self.als_factors is None else self.als_factors[idx]
        out: dict[str, list[Recommendation]] = {section: [] for section in sections}
        for n, (section, i) in enumerate(chosen):
            best, best_value = "fallback", 0.0
            for source, w, value in zip(MODELS, weights[section], values[n]):
                if w * value > best_value + 1e-12:
                    best, best_value = source, w * value
            if best in columns:
                because = _contributors(columns[best][n])
                if best == "knn" and i not in cf:
                    best = "content"
            elif best == "als":  # the pick whose factors are closest to the movie's
                assert picked is not None and self.als_factors is not None  # 'als' scored
                sims = (picked @ self.als_factors[i]).tolist()
                because = [max(range(len(sims)), key=sims.__getitem__)]  # the first largest
            else:
                because = list(range(len(idx)))
            titles = [self.titles[idx[j]] for j in because]
            evidence = self._evidence(best, i, [int(idx[j]) for j in because])
            out[section].append(
                Recommendation(
                    movie_id=int(self.movie_ids[i]),
                    score=round(blended[n], 6),
                    reason_head=reason_head(query.verb, titles),
                    reason_detail=self._detail(best, evidence, len(because)),
                    source=best,
                    because_of=tuple(picks[j] for j in because),
                    section=section,
                    evidence=evidence,
                )
            )
        return {section: tuple(recs) for section, recs in out.items()}

    def _evidence(self, source: str, i: int, because: list[int]) -> Evidence | None:
        """The numbers behind movie i's reason (catalog indices; `because`: the liked movies
        behind it, largest contribution first): for the first of them that has some."""
        if source == "knn":  # the first pick with movie i among its co-rating neighbours
            for p in because:
                found = self._knn_entry(p, i)
                evidence = self._co_rated(p, found[1]) if found and found[0] == 0 else None
                if evidence is not None:
                    return evidence
        elif source == "content":
            for p in because:
                if self._knn_entry(p, i) is not None:
                    mine = self.genres[i] if self.genres else ()
                    theirs = set(self.genres[p]) if self.genres else set()
                    shared = tuple(g for g in mine if g in theirs)
                    return Evidence(self._id(p), shared_genres=shared)
        elif source == "ease":  # the first pick with movie i among its EASE weights
            for p in because:
                evidence = self._co_rated(p, self._ease_lookup(p).get(i))
                if evidence is not None:
                    return evidence
        elif source == "als":  # the closest pick; the co-rating count when the build has it
            p = because[0]
            found = self._knn_entry(p, i) or self._knn_entry(i, p)
            return (found and self._co_rated(p, found[1])) or Evidence(self._id(p))
        elif source == "neumf" and self.movie_users is not None and self.user_movies is not None:
            p = because[0]
            viewers, listing = self._neumf_counts(p)
            return Evidence(self._id(p), top_viewers=viewers, top_viewers_with_this=listing.get(i, 0))
        return None

    def _knn_entry(self, p: int, i: int) -> tuple[int, int | None] | None:
        """(kind: 0 cf / 1 content, users who rated both or None) of movie i in p's kNN list."""
        return self._knn_lookup(p).get(i)

    def _make_knn_lookup(self, p: int) -> dict[int, tuple[int, int | None]]:
        """Movie p's kNN list: neighbour -> (kind, users who rated both or None), first entry."""
        if self.knn is None:
            return {}
        lo, hi = int(self.knn.ptr[p]), int(self.knn.ptr[p + 1])
        cols = self.knn.cols[lo:hi].tolist()
        kinds = [0] * len(cols) if self.knn.extra is None else self.knn.extra[lo:hi].tolist()
        counts = [None] * len(cols) if self.knn.counts is None else self.knn.counts[lo:hi].tolist()
        out: dict[int, tuple[int, int | None]] = {}
        for col, kind, count in zip(cols, kinds, counts):
            out.setdefault(col, (kind, count))
        return out

    def _make_ease_lookup(self, p: int) -> dict[int, int | None]:
        """Movie p's EASE list as neighbour -> users who rated both (None: not in the build)."""
        if self.ease is None:
            return {}
        lo, hi = int(self.ease.ptr[p]), int(self.ease.ptr[p + 1])
        cols = self.ease.cols[lo:hi].tolist()
        counts = [None] * len(cols) if self.ease.counts is None else self.ease.counts[lo:hi].tolist()
        return dict(zip(cols, counts))

    def _make_neumf_counts(self, p: int) -> tuple[int, dict[int, int]]:
        """How many top users movie p has in the NeuMF tables, and per movie how many of them
        list it among their own top movies."""
        assert self.movie_users is not None and self.user_movies is not None  # 'neumf' scored
        users, _ = self.movie_users.row(p)
        owner, movies, _ = self.user_movies.rows(users)
        listing: dict[int, int] = {}
        for movie in set(zip(owner.tolist(), movies.tolist())):  # a user lists a movie once
            listing[movie[1]] = listing.get(movie[1], 0) + 1
        return len(users), listing

    def _co_rated(self, p: int, both: int | None) -> Evidence | None:
        """Pick p's rating count and how many of its raters rated the movie too (None when the
        build has no count, or nobody did: nothing to show)."""
        raters = int(self.vote_count[p])
        if both is None or both <= 0 or raters <= 0:
            return None
        return Evidence(self._id(p), pick_raters=raters, rated_both=both)

    def _id(self, p: int) -> int:
        return int(self.movie_ids[p])

    def _detail(self, source: str, evidence: Evidence | None, n_named: int) -> str:
        """The detail sentence of a reason: the one place its text is made, from the evidence's
        numbers. It calls the pick "it" when the head names only that one, else by its title
        (without evidence: a plain sentence, {it} the pick or picks)."""
        if evidence is None:
            return _DETAILS[source].format(it="it" if n_named == 1 else "them")
        ref = "it" if n_named == 1 else self.titles[self._index[evidence.pick_id]]
        co_rated = None
        if evidence.rated_both is not None and evidence.pick_raters is not None:
            co_rated = (
                f"{evidence.rated_both:,} of the {evidence.pick_raters:,} "
                f"{_plural(evidence.pick_raters, 'person', 'people')} who rated {ref} "
                f"also rated this"
            )
        if source in ("knn", "ease") and co_rated:
            return co_rated
        if source == "content":
            shared = evidence.shared_genres or ()
            if shared:
                return (
                    f"This shares the {_plural(len(shared), 'genre', 'genres')} "
                    f"{join_titles(list(shared))} with {ref}"
                )
            return f"This is close to {ref} in tags, decade or title words"
        if source == "als":
            closest = (
                "Of your picks, it is the closest to this in a model of everyone's ratings"
                if ref == "it"
                else f"Of your picks, {ref} is the closest to this in a model of everyone's ratings"
            )
            return f"{closest}; {co_rated}" if co_rated else closest
        if source == "neumf" and evidence.top_viewers:
            k = evidence.top_viewers_with_this or 0
            return (
                f"{k:,} of the {evidence.top_viewers:,} "
                f"{_plural(evidence.top_viewers, 'viewer', 'viewers')} a neural model finds "
                f"likeliest to watch {ref} {_plural(k, 'is', 'are')} predicted to watch this "
                f"too"
            )
        return _DETAILS[source].format(it="it" if n_named == 1 else "them")


def _plural(n: int | None, one: str, many: str) -> str:
    return one if n == 1 else many


def _contributors(values: list[float]) -> list[int]:
    """Positions of the picks with a positive contribution, largest first (all when none)."""
    found = sorted((j for j, v in enumerate(values) if v > 0), key=lambda j: -values[j])
    return found or list(range(len(values)))


# The detail sentence of a reason without evidence (a build without co_raters, a movie that only
# rounds out the list), by the source that chose the movie ({it}: the pick or picks).
_DETAILS = {
    "knn": "People who rated {it} also rated this",
    "content": "It shares genres and tags with {it}",
    "als": "It is close to {it} in a model of everyone's ratings",
    "ease": "People who rated {it} also tend to rate this",
    "neumf": "The viewers a neural model finds likeliest to watch {it} are predicted to watch this",
    "fallback": "A well-liked movie to round out your list",
}
