"""The goals of issue 8, checked on both variants' summaries, the paired references and the
paired ablations."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from offline.evaluation.cases import MAIN
from offline.evaluation.rounds import FIRST_ROUND_SAME_USERS, SECOND_ROUND
from offline.evaluation.scoring import ABLATIONS, COVERAGE_GAIN, SIGNIFICANT_Z

REFERENCE_MARGIN = 0.02  # HR@10 at least the best plain 5 + 5 reference + this
LESS_KNOWN_FACTOR = 3.0  # less-known HR@5 at least this times long-tail popularity's
MIN_COVERAGE = 1500  # distinct movies shown under variant A
LONG_TAIL = "long-tail popularity (most rated 5 + 5)"


def check_goals(
    summary: Sequence[Mapping[str, Any]],
    ablations: Mapping[str, Mapping[str, Mapping[str, float]]] | None = None,
    references: Mapping[str, Mapping[str, Any]] | None = None,
    ablations_b: Mapping[str, Mapping[str, Mapping[str, float]]] | None = None,
) -> list[dict[str, Any]]:
    """The goals of issue 8, on both variants where they apply, each with the figures compared
    and met / not met: HR@10 >= the best 5 + 5 reference + 0.02 (with the paired difference and
    its standard error), less-known HR@5 >= 3x long-tail popularity's, coverage >= 1,500 under
    variant A; then popular HR@5, the second round and each model earning its place (paired
    ablations of variant A, and of variant B when given: both variants are targets)."""
    goals: list[dict[str, Any]] = []
    for variant in ("A", "B"):
        by = {r["method"]: r for r in summary if r["variant"] == variant}
        if MAIN not in by:
            continue
        main = by[MAIN]
        ref = (references or {}).get(variant)
        if ref and ref.get("best") in by:
            best = ref["best"]
            paired = ref["paired"][best]["hr_at_10"]
            goal = _goal(
                f"variant {variant}: HR@10 >= best 5 + 5 reference + {REFERENCE_MARGIN}",
                main["hr_at_10"],
                by[best]["hr_at_10"] + REFERENCE_MARGIN,
            )
            goal["detail"] = (
                f"best reference: {best} ({by[best]['hr_at_10']:.3f}); paired "
                f"difference {paired['diff']:+.3f} +/- {paired['se']:.3f} "
                f"(z {paired['z']:+.1f}, {paired['users']} users)"
            )
            goals.append(goal)
        tail = by.get(LONG_TAIL)
        if tail and tail["less_known_hr_at_5"] is not None and main["less_known_hr_at_5"] is not None:
            goals.append(
                _goal(
                    f"variant {variant}: less-known HR@5 >= {LESS_KNOWN_FACTOR:g}x long-tail popularity",
                    main["less_known_hr_at_5"],
                    LESS_KNOWN_FACTOR * tail["less_known_hr_at_5"],
                )
            )
        if variant == "A":
            goals.append(
                _goal(
                    f"variant A: coverage >= {MIN_COVERAGE:,} distinct movies", main["coverage"], MIN_COVERAGE
                )
            )
    by = {r["method"]: r for r in summary if r["variant"] == "A"}
    if MAIN not in by:
        return goals
    main = by[MAIN]
    top = by.get("most rated top 10")
    if top:
        goals.append(
            _goal("popular HR@5 >= most rated top 5", main["popular_hr_at_5"], top["popular_hr_at_5"])
        )
    second, first = by.get(SECOND_ROUND), by.get(FIRST_ROUND_SAME_USERS)
    if second and first:
        # the feedback loop: the refreshed ten find the relevant movies not shown yet at least
        # as often as the first ten found any (on the same users)
        goals.append(
            _goal(
                "second round HR@10 (after feedback, on movies not shown yet) >= first round HR@10",
                second["hr_at_10"],
                first["hr_at_10"],
            )
        )
    for source in ("knn", "als", "ease", "neumf"):
        ablation = by.get(ABLATIONS[source])
        if ablations and source in ablations and ablation:
            in_b = (ablations_b or {}).get(source)
            goals.append(
                _ablation_goal(source, ablations[source], main["coverage"], ablation["coverage"], in_b)
            )
    return goals


def _goal(name: str, value: float, bar: float) -> dict[str, Any]:
    """One goal: value >= bar."""
    # a tolerance for float rounding only (3 x 56/523 and 168/523 must compare equal)
    return {"goal": name, "value": value, "bar": bar, "met": bool(value >= bar - 1e-9)}


def _ablation_goal(
    source: str,
    paired: Mapping[str, Mapping[str, float]],
    coverage: int,
    ablation_coverage: int,
    paired_b: Mapping[str, Mapping[str, float]] | None = None,
) -> dict[str, Any]:
    """Removing a model must cost something real and gain nothing real.

    Real = a paired z of at least 2 on HR@10, NDCG@10 or less-known HR@5 (in variant A, or in
    variant B when given), or a variant A coverage loss of at least COVERAGE_GAIN; and no figure
    of either variant may improve with z >= 2 when the model is removed.
    """
    figures = {k: d for k, d in paired.items()}
    figures.update({f"B {k}": d for k, d in (paired_b or {}).items()})
    better = [k for k, d in figures.items() if d["z"] >= SIGNIFICANT_Z]
    worse = [k for k, d in figures.items() if d["z"] <= -SIGNIFICANT_Z]
    wider = coverage >= (1 + COVERAGE_GAIN) * ablation_coverage
    value = {k: f"{d['diff']:+.3f} (z {d['z']:+.1f})" for k, d in figures.items()}
    return {
        "goal": f"{source} earns its place (removing it costs a figure at z >= 2 or "
        f">= {COVERAGE_GAIN:.0%} coverage, and gains nothing at z >= 2)",
        "value": {**value, "coverage": coverage},
        "bar": {"coverage without it": ablation_coverage},
        "met": bool(better or wider) and not worse,
    }
