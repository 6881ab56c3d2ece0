"""The evaluation report: report.json (machine-readable) and report.html (self-contained, with plots).

Plots are drawn with matplotlib's Agg backend and inlined as SVG (report_plots.py), the tables and
paragraphs by report_sections.py; the HTML has no external CSS, JavaScript or fonts, so the web
app can serve it as one file.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from offline.evaluation.report_plots import THEME, plots
from offline.evaluation.report_sections import (
    SUMMARY_COLUMNS,
    ablations_html,
    fmt,
    folds_table,
    goals_html,
    methods_table,
    protocol_html,
    rating_table,
    references_html,
    second_round_html,
    tuning_html,
)

__all__ = ["SUMMARY_COLUMNS", "render_html", "report_files", "summary_rows", "write_report"]


# ---------------------------------------------------------------------- summary rows
def summary_rows(report: Mapping[str, Any], variant: str = "A") -> list[dict[str, Any]]:
    """One row per method of a variant, values formatted for a console table."""
    rows = []
    for r in report.get("methods", []):
        if r["variant"] != variant:
            continue
        rows.append({label: fmt(r.get(key)) for key, label in SUMMARY_COLUMNS})
    return rows


# ---------------------------------------------------------------------- files
def report_files(report: Mapping[str, Any]) -> dict[str, bytes]:
    """{'report.json': ..., 'report.html': ...} as UTF-8 bytes (StageResult.files)."""
    text = json.dumps(_jsonable(report), indent=2, sort_keys=True, allow_nan=False) + "\n"
    return {"report.json": text.encode("utf-8"), "report.html": render_html(report).encode("utf-8")}


def write_report(report: Mapping[str, Any], out_dir: Path | str) -> list[Path]:
    """Write report.json and report.html into out_dir; return both paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, content in report_files(report).items():
        (out / name).write_bytes(content)
        paths.append(out / name)
    return paths


def _jsonable(value: Any) -> Any:
    """NaN to None, numpy scalars to Python, tuples to lists (strict JSON)."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


# ---------------------------------------------------------------------- HTML
# %(name)s placeholders filled from THEME (CSS is full of braces, so no str.format)
CSS_TEMPLATE = """
:root{color-scheme:dark}
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans","DejaVu Sans",sans-serif;
margin:0;background:%(bg)s;color:%(text)s;line-height:1.5}
header,main,footer{max-width:72rem;margin:0 auto;padding:0 1rem}
header{display:flex;justify-content:space-between;align-items:center;gap:1rem;padding-top:1.2rem}
header a,main a,footer a{color:%(accent)s}footer{color:%(faint)s;font-size:.85rem;padding:2rem 1rem}
h1{font-size:1.8rem;margin:.6rem 0}
h2{font-size:1.3rem;margin-top:2.2rem;padding-bottom:.3rem;border-bottom:1px solid %(line)s}
p{color:%(muted)s;max-width:80ch}
table{border-collapse:collapse;margin:.75rem 0;font-size:.9rem;font-variant-numeric:tabular-nums}
th,td{border:1px solid %(line)s;padding:.3rem .55rem;text-align:right}
th:first-child,td:first-child{text-align:left}thead th{background:%(surface_2)s;color:%(text)s}
tr.main td{font-weight:600;background:rgb(242 181 68 / .12)}.ok{color:%(ok)s}.no{color:%(no)s}
figure{margin:1rem 0;background:%(surface)s;border:1px solid %(line)s;border-radius:10px;padding:.6rem}
figcaption{font-size:.85rem;color:%(muted)s}.plots{display:flex;flex-wrap:wrap;gap:1rem}
.plots figure{flex:1 1 30rem}svg{max-width:100%%;height:auto}
"""
CSS = CSS_TEMPLATE % THEME


def render_html(report: Mapping[str, Any]) -> str:
    """The whole report as one self-contained HTML page."""
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        "<meta name='color-scheme' content='dark'>",
        "<title>Recommendation quality report</title><style>",
        CSS,
        "</style></head><body>",
        # landmarks: served by the app at /report, "./" is the app's picker
        "<header><a href='./'>&larr; Three Picks</a></header><main>",
        "<h1>Recommendation quality report</h1>",
        protocol_html(report.get("protocol", {}), report.get("seconds")),
        goals_html(report.get("goals", [])),
        tuning_html(report.get("tuning", {})),
        references_html(report.get("references", {})),
    ]
    main = report.get("main_method")
    for variant, label in report.get("protocol", {}).get("variants", {"A": "any picks"}).items():
        parts.append(f"<h2>Three-pick protocol, variant {html.escape(variant)}: {html.escape(label)}</h2>")
        parts.append(methods_table(report.get("methods", []), variant, main))
    parts.append(second_round_html(report.get("second_round", {})))
    parts.append(ablations_html(report.get("ablations", {})))
    parts.append(ablations_html(report.get("ablations_b", {}), "B"))
    parts.append("<h2>Plots</h2><div class='plots'>")
    parts.extend(plots(report))
    parts.append("</div>")
    parts.append("<h2>Rating prediction</h2>")
    parts.append(rating_table(report.get("rating_prediction", {})))
    parts.append(folds_table(report.get("folds", [])))
    parts.append(
        "</main><footer><p>Written by <code>python -m offline evaluate</code> "
        "(<code>make evaluate</code>); docs/EVALUATION.md describes the protocol.</p>"
        "</footer></body></html>\n"
    )
    return "".join(parts)
