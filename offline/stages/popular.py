"""Stage `popular`: per-movie rating statistics and the IMDb-style weighted-rating catalog (Spark).

score = v / (v + m) * R + m / (v + m) * C, with v and R a movie's rating count and mean,
C the mean of the per-movie means and m the `vote_quantile` quantile of the per-movie counts.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from offline.build import BuildContext, StageResult
from offline.config import BuildConfig
from offline.pools import assign_pools
from offline.sparkctx import spark_frame

STATS_COLUMNS = ["movie_id", "vote_count", "vote_mean", "score", "pool"]
POPULAR_COLUMNS = ["movie_id", "title", "year", "genres", "vote_count", "vote_mean", "score", "rank"]
# Published CSVs keep 6 significant digits (5 decimals for scores >= 1); ranking on the score
# rounded so keeps popular.csv reproducible from movie_stats.csv and exact ties free of float noise.
RANK_DECIMALS = 5
# Exact decimal sums are order-independent, so C does not depend on how Spark merges partitions.
EXACT_MEAN = "decimal(38,18)"


def movie_aggregates(spark: SparkSession, ratings: DataFrame | pd.DataFrame) -> DataFrame:
    """One row per rated movie: movie_id, vote_count, vote_mean.

    Ratings are half stars, so the double sums behind the means are exact in any order.
    """
    frame = spark_frame(spark, ratings).select("movie_id", "rating")
    return frame.groupBy("movie_id").agg(
        F.count(F.lit(1)).alias("vote_count"),
        F.avg(F.col("rating").cast("double")).alias("vote_mean"),
    )


def weighting_constants(per_movie: DataFrame, vote_quantile: float) -> tuple[float, float]:
    """(C, m): the mean of the per-movie means and the exact quantile of the per-movie counts.

    The quantile is Spark's exact `percentile`, which interpolates linearly between the two
    closest ranks (position q * (n - 1) in the sorted counts), like numpy's default 'linear'.
    """
    row = per_movie.agg(
        F.avg(F.col("vote_mean").cast(EXACT_MEAN)).cast("double").alias("c"),
        F.percentile(F.col("vote_count"), F.lit(vote_quantile)).alias("m"),
    ).first()
    return float(row["c"]), float(row["m"])


def score_movies(
    spark: SparkSession, ratings: DataFrame | pd.DataFrame, cfg: BuildConfig
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Per-movie vote_count, vote_mean and weighted score (sorted by movie_id), plus C and m."""
    return score_aggregates(movie_aggregates(spark, ratings), cfg)


def score_aggregates(per_movie: DataFrame, cfg: BuildConfig) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The weighted score of per-movie aggregates (movie_id, vote_count, vote_mean): the stats
    frame sorted by movie_id, plus C and m. Stage `insights` scores its own aggregates with this,
    so the weighting is defined once."""
    per_movie = per_movie.select("movie_id", "vote_count", "vote_mean").cache()
    try:
        c, m = weighting_constants(per_movie, cfg.popular.vote_quantile)
        v, r = F.col("vote_count"), F.col("vote_mean")
        score = v / (v + F.lit(m)) * r + F.lit(m) / (v + F.lit(m)) * F.lit(c)
        stats = per_movie.withColumn("score", score).toPandas()
    finally:
        per_movie.unpersist()
    # sorted here: a Spark orderBy would cost a sampling job and a shuffle for 10k rows
    stats = (
        stats.astype({"movie_id": "int32", "vote_count": "int64"})
        .sort_values("movie_id", kind="mergesort")
        .reset_index(drop=True)
    )
    return stats, {"C": c, "m": m, "vote_quantile": cfg.popular.vote_quantile, "movies": int(len(stats))}


def rank_catalog(stats: pd.DataFrame, movies: pd.DataFrame, size: int) -> pd.DataFrame:
    """The top `size` by score (to RANK_DECIMALS), vote_count desc, movie_id asc; rank 1 first."""
    order = stats.assign(key=stats["score"].round(RANK_DECIMALS)).sort_values(
        ["key", "vote_count", "movie_id"], ascending=[False, False, True], kind="mergesort"
    )
    top = order.drop(columns="key").head(size)
    meta = movies[["movie_id", "title", "year", "genres"]]
    catalog = top.merge(meta, on="movie_id", how="left", validate="one_to_one")
    catalog["rank"] = range(1, len(catalog) + 1)
    return catalog[POPULAR_COLUMNS].reset_index(drop=True)


def compute_popular(
    spark: SparkSession, ratings: DataFrame | pd.DataFrame, movies: pd.DataFrame, cfg: BuildConfig
) -> dict[str, pd.DataFrame]:
    """Tables `movie_stats` (every rated movie, with its pool) and `popular` (the catalog)."""
    return _compute(spark, ratings, movies, cfg)[0]


def _compute(
    spark: SparkSession, ratings: DataFrame | pd.DataFrame, movies: pd.DataFrame, cfg: BuildConfig
) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
    """The two tables and the metrics (C, m, number of movies)."""
    stats, metrics = score_movies(spark, ratings, cfg)
    counts = stats.set_index("movie_id")["vote_count"]
    stats["pool"] = assign_pools(counts, cfg.pools).reindex(counts.index).to_numpy()
    tables = {
        "movie_stats": stats[STATS_COLUMNS],
        "popular": rank_catalog(stats, movies, cfg.popular.catalog_size),
    }
    return tables, metrics


def run(ctx: BuildContext) -> StageResult:
    """Stage entry point: movie_stats and popular from all ratings."""
    ctx.progress("popular: per-movie counts and means (Spark)")
    tables, metrics = _compute(ctx.spark, ctx.ratings_df, ctx.data.movies, ctx.config)
    metrics["catalog_size"] = len(tables["popular"])
    return StageResult(tables=tables, metrics=metrics)
