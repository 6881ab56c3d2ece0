"""What the pages and the API show of a movie: one frozen record per movie, built once per store."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

TMDB_POSTER = re.compile(
    r"^https://image\.tmdb\.org/t/p/(w\d{2,4}|original)/[A-Za-z0-9_\-]+\.(jpg|jpeg|png|webp)$"
)
POSTER_SIZES = ("w92", "w154", "w185", "w342", "w500", "w780", "original")


@dataclass(frozen=True, slots=True)
class Movie:
    """One movie as shown to a visitor."""

    movie_id: int
    title: str
    year: int | None
    genres: tuple[str, ...]
    imdb_id: str | None
    tmdb_id: int | None
    poster_url: str | None  # a TMDB image URL, or None
    rating_count: int
    vote_mean: float | None
    pool: str | None  # 'popular' | 'less_known' | 'rare' | None (never rated)

    @property
    def label(self) -> str:
        """'Heat (1995)', or the bare title when the year is unknown."""
        return f"{self.title} ({self.year})" if self.year else self.title

    @property
    def imdb_url(self) -> str | None:
        return f"https://www.imdb.com/title/tt{self.imdb_id}/" if self.imdb_id else None

    @property
    def tmdb_url(self) -> str | None:
        return f"https://www.themoviedb.org/movie/{self.tmdb_id}" if self.tmdb_id else None

    def poster(self, size: str = "w342") -> str | None:
        """The TMDB poster at another size (w92 ... w780, original), or None."""
        if not self.poster_url or size not in POSTER_SIZES:
            return self.poster_url
        return re.sub(r"/t/p/[^/]+/", f"/t/p/{size}/", self.poster_url, count=1)

    def to_json(self) -> dict[str, Any]:
        """The API's movie object (without score and reason)."""
        return {
            "movie_id": self.movie_id,
            "title": self.title,
            "year": self.year,
            "genres": list(self.genres),
            "poster_url": self.poster_url,
            "rating_count": self.rating_count,
            "vote_mean": self.vote_mean,
            "imdb_url": self.imdb_url,
            "tmdb_url": self.tmdb_url,
        }


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def display_title(value: Any, movie_id: int) -> str:
    """The title shown for a movie (cards, pages and the reasons naming picks alike)."""
    return _text(value) or f"Movie {movie_id}"


def _int_or_none(value: Any) -> int | None:
    if value is None or value == "":
        return None
    try:
        return None if value != value else int(value)  # NaN != NaN
    except (TypeError, ValueError):
        return None


def _clean_poster(value: Any) -> str | None:
    """Only well-formed TMDB image URLs are shown (the page's CSP allows no other image host)."""
    url = _text(value)
    return url if TMDB_POSTER.match(url) else None


def _clean_imdb(value: Any) -> str | None:
    text = _text(value).removeprefix("tt")
    return text.zfill(7) if text.isascii() and text.isdigit() else None  # not "²" or "٣"


def _column(frame: pd.DataFrame, name: str) -> list[Any]:
    """A column as a Python list with None for missing values."""
    values = frame[name].astype(object)
    return values.where(values.notna(), None).tolist()


def build_movies(movies: pd.DataFrame, stats: pd.DataFrame) -> dict[int, Movie]:
    """Movie records keyed by id, from the `movies` and `movie_stats` tables."""
    counts: Mapping[int, tuple[int, float, str]] = {
        int(m): (int(c), float(v), str(p))
        for m, c, v, p in zip(
            stats["movie_id"].tolist(),
            stats["vote_count"].tolist(),
            stats["vote_mean"].tolist(),
            stats["pool"].tolist(),
        )
    }
    out: dict[int, Movie] = {}
    columns = [
        _column(movies, c)
        for c in ("movie_id", "title", "year", "genres", "imdb_id", "tmdb_id", "poster_url")
    ]
    for movie_id, title, year, genres, imdb_id, tmdb_id, poster_url in zip(*columns):
        movie_id = int(movie_id)
        count, mean, pool = counts.get(movie_id, (0, math.nan, None))
        out[movie_id] = Movie(
            movie_id=movie_id,
            title=display_title(title, movie_id),
            year=_int_or_none(year),
            genres=tuple(g for g in _text(genres).split("|") if g and g != "(no genres listed)"),
            imdb_id=_clean_imdb(imdb_id),
            tmdb_id=_int_or_none(tmdb_id),
            poster_url=_clean_poster(poster_url),
            rating_count=count,
            vote_mean=None if math.isnan(mean) else round(mean, 2),
            pool=pool,
        )
    return out
