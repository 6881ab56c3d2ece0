"""The insights tables of one build (stage `insights`), loaded once per store.

The per-movie tables are long (movie_id, key, count) and sorted by movie_id, so a movie's rows are
found by binary search, as `UserTop` finds a user's; the rest are small frames read as they are.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from webapp.schema import INSIGHT_TABLES

BUILD_COMMAND = "make build"  # what /insights says when a build has no insights tables
STAGE_COMMAND = "python -m offline insights"


@dataclass(frozen=True)
class MovieSeries:
    """A per-movie long table as arrays sorted by (movie_id, key)."""

    movie_ids: np.ndarray
    keys: np.ndarray
    counts: np.ndarray

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, key: str) -> "MovieSeries":
        ordered = frame.sort_values(["movie_id", key], kind="mergesort")
        return cls(ordered["movie_id"].to_numpy(np.int64), ordered[key].to_numpy(np.float64),
                   ordered["ratings"].to_numpy(np.int64))

    def for_movie(self, movie_id: int) -> list[tuple[float, int]]:
        """(key, count) of one movie in key order; [] for a movie without rows."""
        lo = int(np.searchsorted(self.movie_ids, movie_id, "left"))
        hi = int(np.searchsorted(self.movie_ids, movie_id, "right"))
        return [(float(k), int(c)) for k, c in zip(self.keys[lo:hi], self.counts[lo:hi])]


@dataclass(frozen=True)
class Insights:
    """The insights tables of a build and the stage's metrics (N of the polarising list, C, m)."""

    tables: Mapping[str, pd.DataFrame]
    metrics: Mapping[str, Any]
    years: MovieSeries  # ratings per movie and year
    histogram: MovieSeries  # ratings per movie and rating value
    genres: tuple[str, ...]  # genres with ratings, sorted


def load_insights(frames: Mapping[str, pd.DataFrame], manifest: Mapping[str, Any]) -> Insights | None:
    """The insights of a build, or None when it has not every insights table (a build made
    before the stage existed: the app serves it, and /insights says how to build them)."""
    if any(name not in frames for name in INSIGHT_TABLES):
        return None
    tables = {name: frames[name] for name in INSIGHT_TABLES}
    metrics = manifest.get("metrics", {}).get("insights", {})
    genres = tuple(sorted(set(tables["genre_rating_distribution"]["genre"].astype(str))))
    return Insights(
        tables=MappingProxyType(tables),
        metrics=MappingProxyType(dict(metrics) if isinstance(metrics, Mapping) else {}),
        years=MovieSeries.from_frame(tables["movie_ratings_by_year"], "year"),
        histogram=MovieSeries.from_frame(tables["movie_rating_histogram"], "rating"),
        genres=genres,
    )
