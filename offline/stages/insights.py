"""Stage `insights`: what is in the ratings, as small tables for the /insights and movie pages.

Every aggregation over the ratings runs in Spark (DataFrame API) in three passes: per (movie,
month), per (movie, rating value) and per user. What comes to the driver is already small: at most
one row per month and genre, per movie and rating value, per movie and year, per rated movie
(the weighted score, as the `popular` stage computes it) and per distinct ratings-per-user count.

Tables (docs/architecture.md has the contracts):
- ratings_by_month, genre_ratings_by_month: month (YYYY-MM, UTC), ratings, mean_rating
- rating_distribution, genre_rating_distribution: rating, ratings
- ratings_per_user: a histogram over power-of-two bins (min_ratings..max_ratings)
- ratings_per_movie: the long tail, rank by rating count (log-spaced ranks) with pool
- polarising_movies: the highest rating standard deviation among movies with >= N ratings
- weighting_effect: the catalog by weighted score next to the top by plain mean
- movie_ratings_by_year, movie_rating_histogram: one row per movie, its counts in one text field
  ("12 0 3": a year's or a star value's count, space-separated). The long format (one row per
  movie and year) was 14 MB on a synthetic 25M-rating release, this one is about a third of that.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from offline.build import BuildContext, StageResult
from offline.config import BuildConfig
from offline.pools import assign_pools
from offline.sparkctx import spark_frame
from offline.stages.popular import RANK_DECIMALS, score_aggregates

MONTH_COLUMNS = ["month", "ratings", "mean_rating"]
GENRE_MONTH_COLUMNS = ["genre", *MONTH_COLUMNS]
DISTRIBUTION_COLUMNS = ["rating", "ratings"]
GENRE_DISTRIBUTION_COLUMNS = ["genre", *DISTRIBUTION_COLUMNS]
PER_USER_COLUMNS = ["min_ratings", "max_ratings", "users", "ratings"]
PER_MOVIE_COLUMNS = ["rank", "ratings", "pool", "cumulative_share"]
POLARISING_COLUMNS = ["movie_id", "ratings", "mean_rating", "stddev", "low_share", "high_share", "rank"]
WEIGHTING_COLUMNS = ["movie_id", "vote_count", "vote_mean", "score", "score_rank", "mean_rank"]
MOVIE_YEAR_COLUMNS = ["movie_id", "first_year", "counts"]
MOVIE_HISTOGRAM_COLUMNS = ["movie_id", "counts"]
STAR_STEPS = 10  # ratings are half stars from 0.5 to 5 (the loader refuses any other value)
TOP_RANKS = 100  # every rank of the long tail up to here, log-spaced after


def with_month(ratings: DataFrame) -> DataFrame:
    """user_id, movie_id, rating (double) and month as yyyymm (int) of the UTC day: the day is
    counted from the epoch, so the session's time zone plays no part."""
    day = F.date_from_unix_date(F.floor(F.col("timestamp") / 86400).cast("int"))
    return ratings.select(
        "user_id",
        "movie_id",
        F.col("rating").cast("double").alias("rating"),
        (F.year(day) * 100 + F.month(day)).alias("month"),
    )


def movie_genres(spark: SparkSession, movies: pd.DataFrame) -> DataFrame:
    """(movie_id, genre), one row per genre of a movie (movies without genres have none).
    Built from the movies table (tens of thousands of rows), joined as a broadcast."""
    pairs = movies[["movie_id", "genres"]].assign(genre=movies["genres"].str.split("|"))
    pairs = pairs.explode("genre")
    pairs = pairs[pairs["genre"].notna() & (pairs["genre"] != "") & (pairs["genre"] != "(no genres listed)")]
    frame = pd.DataFrame(
        {
            "movie_id": pairs["movie_id"].astype("int32").to_numpy(),
            "genre": pairs["genre"].astype(str).to_numpy(),
        }
    )
    return F.broadcast(spark.createDataFrame(frame, schema="movie_id int, genre string"))


def _month_text(frame: pd.DataFrame) -> pd.Series:
    """yyyymm as 'YYYY-MM' (an empty frame too: a build where no movie has a genre)."""
    months = frame["month"].astype(np.int64).tolist()
    return pd.Series([f"{m // 100:04d}-{m % 100:02d}" for m in months], index=frame.index, dtype=object)


def _sorted(frame: pd.DataFrame, keys: list[str], columns: list[str]) -> pd.DataFrame:
    """Rows in a fixed order (Spark returns groups in any order): byte-identical tables."""
    return frame.sort_values(keys, kind="mergesort").reset_index(drop=True)[columns]


def monthly_tables(per_movie_month: DataFrame, genres: DataFrame) -> dict[str, pd.DataFrame]:
    """ratings_by_month and genre_ratings_by_month from the (movie, month) sums."""
    sums = [F.sum("ratings").alias("ratings"), F.sum("rating_sum").alias("rating_sum")]
    overall = per_movie_month.groupBy("month").agg(*sums).toPandas()
    by_genre = per_movie_month.join(genres, "movie_id").groupBy("genre", "month").agg(*sums).toPandas()
    out = {}
    for name, frame, keys in (
        ("ratings_by_month", overall, ["month"]),
        ("genre_ratings_by_month", by_genre, ["genre", "month"]),
    ):
        frame = frame.sort_values(keys, kind="mergesort")
        frame["ratings"] = frame["ratings"].astype(np.int64)
        frame["mean_rating"] = frame["rating_sum"] / frame["ratings"]
        frame["month"] = _month_text(frame)
        out[name] = _sorted(frame, keys, GENRE_MONTH_COLUMNS if "genre" in keys else MONTH_COLUMNS)
    return out


def counts_map(keys: Column, counts: Column) -> Column:
    """A group's (key, count) rows as one map column (an aggregate, for groupBy().agg())."""
    return F.map_from_entries(F.collect_list(F.struct(keys, counts)))


def counts_text(found: Column, first: Column, last: Column) -> Column:
    """The counts of keys first..last from a counts_map, space-separated, 0 for a missing key."""
    every = F.transform(F.sequence(first, last), lambda k: F.coalesce(F.element_at(found, k), F.lit(0)))
    return F.array_join(F.transform(every, lambda c: c.cast("string")), " ")


def movie_years(per_movie_month: DataFrame) -> pd.DataFrame:
    """movie_ratings_by_year: per movie, its first year with a rating and its ratings in each
    calendar year from then to its last ("4 0 7": 4 in the first year, none in the next, ...)."""
    years = per_movie_month.groupBy("movie_id", F.floor(F.col("month") / 100).cast("int").alias("year")).agg(
        F.sum("ratings").alias("ratings")
    )
    frame = (
        years.groupBy("movie_id")
        .agg(
            F.min("year").alias("first_year"),
            F.max("year").alias("last_year"),
            counts_map(F.col("year"), F.col("ratings")).alias("found"),
        )
        .select(
            "movie_id",
            "first_year",
            counts_text(F.col("found"), F.col("first_year"), F.col("last_year")).alias("counts"),
        )
        .toPandas()
    )
    frame = frame.astype({"movie_id": "int32", "first_year": "int32", "counts": str})
    return _sorted(frame, ["movie_id"], MOVIE_YEAR_COLUMNS)


def distribution_tables(per_movie_rating: DataFrame, genres: DataFrame) -> dict[str, pd.DataFrame]:
    """rating_distribution, genre_rating_distribution and movie_rating_histogram (per movie, its
    ratings of 0.5, 1, ..., 5 stars: ten counts, space-separated)."""
    overall = per_movie_rating.groupBy("rating").agg(F.sum("ratings").alias("ratings")).toPandas()
    by_genre = (
        per_movie_rating.join(genres, "movie_id")
        .groupBy("genre", "rating")
        .agg(F.sum("ratings").alias("ratings"))
        .toPandas()
    )
    step = F.round(F.col("rating") * 2).cast("int")  # 1 (half a star) .. 10 (five stars)
    per_movie = (
        per_movie_rating.groupBy("movie_id")
        .agg(counts_map(step, F.col("ratings")).alias("found"))
        .select("movie_id", counts_text(F.col("found"), F.lit(1), F.lit(STAR_STEPS)).alias("counts"))
        .toPandas()
    )
    out = {}
    for name, frame, keys, columns in (
        ("rating_distribution", overall, ["rating"], DISTRIBUTION_COLUMNS),
        ("genre_rating_distribution", by_genre, ["genre", "rating"], GENRE_DISTRIBUTION_COLUMNS),
    ):
        frame = frame.astype({"ratings": "int64", "rating": "float64"})
        out[name] = _sorted(frame, keys, columns)
    per_movie = per_movie.astype({"movie_id": "int32", "counts": str})
    out["movie_rating_histogram"] = _sorted(per_movie, ["movie_id"], MOVIE_HISTOGRAM_COLUMNS)
    return out


def movie_moments(per_movie_rating: DataFrame, cfg: BuildConfig) -> DataFrame:
    """Per movie: vote_count, vote_mean, stddev (population, of its ratings), low_share and
    high_share (of ratings <= low_rating and >= high_rating), from the (movie, rating) counts.

    Ratings are half stars, so n * sum(r^2) - sum(r)^2 is computed exactly in doubles: the
    variance has no cancellation error and a movie whose ratings are all equal has stddev 0.
    """
    n, r = F.col("ratings"), F.col("rating")
    low, high = cfg.insights.low_rating, cfg.insights.high_rating
    sums = per_movie_rating.groupBy("movie_id").agg(
        F.sum(n).alias("vote_count"),
        F.sum(n * r).alias("s1"),
        F.sum(n * r * r).alias("s2"),
        F.sum(F.when(r <= F.lit(low), n).otherwise(0)).alias("low"),
        F.sum(F.when(r >= F.lit(high), n).otherwise(0)).alias("high"),
    )
    count = F.col("vote_count").cast("double")
    variance = (count * F.col("s2") - F.col("s1") * F.col("s1")) / (count * count)
    return sums.select(
        "movie_id",
        "vote_count",
        (F.col("s1") / count).alias("vote_mean"),
        F.sqrt(F.greatest(variance, F.lit(0.0))).alias("stddev"),
        (F.col("low") / count).alias("low_share"),
        (F.col("high") / count).alias("high_share"),
    )


def polarising(moments: DataFrame, min_ratings: int, top: int) -> pd.DataFrame:
    """The `top` movies by rating standard deviation among those with >= min_ratings ratings
    (ties: more ratings first, then movie_id)."""
    chosen = (
        moments.filter(F.col("vote_count") >= F.lit(min_ratings))
        .orderBy(F.col("stddev").desc(), F.col("vote_count").desc(), F.col("movie_id").asc())
        .limit(top)
        .toPandas()
    )
    chosen = chosen.rename(columns={"vote_count": "ratings", "vote_mean": "mean_rating"})
    chosen = chosen.astype({"movie_id": "int32", "ratings": "int64"})
    chosen["rank"] = np.arange(1, len(chosen) + 1)
    return chosen[POLARISING_COLUMNS].reset_index(drop=True)


def per_user_histogram(ratings: DataFrame) -> pd.DataFrame:
    """ratings_per_user: users (and their ratings) per power-of-two bin of ratings per user,
    [2^k, 2^(k+1) - 1]. The bin is the bit length of the count less one: exact integer
    arithmetic (a floating-point log2 can put 2^k into the bin below)."""
    per_user = ratings.groupBy("user_id").agg(F.count(F.lit(1)).alias("n"))
    bins = (
        per_user.groupBy((F.length(F.bin("n")) - 1).alias("k"))
        .agg(F.count(F.lit(1)).alias("users"), F.sum("n").alias("ratings"))
        .toPandas()
    )
    bins = bins.astype({"k": "int64", "users": "int64", "ratings": "int64"}).sort_values("k")
    bins["min_ratings"] = np.left_shift(1, bins["k"].to_numpy())
    bins["max_ratings"] = np.left_shift(1, bins["k"].to_numpy() + 1) - 1
    return bins[PER_USER_COLUMNS].reset_index(drop=True)


def long_tail(stats: pd.DataFrame, cfg: BuildConfig) -> pd.DataFrame:
    """ratings_per_movie: the rating count of the movie at each rank (most rated first; ties by
    movie_id, as the pools are cut), its pool and the share of all ratings held by the movies up
    to that rank. Every rank to TOP_RANKS, then about `long_tail_points` log-spaced ranks, and
    always the last rank of each pool, so the pool boundaries are exact."""
    order = stats.sort_values(["vote_count", "movie_id"], ascending=[False, True], kind="mergesort")
    counts = order["vote_count"].to_numpy(np.int64)
    pools = assign_pools(order.set_index("movie_id")["vote_count"], cfg.pools)
    pool = pools.reindex(order["movie_id"]).to_numpy()
    n = len(counts)
    if n == 0:
        return pd.DataFrame(columns=PER_MOVIE_COLUMNS)
    ranks = set(range(1, min(n, TOP_RANKS) + 1))
    ranks |= {int(r) for r in np.unique(np.geomspace(1, n, cfg.insights.long_tail_points).round())}
    ranks |= {int(i) + 1 for i in np.flatnonzero(pool[:-1] != pool[1:])} | {n}  # each pool's last
    index = np.array(sorted(r for r in ranks if 1 <= r <= n)) - 1
    cumulative = np.cumsum(counts) / counts.sum()
    return pd.DataFrame(
        {
            "rank": index + 1,
            "ratings": counts[index],
            "pool": pool[index],
            "cumulative_share": cumulative[index],
        }
    )[PER_MOVIE_COLUMNS]


def weighting_effect(stats: pd.DataFrame, size: int) -> pd.DataFrame:
    """The top `size` movies by weighted score (the catalog, ranked as `popular` ranks it) and
    the top `size` by plain mean (ties: more ratings first, then movie_id), with both ranks over
    every rated movie: what the weighting does to the order."""
    by_score = stats.assign(key=stats["score"].round(RANK_DECIMALS)).sort_values(
        ["key", "vote_count", "movie_id"], ascending=[False, False, True], kind="mergesort"
    )
    by_mean = stats.sort_values(
        ["vote_mean", "vote_count", "movie_id"], ascending=[False, False, True], kind="mergesort"
    )
    ranked = stats.set_index("movie_id")
    ranked["score_rank"] = pd.Series(np.arange(1, len(stats) + 1), index=by_score["movie_id"].to_numpy())
    ranked["mean_rank"] = pd.Series(np.arange(1, len(stats) + 1), index=by_mean["movie_id"].to_numpy())
    chosen = ranked[(ranked["score_rank"] <= size) | (ranked["mean_rank"] <= size)].reset_index()
    chosen = chosen.sort_values(["score_rank"], kind="mergesort").reset_index(drop=True)
    return chosen.astype({"score_rank": "int64", "mean_rank": "int64"})[WEIGHTING_COLUMNS]


def compute_insights(
    spark: SparkSession, ratings: DataFrame | pd.DataFrame, movies: pd.DataFrame, cfg: BuildConfig
) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
    """Every insights table, and the metrics (N of the polarising list, C and m, totals)."""
    frame = with_month(spark_frame(spark, ratings))
    genres = movie_genres(spark, movies)
    per_movie_month = (
        frame.groupBy("movie_id", "month")
        .agg(F.count(F.lit(1)).alias("ratings"), F.sum("rating").alias("rating_sum"))
        .cache()
    )
    per_movie_rating = frame.groupBy("movie_id", "rating").agg(F.count(F.lit(1)).alias("ratings")).cache()
    try:
        tables = monthly_tables(per_movie_month, genres)
        tables["movie_ratings_by_year"] = movie_years(per_movie_month)
        tables.update(distribution_tables(per_movie_rating, genres))
        total = int(tables["rating_distribution"]["ratings"].sum())
        min_ratings = cfg.insights.polarising_min_ratings(total)
        moments = movie_moments(per_movie_rating, cfg).cache()
        try:
            tables["polarising_movies"] = polarising(moments, min_ratings, cfg.insights.polarising_top)
            stats, weights = score_aggregates(moments, cfg)  # the `popular` stage's weighting
        finally:
            moments.unpersist()
    finally:
        per_movie_month.unpersist()
        per_movie_rating.unpersist()
    tables["ratings_per_user"] = per_user_histogram(frame)
    tables["ratings_per_movie"] = long_tail(stats, cfg)
    tables["weighting_effect"] = weighting_effect(stats, cfg.popular.catalog_size)
    metrics = {
        "ratings": total,
        "users": int(tables["ratings_per_user"]["users"].sum()),
        "movies": int(len(stats)),
        "polarising_min_ratings": min_ratings,
        "polarising_candidates": int((stats["vote_count"] >= min_ratings).sum()),
        "C": weights["C"],
        "m": weights["m"],
        "vote_quantile": weights["vote_quantile"],
        "catalog_size": cfg.popular.catalog_size,
        "low_rating": cfg.insights.low_rating,
        "high_rating": cfg.insights.high_rating,
    }
    return tables, metrics


def run(ctx: BuildContext) -> StageResult:
    """Stage entry point: the insights tables from all ratings (Spark)."""
    ctx.progress("insights: per month, rating value and user (Spark)")
    tables, metrics = compute_insights(ctx.spark, ctx.ratings_df, ctx.data.movies, ctx.config)
    return StageResult(tables=tables, metrics=metrics)
