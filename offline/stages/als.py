"""Stage `als`: Spark ML ALS on explicit ratings, plus implicit-feedback item factors for fold-in.

Explicit: a rank x regParam grid is fitted on the train part of the hash split and chosen on
validation RMSE; the chosen setting is refitted on train+validation and scored on test beside the
global-mean and user+item-bias baselines (on exactly the test rows ALS can score: cold-start rows
are dropped). Above `sample_ratings` ratings, the grid and these error figures run on a seeded
sample of users holding about that many ratings (the metrics say so): the choice of two
hyperparameters needs no 25 million ratings, and each grid point would cost a full fit. The
exported factors and top lists come from one more fit, of the chosen setting, on all ratings; the
top lists leave out rare movies (fewer than `pools.less_known_min_count` ratings).

Everything reads the ratings as a Spark DataFrame (from the checked Parquet table): nothing
passes through the driver but the validation and test rows of the (sampled) grid and the factors.
The top lists are computed next to the data too (`mapInPandas`, one user at a time).

Determinism: Spark's ALS is deterministic for a fixed seed and a fixed input layout, so the input
is hash-partitioned into a fixed number of partitions by user_id and sorted inside each; the ALS
block counts are fixed too. Predictions, top lists and metrics are computed in numpy from the
exported (rounded) factors, so they match what the web app can compute; each user's scores are
one matrix-vector product, so they do not depend on how users are batched.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pandas as pd
from pyspark.ml.recommendation import ALS, ALSModel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from offline.build import BuildContext, StageResult
from offline.config import BuildConfig
from offline.sparkctx import StageCounter, spark_frame
from offline.split import BUCKETS, TEST, TRAIN, VALIDATION, spark_split
from offline.stages import baselines, topn

PARTITIONS = 2  # input partitions and ALS user/item blocks: fixed, so results do not vary by host
DECIMALS = 6  # factors and scores in the exported tables
# Checkpoints cut the lineage of long runs (deep lineages overflow the stack past ~20 iterations);
# each costs a disk write, so runs of at most this many iterations skip them.
CHECKPOINT_INTERVAL = 10
# Each ALS iteration runs two stages named like this (user and item half-steps): counting them
# as they start gives the iteration in progress.
ITERATION_STAGE = "flatMap at ALS.scala"
Say = Callable[[str], None]


def ratings_frame(spark: SparkSession, ratings: DataFrame | pd.DataFrame) -> DataFrame:
    """user_id, movie_id, rating as a Spark frame with a layout that depends only on the data."""
    frame = spark_frame(spark, ratings).select(
        F.col("user_id").cast("int"), F.col("movie_id").cast("int"), F.col("rating").cast("float")
    )
    return frame.repartition(PARTITIONS, "user_id").sortWithinPartitions("user_id", "movie_id")


def _estimator(rank: int, reg_param: float, max_iter: int, seed: int, **extra: Any) -> ALS:
    """The project's ALS settings; `extra` adds the implicit-feedback ones."""
    return ALS(
        rank=rank,
        regParam=reg_param,
        maxIter=max_iter,
        seed=seed,
        userCol="user_id",
        itemCol="movie_id",
        ratingCol="rating",
        coldStartStrategy="drop",
        nonnegative=False,
        numUserBlocks=PARTITIONS,
        numItemBlocks=PARTITIONS,
        checkpointInterval=CHECKPOINT_INTERVAL if max_iter > CHECKPOINT_INTERVAL else -1,
        **extra,
    )


def fit_model(
    spark: SparkSession, estimator: ALS, frame: DataFrame, label: str, say: Say | None = None
) -> ALSModel:
    """Fit with a live line: which fit, the iteration in progress, the seconds so far."""
    max_iter = estimator.getMaxIter()
    with StageCounter(spark, ITERATION_STAGE) as counter:
        first_seen: dict[int, float] = {}

        def show(started: int, seconds: float) -> None:
            if not say:
                return
            iteration = min(max_iter, max(1, (started + 1) // 2))
            first_seen.setdefault(iteration, seconds)
            left = ""
            if iteration >= 3:  # iterations 2.. take about the same time; 1 includes set-up
                per = (seconds - first_seen[2]) / (iteration - 2) if iteration > 2 else 0
                if per > 0:
                    left = f", about {per * (max_iter - iteration + 1):.0f} s left"
            say(f"{label}: iteration {iteration}/{max_iter} ({seconds:.0f} s{left})")

        counter.on_change = show
        model = estimator.fit(frame)
        model.itemFactors.count()  # the fit is lazy until the factors are used
    return model


def factor_table(factors: DataFrame, id_column: str) -> pd.DataFrame:
    """A model's factor rows as `id_column, f0..f{k-1}`: sorted by id, rounded."""
    pdf = factors.toPandas().sort_values("id", kind="mergesort")
    values = (
        np.vstack(pdf["features"].to_numpy()).astype(np.float64).round(DECIMALS)
        if len(pdf)
        else np.zeros((0, 0))
    )
    table = pd.DataFrame(values, columns=[f"f{i}" for i in range(values.shape[1])])
    table.insert(0, id_column, pdf["id"].to_numpy(dtype=np.int32))
    return table


def model_tables(model: ALSModel) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(user factors, item factors) of a fitted model, then drop its cached factor frames."""
    users = factor_table(model.userFactors, "user_id")
    items = factor_table(model.itemFactors, "movie_id")
    model.userFactors.unpersist()
    model.itemFactors.unpersist()
    return users, items


def predict(users: pd.DataFrame, items: pd.DataFrame, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(mask of the rows both factor tables know, clipped predictions for those rows)."""
    u_pos = pd.Index(users["user_id"]).get_indexer(frame["user_id"])
    i_pos = pd.Index(items["movie_id"]).get_indexer(frame["movie_id"])
    known = (u_pos >= 0) & (i_pos >= 0)
    u = users.iloc[:, 1:].to_numpy()[u_pos[known]]
    v = items.iloc[:, 1:].to_numpy()[i_pos[known]]
    return known, baselines.clip_ratings(np.einsum("ij,ij->i", u, v))


def top_unseen(users: pd.DataFrame, items: pd.DataFrame, seen: pd.DataFrame, top_n: int) -> pd.DataFrame:
    """Each user's top_n movies of `items` not in `seen` (user_id, movie_id), on the driver:
    the same computation as `top_unseen_spark`, for tables already in memory."""
    grouped = seen.groupby("user_id")["movie_id"].apply(list) if len(seen) else pd.Series()
    batch = pd.DataFrame(
        {
            "user_id": users["user_id"].to_numpy(),
            "features": list(users.iloc[:, 1:].to_numpy(np.float64)),
            "seen": [grouped.get(u) for u in users["user_id"]],
        }
    )
    return topn.rank_users(batch, items.iloc[:, 1:].to_numpy(np.float64), items["movie_id"].to_numpy(), top_n)


def top_unseen_spark(
    spark: SparkSession, model: ALSModel, ratings: DataFrame, items: pd.DataFrame, top_n: int
) -> pd.DataFrame:
    """als_user_top computed where the ratings are: each user's factor row meets their rated
    movies in Spark, and `topn.rank_users` ranks the candidate `items` for them."""
    item_ids = items["movie_id"].to_numpy()
    matrix = items.iloc[:, 1:].to_numpy(np.float64)
    rated = ratings.groupBy("user_id").agg(F.collect_list("movie_id").alias("seen"))
    factors = model.userFactors.select(F.col("id").alias("user_id"), "features")
    joined = factors.join(rated, "user_id", "left")

    def rank(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            yield topn.rank_users(batch, matrix, item_ids, top_n)

    top = joined.mapInPandas(rank, topn.SCHEMA).toPandas()
    top = top.sort_values(["user_id", "rank"], kind="mergesort", ignore_index=True)
    return top.astype({"user_id": "int32", "movie_id": "int32", "rank": "int32"})


def recommendable(items: pd.DataFrame, counts: pd.Series, cfg: BuildConfig) -> pd.DataFrame:
    """Item factor rows of the movies a top list may show: not rare (see the module docs)."""
    # rare movies (a rating or two) get extreme factors and would fill every list
    keep = items["movie_id"].map(counts).fillna(0) >= cfg.pools.less_known_min_count
    return items[keep.to_numpy()].reset_index(drop=True)


def fit_factors(
    spark: SparkSession,
    ratings: DataFrame | pd.DataFrame,
    rank: int,
    reg_param: float,
    cfg: BuildConfig,
    label: str = "ALS",
    say: Say | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fit explicit ALS on `ratings`; return (user factors, item factors)."""
    estimator = _estimator(rank, reg_param, cfg.als.max_iter, cfg.seed_for("als"))
    return model_tables(fit_model(spark, estimator, ratings_frame(spark, ratings), label, say))


def with_split(frame: DataFrame, cfg: BuildConfig) -> DataFrame:
    """The ratings with their split label (the hash split every model shares)."""
    return frame.withColumn("split", spark_split(cfg.split_fractions, cfg.seed_for("split")))


def user_sample(frame: DataFrame, total: int, cfg: BuildConfig) -> tuple[DataFrame, dict[str, Any]]:
    """A seeded sample of users holding about `sample_ratings` ratings (all, when fewer)."""
    target = cfg.als.sample_ratings
    if total <= target:
        return frame, {"sampled": False, "ratings": total}
    share = target / total
    bucket = F.pmod(
        F.xxhash64(F.col("user_id").cast("int"), F.lit(cfg.seed_for("als_sample")).cast("int")),
        F.lit(BUCKETS),
    )
    picked = bucket < int(share * BUCKETS)
    return frame.where(picked), {"sampled": True, "user_share": round(share, 6), "of_ratings": total}


def search_grid(
    spark: SparkSession,
    train: DataFrame,
    validation: pd.DataFrame,
    cfg: BuildConfig,
    say: Say | None = None,
) -> tuple[tuple[Any, Any], list[dict[str, Any]]]:
    """The (rank, reg_param) with the lowest validation RMSE, and every grid point's score."""
    grid = [(rank, reg) for rank in cfg.als.ranks for reg in cfg.als.reg_params]
    if len(grid) == 1:  # nothing to choose: skip the validation fit
        return grid[0], []
    scores = []
    started = time.perf_counter()
    for i, (rank, reg) in enumerate(grid):
        left = ""
        if i:
            left = f", about {(time.perf_counter() - started) / i * (len(grid) - i):.0f} s left"
        label = f"ALS grid {i + 1}/{len(grid)} (rank {rank}, reg {reg}{left})"
        users, items = fit_factors(spark, train, rank, reg, cfg, label, say)
        known, pred = predict(users, items, validation)
        truth = validation["rating"].to_numpy(dtype=np.float64)[known]
        scores.append(
            {"rank": rank, "reg_param": reg, "validation_rmse": round(baselines.rmse(truth, pred), DECIMALS)}
        )
    # NaN (no validation row could be scored) sorts last
    best = min(
        scores,
        key=lambda s: (math.isnan(s["validation_rmse"]), s["validation_rmse"], s["rank"], s["reg_param"]),
    )
    return (best["rank"], best["reg_param"]), scores


def held_out_errors(
    users: pd.DataFrame, items: pd.DataFrame, fit_rows: DataFrame | pd.DataFrame, test: pd.DataFrame
) -> dict[str, Any]:
    """Test RMSE/MAE of ALS and of both baselines (fitted on `fit_rows`) on the same test rows."""
    known, pred = predict(users, items, test)
    scored = test[known]
    truth = scored["rating"].to_numpy(dtype=np.float64)
    model = (
        baselines.fit_bias(fit_rows)
        if isinstance(fit_rows, pd.DataFrame)
        else baselines.fit_bias_spark(fit_rows)
    )
    base = baselines.score_bias_model(model, scored)
    errors = {
        "test_rmse": baselines.rmse(truth, pred),
        "test_mae": baselines.mae(truth, pred),
        "global_mean_test_rmse": base["global_mean_rmse"],
        "global_mean_test_mae": base["global_mean_mae"],
        "bias_test_rmse": base["bias_rmse"],
        "bias_test_mae": base["bias_mae"],
    }
    errors = {k: round(v, DECIMALS) for k, v in errors.items()}
    return {**errors, "test_rows": int(known.sum()), "test_rows_cold_start": int((~known).sum())}


def _rows(frame: DataFrame) -> pd.DataFrame:
    """A (bounded) part of the ratings on the driver: validation or test rows of the sample."""
    pdf = frame.select("user_id", "movie_id", "rating").toPandas()
    return pdf.sort_values(["user_id", "movie_id"], kind="mergesort", ignore_index=True)


def train_als(
    spark: SparkSession, ratings: DataFrame | pd.DataFrame, cfg: BuildConfig, say: Say | None = None
) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
    """Grid on validation, refit on train+validation for test errors, export a fit on all rows."""
    clock = {"start": time.perf_counter()}
    frame = with_split(spark_frame(spark, ratings).select("user_id", "movie_id", "rating"), cfg)
    total = int(frame.count())
    sample, sample_info = user_sample(frame, total, cfg)
    sample = sample.cache()
    try:
        train = sample.where(F.col("split") == TRAIN)
        (rank, reg), grid = search_grid(
            spark, train, _rows(sample.where(F.col("split") == VALIDATION)), cfg, say
        )
        clock["grid"] = time.perf_counter()
        fit_rows = sample.where(F.col("split") != TEST)
        test = _rows(sample.where(F.col("split") == TEST))
        fitted = fit_factors(spark, fit_rows, rank, reg, cfg, "ALS refit for the test errors", say)
        metrics: dict[str, Any] = {
            "rank": rank,
            "reg_param": reg,
            "max_iter": cfg.als.max_iter,
            "grid": grid,
            "grid_sample": sample_info,
        }
        metrics.update(held_out_errors(*fitted, fit_rows, test))
    finally:
        sample.unpersist()
    clock["refit"] = time.perf_counter()
    all_rows = ratings_frame(spark, frame)
    estimator = _estimator(rank, reg, cfg.als.max_iter, cfg.seed_for("als"))
    model = fit_model(spark, estimator, all_rows, f"ALS fit on all {total:,} ratings", say)
    users, items = factor_table(model.userFactors, "user_id"), factor_table(model.itemFactors, "movie_id")
    clock["full_fit"] = time.perf_counter()
    if say:
        say("ALS: each user's top movies")
    counts = frame.groupBy("movie_id").count().toPandas().set_index("movie_id")["count"]
    top = top_unseen_spark(spark, model, frame, recommendable(items, counts, cfg), cfg.als.top_n)
    model.userFactors.unpersist()
    model.itemFactors.unpersist()
    clock["top_lists"] = time.perf_counter()
    marks = list(clock.items())
    metrics["seconds"] = {name: round(t - marks[i][1], 1) for i, (name, t) in enumerate(marks[1:])}
    tables = {"als_user_factors": users, "als_item_factors": items, "als_user_top": top}
    return tables, metrics


def train_als_implicit(
    spark: SparkSession, ratings: DataFrame | pd.DataFrame, cfg: BuildConfig, say: Say | None = None
) -> pd.DataFrame:
    """Implicit-feedback ALS item factors (`movie_id, f0..`); each rating is one interaction.

    Spark's model: preference p = 1 and confidence c = 1 + alpha for each (user, movie) rated,
    p = 0, c = 1 elsewhere; a user's row solves (YtY + alpha * sum_rated y y^T + reg * n_u * I) x
    = (1 + alpha) * sum_rated y, with n_u the user's number of rated movies (Spark scales regParam
    by it). The same equation over three picks (n_u = 3) folds a new visitor in.
    """
    # the checked ratings hold one row per (user, movie), so each row is one interaction
    pairs = (
        spark_frame(spark, ratings)
        .select("user_id", "movie_id")
        .withColumn("rating", F.lit(1.0).cast("float"))
    )
    als = cfg.als
    estimator = _estimator(
        als.implicit_rank,
        als.implicit_reg_param,
        als.implicit_max_iter,
        cfg.seed_for("als_implicit"),
        implicitPrefs=True,
        alpha=als.implicit_alpha,
    )
    model = fit_model(spark, estimator, ratings_frame(spark, pairs), "ALS implicit factors", say)
    return model_tables(model)[1]


def run(ctx: BuildContext) -> StageResult:
    """Stage entry point: explicit ALS tables and metrics, implicit item factors."""
    tables, metrics = train_als(ctx.spark, ctx.ratings_df, ctx.config, ctx.progress)
    started = time.perf_counter()
    tables["als_implicit_item_factors"] = train_als_implicit(
        ctx.spark, ctx.ratings_df, ctx.config, ctx.progress
    )
    metrics["seconds"]["implicit"] = round(time.perf_counter() - started, 1)
    als = ctx.config.als
    metrics["implicit"] = {
        "rank": als.implicit_rank,
        "reg_param": als.implicit_reg_param,
        "alpha": als.implicit_alpha,
        "max_iter": als.implicit_max_iter,
    }
    return StageResult(tables=tables, metrics=metrics)
