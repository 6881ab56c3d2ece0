"""The report's summary parts from the scored cases: the product against the references, the
second round, the protocol, the long-tail curve and the headline figures for the manifest."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from offline.config import BuildConfig
from offline.evaluation.cases import LIKED_RATING, MAIN, VARIANTS, K
from offline.evaluation.methods import REFERENCES
from offline.evaluation.rounds import ROUND_KEYS, SECOND_ROUND, by_rated_in_first
from offline.evaluation.scoring import paired_differences
from webapp.recommend import PICKS_REQUIRED


def reference_table(rows: pd.DataFrame, summary: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per variant: the product against each plain 5 + 5 reference, paired per user, and which
    reference is best by HR@10."""
    out: dict[str, dict[str, Any]] = {}
    if rows.empty:
        return out
    present = set(rows["method"])
    for variant in VARIANTS:
        by = {r["method"]: r for r in summary if r["variant"] == variant}
        refs = [name for name in REFERENCES if name in present and name in by]
        if MAIN not in by or not refs:
            continue
        best = max(refs, key=lambda name: (by[name]["hr_at_10"], -refs.index(name)))
        out[variant] = {
            "best": best,
            "paired": {name: paired_differences(rows, MAIN, name, variant) for name in refs},
        }
    return out


def second_round_summary(summary: Sequence[Mapping[str, Any]], rows: pd.DataFrame) -> dict[str, Any]:
    """Per variant: HR@10 and NDCG@10 of the first round, the second round and the next ten
    without feedback, on the users with relevant movies left after the first ten, and from the
    per-case `rows` the same split by how many of the first ten the visitor had rated."""
    out: dict[str, Any] = {}
    groups = by_rated_in_first(rows)
    for variant in VARIANTS:
        by = {r["method"]: r for r in summary if r["variant"] == variant}
        if SECOND_ROUND not in by:
            continue
        out[variant] = {
            "users": by[SECOND_ROUND]["users"],
            "first_round_all_users": {k: by[MAIN][k] for k in ("hr_at_10", "ndcg_at_10")},
            **{key: {k: by[name][k] for k in ("hr_at_10", "ndcg_at_10")} for name, key in ROUND_KEYS.items()},
        }
        if variant in groups:
            out[variant]["by_rated_in_first"] = groups[variant]
    return out


def protocol_description(cfg: BuildConfig) -> dict[str, Any]:
    """The settings a reader needs to reproduce the figures."""
    return {
        "folds": cfg.eval_folds,
        "seed": cfg.seed,
        "liked_rating": LIKED_RATING,
        "picks": PICKS_REQUIRED,
        "k": K,
        "pools": dataclasses.asdict(cfg.pools),
        "catalog_size": cfg.popular.catalog_size,
        "variants": VARIANTS,
    }


def long_tail_curve(
    ratings: pd.DataFrame, placements: Mapping[str, list[int]], points: int = 400
) -> dict[str, Any]:
    """Rating count by popularity rank (log-spaced sample), and where each half's movies fall."""
    counts = np.sort(ratings.groupby("movie_id").size().to_numpy())[::-1]
    ranks = np.unique(np.geomspace(1, len(counts), num=min(points, len(counts))).astype(int))
    return {
        "rank": ranks.tolist(),
        "count": counts[ranks - 1].astype(int).tolist(),
        "placements": {k: _quantiles(v) for k, v in placements.items()},
        "placement_ranks": {
            k: np.sort(np.asarray(v, dtype=int))[:: max(1, len(v) // 500)].tolist()
            for k, v in placements.items()
        },
    }


def _quantiles(values: Sequence[int]) -> dict[str, float]:
    """Median and the 10th/90th percentiles (empty dict for no values)."""
    if not len(values):
        return {}
    q = np.percentile(np.asarray(values, dtype=float), [10, 50, 90])
    return {"p10": float(q[0]), "median": float(q[1]), "p90": float(q[2])}


def headline(report: Mapping[str, Any]) -> dict[str, Any]:
    """The few figures that go into the manifest's metrics."""
    main: Mapping[str, Any] = next(
        (r for r in report["methods"] if r["method"] == MAIN and r["variant"] == "A"), {}
    )
    keys = (
        "hr_at_10",
        "precision_at_10",
        "ndcg_at_10",
        "coverage",
        "popular_hr_at_5",
        "less_known_hr_at_5",
        "less_known_median_count",
        "users",
    )
    rounds = report.get("second_round", {}).get("A", {})
    return {
        **{k: main.get(k) for k in keys},
        "second_round_hr_at_10": rounds.get("second_round", {}).get("hr_at_10"),
        "first_round_same_users_hr_at_10": rounds.get("first_round", {}).get("hr_at_10"),
        "goals_met": sum(g["met"] for g in report["goals"]),
        "goals": len(report["goals"]),
        "seconds": report["seconds"],
    }
