"""Stage / command `evaluate`: the three-pick protocol of docs/EVALUATION.md.

Users are split into folds by a seeded permutation. For each fold, every stage the recommendations
depend on (popular -> movie_stats + pools, knn, implicit ALS, NeuMF; explicit ALS for the fold-in
comparison) is trained on the other folds' users by the same stage functions as the real build.
Each test user with at least 4 ratings >= 4.0 is simulated once per variant: three picks drawn with
a seed derived from the user id (variant A: any liked movie; variant B: liked movies of the fold's
picker catalog), and the ten are exactly what `webapp.recommend.Recommender.recommend_for_picks`
returns over the fold's tables. Baselines and ablations run on the same cases.

Nested tuning (offline/evaluation/tuning.py): every fold's cases are first shown the ten at each
setting of a small grid of blend weights; each fold's reported figures are then those at the
setting that scored best on the other folds' cases, and the setting best on all folds is the web
app's default. EASE's lambda (the EASE 5 + 5 reference, offline/evaluation/ease.py) is chosen the
same way. The cold-start curve (offline/evaluation/coldstart.py) scores 1 to 10 picks.

Bounded at full size: above `eval_full_size_ratings` ratings only the first fold is evaluated and
at most `eval_max_test_users` of its users (a seeded sample) are simulated, because retraining
every stage per fold dominates; the report's protocol says what was sampled. The Spark stages of a
fold read the fold's training ratings from the checked Parquet table (an anti-join on the test
users), so they never pass through the driver.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from offline.config import BuildConfig
from offline.evaluation.cases import MAIN, VARIANTS, Case, assign_folds, build_cases
from offline.evaluation.coldstart import PICK_COUNTS, cold_start_cases, curve_summary, score_curve
from offline.evaluation.ease import EASE_LAMBDAS, EASE_MAX_MOVIES, EASE_MIN_SUPPORT, Ease
from offline.evaluation.folds import FoldStages, default_stages, explicit_params, train_fold_tables
from offline.evaluation.goals import check_goals
from offline.evaluation.methods import (
    EASE,
    REFERENCES,
    FoldView,
    Shown,
    baseline_methods,
    ease_method,
    fold_view,
    model_methods,
    recommender_method,
)
from offline.evaluation.rating import rating_prediction
from offline.evaluation.report import report_files, summary_rows
from offline.evaluation.rounds import FIRST_ROUND_SAME_USERS, RATED_IN_FIRST, rated_in_first, second_round
from offline.evaluation.scoring import Tally, ablation_table, score_case
from offline.evaluation.summary import (
    headline,
    long_tail_curve,
    protocol_description,
    reference_table,
    second_round_summary,
)
from offline.evaluation.tuning import (
    Setting,
    blend_grid,
    blend_name,
    choose_after_feedback,
    choose_held_out,
    grid_table,
    tuning_summary,
)
from webapp.recommend import Recommender

if TYPE_CHECKING:
    from offline.build import BuildContext, StageResult
    from offline.data.loader import Dataset

Progress = Callable[[str], None]


def run_evaluation(
    dataset: "Dataset",
    cfg: BuildConfig,
    spark: Any,
    progress: Progress | None = None,
    *,
    stages: FoldStages | None = None,
    stage_metrics: Mapping[str, Mapping[str, Any]] | None = None,
    explicit_als: bool = True,
    rating_models: bool = True,
    ratings_df: Any = None,
    grid: Sequence[Setting] | None = None,
    pick_counts: Sequence[int] = PICK_COUNTS,
) -> dict[str, Any]:
    """The whole evaluation: k-fold three-pick protocol with held-out tuning of the blend,
    references, baselines, ablations, the cold-start curve, rating error.

    `ratings_df`: the ratings as a Spark DataFrame (the build's Parquet table), for the Spark
    stages; without it they get pandas frames (small data, tests). `grid`: the blend settings
    tuned over (default tuning.blend_grid()).
    """
    say = progress or (lambda _msg: None)
    stages = stages or default_stages()
    grid = list(grid or blend_grid())
    start = time.perf_counter()
    folds = assign_folds(
        dataset.ratings["user_id"].to_numpy(), cfg.eval_folds, cfg.seed_for("evaluate:folds")
    )
    if len(folds) < 2 * cfg.eval_folds:  # each fold needs users to simulate, and others to train on
        raise ValueError(
            f"evaluate splits the users into {cfg.eval_folds} folds and needs at least "
            f"{2 * cfg.eval_folds} users; this data set has {len(folds)}"
        )
    rating_input = ratings_df if ratings_df is not None else dataset.ratings
    rating = (
        rating_prediction(dataset, cfg, spark, stages, stage_metrics, rating_input) if rating_models else {}
    )
    explicit = explicit_params(cfg, rating.get("als")) if explicit_als else None
    bounded = len(dataset.ratings) > cfg.eval_full_size_ratings
    fold_ids = [0] if bounded else list(range(cfg.eval_folds))
    # one fold evaluated: nothing to choose on, so only the first setting and lambda are run
    lambdas = EASE_LAMBDAS if len(fold_ids) > 1 else EASE_LAMBDAS[:1]
    grid = grid if len(fold_ids) > 1 else grid[:1]
    # each fold's grid pass runs beside the next fold's training (prepare_fold)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="evaluate-grid") as background:
        pending = [
            prepare_fold(
                fold,
                folds,
                dataset,
                cfg,
                spark,
                stages,
                explicit,
                grid,
                say,
                ratings_df=ratings_df,
                max_users=cfg.eval_max_test_users if bounded else None,
                ease_lambdas=lambdas,
                background=background,
            )
            for fold in fold_ids
        ]
        prepared = [future.result() for future in pending]
    grid_rows = pd.DataFrame([row for p in prepared for row in p.grid_rows])
    tuning = tuning_summary(grid_rows, grid)
    ease_rows = pd.DataFrame([row for p in prepared for row in p.ease_rows])
    ease_names = [ease_name(lam) for lam in EASE_LAMBDAS]
    ease_choice = choose_held_out(ease_rows, ease_names)
    tuning["ease"] = {
        "lambdas": list(EASE_LAMBDAS),
        "tuned": ease_choice["tuned"],
        "per_fold": [{"fold": k, "lambda": name} for k, name in ease_choice["per_fold"].items()],
        "all_folds": ease_choice["all_folds"],
        "table": grid_table(ease_rows, ease_names),
    }
    for p in prepared:
        p.ease = p.ease_models[ease_choice["per_fold"][p.fold]]
        p.ease_models = {}
    chosen = {entry["fold"]: entry["setting"] for entry in tuning["per_fold"]}
    by_name = {s.name: s for s in grid}
    final, tuning["after_feedback"] = choose_after_feedback(
        prepared, {p.fold: by_name[chosen[p.fold]] for p in prepared}
    )
    tally = Tally()
    curve_rows: list[dict[str, Any]] = []
    fold_info = [
        evaluate_fold(p, final[p.fold], tally, curve_rows, cfg, say, pick_counts=pick_counts)
        for p in prepared
    ]
    summary = tally.summary()
    rows = tally.frame()
    ablations = ablation_table(rows)
    ablations_b = ablation_table(rows, "B")
    references = reference_table(rows, summary)
    protocol = protocol_description(cfg)
    protocol["sampled"] = (
        {
            "folds_evaluated": len(fold_ids),
            "of_folds": cfg.eval_folds,
            "test_users": sum(f["simulated_users"] for f in fold_info),
            "of_test_users": sum(f["test_users"] for f in fold_info),
            "why": f"more than {cfg.eval_full_size_ratings:,} ratings",
        }
        if bounded
        else None
    )
    protocol["ease"] = {
        "lambdas": list(EASE_LAMBDAS),
        "min_support": EASE_MIN_SUPPORT,
        "max_movies": EASE_MAX_MOVIES,
    }
    report = {
        "protocol": protocol,
        "methods": summary,
        "main_method": MAIN,
        "tuning": tuning,
        "references": references,
        "ablations": ablations,
        "ablations_b": ablations_b,
        "folds": fold_info,
        "rating_prediction": rating,
        "long_tail": long_tail_curve(dataset.ratings, tally.placements),
        "cold_start": curve_summary(curve_rows),
        "goals": check_goals(summary, ablations, references, ablations_b),
        "second_round": second_round_summary(summary, rows),
        "seconds": round(time.perf_counter() - start, 1),
    }
    say(f"evaluation done in {report['seconds']} s")
    return report


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


def evaluate_fold(
    p: PreparedFold,
    setting: Setting,
    tally: Tally,
    curve_rows: list[dict[str, Any]],
    cfg: BuildConfig,
    say: Progress,
    *,
    pick_counts: Sequence[int] = PICK_COUNTS,
) -> dict[str, Any]:
    """Tally every method on one fold's cases, the product at the fold's held-out setting (its
    ten are the grid pass's, not recomputed), and add the fold's cold-start rows."""
    seconds = dict(p.seconds)
    weights = setting.weights
    assert p.ease is not None  # chosen before the folds are tallied
    methods = {
        **model_methods(p.tables, cfg, weights=weights, base=p.rec),
        EASE: ease_method(p.ease, p.view),
        **baseline_methods(p.view, p.tables, cfg),
    }
    # the first round's ten are the grid pass's at the blend setting (plain picks: the weights
    # after feedback do not apply to them)
    blend = blend_name(setting.name)
    stored = p.grid_shown[blend]
    methods[MAIN] = lambda case: stored[(case.variant, case.user_id)]
    say(
        f"fold {p.fold + 1}/{cfg.eval_folds}: {len(p.cases)} cases x {len(methods)} methods "
        f"(weights: {setting.name})"
    )
    sim_start = time.perf_counter()
    for name, method in methods.items():
        for case in p.cases:
            tally.add(name, case, method(case), p.view)
    seconds["simulate"] = round(time.perf_counter() - sim_start, 2)
    rounds_start = time.perf_counter()
    rec = p.rec.with_weights(weights)
    hits: dict[str, list[float]] = {}
    for case in p.cases:
        found = second_round(rec, case)
        if found is not None:
            rated = {RATED_IN_FIRST: rated_in_first(case, found[1][FIRST_ROUND_SAME_USERS][1])}
            for name, (scored_on, shown) in found[1].items():
                tally.add(name, scored_on, shown, p.view, rated)
                if case.variant == "A":
                    hits.setdefault(name, []).append(float(bool(set(shown.ten) & scored_on.relevant)))
    seconds["second_round"] = round(time.perf_counter() - rounds_start, 2)
    curve_start = time.perf_counter()
    curve_cases = cold_start_cases(p.test, p.fold, set(p.view.most_rated_less_known), cfg, pick_counts)
    curve_methods = {
        MAIN: recommender_method(rec),
        **{name: methods[name] for name in REFERENCES if name in methods},
    }
    curve_rows.extend(score_curve(curve_cases, curve_methods))
    seconds["cold_start"] = round(time.perf_counter() - curve_start, 2)
    rounds = {name: round(float(np.mean(v)), 4) for name, v in hits.items()}
    main_hr = [r["hr_at_10"] for r in p.grid_rows if r["setting"] == blend]
    return {
        "fold": p.fold,
        "train_users": p.train_users,
        "test_users": p.test_users,
        "simulated_users": int(p.test["user_id"].nunique()),
        "cases": {v: sum(c.variant == v for c in p.cases) for v in VARIANTS},
        "weights": setting.name,
        "hr_at_10": round(float(np.mean(main_hr)), 4) if main_hr else None,  # A and B
        "second_round_hr_at_10": rounds,  # variant A, this fold's users
        "seconds": seconds,
        "total_seconds": round(time.perf_counter() - p.start, 2),
    }


def run(ctx: "BuildContext") -> "StageResult":
    """Stage `evaluate`: no tables; headline metrics, and report.json + report.html as files."""
    from offline.build import StageResult

    report = run_evaluation(
        ctx.data,
        ctx.config,
        ctx.spark,
        progress=ctx.progress,
        stage_metrics=published_stage_metrics(ctx.config),
        ratings_df=ctx.ratings_df,
    )
    metrics = {**headline(report), "summary": summary_rows(report)}
    return StageResult(tables={}, metrics=metrics, files=report_files(report))


def published_stage_metrics(cfg: BuildConfig) -> dict[str, Any]:
    """The als/neumf metrics of the published build, when it was built with this configuration."""
    from offline import publish
    from offline.build import config_fingerprint, input_fingerprint_of

    manifest = publish.read_manifest(Path(cfg.out_dir)) or {}
    same_input = manifest.get("input", {}).get("fingerprint") == input_fingerprint_of(cfg)
    if not same_input or manifest.get("config_fingerprint") != config_fingerprint(cfg):
        return {}
    metrics = manifest.get("metrics", {})
    return {name: metrics[name] for name in ("als", "neumf") if name in metrics}
