"""One loaded build of trained_data/: frames, movie records, the recommender, the search index.

`load_store(directory)` reads and checks the folder (webapp/manifest.py) and builds a frozen
`Store`; webapp/holder.py keeps the current one and swaps in new builds.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from webapp.insights import Insights, load_insights
from webapp.manifest import TrainedDataError, fail, load_tables, manifest_stamp
from webapp.movies import Movie, build_movies
from webapp.neighbours import Neighbours
from webapp.recommend import Profile, RecommendationSet, Recommender
from webapp.recommend_tables import factor_matrix
from webapp.schema import LESS_KNOWN
from webapp.search import SearchIndex

__all__ = ["Factors", "Store", "TrainedDataError", "UserTop", "less_known_levels", "load_store"]

# The less-known row's "better known" setting: the first of these minimum rating counts that
# leaves at least LEVEL_MIN_CANDIDATES less-known movies (the source write-ups compared 25 and 100).
KNOWN_THRESHOLDS = (100, 25)
LEVEL_MIN_CANDIDATES = 20
DESIGNED_LEVELS = (25, 100)  # (gems, known) on full-size data
FULL_SIZE_CANDIDATES = 500
RECOMMENDATION_CACHE = 4096


@dataclass(frozen=True)
class UserTop:
    """als_user_top as arrays sorted by (user, rank); a user's rows found by binary search."""

    user_ids: np.ndarray
    movie_ids: np.ndarray
    scores: np.ndarray

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> "UserTop":
        ordered = frame.sort_values(["user_id", "rank"], kind="mergesort")
        return cls(
            ordered["user_id"].to_numpy(np.int64),
            ordered["movie_id"].to_numpy(np.int64),
            ordered["score"].to_numpy(np.float64),
        )

    def for_user(self, user_id: int) -> list[tuple[int, float]] | None:
        """(movie_id, predicted rating) best first, or None for an unknown user."""
        lo = int(np.searchsorted(self.user_ids, user_id, "left"))
        hi = int(np.searchsorted(self.user_ids, user_id, "right"))
        if lo == hi:
            return None
        return [(int(m), float(s)) for m, s in zip(self.movie_ids[lo:hi], self.scores[lo:hi])]


@dataclass(frozen=True)
class Factors:
    """A factor table (`<id>,f0..f{k-1}`) as an id -> row lookup and a matrix."""

    rows: Mapping[int, int]
    matrix: np.ndarray

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, id_column: str) -> "Factors":
        ids, matrix = factor_matrix(frame, id_column=id_column)
        return cls({int(i): n for n, i in enumerate(ids)}, matrix)

    def get(self, key: int) -> np.ndarray | None:
        row = self.rows.get(key)
        return None if row is None else self.matrix[row]


def less_known_levels(stats: pd.DataFrame, floor: int) -> dict[str, int]:
    """Minimum rating counts of the less-known row: 'gems' and 'known'.

    As designed (the source write-ups): hidden gems have at least 25 ratings, better-known ones
    at least 100. That needs full-size data: when the pool holds at least FULL_SIZE_CANDIDATES
    movies with 100 ratings, those are the levels. On small data (ml-latest-small's less-known
    pool has 5 to 26 ratings) gems are the pool's floor and 'known' the first of 100, 25 that
    still leaves LEVEL_MIN_CANDIDATES movies, else the pool's median.
    """
    counts = stats.loc[stats["pool"] == LESS_KNOWN, "vote_count"]
    gems, known = DESIGNED_LEVELS
    if int((counts >= known).sum()) >= FULL_SIZE_CANDIDATES:
        return {"gems": max(floor, gems), "known": known}
    for threshold in KNOWN_THRESHOLDS:
        if threshold > floor and int((counts >= threshold).sum()) >= LEVEL_MIN_CANDIDATES:
            return {"gems": floor, "known": threshold}
    median = int(counts.median()) if len(counts) else floor
    return {"gems": floor, "known": max(floor + 1, median)}


@dataclass(frozen=True)
class Store:
    """One loaded build: frames, movie records, recommender, search index. Never mutated."""

    directory: Path
    manifest: Mapping[str, Any]
    tables: Mapping[str, pd.DataFrame]  # KEPT_TABLES only: the rest live on as indices
    movies: Mapping[int, Movie]
    catalog: tuple[Movie, ...]  # the `popular` table, rank order
    genres: tuple[str, ...]  # genres of the catalog, sorted
    recommender: Recommender
    search_index: SearchIndex
    user_top: UserTop
    user_factors: Factors
    item_factors: Factors
    levels: Mapping[str, int]
    manifest_stamp: tuple[int, int, int]
    neighbours: Neighbours | None = None
    catalog_ranks: Mapping[int, int] = field(default_factory=dict)  # movie_id -> rank 1..
    insights: Insights | None = None  # None: a build without the insights tables
    loaded_at: float = field(default_factory=time.time)
    _cache: Callable[..., RecommendationSet] = field(init=False, repr=False)
    _profile_cache: Callable[..., RecommendationSet] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        cached = functools.lru_cache(maxsize=RECOMMENDATION_CACHE)(self._recommend)
        object.__setattr__(self, "_cache", cached)
        by_profile = functools.lru_cache(maxsize=RECOMMENDATION_CACHE)(self._recommend_profile)
        object.__setattr__(self, "_profile_cache", by_profile)

    @property
    def build_id(self) -> str:
        return str(self.manifest["build_id"])

    @property
    def dataset(self) -> str:
        """The MovieLens release the build used ("ml-latest-small"), for the credits."""
        data_dir = self.manifest.get("input", {}).get("data_dir") or "ml-latest-small"
        return Path(str(data_dir)).name

    def movie(self, movie_id: int) -> Movie | None:
        return self.movies.get(movie_id)

    def knows(self, movie_id: int) -> bool:
        """True for a movie the picks may name."""
        return movie_id in self.movies and self.recommender.knows(movie_id)

    def search(self, query: str, limit: int = 10, genre: str | None = None) -> list[Movie]:
        """Movies whose title matches, best first; optionally of one genre."""
        accept = None if not genre else (lambda movie_id: genre in self.movies[movie_id].genres)
        return [self.movies[i] for i in self.search_index.search(query, limit, accept)]

    def recommend(self, picks: Sequence[int], min_count: int | None = None) -> RecommendationSet:
        """The recommender's ten for three picks (InvalidPicksError on bad picks); memoised."""
        return self._cache(
            tuple(int(p) for p in picks), self.levels["gems"] if min_count is None else int(min_count)
        )

    def _recommend(self, picks: tuple[int, ...], min_count: int) -> RecommendationSet:
        return self.recommender.recommend_for_picks(list(picks), less_known_min_count=min_count)

    def recommend_profile(self, profile: Profile, min_count: int | None = None) -> RecommendationSet:
        """The recommender's ten for a profile (picks and feedback); memoised. Three plain
        picks go through `recommend`, so both share their cache."""
        level = self.levels["gems"] if min_count is None else int(min_count)
        if profile.is_plain and len(profile.liked) == 3:
            return self._cache(tuple(profile.liked), level)
        return self._profile_cache(profile, level)

    def _recommend_profile(self, profile: Profile, min_count: int) -> RecommendationSet:
        return self.recommender.recommend(profile, less_known_min_count=min_count)

    def user_recommendations(self, user_id: int) -> list[tuple[Movie, float]] | None:
        """A known user's precomputed top N (als_user_top) with predicted ratings, or None."""
        rows = self.user_top.for_user(user_id)
        if rows is None:
            return None
        return [(self.movies[m], s) for m, s in rows if m in self.movies]

    def predicted_rating(self, user_id: int, movie_id: int) -> float | None:
        """ALS predicted rating (user . item factors, clipped to 0.5..5), or None if either is unknown."""
        user, item = self.user_factors.get(user_id), self.item_factors.get(movie_id)
        if user is None or item is None or len(user) != len(item):
            return None
        return float(np.clip(float(user @ item), 0.5, 5.0))


# The frames a Store keeps after its indices are built: the ones the views read as tables (the
# insights page reads movie_stats). The rest (neighbour lists, factors, NeuMF's lists, movies)
# live on as indices and records: on a 25M build their frames held hundreds of megabytes per
# worker that nothing read again.
KEPT_TABLES = ("movie_stats",)


def load_store(directory: Path | str) -> Store:
    """Read and check trained_data/ and build every index; TrainedDataError when it is unusable."""
    directory = Path(directory).absolute()
    if not directory.is_dir():
        found = "it is a file, not a folder" if directory.exists() else "the folder does not exist"
        raise fail(directory, found)
    stamp = manifest_stamp(directory)
    manifest, frames = load_tables(directory)
    movies = build_movies(frames["movies"], frames["movie_stats"])
    catalog = tuple(
        movies[int(m)]
        for m in frames["popular"].sort_values("rank", kind="mergesort")["movie_id"]
        if int(m) in movies
    )
    floor = int(manifest.get("config", {}).get("pools", {}).get("less_known_min_count", 5))
    levels = less_known_levels(frames["movie_stats"], floor)
    try:
        recommender = Recommender.from_tables(frames, less_known_min_count=levels["gems"])
    except (KeyError, ValueError, IndexError) as exc:
        raise fail(directory, f"the recommender cannot use these tables ({exc})") from None
    return Store(
        directory=directory,
        manifest=MappingProxyType(manifest),
        tables=MappingProxyType({name: frames[name] for name in KEPT_TABLES if name in frames}),
        movies=MappingProxyType(movies),
        catalog=catalog,
        genres=tuple(sorted({g for m in catalog for g in m.genres})),
        recommender=recommender,
        search_index=SearchIndex([(m.movie_id, m.title, m.rating_count) for m in movies.values()]),
        user_top=UserTop.from_frame(frames["als_user_top"]),
        user_factors=Factors.from_frame(frames["als_user_factors"], "user_id"),
        item_factors=Factors.from_frame(frames["als_item_factors"], "movie_id"),
        levels=MappingProxyType(levels),
        manifest_stamp=stamp,
        neighbours=Neighbours.from_frame(frames["knn_neighbors"]),
        catalog_ranks=MappingProxyType(
            dict(
                zip(
                    frames["popular"]["movie_id"].astype(int).tolist(),
                    frames["popular"]["rank"].astype(int).tolist(),
                )
            )
        ),
        insights=load_insights(frames, manifest),
    )
