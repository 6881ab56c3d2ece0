"""The two sections one call fills (five popular, five less known): the movies each draws from,
their blended scores, the best ones not taken yet, and the fill of a section that runs short.

A mixin of `webapp.recommend.Recommender`: it reads the recommender's arrays (pools, vote counts,
the popularity prior) and one call's source scores (`webapp.sources.Scores`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from webapp.blend import SOURCES, scale, scale_reached
from webapp.recommend_tables import TrainedArrays
from webapp.schema import LESS_KNOWN, POPULAR
from webapp.sources import LIST_SOURCES, Scope, Scores


class Sections(TrainedArrays):
    """The section-filling part of Recommender (see the module docstring)."""

    # set by Recommender.__init__ (besides TrainedArrays')
    pool: np.ndarray
    vote_count: np.ndarray
    prior: np.ndarray
    _log_votes: np.ndarray
    _popular_idx: np.ndarray
    _less_known_cache: dict[int, np.ndarray]
    _scope_cache: dict[int, Scope]
    _everyone: Scope
    _member_pos: Callable[[str, int, int | None], np.ndarray]
    _member_ordinal: Callable[[str, int, int | None], np.ndarray]
    _scaled_popularity: Callable[[str, int], np.ndarray]

    def _blended_at(
        self, totals: np.ndarray, section: str, min_count: int, scope: Scope, chosen: list[int]
    ) -> list[float]:
        """The section's blended scores of the chosen catalog indices (0 for a movie that only
        fills the section and is not one of its members)."""
        ordinal = self._member_ordinal(section, min_count, scope.key)[scope.where[chosen]]
        out = np.zeros(len(chosen))
        inside = ordinal >= 0
        out[inside] = totals[ordinal[inside]]
        return out.tolist()

    def _members(self, section: str, min_count: int) -> np.ndarray:
        """Catalog indices of the movies a section draws from."""
        return self._popular_idx if section == POPULAR else self._less_known_idx(min_count)

    def _make_member_pos(self, section: str, min_count: int, scope_key: int | None) -> np.ndarray:
        """The positions of a section's members in a scope's score arrays (the same every call)."""
        scope = self._everyone if scope_key is None else self._sections_scope(scope_key)
        return scope.where[self._members(section, min_count)]

    @staticmethod
    def _spread(values: np.ndarray, pos: np.ndarray, scope: Scope) -> np.ndarray:
        """Values at positions pos of an array over scope, zero elsewhere."""
        out = np.zeros(len(scope.idx))
        out[pos] = values
        return out

    def _make_scaled_popularity(self, section: str, min_count: int) -> np.ndarray:
        """The popularity source scaled over a section's members: the same for every call."""
        return scale(self._log_votes[self._members(section, min_count)])

    def _less_known_idx(self, min_count: int) -> np.ndarray:
        """Catalog indices of the less-known movies with at least min_count ratings (cached)."""
        found = self._less_known_cache.get(min_count)
        if found is None:
            found = np.flatnonzero((self.pool == 1) & (self.vote_count >= min_count))
            if len(self._less_known_cache) < 64:
                self._less_known_cache[min_count] = found
        return found

    def _sections_scope(self, min_count: int) -> Scope:
        """The popular and the less-known members at this minimum count (cached)."""
        found = self._scope_cache.get(min_count)
        if found is None:
            idx = np.union1d(self._popular_idx, self._less_known_idx(min_count))
            where = np.full(len(self.movie_ids), -1, dtype=np.int64)
            where[idx] = np.arange(len(idx))
            factors = None if self.als_factors is None else np.ascontiguousarray(self.als_factors[idx])
            found = Scope(idx, where, min_count, factors, self._log_votes[idx])
            if len(self._scope_cache) < 64:
                self._scope_cache[min_count] = found
        return found

    def _blend(
        self,
        scores: Scores,
        section: str,
        min_count: int,
        scope: Scope,
        feedback: bool = False,
        popular_picks: bool = False,
    ) -> np.ndarray:
        """Blended scores of the section's members (the less-known ones with at least min_count
        ratings), in members' order: each source min-max scaled over them, then weighted and
        summed in SOURCES order. A list source adds only where its lists reach: elsewhere it
        adds 0, so the floats are those of adding it everywhere."""
        weights = self.weights.for_section(section, feedback, popular_picks)
        active = [(source, float(weights.get(source, 0.0))) for source in SOURCES]
        pos = self._member_pos(section, min_count, scope.key)
        total = np.zeros(len(pos))
        reached = None
        for source, w in active:
            if w == 0.0:
                continue
            if source == "popularity":
                total += w * self._scaled_popularity(section, min_count)
            elif source == "als":
                total += w * scale(scores.als[pos])
            else:
                if reached is None:  # the members some list reaches: their places, their totals
                    ordinal = self._member_ordinal(section, min_count, scope.key)[scores.at]
                    inside = ordinal >= 0
                    reached = ordinal[inside], scores.lists[:, inside]
                places, totals = reached
                total[places] += w * scale_reached(totals[LIST_SOURCES.index(source)], len(pos))
        return total

    def _make_member_ordinal(self, section: str, min_count: int, scope_key: int | None) -> np.ndarray:
        """Per scope position, the place of its movie among the section's members (-1: none)."""
        scope = self._everyone if scope_key is None else self._sections_scope(scope_key)
        out = np.full(len(scope.idx), -1, dtype=np.int64)
        pos = self._member_pos(section, min_count, scope_key)
        out[pos] = np.arange(len(pos))
        return out

    def _top(self, values: np.ndarray, pool: np.ndarray, taken: np.ndarray, n: int) -> list[int]:
        """The n best movies of pool (values: their scores, in pool's order) not taken: by score,
        then popularity, then movie id."""
        if n <= 0:
            return []
        near = _near_top(values, n + int(np.count_nonzero(taken)))
        if near is not None:  # only these can be among the n best untaken movies
            pool, values = pool[near], values[near]
        free = ~taken[pool]
        cand, values = pool[free], values[free]
        if len(cand) == 0:
            return []
        if len(cand) > n:  # keep the n best and everything tied with the n-th, then sort those
            nth = np.partition(-values, n - 1)[n - 1]
            keep = -values <= nth
            cand, values = cand[keep], values[keep]
        order = np.lexsort((self.movie_ids[cand], -self.prior[cand], -values))
        return [int(i) for i in cand[order[:n]]]

    def _fill_short(
        self,
        sections: dict[str, list[int]],
        blended: Mapping[str, np.ndarray],
        members: Mapping[str, np.ndarray],
        taken: np.ndarray,
        wanted: Mapping[str, int],
        raw: Scores,
        feedback: bool = False,
        popular_picks: bool = False,
    ) -> None:
        """Top up short sections from the next-best pools, so the list stays ten long (scores
        over every movie: called with the full scope only).

        Less known: any less-known movie (below the requested support), then popular, then any
        movie; popular: the less-known candidates, then any movie.
        """
        scope = self._everyone
        everyone = scope.idx
        for section in (LESS_KNOWN, POPULAR):
            missing = wanted[section] - len(sections[section])
            if missing <= 0:
                continue
            if section == LESS_KNOWN:
                relaxed = self._less_known_idx(0)
                fallbacks = [
                    (relaxed, self._blend(raw, LESS_KNOWN, 0, scope, feedback, popular_picks)),
                    (members[POPULAR], blended[POPULAR][members[POPULAR]]),
                ]
            else:
                fallbacks = [(members[LESS_KNOWN], blended[LESS_KNOWN][members[LESS_KNOWN]])]
            fallbacks.append((everyone, blended[POPULAR] + blended[LESS_KNOWN]))
            for pool, score in fallbacks:
                extra = self._top(score, pool, taken, missing)
                taken[extra] = True
                sections[section].extend(extra)
                missing -= len(extra)
                if missing <= 0:
                    break


TOP_GROUP = 64  # values per group in _near_top


def _near_top(values: np.ndarray, k: int) -> np.ndarray | None:
    """Positions of a superset of the k largest values (ties included), found without sorting
    or partitioning all of them: the values fall into groups of TOP_GROUP (every g-th value
    forms one, which numpy reduces fastest), and the k-th largest of the groups' maxima is a
    value that at least k values reach, so every value among the k largest reaches it too.
    None when values are too few for this to pay (or a value is not a number)."""
    groups = len(values) // TOP_GROUP
    if groups < 4 * k:
        return None
    maxima = values[: groups * TOP_GROUP].reshape(TOP_GROUP, groups).max(axis=0)
    if np.isnan(maxima).any():
        return None
    floor = np.partition(maxima, groups - k)[groups - k]
    return np.flatnonzero(values >= floor)
