"""Stage `movies`: one row per movie with its display title, year, genres, links and poster."""

from __future__ import annotations

import pandas as pd

from offline.build import BuildContext, StageResult

COLUMNS = ["movie_id", "title", "year", "genres", "imdb_id", "tmdb_id", "poster_url"]


def compute_movies(movies: pd.DataFrame, links: pd.DataFrame, posters: pd.DataFrame) -> pd.DataFrame:
    """Join titles, IMDb/TMDB ids and poster URLs; every movie of movies.csv, sorted by id."""
    out = (
        movies[["movie_id", "title", "year", "genres"]]
        .merge(links[["movie_id", "imdb_id", "tmdb_id"]], on="movie_id", how="left")
        .merge(posters[["movie_id", "poster_url"]], on="movie_id", how="left")
    )
    out["imdb_id"] = out["imdb_id"].fillna("")
    out["poster_url"] = out["poster_url"].fillna("")
    return out[COLUMNS].sort_values("movie_id", ignore_index=True)


def run(ctx: BuildContext) -> StageResult:
    data = ctx.data
    table = compute_movies(data.movies, data.links, data.posters)
    return StageResult(
        {"movies": table},
        {
            "movies": len(table),
            "with_poster": int((table["poster_url"] != "").sum()),
            "bad_rows": data.bad_rows.summary(),
        },
    )
