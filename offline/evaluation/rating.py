"""Rating prediction: RMSE/MAE of the bias baseline, ALS and NeuMF on the build's held-out split.

Standard library only at import time: the report imports `rating_rows`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from offline.config import BuildConfig

if TYPE_CHECKING:
    from offline.data.loader import Dataset
    from offline.evaluation.folds import FoldStages


def rating_prediction(
    dataset: "Dataset",
    cfg: BuildConfig,
    spark: Any,
    stages: FoldStages,
    stage_metrics: Mapping[str, Mapping[str, Any]] | None,
    als_input: Any = None,
) -> dict[str, Any]:
    """RMSE/MAE of the bias baseline, ALS and NeuMF on the build's seeded held-out split.

    `als_input`: the ratings for a fresh ALS run when the build's metrics are not given (a Spark
    DataFrame on large data; the pandas frame by default).
    """
    from offline.split import TEST, split_ratings
    from offline.stages.baselines import evaluate_baselines

    ratings = dataset.ratings
    seed = cfg.seed_for("split")  # the build's split (BuildContext.split)
    split = split_ratings(ratings, cfg.split_fractions, seed)
    out: dict[str, Any] = {"split_seed": seed, "fractions": list(cfg.split_fractions)}
    # fitted on train + validation, scored on test: the rows the als stage reports its test error on
    out["bias"] = evaluate_baselines(ratings[split != TEST], ratings[split == TEST])
    given = dict(stage_metrics or {})
    if "als" not in given and stages.train_als is not None:
        _, given["als"] = stages.train_als(spark, ratings if als_input is None else als_input, cfg)
    out["als"] = dict(given.get("als", {}))
    out["neumf"] = dict(given.get("neumf", {}))
    return out


def rating_rows(rating: Mapping[str, Any]) -> list[dict[str, Any]]:
    """RMSE/MAE per model; the baselines as the als stage reported them when it did."""
    als = rating.get("als", {})
    own = rating.get("bias", {})
    rows = []
    for label, prefix in (("global mean", "global_mean"), ("user+item bias", "bias")):
        found = _find_error(
            {k.replace(f"{prefix}_", "", 1): v for k, v in als.items() if k.startswith(f"{prefix}_test_")}
        )
        if not found and f"{prefix}_rmse" in own:
            found = {"rmse": own[f"{prefix}_rmse"], "mae": own.get(f"{prefix}_mae")}
        if found:
            rows.append({"model": label, **found})
    for model, label in (("als", "ALS (explicit)"), ("neumf", "NeuMF")):
        found = _find_error(rating.get(model, {}))
        if found:
            rows.append({"model": label, **found})
    return rows


def _find_error(metrics: Mapping[str, Any]) -> dict[str, float]:
    """The test RMSE/MAE in a stage's metrics, whatever the key's prefix ('test_rmse', 'rmse')."""
    found = {}
    for key in ("rmse", "mae"):
        for name in (f"test_{key}", key):
            value = metrics.get(name)
            if isinstance(value, (int, float)) and value == value:
                found[key] = float(value)
                break
    return found if "rmse" in found else {}
