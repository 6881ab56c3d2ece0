"""The goals of the brief, checked on the variant A summary and the paired ablations."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from offline.evaluation.cases import MAIN
from offline.evaluation.rounds import FIRST_ROUND_SAME_USERS, SECOND_ROUND
from offline.evaluation.scoring import ABLATIONS, COVERAGE_GAIN, SIGNIFICANT_Z


def check_goals(summary: Sequence[Mapping[str, Any]],
                ablations: Mapping[str, Mapping[str, Mapping[str, float]]] | None = None,
                ) -> list[dict[str, Any]]:
    """The goals of the brief for variant A: each with the figures compared and pass/fail."""
    by = {r["method"]: r for r in summary if r["variant"] == "A"}
    if MAIN not in by:
        return []
    main = by[MAIN]
    goals = [
        _goal("HR@10 >= 0.82", main["hr_at_10"], 0.82),
        _goal("coverage >= 1000 distinct movies", main["coverage"], 1000),
    ]
    tail = by.get("long-tail popularity (most rated 5 + 5)")
    if tail and tail["less_known_hr_at_5"] is not None and main["less_known_hr_at_5"] is not None:
        goals.append(_goal("less-known HR@5 >= 2x long-tail popularity",
                           main["less_known_hr_at_5"], 2 * tail["less_known_hr_at_5"]))
    top = by.get("most rated top 10")
    if top:
        goals.append(_goal("popular HR@5 >= most rated top 5", main["popular_hr_at_5"],
                           top["popular_hr_at_5"]))
    second, first = by.get(SECOND_ROUND), by.get(FIRST_ROUND_SAME_USERS)
    if second and first:
        # the feedback loop: the refreshed ten find the relevant movies not shown yet at least
        # as often as the first ten found any (on the same users)
        goals.append(_goal("second round HR@10 (after feedback, on movies not shown yet) >= "
                           "first round HR@10", second["hr_at_10"], first["hr_at_10"]))
    for source in ("knn", "als", "neumf"):
        ablation = by.get(ABLATIONS[source])
        if ablations and source in ablations and ablation:
            goals.append(_ablation_goal(source, ablations[source], main["coverage"],
                                        ablation["coverage"]))
    return goals


def _goal(name: str, value: float, bar: float) -> dict[str, Any]:
    """One goal: value >= bar."""
    return {"goal": name, "value": value, "bar": bar, "met": bool(value >= bar)}


def _ablation_goal(source: str, paired: Mapping[str, Mapping[str, float]], coverage: int,
                   ablation_coverage: int) -> dict[str, Any]:
    """Removing a model must cost something real and gain nothing real.

    Real = a paired z of at least 2 on HR@10, NDCG@10 or less-known HR@5, or a coverage loss of
    at least COVERAGE_GAIN; and no figure may improve with z >= 2 when the model is removed.
    """
    better = [k for k, d in paired.items() if d["z"] >= SIGNIFICANT_Z]
    worse = [k for k, d in paired.items() if d["z"] <= -SIGNIFICANT_Z]
    wider = coverage >= (1 + COVERAGE_GAIN) * ablation_coverage
    value = {k: f"{d['diff']:+.3f} (z {d['z']:+.1f})" for k, d in paired.items()}
    return {"goal": f"{source} earns its place (removing it costs a figure at z >= 2 or "
                    f">= {COVERAGE_GAIN:.0%} coverage, and gains nothing at z >= 2)",
            "value": {**value, "coverage": coverage},
            "bar": {"coverage without it": ablation_coverage},
            "met": bool(better or wider) and not worse}
