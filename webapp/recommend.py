"""A visitor's profile in, ten recommendations out: the one function the web app and the
evaluation share.

A profile (`Profile`) is what the visitor told us: the movies they like (the three picks first,
then any marked "loved", rated 3.5 or more, or asked "more like this" for), the movies they do
not (marked "not for me", "not interested", or rated 3 or less), and optional half-star ratings
that set how much each one counts. Three picks are the simplest profile
(`recommend_for_picks`). A larger profile is folded in the same way, with no retraining: liked
movies add their neighbours, implicit-ALS confidence and NeuMF two-hop lists; disliked ones
subtract their neighbours and two-hop lists (the ALS push away from them is there, but off:
NEGATIVE_ALS); every movie in the profile is left out of the ten. After feedback the blend leans
more on co-ratings (BlendWeights.after_feedback).

Imports only numpy, pandas and the standard library, so the web app stays light.

The ten are a blend of five sources, each scored over the movies the two sections draw from
(every movie only when a section runs short) and scaled to [0, 1] within the section it competes in:

- ``knn``: the picks' item-item neighbours (``knn_neighbors``), similarities summed over the picks;
- ``als``: implicit-ALS fold-in, a small ridge system over the picks' item factors
  (``als_implicit_item_factors``) that gives a taste vector, then every item's score;
- ``ease``: the picks' EASE weights (``ease_neighbors``), summed like kNN's;
- ``neumf``: the two-hop neural-MF tables, picks -> their top users (``neumf_movie_top_users``)
  -> those users' top less-known movies (``neumf_user_top``);
- ``popularity``: log rating count (``movie_stats.vote_count``), a prior that is never a reason.

Each section (five popular, five less known) takes its best-blended movies; when a section runs
short it is filled from the next-best candidates (then the best-scored movies overall), so the list
has ten movies unless the whole catalog is smaller.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from webapp.blend import BlendWeights
from webapp.cache import LruCache
from webapp.profile import (  # re-exported: callers import the profile's names from here
    DISMISSED_WEIGHT,
    FOCUS_WEIGHT,
    LOVED_RATING,
    MAX_PROFILE,
    PICKS_REQUIRED,
    InvalidPicksError,
    Profile,
    UnknownMovieError,
    disliked_weight,
    is_int,
    liked_weight,
    validate_picks,
    validate_profile,
)
from webapp.reasons import EVIDENCE_CACHE, Reasons
from webapp.recommend_tables import (
    Csr,
    aligned_factors,
    catalog_genres,
    catalog_ids,
    catalog_titles,
    ease_csr,
    knn_csr,
    neumf_csrs,
    stats_arrays,
)
from webapp.recommendation import Evidence, Recommendation, RecommendationSet
from webapp.schema import LESS_KNOWN, POPULAR
from webapp.sections import Sections
from webapp.sources import PICK_LISTS_CACHE, Query, Scope, Sources

T = TypeVar("T")

__all__ = [
    "DISMISSED_WEIGHT",
    "FOCUS_WEIGHT",
    "LOVED_RATING",
    "MAX_PROFILE",
    "PICKS_REQUIRED",
    "BlendWeights",
    "Evidence",
    "InvalidPicksError",
    "Profile",
    "Recommendation",
    "RecommendationSet",
    "Recommender",
    "UnknownMovieError",
    "disliked_weight",
    "liked_weight",
    "recommend",
    "recommend_for_picks",
    "validate_picks",
    "validate_profile",
]


class Recommender(Sections, Sources, Reasons):
    """Indices over one set of trained tables, built once; recommend_for_picks is then cheap."""

    def __init__(
        self,
        movie_ids: np.ndarray,
        titles: list[str],
        pool: np.ndarray,
        vote_count: np.ndarray,
        prior: np.ndarray,
        knn: Csr | None,
        als_factors: np.ndarray | None,
        movie_users: Csr | None,
        user_movies: Csr | None,
        *,
        less_known_min_count: int = 5,
        weights: BlendWeights | None = None,
        als_reg: float = 0.1,
        als_alpha: float = 10.0,
        als_mode: str = "implicit",
        genres: Sequence[tuple[str, ...]] | None = None,
        ease: Csr | None = None,
    ) -> None:
        self.movie_ids = movie_ids
        self.titles = titles
        self.genres = genres  # per catalog movie (the content reasons name the shared ones)
        self.pool = pool  # 0 = popular, 1 = less known, 2 = other (rare / unrated)
        self.vote_count = vote_count
        self.prior = prior  # popularity score in [0, 1], used for tie-breaks and fallback
        self.knn = knn
        self.ease = ease  # per movie, its strongest EASE weights (positive)
        self.als_factors = als_factors
        self.movie_users = movie_users
        self.user_movies = user_movies
        self.less_known_min_count = less_known_min_count
        self.weights = weights or BlendWeights()
        self.als_reg = als_reg
        self.als_alpha = als_alpha
        self.als_mode = als_mode
        self._index = {int(m): i for i, m in enumerate(movie_ids)}
        self._gram = None if als_factors is None else als_factors.T @ als_factors
        self._log_votes = np.log1p(np.clip(vote_count, 0.0, None))
        self._popular_idx = np.flatnonzero(pool == 0)
        self._less_known_cache: dict[int, np.ndarray] = {}
        everyone = np.arange(len(movie_ids))
        self._everyone = Scope(everyone, everyone, None, self.als_factors, self._log_votes)
        self._scope_cache: dict[int, Scope] = {}
        # Per (pick, scope): most picks are among the catalog's hundred movies, so these repeat.
        self._pick_lists = functools.lru_cache(maxsize=PICK_LISTS_CACHE)(self._make_pick_lists)
        self._scaled_popularity = functools.lru_cache(maxsize=64)(self._make_scaled_popularity)
        self._member_pos = functools.lru_cache(maxsize=256)(self._make_member_pos)
        self._member_ordinal = functools.lru_cache(maxsize=256)(self._make_member_ordinal)
        self._eye = None if als_factors is None else np.eye(als_factors.shape[1])
        # Per movie, for the reasons' evidence: its kNN list as a lookup, and its NeuMF two-hop
        # counts (picks and recommended movies repeat, so these are mostly found, not made).
        self._knn_lookup = functools.lru_cache(maxsize=EVIDENCE_CACHE)(self._make_knn_lookup)
        self._ease_lookup = functools.lru_cache(maxsize=EVIDENCE_CACHE)(self._make_ease_lookup)
        self._neumf_counts = functools.lru_cache(maxsize=EVIDENCE_CACHE)(self._make_neumf_counts)
        self._memo: LruCache[Any] | None = None  # see remember()

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_tables(
        cls,
        tables: Mapping[str, pd.DataFrame],
        *,
        less_known_min_count: int = 5,
        weights: BlendWeights | None = None,
        als_mode: str = "implicit",
        als_reg: float = 0.1,
        als_alpha: float = 10.0,
    ) -> "Recommender":
        """Build the indices from trained_data frames by name; missing optional tables degrade."""
        movies = tables.get("movies")
        stats = tables.get("movie_stats")
        if stats is None:
            raise ValueError("tables must include 'movie_stats' (movie_id, vote_count, pool)")
        ids = catalog_ids(movies, stats)
        index = pd.Index(ids)
        titles = catalog_titles(movies, ids)
        pool, vote_count, prior = stats_arrays(stats, index)
        knn = knn_csr(tables.get("knn_neighbors"), index)
        factor_table = "als_item_factors" if als_mode == "explicit" else "als_implicit_item_factors"
        factors = aligned_factors(tables.get(factor_table), index)
        movie_users, user_movies = neumf_csrs(
            tables.get("neumf_movie_top_users"), tables.get("neumf_user_top"), index
        )
        return cls(
            ids,
            titles,
            pool,
            vote_count,
            prior,
            knn,
            factors,
            movie_users,
            user_movies,
            less_known_min_count=less_known_min_count,
            weights=weights,
            als_reg=als_reg,
            als_alpha=als_alpha,
            als_mode=als_mode,
            genres=catalog_genres(movies, ids),
            ease=ease_csr(tables.get("ease_neighbors"), index),
        )

    def with_weights(self, weights: BlendWeights) -> "Recommender":
        """The same indices with other blend weights (cheap; for ablations and the tuning grid:
        the per-pick lists and scopes, which do not depend on the weights, are shared)."""
        other = Recommender(
            self.movie_ids,
            self.titles,
            self.pool,
            self.vote_count,
            self.prior,
            self.knn,
            self.als_factors,
            self.movie_users,
            self.user_movies,
            less_known_min_count=self.less_known_min_count,
            weights=weights,
            als_reg=self.als_reg,
            als_alpha=self.als_alpha,
            als_mode=self.als_mode,
            genres=self.genres,
            ease=self.ease,
        )
        other._everyone = self._everyone
        other._scope_cache, other._less_known_cache = self._scope_cache, self._less_known_cache
        other._pick_lists, other._scaled_popularity = self._pick_lists, self._scaled_popularity
        other._member_pos, other._member_ordinal = self._member_pos, self._member_ordinal
        other._knn_lookup, other._neumf_counts = self._knn_lookup, self._neumf_counts
        other._ease_lookup = self._ease_lookup
        other._memo = self._memo
        return other

    def remember(self, calls: int = 1024) -> None:
        """Keep what the last calls computed that does not depend on the blend weights (the
        source scores of a profile) or depends only on one section's (its blended scores, the
        popular five), for this recommender and the clones with_weights makes from it from now
        on: the evaluation shows each simulated visitor the ten at dozens of weight settings, one
        setting after another, and most settings differ in one section only. `calls`: entries
        kept (a few per setting and profile). The web app does not: each of its calls is one
        profile at one setting."""
        self._memo = LruCache(calls)

    # ------------------------------------------------------------------ queries
    def knows(self, movie_id: int) -> bool:
        """True when movie_id is a movie of the trained catalog."""
        return is_int(movie_id) and int(movie_id) in self._index

    def recommend_for_picks(
        self,
        picks: Sequence[int],
        *,
        less_known_min_count: int | None = None,
        n_popular: int = 5,
        n_less_known: int = 5,
    ) -> RecommendationSet:
        """Five popular and five less-known movies for exactly three distinct known picks."""
        ids = validate_picks(picks)
        return self._recommend(Profile(ids), less_known_min_count, n_popular, n_less_known)

    def recommend(
        self,
        profile: Profile,
        *,
        less_known_min_count: int | None = None,
        n_popular: int = 5,
        n_less_known: int = 5,
    ) -> RecommendationSet:
        """Five popular and five less-known movies for a profile (liked ids, disliked ids,
        optional ratings); none of the profile's movies is among them."""
        return self._recommend(validate_profile(profile), less_known_min_count, n_popular, n_less_known)

    def recommend_ids(
        self,
        profile: Profile,
        *,
        less_known_min_count: int | None = None,
        n_popular: int = 5,
        n_less_known: int = 5,
    ) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """The movie ids of recommend's two sections (popular, less known), the same movies in
        the same order, without building the reasons (the evaluation's many calls)."""
        return self._recommend(
            validate_profile(profile), less_known_min_count, n_popular, n_less_known, explain=False
        )

    def _recommend(
        self,
        profile: Profile,
        less_known_min_count: int | None,
        n_popular: int,
        n_less_known: int,
        explain: bool = True,
    ) -> Any:
        unknown = [m for m in profile.ids() if m not in self._index]
        if unknown:
            raise UnknownMovieError(unknown)
        min_count = self.less_known_min_count if less_known_min_count is None else int(less_known_min_count)
        query = Query.of(profile, self._index)
        wanted = {POPULAR: n_popular, LESS_KNOWN: n_less_known}
        # Only the sections' members compete, so only they are scored; should a section run
        # short, the fallbacks look at every movie, and the call is made again with all of them.
        for scope in (self._sections_scope(min_count), self._everyone):
            result = self._recommend_in(scope, query, min_count, wanted, explain)
            if result is not None:
                return result
        raise AssertionError("scoring every movie always gives a result")

    def _remembered(self, key: tuple[Any, ...] | None, make: Callable[[], T]) -> T:
        """make()'s value, kept under key in remember()'s memo (None: no memo, or not kept)."""
        if key is None or self._memo is None:
            return make()
        return self._memo.get_or_make(key, make)

    def _section_key(
        self, key: tuple[Any, ...] | None, section: str, min_count: int, query: "Query", popular_picks: bool
    ) -> tuple[Any, ...] | None:
        """The memo key of a section's blended scores: the source scores' key, the section, its
        members and its weights."""
        if key is None:
            return None
        weights = self.weights.for_section(section, query.feedback, popular_picks)
        return (key, section, min_count, tuple(sorted(weights.items())))

    def _all_popular(self, query: "Query") -> bool:
        """Every liked movie is in the popular pool (BlendWeights.popular_picks, _prior)."""
        return bool(len(query.idx)) and bool((self.pool[query.idx] == 0).all())

    def _recommend_in(
        self, scope: Scope, query: "Query", min_count: int, wanted: Mapping[str, int], explain: bool = True
    ) -> Any:
        """The recommendations, scoring the movies of scope; None when a section runs short and
        scope does not hold every movie. Without explain: the two sections' movie ids."""
        memo = self._memo
        # the scores depend on the profile, the scope and how hard disliked movies push
        key = None if memo is None else (query.profile, scope.key, self.weights.negative)
        raw = self._remembered(key, lambda: self._pick_scores(query, scope))
        taken = np.zeros(len(self.movie_ids), dtype=bool)
        taken[query.every] = True
        members = {section: self._members(section, min_count) for section in (POPULAR, LESS_KNOWN)}
        popular_picks = self.weights.adapts_to_popular_picks and self._all_popular(query)
        keys = {
            section: self._section_key(key, section, min_count, query, popular_picks) for section in members
        }
        totals = {  # blended scores of each section's members, in members' order
            section: self._remembered(
                keys[section],
                functools.partial(self._blend, raw, section, min_count, scope, query.feedback, popular_picks),
            )
            for section in members
        }
        sections: dict[str, list[int]] = {}
        for section in (POPULAR, LESS_KNOWN):
            # the popular five depend on that section's weights only (the less-known five
            # also on which movies the popular five took)
            top_key = (
                None if section != POPULAR or keys[section] is None else (keys[section], wanted[section])
            )
            chosen = list(  # a copy: _fill_short may extend it
                self._remembered(
                    top_key,
                    functools.partial(self._top, totals[section], members[section], taken, wanted[section]),
                )
            )
            taken[chosen] = True
            sections[section] = chosen
        short = any(len(sections[s]) < wanted[s] for s in sections)
        if short and scope is not self._everyone:
            return None
        if short:  # the fallbacks rank by the blend over the whole scope (zero outside a section)
            blended = {
                section: self._spread(totals[section], self._member_pos(section, min_count, scope.key), scope)
                for section in members
            }
            self._fill_short(sections, blended, members, taken, wanted, raw, query.feedback, popular_picks)
        if not explain:
            return (
                tuple(int(self.movie_ids[i]) for i in sections[POPULAR]),
                tuple(int(self.movie_ids[i]) for i in sections[LESS_KNOWN]),
            )
        scores = {
            section: self._blended_at(totals[section], section, min_count, scope, sections[section])
            for section in sections
        }
        explained = self._explain(sections, query, raw, scores, scope, popular_picks)
        return RecommendationSet(query.ids, popular=explained[POPULAR], less_known=explained[LESS_KNOWN])


def recommend_for_picks(recommender: Recommender, picks: Sequence[int], **kw) -> RecommendationSet:
    """Module-level alias of Recommender.recommend_for_picks."""
    return recommender.recommend_for_picks(picks, **kw)


def recommend(recommender: Recommender, profile: Profile, **kw) -> RecommendationSet:
    """Module-level alias of Recommender.recommend."""
    return recommender.recommend(profile, **kw)
