"""The build's own figures (manifest.json `metrics`, `stages`, `input`), which /report shows until
`make evaluate` has written the full report: every link to /report answers with something."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

EVALUATE_COMMAND = "make evaluate"
# The build's stages in the order they run (offline.build.STAGES; the manifest sorts its keys).
STAGE_ORDER = ("movies", "popular", "insights", "als", "knn", "ease", "neumf", "evaluate")
# Held-out rating errors of stage `als` (offline/stages/als.py held_out_errors), as the report
# names them: (label, RMSE key, MAE key).
RATING_MODELS = (
    ("ALS (explicit)", "test_rmse", "test_mae"),
    ("user + item bias baseline", "bias_test_rmse", "bias_test_mae"),
    ("global mean baseline", "global_mean_test_rmse", "global_mean_test_mae"),
)


@dataclass(frozen=True)
class Figures:
    rating_errors: tuple[tuple[str, str, str], ...]  # model, RMSE, MAE
    stages: tuple[tuple[str, str, str], ...]  # stage, seconds, rows
    inputs: tuple[tuple[str, str], ...]  # what, how many
    metrics: tuple[tuple[str, tuple[tuple[str, str], ...]], ...]  # stage, (name, value)


def value_text(value: Any) -> str:
    """A metric as text: integers with separators, floats to 4 significant digits."""
    if isinstance(value, bool) or value is None:
        return {None: "–", True: "yes", False: "no"}[value]
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1e5 else f"{value:,.0f}"
    return str(value)


def _flat(metrics: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """Scalar metrics, nested names joined with dots; lists (per-epoch losses, grids) summarised."""
    out: list[tuple[str, str]] = []
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.extend(_flat(value, name + "."))
        elif isinstance(value, (list, tuple)):
            out.append((name, f"{len(value)} values"))
        else:
            out.append((name, value_text(value)))
    return out


def build_figures(manifest: Mapping[str, Any]) -> Figures:
    metrics = manifest.get("metrics") or {}
    als = metrics.get("als") or {}
    errors = tuple(
        (label, value_text(als.get(rmse)), value_text(als.get(mae)))
        for label, rmse, mae in RATING_MODELS
        if rmse in als
    )
    listed = manifest.get("stages") or {}
    order = sorted(
        listed, key=lambda name: (STAGE_ORDER.index(name) if name in STAGE_ORDER else len(STAGE_ORDER), name)
    )
    stages = tuple(
        (name, value_text(listed[name].get("seconds")), value_text(listed[name].get("rows")))
        for name in order
        if isinstance(listed[name], Mapping)
    )
    rows = (manifest.get("input") or {}).get("rows") or {}
    inputs = tuple((what, value_text(count)) for what, count in rows.items())
    per_stage = tuple(
        (stage, tuple(_flat(metrics[stage])))
        for stage in sorted(
            metrics, key=lambda s: (STAGE_ORDER.index(s) if s in STAGE_ORDER else len(STAGE_ORDER), s)
        )
        if isinstance(metrics[stage], Mapping) and metrics[stage]
    )
    return Figures(errors, stages, inputs, per_stage)
