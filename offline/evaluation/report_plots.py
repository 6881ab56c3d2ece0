"""The evaluation report's plots: matplotlib figures as inline SVG, in the web app's dark theme
(report.py puts them on the page; matplotlib is imported only when a report is drawn)."""

from __future__ import annotations

import html
import io
from collections.abc import Mapping, Sequence
from typing import Any

from offline.evaluation.rating import rating_rows

# The web app's dark theme (static/app.css), so /report looks like the rest of the site.
THEME = {
    "bg": "#0d0f13",
    "surface": "#161920",
    "surface_2": "#1e222b",
    "line": "#2b303b",
    "text": "#eeece8",
    "muted": "#a4aab5",
    "faint": "#7d8491",
    "accent": "#f2b544",
    "blue": "#8cc8ff",
    "ok": "#56d364",
    "no": "#ff7b72",
}
MAIN_COLOR, OTHER_COLOR, BASE_COLOR = THEME["accent"], "#5d6f8f", THEME["faint"]
POPULAR_COLOR = THEME["blue"]
# matplotlib settings for plots on the dark page: transparent figure, the page's text colours
PLOT_STYLE = {
    "figure.facecolor": "none",
    "axes.facecolor": THEME["surface"],
    "savefig.facecolor": "none",
    "axes.edgecolor": THEME["line"],
    "axes.labelcolor": THEME["muted"],
    "text.color": THEME["text"],
    "xtick.color": THEME["muted"],
    "ytick.color": THEME["muted"],
    "grid.color": THEME["line"],
    "legend.facecolor": THEME["surface_2"],
    "legend.edgecolor": THEME["line"],
    "legend.labelcolor": THEME["text"],
}


def plots(report: Mapping[str, Any]) -> list[str]:
    """All figures as <figure> elements with inline SVG, in the page's dark theme."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    with matplotlib.rc_context(PLOT_STYLE):
        return _themed_plots(report)


def _themed_plots(report: Mapping[str, Any]) -> list[str]:
    figures = []
    rows = [r for r in report.get("methods", []) if r["variant"] == "A"]
    if rows:
        figures.append(
            _figure(
                _bar_plot(rows, "hr_at_10", "HR@10", report.get("main_method")), "HR@10 by method (variant A)"
            )
        )
        figures.append(
            _figure(
                _bar_plot(rows, "coverage", "distinct movies shown", report.get("main_method")),
                "Coverage by method (variant A)",
            )
        )
    if report.get("long_tail", {}).get("rank"):
        figures.append(
            _figure(
                _long_tail_plot(report["long_tail"]),
                "Long tail: rating count by popularity rank, and where the "
                "recommender's popular and less-known halves fall",
            )
        )
    curve = report.get("cold_start", {})
    if curve.get("picks"):
        users = ", ".join(f"{n}: {curve['users'][str(n)]}" for n in curve["picks"])
        for key, label in (("hr_at_10", "HR@10"), ("ndcg_at_10", "NDCG@10")):
            figures.append(
                _figure(
                    _curve_plot(curve, key, label, report.get("main_method")),
                    f"Cold start: {label} by number of picks (variant A; users per point: {users})",
                )
            )
    rating = rating_rows(report.get("rating_prediction", {}))
    if rating:
        figures.append(_figure(_rmse_plot(rating), "Test RMSE by rating model"))
    return figures


def _figure(svg: str, caption: str) -> str:
    """An SVG inside a captioned figure."""
    return f"<figure>{svg}<figcaption>{html.escape(caption)}</figcaption></figure>"


def _svg(fig: Any) -> str:
    """A matplotlib figure as an inline SVG string (closed afterwards)."""
    import matplotlib
    import matplotlib.pyplot as plt

    buffer = io.StringIO()
    # A fixed hash salt makes the SVG ids (and so the page) the same on every run;
    # text as paths means no font is needed to view it.
    with matplotlib.rc_context(
        {"svg.hashsalt": "movie-recommender", "svg.fonttype": "path", "savefig.facecolor": "none"}
    ):
        fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def _bar_plot(rows: Sequence[Mapping[str, Any]], key: str, label: str, main: Any) -> str:
    """Horizontal bars of one figure per method, the product highlighted."""
    import matplotlib.pyplot as plt

    names = [r["method"] for r in rows][::-1]
    values = [float(r.get(key) or 0) for r in rows][::-1]
    colors = [MAIN_COLOR if n == main else OTHER_COLOR for n in names]
    fig, ax = plt.subplots(figsize=(7, 0.32 * len(rows) + 1.2))
    ax.barh(names, values, color=colors)
    for y, v in enumerate(values):
        ax.text(v, y, f" {v:.3f}" if v < 2 else f" {int(v)}", va="center", fontsize=8)
    ax.set_xlabel(label)
    ax.margins(x=0.15)
    ax.tick_params(axis="y", labelsize=8)
    return _svg(fig)


def _long_tail_plot(tail: Mapping[str, Any]) -> str:
    """Rating count by popularity rank (log-log), with rug marks for each half's movies."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.8))
    ax.loglog(tail["rank"], tail["count"], color=OTHER_COLOR, label="ratings per movie")
    placements = tail.get("placement_ranks", {})
    colors = {"popular": POPULAR_COLOR, "less_known": MAIN_COLOR}
    for half, ranks in placements.items():
        if ranks:
            y = 0.8 if half == "popular" else 0.6
            ax.plot(
                ranks,
                [y] * len(ranks),
                "|",
                color=colors.get(half, BASE_COLOR),
                markersize=10,
                alpha=0.25,
                label=f"{half.replace('_', '-')} half (movies shown)",
            )
    for half, q in tail.get("placements", {}).items():
        if q:
            ax.axvline(q["median"], color=colors.get(half, BASE_COLOR), linestyle="--", linewidth=1)
    ax.set_xlabel("popularity rank (1 = most rated)")
    ax.set_ylabel("ratings")
    ax.set_ylim(bottom=0.5)
    ax.legend(fontsize=8, loc="upper right")
    return _svg(fig)


def _rmse_plot(rows: Sequence[Mapping[str, Any]]) -> str:
    """Bars of test RMSE per rating model."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 0.45 * len(rows) + 1.2))
    names = [r["model"] for r in rows][::-1]
    values = [float(r["rmse"]) for r in rows][::-1]
    ax.barh(names, values, color=OTHER_COLOR)
    for y, v in enumerate(values):
        ax.text(v, y, f" {v:.3f}", va="center", fontsize=8)
    ax.set_xlabel("test RMSE (lower is better)")
    ax.margins(x=0.15)
    return _svg(fig)


def _curve_plot(curve: Mapping[str, Any], key: str, label: str, main: Any) -> str:
    """One line per method: a figure against the number of picks."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.8))
    palette = [OTHER_COLOR, POPULAR_COLOR, THEME["ok"], THEME["no"], BASE_COLOR]
    others = 0
    for name, values in curve.get("methods", {}).items():
        points = [(n, v) for n, v in zip(curve["picks"], values[key]) if v is not None]
        if not points:
            continue
        xs, ys = zip(*points)
        if name == main:
            color, width = MAIN_COLOR, 2.5
        else:
            color, width = palette[others % len(palette)], 1.5
            others += 1
        ax.plot(xs, ys, marker="o", color=color, linewidth=width, label=name)
    ax.set_xticks(curve["picks"])
    ax.set_xlabel("number of picks")
    ax.set_ylabel(label)
    ax.legend(fontsize=8, loc="lower right")
    return _svg(fig)
