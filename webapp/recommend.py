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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

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
from webapp.reasons import EVIDENCE_CACHE, MODELS, Reasons
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

# How hard a disliked movie pushes: on its kNN / EASE / NeuMF lists (subtracted, times
# BlendWeights.negative, chosen held out on the evaluation's second round), and as an implicit-ALS
# "preference 0" with confidence NEGATIVE_ALS * alpha * weight. On two folds of ml-latest-small
# the ALS push cost HR@10 (0.867 without it, 0.842 with it), so the ALS fold-in only leaves them
# out (docs/EVALUATION.md).
NEGATIVE_ALS = 0.0
NEGATIVE_LISTS = 0.1  # BlendWeights.negative's default: the evaluation's choice on all folds
SOURCES = ("knn", "als", "ease", "neumf", "popularity")
PICK_LISTS_CACHE = 1024  # picks whose kNN / EASE / NeuMF lists are kept per scope (a few kB each)


@dataclass(frozen=True)
class BlendWeights:
    """How much each source counts in each section (0 turns a source off)."""

    # The setting of the evaluation's grid (offline/evaluation/tuning.py) that scores best on
    # all five folds of ml-latest-small together (HR@10 plus less-known HR@5, variants A and B);
    # the report's figures are held out: each fold's at the setting chosen on the other folds
    # (every fold chose this one). The ALS fold-in carries most of both halves, kNN widens
    # coverage, NeuMF's two-hop lists lift the less-known half, and a log-count prior steers each
    # half towards what more people have seen; when every pick is popular, EASE takes over from
    # the ALS fold-in and the popular half drops its prior (popular_picks, popular_picks_prior
    # below). The ablation tables of report.html show what removing each one costs.
    popular: Mapping[str, float] = field(
        default_factory=lambda: {"knn": 0.1, "als": 1.0, "neumf": 0.0, "popularity": 1.0}
    )
    less_known: Mapping[str, float] = field(
        default_factory=lambda: {"knn": 0.25, "als": 1.0, "neumf": 0.3, "popularity": 0.6}
    )
    # After feedback (a profile beyond the plain picks), these replace some of the weights above:
    # the co-ratings and EASE weights of four or more liked movies say more than those of three.
    # Chosen like the blend, held out, on the evaluation's second round (tuning.AFTER_FEEDBACK;
    # this is the choice on all five folds, and every fold's own).
    after_feedback: Mapping[str, Mapping[str, float]] = field(
        default_factory=lambda: {POPULAR: {"knn": 0.5, "ease": 1.0}, LESS_KNOWN: {"ease": 1.0}}
    )
    # The situation, not the visitor: when every liked movie is in the popular pool (the picker's
    # catalog grid is all popular movies), the picks already say "I like well-known films", and a
    # popularity prior on top crowds the ten with the most-rated movies. This replaces the
    # popularity weight of a section then (None or absent: no change). Only the prior changes,
    # so the models' relative weights, and the reasons, stay the same.
    popular_picks_prior: Mapping[str, float] | None = field(default_factory=lambda: {POPULAR: 0.0})
    # The same situation may also change the models' weights (overrides per section, before
    # after_feedback's): on catalog picks EASE ranks better than the ALS fold-in (the evaluation's
    # variant B), on picks that include less-known movies it does not.
    popular_picks: Mapping[str, Mapping[str, float]] = field(
        default_factory=lambda: {POPULAR: {"ease": 3.0, "als": 0.0}, LESS_KNOWN: {"ease": 1.0, "als": 0.5}}
    )
    # How hard a disliked movie counts against its kNN / EASE / NeuMF neighbours: its lists are
    # subtracted times this and its own weight (webapp.profile.disliked_weight). Chosen with
    # after_feedback, held out on the second round (tuning.AFTER_FEEDBACK): every fold chose the
    # lightest candidate, 0.1 (at 1, the second round's HR@10 was 0.783 / 0.795 in variants A / B
    # in-sample; at 0.1, 0.790 / 0.816). Still not 0: a "not for me" counts against its neighbours.
    negative: float = NEGATIVE_LISTS

    def for_section(
        self, section: str, feedback: bool = False, popular_picks: bool = False
    ) -> Mapping[str, float]:
        """The weights of one section (when every liked movie is popular: with popular_picks'
        overrides; after feedback: with its overrides; when every liked movie is popular: with
        popular_picks_prior's popularity weight)."""
        out = self.popular if section == POPULAR else self.less_known
        situation = self.popular_picks.get(section) if popular_picks else None
        extra = self.after_feedback.get(section) if feedback else None
        for over in (situation, extra):
            out = {**out, **over} if over else out
        prior = (self.popular_picks_prior or {}).get(section) if popular_picks else None
        return {**out, "popularity": float(prior)} if prior is not None else out

    @property
    def adapts_to_popular_picks(self) -> bool:
        """Whether the situation "every liked movie is popular" changes any weight."""
        return self.popular_picks_prior is not None or any(self.popular_picks.values())

    def without(self, source: str) -> "BlendWeights":
        """The same weights with one source switched off (for ablations)."""
        prior = self.popular_picks_prior
        if source == "popularity" and prior is not None:
            prior = {section: 0.0 for section in prior}
        return BlendWeights(
            popular={**self.popular, source: 0.0},
            less_known={**self.less_known, source: 0.0},
            after_feedback=_switched_off(self.after_feedback, source),
            popular_picks_prior=prior,
            popular_picks=_switched_off(self.popular_picks, source),
            negative=self.negative,
        )


def _switched_off(
    overrides: Mapping[str, Mapping[str, float]], source: str
) -> dict[str, Mapping[str, float]]:
    """Per-section overrides with one source's weight set to 0 wherever they set it."""
    return {section: {**over, source: 0.0} if source in over else over for section, over in overrides.items()}


@dataclass(frozen=True)
class _Scope:
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
class _PickLists:
    """What one pick adds to the kNN, EASE and NeuMF scores of a scope: positions and values, in
    the order they are summed (the same order, so the same floats, as over the whole catalog)."""

    knn_pos: np.ndarray
    knn_vals: np.ndarray
    cf_cols: np.ndarray  # catalog columns of its positive co-rating (cf) neighbours
    neumf_pos: np.ndarray
    neumf_vals: np.ndarray
    ease_pos: np.ndarray
    ease_vals: np.ndarray


class Recommender(Reasons):
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
        self._everyone = _Scope(everyone, everyone, None, self.als_factors, self._log_votes)
        self._scope_cache: dict[int, _Scope] = {}
        # Per (pick, scope): most picks are among the catalog's hundred movies, so these repeat.
        self._pick_lists = functools.lru_cache(maxsize=PICK_LISTS_CACHE)(self._make_pick_lists)
        self._scaled_popularity = functools.lru_cache(maxsize=64)(self._make_scaled_popularity)
        self._member_pos = functools.lru_cache(maxsize=256)(self._make_member_pos)
        self._eye = None if als_factors is None else np.eye(als_factors.shape[1])
        # Per movie, for the reasons' evidence: its kNN list as a lookup, and its NeuMF two-hop
        # counts (picks and recommended movies repeat, so these are mostly found, not made).
        self._knn_lookup = functools.lru_cache(maxsize=EVIDENCE_CACHE)(self._make_knn_lookup)
        self._ease_lookup = functools.lru_cache(maxsize=EVIDENCE_CACHE)(self._make_ease_lookup)
        self._neumf_counts = functools.lru_cache(maxsize=EVIDENCE_CACHE)(self._make_neumf_counts)

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
        other._member_pos = self._member_pos
        other._knn_lookup, other._neumf_counts = self._knn_lookup, self._neumf_counts
        other._ease_lookup = self._ease_lookup
        return other

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
        query = _Query.of(profile, self._index)
        wanted = {POPULAR: n_popular, LESS_KNOWN: n_less_known}
        # Only the sections' members compete, so only they are scored; should a section run
        # short, the fallbacks look at every movie, and the call is made again with all of them.
        for scope in (self._sections_scope(min_count), self._everyone):
            result = self._recommend_in(scope, query, min_count, wanted, explain)
            if result is not None:
                return result
        raise AssertionError("scoring every movie always gives a result")

    def _all_popular(self, query: "_Query") -> bool:
        """Every liked movie is in the popular pool (BlendWeights.popular_picks, _prior)."""
        return bool(len(query.idx)) and bool((self.pool[query.idx] == 0).all())

    def _recommend_in(
        self, scope: _Scope, query: "_Query", min_count: int, wanted: Mapping[str, int], explain: bool = True
    ) -> Any:
        """The recommendations, scoring the movies of scope; None when a section runs short and
        scope does not hold every movie. Without explain: the two sections' movie ids."""
        raw = self._pick_scores(query, scope)
        taken = np.zeros(len(self.movie_ids), dtype=bool)
        taken[query.every] = True
        members = {section: self._members(section, min_count) for section in (POPULAR, LESS_KNOWN)}
        popular_picks = self.weights.adapts_to_popular_picks and self._all_popular(query)
        totals = {  # blended scores of each section's members, in members' order
            section: self._blend(raw, section, min_count, scope, query.feedback, popular_picks)
            for section in members
        }
        sections: dict[str, list[int]] = {}
        for section in (POPULAR, LESS_KNOWN):
            chosen = self._top(totals[section], members[section], taken, wanted[section])
            taken[chosen] = True
            sections[section] = chosen
        short = any(len(sections[s]) < wanted[s] for s in sections)
        if short and scope is not self._everyone:
            return None
        if not short and not explain:
            return (
                tuple(int(self.movie_ids[i]) for i in sections[POPULAR]),
                tuple(int(self.movie_ids[i]) for i in sections[LESS_KNOWN]),
            )
        blended = {  # the same over scope (zero outside the section)
            section: self._spread(totals[section], self._member_pos(section, min_count, scope.key), scope)
            for section in members
        }
        if short:
            self._fill_short(sections, blended, members, taken, wanted, raw, query.feedback, popular_picks)
        if not explain:
            return (
                tuple(int(self.movie_ids[i]) for i in sections[POPULAR]),
                tuple(int(self.movie_ids[i]) for i in sections[LESS_KNOWN]),
            )
        explained = self._explain(sections, query, raw, blended, scope, popular_picks)
        return RecommendationSet(query.ids, popular=explained[POPULAR], less_known=explained[LESS_KNOWN])

    def _members(self, section: str, min_count: int) -> np.ndarray:
        """Catalog indices of the movies a section draws from."""
        return self._popular_idx if section == POPULAR else self._less_known_idx(min_count)

    def _make_member_pos(self, section: str, min_count: int, scope_key: int | None) -> np.ndarray:
        """The positions of a section's members in a scope's score arrays (the same every call)."""
        scope = self._everyone if scope_key is None else self._sections_scope(scope_key)
        return scope.where[self._members(section, min_count)]

    @staticmethod
    def _spread(values: np.ndarray, pos: np.ndarray, scope: _Scope) -> np.ndarray:
        """Values at positions pos of an array over scope, zero elsewhere."""
        out = np.zeros(len(scope.idx))
        out[pos] = values
        return out

    def _make_scaled_popularity(self, section: str, min_count: int) -> np.ndarray:
        """The popularity source scaled over a section's members: the same for every call."""
        return _scale(self._log_votes[self._members(section, min_count)])

    def _less_known_idx(self, min_count: int) -> np.ndarray:
        """Catalog indices of the less-known movies with at least min_count ratings (cached)."""
        found = self._less_known_cache.get(min_count)
        if found is None:
            found = np.flatnonzero((self.pool == 1) & (self.vote_count >= min_count))
            if len(self._less_known_cache) < 64:
                self._less_known_cache[min_count] = found
        return found

    def _sections_scope(self, min_count: int) -> _Scope:
        """The popular and the less-known members at this minimum count (cached)."""
        found = self._scope_cache.get(min_count)
        if found is None:
            idx = np.union1d(self._popular_idx, self._less_known_idx(min_count))
            where = np.full(len(self.movie_ids), -1, dtype=np.int64)
            where[idx] = np.arange(len(idx))
            factors = None if self.als_factors is None else np.ascontiguousarray(self.als_factors[idx])
            found = _Scope(idx, where, min_count, factors, self._log_votes[idx])
            if len(self._scope_cache) < 64:
                self._scope_cache[min_count] = found
        return found

    # ------------------------------------------------------------------ sources
    def _pick_scores(self, query: "_Query", scope: _Scope) -> dict[str, np.ndarray]:
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
        self, idx: np.ndarray, weights: np.ndarray | None, scope: _Scope
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

    def _make_pick_lists(self, p: int, scope_key: int | None) -> _PickLists:
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
        return _PickLists(knn_pos, knn_vals, cf_cols, neumf_pos, neumf_vals, ease_pos, ease_vals)

    @staticmethod
    def _in_scope(scope: _Scope, cols: np.ndarray, vals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(positions in scope, values) of the entries whose column is in scope, order kept."""
        pos = scope.where[cols]
        keep = pos >= 0
        return pos[keep], vals[keep]

    def _als_scores(self, query: "_Query", scope: _Scope) -> np.ndarray:
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

    # ------------------------------------------------------------------ blending
    def _blend(
        self,
        raw: Mapping[str, np.ndarray],
        section: str,
        min_count: int,
        scope: _Scope,
        feedback: bool = False,
        popular_picks: bool = False,
    ) -> np.ndarray:
        """Blended scores of the section's members (the less-known ones with at least min_count
        ratings), in members' order: each source min-max scaled over them, then weighted."""
        weights = self.weights.for_section(section, feedback, popular_picks)
        active = [(source, float(weights.get(source, 0.0))) for source in SOURCES]
        active = [(source, w) for source, w in active if w != 0.0]
        pos = self._member_pos(section, min_count, scope.key)
        rows = [MODELS.index(source) for source, _ in active if source != "popularity"]
        stack = raw["stack"] if len(rows) == len(MODELS) else raw["stack"][rows]
        scaled = iter(_scale_rows(np.take(stack, pos, axis=1)) if rows else ())  # rows contiguous: fast
        total = np.zeros(len(pos))
        for source, w in active:  # summed in SOURCES order, as ever
            popularity = source == "popularity"
            total += w * (self._scaled_popularity(section, min_count) if popularity else next(scaled))
        return total

    def _top(self, values: np.ndarray, pool: np.ndarray, taken: np.ndarray, n: int) -> list[int]:
        """The n best movies of pool (values: their scores, in pool's order) not taken: by score,
        then popularity, then movie id."""
        if n <= 0:
            return []
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
        raw: Mapping[str, np.ndarray],
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


@dataclass(frozen=True)
class _Query:
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
    def of(cls, profile: Profile, index: Mapping[int, int]) -> "_Query":
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


def recommend_for_picks(recommender: Recommender, picks: Sequence[int], **kw) -> RecommendationSet:
    """Module-level alias of Recommender.recommend_for_picks."""
    return recommender.recommend_for_picks(picks, **kw)


def recommend(recommender: Recommender, profile: Profile, **kw) -> RecommendationSet:
    """Module-level alias of Recommender.recommend."""
    return recommender.recommend(profile, **kw)


def _scale(values: np.ndarray) -> np.ndarray:
    """Values clipped at 0, then min-max scaled to [0, 1] (zeros when constant or empty)."""
    return _scale_rows(values[None, :])[0]


def _scale_rows(values: np.ndarray) -> np.ndarray:
    """_scale of each row of a 2-D array (a new array; the same floats as one row at a time)."""
    out = np.maximum(values, 0.0)
    if not out.shape[1]:
        return out
    lo, hi = out.min(axis=1), out.max(axis=1)
    span = hi - lo
    out -= lo[:, None]
    out /= np.where(span > 0, span, 1.0)[:, None]
    out[~(span > 0)] = 0.0
    return out
