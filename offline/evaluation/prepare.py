"""One fold of the evaluation, prepared: its tables trained on the other folds' users, its
simulated visitors, EASE's reference models and the ten at every setting of the tuning grid
(`PreparedFold`). `offline/evaluation/stage.py` then chooses the weights held out and tallies
every method on the prepared folds.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from offline.config import BuildConfig
from offline.evaluation.cases import Case, build_cases
from offline.evaluation.ease import EASE_LAMBDAS, Ease
from offline.evaluation.folds import FoldStages, train_fold_tables
from offline.evaluation.methods import FoldView, Shown, ease_method, fold_view, recommender_method
from offline.evaluation.scoring import score_case
from offline.evaluation.tuning import Setting
from webapp.recommend import Recommender

if TYPE_CHECKING:
    from offline.data.loader import Dataset

Progress = Callable[[str], None]


@dataclass
class PreparedFold:
    """One fold after training and the grid pass: what evaluate_fold needs."""

    fold: int
    train_users: int
    test_users: int
    test: pd.DataFrame
    tables: dict[str, pd.DataFrame]
    view: FoldView
    cases: list[Case]
    rec: Recommender
    ease_models: dict[str, Ease]
    ease_rows: list[dict[str, Any]]
    grid_shown: dict[str, dict[tuple[str, int], Shown]]
    grid_rows: list[dict[str, Any]]
    seconds: dict[str, float]
    start: float
    ease: Ease | None = None  # the held-out choice of lambda, set once chosen


def ease_name(lam: float) -> str:
    return f"lambda = {lam:g}"


def _grid_rows(
    grid: Sequence[Setting], rec: Recommender, cases: Sequence[Case], fold: int
) -> tuple[dict[str, dict[tuple[str, int], Shown]], list[dict[str, Any]]]:
    """Every case shown the ten at every setting: what each setting shows each case, and the rows
    of _score_rows, setting after setting. A case goes through all the settings before the next
    case, so the recommender's memo (Recommender.remember) holds its source scores throughout."""
    methods = [(setting.name, recommender_method(rec.with_weights(setting.weights))) for setting in grid]
    shown: dict[str, dict[tuple[str, int], Shown]] = {name: {} for name, _ in methods}
    rows: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in methods}
    for case in cases:
        for name, method in methods:
            rows[name] += _score_rows(name, [case], method, fold, shown[name])
    return shown, [row for name, _ in methods for row in rows[name]]


def _score_rows(
    name: str, cases: Sequence[Case], method: Any, fold: int, keep: dict[tuple[str, int], Shown] | None = None
) -> list[dict[str, Any]]:
    """HR@10 / NDCG@10 per case of one candidate setting (the tuning's rows)."""
    rows = []
    for case in cases:
        result = method(case)
        if keep is not None:
            keep[(case.variant, case.user_id)] = result
        figures = score_case(result, case)
        rows.append(
            {
                "setting": name,
                "fold": fold,
                "variant": case.variant,
                "user_id": case.user_id,
                "hr_at_10": figures["hr_at_10"],
                "ndcg_at_10": figures["ndcg_at_10"],
                "less_known_hr_at_5": figures["less_known_hr_at_5"],
            }
        )
    return rows


def prepare_fold(
    fold: int,
    folds: pd.Series,
    dataset: "Dataset",
    cfg: BuildConfig,
    spark: Any,
    stages: FoldStages,
    explicit: tuple[int, float] | None,
    grid: Sequence[Setting],
    say: Progress,
    *,
    ratings_df: Any = None,
    max_users: int | None = None,
    ease_lambdas: Sequence[float] = EASE_LAMBDAS,
    background: Executor,
) -> "Future[PreparedFold]":
    """Train one fold's tables on the other folds' users, simulate its users, and show them the
    ten at every grid setting (HR@10 / NDCG@10 per case, for the held-out choice).

    With `max_users`, a seeded sample of at most that many of the fold's users is simulated (the
    others stay out of training all the same, so the tables are the full protocol's).

    The training (Spark, TensorFlow) runs here; the rest (EASE's reference, the grid: numpy and
    Python) in `background`, so that it can run on the second core while the next
    fold trains (Spark's and TensorFlow's small jobs leave it idle much of the time). The
    result does not depend on where it runs: nothing is shared but read-only tables.
    """
    start = time.perf_counter()
    ratings = dataset.ratings
    in_fold = folds.reindex(ratings["user_id"].to_numpy()).to_numpy() == fold
    train, test = ratings[~in_fold], ratings[in_fold]
    test_users = np.unique(test["user_id"].to_numpy())
    spark_train = None
    if ratings_df is not None:
        held_out = spark.createDataFrame(pd.DataFrame({"user_id": test_users.astype(np.int32)}))
        spark_train = ratings_df.join(held_out.hint("broadcast"), "user_id", "left_anti")
    say(f"fold {fold + 1}/{cfg.eval_folds}: training on {train['user_id'].nunique()} users")
    tables, seconds = train_fold_tables(spark, train, dataset, cfg, stages, explicit, spark_train=spark_train)

    return background.submit(
        _show_grid,
        fold,
        train,
        test,
        test_users,
        tables,
        seconds,
        start,
        cfg,
        grid,
        say,
        max_users,
        ease_lambdas,
    )


def _show_grid(
    fold: int,
    train: pd.DataFrame,
    test: pd.DataFrame,
    test_users: np.ndarray,
    tables: dict[str, pd.DataFrame],
    seconds: dict[str, float],
    start: float,
    cfg: BuildConfig,
    grid: Sequence[Setting],
    say: Progress,
    max_users: int | None,
    ease_lambdas: Sequence[float],
) -> PreparedFold:
    """prepare_fold after the training: EASE's reference models, the cases, the grid pass."""
    ease_start = time.perf_counter()
    first = Ease(train, lam=ease_lambdas[0])
    ease_models = {
        ease_name(lam): first if lam == ease_lambdas[0] else first.with_lambda(lam) for lam in ease_lambdas
    }
    first.gram = None  # only needed for the other lambdas
    seconds["ease_reference"] = round(time.perf_counter() - ease_start, 2)
    if max_users is not None and test_users.size > max_users:
        rng = np.random.default_rng(cfg.seed_for(f"evaluate:sample:{fold}"))
        keep = np.sort(rng.choice(test_users, max_users, replace=False))
        test = test[test["user_id"].isin(keep)]
    view = fold_view(tables, cfg)
    cases = build_cases(test, fold, set(view.catalog), set(view.most_rated_less_known), cfg)
    rec = Recommender.from_tables(tables, less_known_min_count=cfg.pools.less_known_min_count)
    rec.remember()  # each case at every setting: its source scores are computed once
    grid_start = time.perf_counter()
    grid_shown, grid_rows = _grid_rows(grid, rec, cases, fold)
    ease_rows = [
        row
        for name, model in ease_models.items()
        for row in _score_rows(name, cases, ease_method(model, view), fold)
    ]
    seconds["grid"] = round(time.perf_counter() - grid_start, 2)
    say(f"fold {fold + 1}/{cfg.eval_folds}: {len(cases)} cases x {len(grid)} blend settings")
    return PreparedFold(
        fold,
        int(train["user_id"].nunique()),
        int(test_users.size),
        test,
        tables,
        view,
        cases,
        rec,
        ease_models,
        ease_rows,
        grid_shown,
        grid_rows,
        seconds,
        start,
    )
