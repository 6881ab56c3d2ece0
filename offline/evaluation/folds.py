"""A fold's tables: the build's own stage functions trained on the fold's training users."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from offline.config import BuildConfig

if TYPE_CHECKING:
    from offline.data.loader import Dataset


@dataclass(frozen=True)
class FoldStages:
    """The stage functions a fold trains with (the real ones by default; injectable for tests)."""

    compute_popular: Callable[..., dict[str, pd.DataFrame]]
    compute_neighbors: Callable[..., pd.DataFrame]
    train_als_implicit: Callable[..., pd.DataFrame]
    train_neumf: Callable[..., tuple[dict[str, pd.DataFrame], dict[str, Any]]]
    fit_als_explicit: Callable[..., pd.DataFrame] | None = None  # (spark, ratings, rank, reg, cfg)
    train_als: Callable[..., tuple[dict[str, pd.DataFrame], dict[str, Any]]] | None = None
    compute_ease: Callable[..., pd.DataFrame] | None = None  # (ratings, ease config)


def default_stages() -> FoldStages:
    """The build's own stage functions."""
    from offline.stages import als, ease, knn, neumf, popular

    def fit_explicit(
        spark: Any, ratings: pd.DataFrame, rank: int, reg: float, cfg: BuildConfig
    ) -> pd.DataFrame:
        return als.fit_factors(spark, ratings, rank, reg, cfg)[1]

    return FoldStages(
        compute_popular=popular.compute_popular,
        compute_neighbors=knn.compute_neighbors,
        train_als_implicit=als.train_als_implicit,
        train_neumf=neumf.train_neumf,
        fit_als_explicit=fit_explicit,
        train_als=als.train_als,
        compute_ease=ease.compute_ease,
    )


def train_fold_tables(
    spark: Any,
    train: pd.DataFrame,
    dataset: "Dataset",
    cfg: BuildConfig,
    stages: FoldStages,
    explicit: tuple[int, float] | None = None,
    spark_train: Any = None,
) -> tuple[dict[str, pd.DataFrame], dict[str, float]]:
    """The fold's trained_data tables from its training users' ratings, and seconds per stage.

    `explicit` = (rank, reg) of an explicit ALS fit for the fold-in comparison (None: skip it).
    `spark_train` = the same rows as a Spark DataFrame for the Spark stages (None: they get the
    pandas frame, which is fine for small data).
    """
    spark_rows = train if spark_train is None else spark_train
    seconds: dict[str, float] = {}
    tables: dict[str, pd.DataFrame] = {"movies": dataset.movies}

    def timed(name: str, fn: Callable[[], Any]) -> Any:
        start = time.perf_counter()
        out = fn()
        seconds[name] = round(time.perf_counter() - start, 2)
        return out

    tables.update(timed("popular", lambda: stages.compute_popular(spark, spark_rows, dataset.movies, cfg)))
    pools = tables["movie_stats"][["movie_id", "vote_count", "pool"]]
    tables["knn_neighbors"] = timed(
        "knn", lambda: stages.compute_neighbors(train, dataset.movies, dataset.tags, cfg)
    )
    compute_ease = stages.compute_ease
    if compute_ease is not None:
        tables["ease_neighbors"] = timed("ease", lambda: compute_ease(train, cfg.ease))
    tables["als_implicit_item_factors"] = timed(
        "als_implicit", lambda: stages.train_als_implicit(spark, spark_rows, cfg)
    )
    neumf_tables, _ = timed("neumf", lambda: stages.train_neumf(train, pools, cfg))
    tables.update(neumf_tables)
    fit_explicit = stages.fit_als_explicit
    if explicit is not None and fit_explicit is not None:
        tables["als_item_factors"] = timed(
            "als_explicit", lambda: fit_explicit(spark, spark_rows, *explicit, cfg)
        )
    return tables, seconds


def explicit_params(cfg: BuildConfig, als_metrics: Mapping[str, Any] | None) -> tuple[int, float]:
    """(rank, reg) for the explicit fold-in: the als stage's grid choice, else the grid's middle."""
    if als_metrics and "rank" in als_metrics and "reg_param" in als_metrics:
        return int(als_metrics["rank"]), float(als_metrics["reg_param"])
    return cfg.als.ranks[-1], cfg.als.reg_params[len(cfg.als.reg_params) // 2]
