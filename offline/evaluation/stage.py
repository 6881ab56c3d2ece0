"""Stage / command `evaluate`: the three-pick protocol of docs/EVALUATION.md.

Users are split into folds by a seeded permutation. For each fold, every stage the recommendations
depend on (popular -> movie_stats + pools, knn, implicit ALS, NeuMF; explicit ALS for the fold-in
comparison) is trained on the other folds' users by the same stage functions as the real build.
Each test user with at least 4 ratings >= 4.0 is simulated once per variant: three picks drawn with
a seed derived from the user id (variant A: any liked movie; variant B: liked movies of the fold's
picker catalog), and the ten are exactly what `webapp.recommend.Recommender.recommend_for_picks`
returns over the fold's tables (offline/evaluation/prepare.py prepares each fold). Baselines and
ablations run on the same cases.

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
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from offline.config import BuildConfig
from offline.evaluation.cases import MAIN, VARIANTS, assign_folds
from offline.evaluation.coldstart import PICK_COUNTS, cold_start_cases, curve_summary, score_curve
from offline.evaluation.ease import EASE_LAMBDAS, EASE_MAX_MOVIES, EASE_MIN_SUPPORT
from offline.evaluation.folds import FoldStages, default_stages, explicit_params
from offline.evaluation.goals import check_goals
from offline.evaluation.methods import (
    EASE,
    REFERENCES,
    baseline_methods,
    ease_method,
    model_methods,
    recommender_method,
)
from offline.evaluation.prepare import PreparedFold, Progress, ease_name, prepare_fold
from offline.evaluation.rating import rating_prediction
from offline.evaluation.report import report_files, summary_rows
from offline.evaluation.rounds import FIRST_ROUND_SAME_USERS, RATED_IN_FIRST, rated_in_first, second_round
from offline.evaluation.scoring import Tally, ablation_table
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

if TYPE_CHECKING:
    from offline.build import BuildContext, StageResult
    from offline.data.loader import Dataset


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
