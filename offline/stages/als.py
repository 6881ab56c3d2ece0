"""Stage `als`: Spark ML ALS on explicit ratings, plus implicit-feedback item factors for fold-in.

Explicit: a rank x regParam grid is fitted on the build's train rows and chosen on validation RMSE;
the chosen setting is refitted on train+validation and scored on test beside the global-mean and
user+item-bias baselines (on exactly the test rows ALS can score: cold-start rows are dropped).
The exported factors and top lists come from one more fit, of the chosen setting, on all ratings;
the top lists leave out rare movies (fewer than `pools.less_known_min_count` ratings).

Determinism: Spark's ALS is deterministic for a fixed seed and a fixed input layout, so the input
is built from a sorted pandas frame, hash-partitioned into a fixed number of partitions by user_id
and sorted inside each; the ALS block counts are fixed too. Predictions, top lists and metrics are
computed in numpy from the exported (rounded) factors, so they match what the web app can compute.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from pyspark.ml.recommendation import ALS, ALSModel
from pyspark.sql import DataFrame, SparkSession

from offline.build import BuildContext, StageResult
from offline.config import BuildConfig
from offline.split import TEST, TRAIN, VALIDATION
from offline.stages import baselines

PARTITIONS = 2  # input partitions and ALS user/item blocks: fixed, so results do not vary by host
DECIMALS = 6  # factors and scores in the exported tables
# Checkpoints cut the lineage of long runs (deep lineages overflow the stack past ~20 iterations);
# each costs a disk write, so runs of at most this many iterations skip them.
CHECKPOINT_INTERVAL = 10


def ratings_frame(spark: SparkSession, ratings: pd.DataFrame) -> DataFrame:
    """user_id, movie_id, rating as a Spark frame with a layout that depends only on the data."""
    pdf = (ratings[["user_id", "movie_id", "rating"]]
           .astype({"user_id": "int32", "movie_id": "int32", "rating": "float32"})
           .sort_values(["user_id", "movie_id"], kind="mergesort").reset_index(drop=True))
    return (spark.createDataFrame(pdf)
            .repartition(PARTITIONS, "user_id")
            .sortWithinPartitions("user_id", "movie_id"))


def _estimator(rank: int, reg_param: float, max_iter: int, seed: int, **extra: Any) -> ALS:
    """The project's ALS settings; `extra` adds the implicit-feedback ones."""
    return ALS(rank=rank, regParam=reg_param, maxIter=max_iter, seed=seed,
               userCol="user_id", itemCol="movie_id", ratingCol="rating",
               coldStartStrategy="drop", nonnegative=False,
               numUserBlocks=PARTITIONS, numItemBlocks=PARTITIONS,
               checkpointInterval=CHECKPOINT_INTERVAL if max_iter > CHECKPOINT_INTERVAL else -1,
               **extra)


def factor_table(factors: DataFrame, id_column: str) -> pd.DataFrame:
    """A model's factor rows as `id_column, f0..f{k-1}`: sorted by id, rounded."""
    pdf = factors.toPandas().sort_values("id", kind="mergesort")
    values = np.vstack(pdf["features"].to_numpy()).astype(np.float64).round(DECIMALS)
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


def predict(users: pd.DataFrame, items: pd.DataFrame,
            frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(mask of the rows both factor tables know, clipped predictions for those rows)."""
    u_pos = pd.Index(users["user_id"]).get_indexer(frame["user_id"])
    i_pos = pd.Index(items["movie_id"]).get_indexer(frame["movie_id"])
    known = (u_pos >= 0) & (i_pos >= 0)
    u = users.iloc[:, 1:].to_numpy()[u_pos[known]]
    v = items.iloc[:, 1:].to_numpy()[i_pos[known]]
    return known, baselines.clip_ratings(np.einsum("ij,ij->i", u, v))


def top_unseen(users: pd.DataFrame, items: pd.DataFrame, seen: pd.DataFrame, top_n: int,
               chunk: int = 1024) -> pd.DataFrame:
    """Each user's top_n movies of `items` not in `seen` by predicted rating (ties: movie_id asc).

    Ranked on the raw prediction, so movies predicted above 5 keep their order; the published
    score is the prediction clipped to the rating scale, as the web app shows it.
    """
    item_ids = pd.Index(items["movie_id"])
    seen = seen.assign(u=pd.Index(users["user_id"]).get_indexer(seen["user_id"]),
                       i=item_ids.get_indexer(seen["movie_id"]))
    seen = seen[(seen["u"] >= 0) & (seen["i"] >= 0)]
    u_all, v = users.iloc[:, 1:].to_numpy(), items.iloc[:, 1:].to_numpy()
    n = min(top_n, len(items))
    parts = []
    for start in range(0, len(users), chunk):  # bounded memory on large data sets
        scores = (u_all[start:start + chunk] @ v.T).round(DECIMALS)
        block = seen[(seen["u"] >= start) & (seen["u"] < start + chunk)]
        scores[block["u"].to_numpy() - start, block["i"].to_numpy()] = -np.inf
        # items are sorted by movie_id and a stable sort keeps that order among equal scores
        best = np.argsort(-scores, axis=1, kind="stable")[:, :n]
        parts.append(pd.DataFrame({
            "user_id": np.repeat(users["user_id"].to_numpy()[start:start + chunk], n),
            "movie_id": item_ids.to_numpy()[best.ravel()],
            "score": np.take_along_axis(scores, best, axis=1).ravel(),  # clipped below
            "rank": np.tile(np.arange(1, n + 1, dtype=np.int32), len(scores)),
        }))
    top = pd.concat(parts, ignore_index=True)
    top = top[np.isfinite(top["score"])].reset_index(drop=True)  # users who saw everything
    top["score"] = baselines.clip_ratings(top["score"].to_numpy())
    return top


def recommend_unseen(users: pd.DataFrame, items: pd.DataFrame, ratings: pd.DataFrame,
                     cfg: BuildConfig) -> pd.DataFrame:
    """Table als_user_top: top_n unseen movies per user among the not-rare ones."""
    # rare movies (a rating or two) get extreme factors and would fill every list
    counts = ratings["movie_id"].value_counts()
    candidates = items[items["movie_id"].map(counts) >= cfg.pools.less_known_min_count]
    return top_unseen(users, candidates.reset_index(drop=True), ratings, cfg.als.top_n)


def fit_factors(spark: SparkSession, ratings: pd.DataFrame, rank: int, reg_param: float,
                cfg: BuildConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fit explicit ALS on `ratings`; return (user factors, item factors)."""
    estimator = _estimator(rank, reg_param, cfg.als.max_iter, cfg.seed_for("als"))
    return model_tables(estimator.fit(ratings_frame(spark, ratings)))


def search_grid(spark: SparkSession, train: pd.DataFrame, validation: pd.DataFrame,
                cfg: BuildConfig) -> tuple[tuple[int, float], list[dict[str, Any]]]:
    """The (rank, reg_param) with the lowest validation RMSE, and every grid point's score."""
    grid = [(rank, reg) for rank in cfg.als.ranks for reg in cfg.als.reg_params]
    if len(grid) == 1:  # nothing to choose: skip the validation fit
        return grid[0], []
    scores = []
    for rank, reg in grid:
        users, items = fit_factors(spark, train, rank, reg, cfg)
        known, pred = predict(users, items, validation)
        truth = validation["rating"].to_numpy(dtype=np.float64)[known]
        scores.append({"rank": rank, "reg_param": reg,
                       "validation_rmse": round(baselines.rmse(truth, pred), DECIMALS)})
    # NaN (no validation row could be scored) sorts last
    best = min(scores, key=lambda s: (math.isnan(s["validation_rmse"]), s["validation_rmse"],
                                      s["rank"], s["reg_param"]))
    return (best["rank"], best["reg_param"]), scores


def held_out_errors(users: pd.DataFrame, items: pd.DataFrame, fit_rows: pd.DataFrame,
                test: pd.DataFrame) -> dict[str, Any]:
    """Test RMSE/MAE of ALS and of both baselines (fitted on `fit_rows`) on the same test rows."""
    known, pred = predict(users, items, test)
    scored = test[known]
    truth = scored["rating"].to_numpy(dtype=np.float64)
    base = baselines.evaluate_baselines(fit_rows, scored)
    errors = {
        "test_rmse": baselines.rmse(truth, pred), "test_mae": baselines.mae(truth, pred),
        "global_mean_test_rmse": base["global_mean_rmse"],
        "global_mean_test_mae": base["global_mean_mae"],
        "bias_test_rmse": base["bias_rmse"], "bias_test_mae": base["bias_mae"],
    }
    errors = {k: round(v, DECIMALS) for k, v in errors.items()}
    return {**errors, "test_rows": int(known.sum()), "test_rows_cold_start": int((~known).sum())}


def train_als(spark: SparkSession, ratings: pd.DataFrame, split: pd.Series,
              cfg: BuildConfig) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
    """Grid on validation, refit on train+validation for test errors, export a fit on all rows."""
    train, validation = ratings[split == TRAIN], ratings[split == VALIDATION]
    fit_rows, test = ratings[split != TEST], ratings[split == TEST]
    (rank, reg), grid = search_grid(spark, train, validation, cfg)
    metrics: dict[str, Any] = {"rank": rank, "reg_param": reg, "max_iter": cfg.als.max_iter,
                               "grid": grid}
    metrics.update(held_out_errors(*fit_factors(spark, fit_rows, rank, reg, cfg), fit_rows, test))
    users, items = fit_factors(spark, ratings, rank, reg, cfg)
    tables = {"als_user_factors": users, "als_item_factors": items,
              "als_user_top": recommend_unseen(users, items, ratings, cfg)}
    return tables, metrics


def train_als_implicit(spark: SparkSession, ratings: pd.DataFrame,
                       cfg: BuildConfig) -> pd.DataFrame:
    """Implicit-feedback ALS item factors (`movie_id, f0..`); each rating is one interaction.

    Spark's model: preference p = 1 and confidence c = 1 + alpha for each (user, movie) rated,
    p = 0, c = 1 elsewhere; a user's row solves (YtY + alpha * sum_rated y y^T + reg * n_u * I) x
    = (1 + alpha) * sum_rated y, with n_u the user's number of rated movies (Spark scales regParam
    by it). The same equation over three picks (n_u = 3) folds a new visitor in.
    """
    pairs = ratings[["user_id", "movie_id"]].drop_duplicates().assign(rating=np.float32(1.0))
    als = cfg.als
    estimator = _estimator(als.implicit_rank, als.implicit_reg_param, als.implicit_max_iter,
                           cfg.seed_for("als_implicit"), implicitPrefs=True,
                           alpha=als.implicit_alpha)
    model = estimator.fit(ratings_frame(spark, pairs))
    return model_tables(model)[1]


def run(ctx: BuildContext) -> StageResult:
    """Stage entry point: explicit ALS tables and metrics, implicit item factors."""
    ctx.progress("ALS: grid search, refit, export")
    tables, metrics = train_als(ctx.spark, ctx.data.ratings, ctx.split, ctx.config)
    ctx.progress("ALS: implicit item factors")
    tables["als_implicit_item_factors"] = train_als_implicit(ctx.spark, ctx.data.ratings,
                                                             ctx.config)
    als = ctx.config.als
    metrics["implicit"] = {"rank": als.implicit_rank, "reg_param": als.implicit_reg_param,
                           "alpha": als.implicit_alpha, "max_iter": als.implicit_max_iter}
    return StageResult(tables=tables, metrics=metrics)
