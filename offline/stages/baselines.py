"""Rating-prediction baselines (global mean, regularised user+item bias) and error metrics.

numpy/pandas only, so the ALS stage, the NeuMF stage and the evaluation can all reuse them.
Frames have the columns `user_id, movie_id, rating`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

RATING_MIN = 0.5
RATING_MAX = 5.0
# Damping terms as in Koren (2010) / Surprise's baseline defaults: an item (user) with n ratings
# keeps n / (n + reg) of its raw mean offset, so movies rated once stay close to the global mean.
ITEM_REG = 10.0
USER_REG = 15.0


@dataclass(frozen=True)
class BiasModel:
    """mu + b_user + b_item; ids missing from the training data get a bias of 0."""

    global_mean: float
    user_bias: pd.Series  # indexed by user_id
    item_bias: pd.Series  # indexed by movie_id


def clip_ratings(values: np.ndarray) -> np.ndarray:
    """Clip predictions to the MovieLens rating scale (0.5..5)."""
    return np.clip(np.asarray(values, dtype=np.float64), RATING_MIN, RATING_MAX)


def rmse(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Root mean squared error (NaN for no rows: a tiny data set's split can leave none, and
    numpy would print a warning for each)."""
    diff = np.asarray(y_true, dtype=np.float64) - np.asarray(y_pred, dtype=np.float64)
    return float(np.sqrt(np.mean(diff**2))) if len(diff) else math.nan


def mae(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Mean absolute error (NaN for no rows)."""
    diff = np.asarray(y_true, dtype=np.float64) - np.asarray(y_pred, dtype=np.float64)
    return float(np.mean(np.abs(diff))) if len(diff) else math.nan


def fit_global_mean(train: pd.DataFrame) -> float:
    """The mean training rating."""
    return float(train["rating"].astype(np.float64).mean())


def predict_global_mean(global_mean: float, frame: pd.DataFrame) -> np.ndarray:
    """The same prediction (clipped) for every row of `frame`."""
    return clip_ratings(np.full(len(frame), global_mean))


def fit_bias(train: pd.DataFrame, item_reg: float = ITEM_REG, user_reg: float = USER_REG) -> BiasModel:
    """Fit damped item biases, then damped user biases on the item-corrected residuals."""
    mu = fit_global_mean(train)
    rating = train["rating"].astype(np.float64)
    item_groups = (rating - mu).groupby(train["movie_id"].to_numpy())
    item_bias = item_groups.sum() / (item_groups.count() + item_reg)
    residual = rating - mu - item_bias.reindex(train["movie_id"].to_numpy()).to_numpy()
    user_groups = residual.groupby(train["user_id"].to_numpy())
    user_bias = user_groups.sum() / (user_groups.count() + user_reg)
    item_bias.index.name, user_bias.index.name = "movie_id", "user_id"
    return BiasModel(global_mean=mu, user_bias=user_bias, item_bias=item_bias)


def predict_bias(model: BiasModel, frame: pd.DataFrame) -> np.ndarray:
    """Clipped mu + b_user + b_item for every row of `frame`."""
    b_user = model.user_bias.reindex(frame["user_id"].to_numpy()).fillna(0.0).to_numpy()
    b_item = model.item_bias.reindex(frame["movie_id"].to_numpy()).fillna(0.0).to_numpy()
    return clip_ratings(model.global_mean + b_user + b_item)


def fit_bias_spark(frame: "DataFrame", item_reg: float = ITEM_REG, user_reg: float = USER_REG) -> BiasModel:
    """`fit_bias` computed by Spark over a DataFrame of ratings (only the biases reach the
    driver). Sums are taken as sum(r) - n * mu, which is exact for half-star ratings."""
    from pyspark.sql import functions as F

    rating = F.col("rating").cast("double")
    mu = float(frame.agg(F.avg(rating)).first()[0])
    items = frame.groupBy("movie_id").agg(
        ((F.sum(rating) - F.count(F.lit(1)) * F.lit(mu)) / (F.count(F.lit(1)) + F.lit(item_reg))).alias(
            "b_item"
        )
    )
    residual = rating - F.lit(mu) - F.col("b_item")
    users = (
        frame.join(F.broadcast(items), "movie_id")
        .groupBy("user_id")
        .agg((F.sum(residual) / (F.count(F.lit(1)) + F.lit(user_reg))).alias("b_user"))
    )
    item_bias = items.toPandas().set_index("movie_id")["b_item"].sort_index()
    user_bias = users.toPandas().set_index("user_id")["b_user"].sort_index()
    return BiasModel(
        global_mean=mu, user_bias=user_bias.astype(np.float64), item_bias=item_bias.astype(np.float64)
    )


def score_bias_model(model: BiasModel, test: pd.DataFrame) -> dict[str, float]:
    """Test RMSE and MAE of the global mean and of the bias model (both from one fit)."""
    truth = test["rating"].to_numpy(dtype=np.float64)
    global_pred = predict_global_mean(model.global_mean, test)
    bias_pred = predict_bias(model, test)
    return {
        "global_mean_rmse": rmse(truth, global_pred),
        "global_mean_mae": mae(truth, global_pred),
        "bias_rmse": rmse(truth, bias_pred),
        "bias_mae": mae(truth, bias_pred),
    }


def evaluate_baselines(train: pd.DataFrame, test: pd.DataFrame) -> dict[str, float]:
    """Test RMSE and MAE of both baselines fitted on `train`."""
    truth = test["rating"].to_numpy(dtype=np.float64)
    global_pred = predict_global_mean(fit_global_mean(train), test)
    bias_pred = predict_bias(fit_bias(train), test)
    return {
        "global_mean_rmse": rmse(truth, global_pred),
        "global_mean_mae": mae(truth, global_pred),
        "bias_rmse": rmse(truth, bias_pred),
        "bias_mae": mae(truth, bias_pred),
    }
