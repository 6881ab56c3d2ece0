"""Figures: per case, their means per (method, variant), and paired differences of the ablations."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from offline.evaluation import metrics as m
from offline.evaluation.cases import HALF, MAIN, Case, K
from offline.evaluation.methods import FoldView, Shown


def score_case(shown: Shown, case: Case) -> dict[str, float]:
    """Per-case figures of one method."""
    ten = shown.ten
    row = {
        "hr_at_10": m.hit_rate_at_k(ten, case.relevant, K),
        "precision_at_10": m.precision_at_k(ten, case.relevant, K),
        "recall_at_10": m.recall_at_k(ten, case.relevant, K),
        "ndcg_at_10": m.ndcg_at_k(ten, case.relevant, K),
        "popular_hr_at_5": m.hit_rate_at_k(list(shown.first) or [-1], case.relevant, HALF),
        "less_known_hr_at_5": np.nan,
    }
    if case.relevant_less_known:
        row["less_known_hr_at_5"] = m.hit_rate_at_k(
            list(shown.second) or [-1], case.relevant_less_known, HALF
        )
    return row


@dataclass
class Tally:
    """Per-case figures and shown lists of every (method, variant), gathered over the folds."""

    rows: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    shown: dict[tuple[str, str], list[Shown]] = dataclasses.field(default_factory=dict)
    counts: dict[tuple[str, str], list[float]] = dataclasses.field(default_factory=dict)
    placements: dict[str, list[int]] = dataclasses.field(
        default_factory=lambda: {"popular": [], "less_known": []}
    )

    def add(
        self, name: str, case: Case, result: Shown, view: FoldView, extra: Mapping[str, Any] | None = None
    ) -> None:
        """Score one method's output for one case (`extra`: more columns of its row)."""
        key = (name, case.variant)
        self.rows.append(
            {
                "method": name,
                "variant": case.variant,
                "user_id": case.user_id,
                "fold": case.fold,
                **score_case(result, case),
                **(extra or {}),
            }
        )
        self.shown.setdefault(key, []).append(result)
        self.counts.setdefault(key, []).extend(view.vote_count.get(x, 0.0) for x in result.second)
        if name == MAIN and case.variant == "A":
            last = len(view.popularity_rank) + 1
            self.placements["popular"].extend(view.popularity_rank.get(x, last) for x in result.first)
            self.placements["less_known"].extend(view.popularity_rank.get(x, last) for x in result.second)

    def frame(self) -> pd.DataFrame:
        """The per-case figures."""
        return pd.DataFrame(self.rows)

    def summary(self) -> list[dict[str, Any]]:
        """One row per (method, variant): means of the per-case figures, coverage, obscurity."""
        frame = self.frame()
        return [
            summarize_group(
                method, variant, group, self.shown[(method, variant)], self.counts[(method, variant)]
            )
            for (method, variant), group in frame.groupby(["method", "variant"], sort=False)
        ]


def summarize_group(
    method: str, variant: str, group: pd.DataFrame, shown: list[Shown], counts: list[float]
) -> dict[str, Any]:
    """The figures of one (method, variant)."""
    lk = group["less_known_hr_at_5"].dropna()
    return {
        "method": method,
        "variant": variant,
        "users": int(len(group)),
        "hr_at_10": float(group["hr_at_10"].mean()),
        "precision_at_10": float(group["precision_at_10"].mean()),
        "recall_at_10": float(group["recall_at_10"].mean()),
        "ndcg_at_10": float(group["ndcg_at_10"].mean()),
        "coverage": m.coverage(s.ten for s in shown),
        "popular_hr_at_5": float(group["popular_hr_at_5"].mean()),
        "less_known_hr_at_5": float(lk.mean()) if len(lk) else None,
        "less_known_users": int(len(lk)),
        "less_known_median_count": float(np.median(counts)) if counts else None,
    }


ABLATION_KEYS = ("hr_at_10", "ndcg_at_10", "less_known_hr_at_5")
ABLATIONS = {
    "knn": "without knn",
    "als": "without als",
    "ease": "without ease",
    "neumf": "without neumf",
    "popularity prior": "without popularity prior",
}
SIGNIFICANT_Z = 2.0  # a paired difference counts when it is at least two standard errors
COVERAGE_GAIN = 0.10  # ... or when the model widens coverage by at least this share


def paired_differences(
    rows: pd.DataFrame, method: str, other: str, variant: str = "A"
) -> dict[str, dict[str, float]]:
    """Per figure: mean per-user difference method - other, its standard error, z and users."""

    def per_user(name: str) -> pd.DataFrame:
        return rows[(rows["method"] == name) & (rows["variant"] == variant)].set_index("user_id")

    a, b = per_user(method), per_user(other)
    out = {}
    for key in ABLATION_KEYS:
        diff = (a[key] - b[key].reindex(a.index)).dropna()
        mean = float(diff.mean()) if len(diff) else 0.0
        se = float(diff.std(ddof=1) / math.sqrt(len(diff))) if len(diff) > 1 else 0.0
        z = mean / se if se > 0 else 0.0
        out[key] = {"diff": mean, "se": se, "z": z, "users": int(len(diff))}
    return out


def ablation_table(rows: pd.DataFrame, variant: str = "A") -> dict[str, dict[str, dict[str, float]]]:
    """The product against each of its ablations (one variant), paired per user."""
    present = set(rows[rows["variant"] == variant]["method"])
    return {
        source: paired_differences(rows, MAIN, name, variant)
        for source, name in ABLATIONS.items()
        if name in present and MAIN in present
    }
