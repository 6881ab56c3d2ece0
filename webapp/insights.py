"""The insights tables of one build (stage `insights`), loaded once per store.

The two per-movie tables have one row per movie with its counts as text; the rest are small
frames read as they are.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import pandas as pd

from webapp.schema import INSIGHT_TABLES

BUILD_COMMAND = "make build"  # what /insights says when a build has no insights tables
STAGE_COMMAND = "python -m offline insights"


@dataclass(frozen=True)
class MovieSeries:
    """A per-movie table whose `counts` column holds a movie's counts as text ("4 0 7"), kept as
    text and split only when the movie's page is rendered (then cached with the page)."""

    first_keys: Mapping[int, float]  # the key of the first count (a year; 0.5 stars)
    step: float  # between two keys
    counts: Mapping[int, str]

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, first: str | float, step: float) -> "MovieSeries":
        ids = frame["movie_id"].astype(int).tolist()
        firsts = frame[first].astype(float).tolist() if isinstance(first, str) else [first] * len(ids)
        return cls(dict(zip(ids, firsts)), step, dict(zip(ids, frame["counts"].astype(str).tolist())))

    def for_movie(self, movie_id: int) -> list[tuple[float, int]]:
        """(key, count) of one movie in key order, zeros inside its span included; [] when the
        movie has no row (or a malformed one: a page never fails on it)."""
        text = self.counts.get(movie_id)
        if text is None:
            return []
        try:
            values = [int(v) for v in text.split()]
        except ValueError:
            return []
        first = self.first_keys[movie_id]
        return [(first + n * self.step, c) for n, c in enumerate(values)]


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
        years=MovieSeries.from_frame(tables["movie_ratings_by_year"], "first_year", 1.0),
        histogram=MovieSeries.from_frame(tables["movie_rating_histogram"], 0.5, 0.5),
        genres=genres,
    )
