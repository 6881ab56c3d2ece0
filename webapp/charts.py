"""Server-rendered SVG charts for /insights and the movie pages: no script, no library, no CDN
(their pieces, scales and number formats are in webapp/svg.py).

Every chart is an inline <svg role="img"> named by its <title> and described by its <desc> (both
referenced by aria-labelledby, which screen readers read more reliably than <title> alone). The
page's CSP allows no inline style, so nothing here writes a style attribute or a <style> element:
colours and fonts come from classes that static/app.css styles (the dark theme's variables), and
geometry from SVG attributes, which a CSP does not govern. Text is escaped, numbers formatted here.

Coordinates are in a fixed viewBox (WIDTH wide); CSS scales the chart to its column, and on narrow
screens its frame scrolls sideways instead of shrinking the labels below a readable size.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

from webapp.svg import (  # count_text and percent_text also serve the pages, as charts.count_text etc.
    CHAR,
    WIDTH,
    Linear,
    Log,
    count_text,
    figure,
    fit,
    line,
    log_ticks,
    nice_ticks,
    num,
    percent_text,
    rect,
    text,
)


# ---------------------------------------------------------------------------- charts
@dataclass(frozen=True)
class Bar:
    label: str  # under the bar (may be thinned out when bars are narrow)
    value: float
    tip: str = ""  # the bar's tooltip (<title>)
    strong: bool = False  # drawn in the accent colour


def column_chart(
    chart_id: str,
    title: str,
    desc: str,
    bars: Sequence[Bar],
    *,
    x_label: str,
    y_label: str,
    height: float = 280,
    value_labels: bool = True,
    width: float = WIDTH,
) -> Markup:
    """Vertical bars over category labels, a y axis from zero with round ticks. A narrower
    `width` keeps the text as large where the chart shares a row with another."""
    left, right, top, bottom = 64, 16, 22, 52
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max([b.value for b in bars] + [1])
    ticks = nice_ticks(0, peak)
    y = Linear(0, ticks[-1], top + plot_h, top)
    slot = plot_w / max(1, len(bars))
    every = (
        max(1, math.ceil(len(max((b.label for b in bars), key=len, default="")) * CHAR / slot + 0.2))
        if bars
        else 1
    )
    out = []
    for t in ticks:
        out.append(line(left, y(t), left + plot_w, y(t), "grid"))
        out.append(text(left - 8, y(t) + 4, count_text(t), "tick", "end"))
    for n, bar in enumerate(bars):
        x = left + n * slot
        bar_w = slot * (0.72 if slot > 6 else 0.9)
        top_y = y(bar.value)
        out.append(
            rect(
                x + (slot - bar_w) / 2,
                top_y,
                bar_w,
                y(0) - top_y,
                "bar strong" if bar.strong else "bar",
                bar.tip or f"{bar.label}: {count_text(bar.value)}",
            )
        )
        if value_labels and slot >= 34 and bar.value > 0:
            out.append(text(x + slot / 2, top_y - 5, count_text(bar.value), "value"))
        if n % every == 0:
            out.append(text(x + slot / 2, top + plot_h + 17, bar.label, "tick"))
    out.append(line(left, y(0), left + plot_w, y(0), "axis"))
    out.append(text(left + plot_w / 2, height - 8, x_label, "axis-label"))
    out.append(
        text(14, top + plot_h / 2, y_label, "axis-label", transform=f"rotate(-90 14 {num(top + plot_h / 2)})")
    )
    return figure(chart_id, height, title, desc, out, width)


@dataclass(frozen=True)
class MonthPoint:
    year: int
    month: int  # 1..12
    ratings: int
    mean: float


def timeline_chart(
    chart_id: str,
    title: str,
    desc: str,
    points: Sequence[MonthPoint],
    *,
    marked: MonthPoint | None = None,
    min_mean_ratings: int = 1,
) -> Markup:
    """Two panels over the same months: ratings per month (columns) above, the month's mean
    rating (a line, broken where a month has fewer than min_mean_ratings ratings) below."""
    height, left, right, top = 400, 64, 16, 22
    count_h, gap, mean_h = 190, 40, 100
    plot_w = WIDTH - left - right
    if not points:
        return figure(chart_id, 80, title, desc, [text(WIDTH / 2, 44, "No ratings", "tick")])
    first = points[0].year * 12 + points[0].month - 1
    last = points[-1].year * 12 + points[-1].month - 1
    months = last - first + 1
    x = Linear(first, last + 1, left, left + plot_w)
    slot = plot_w / months
    peak = max(p.ratings for p in points)
    ticks = nice_ticks(0, peak, 4)
    y = Linear(0, ticks[-1], top + count_h, top)
    out = []
    for t in ticks:
        out.append(line(left, y(t), left + plot_w, y(t), "grid"))
        out.append(text(left - 8, y(t) + 4, count_text(t), "tick", "end"))
    for p in points:
        index = p.year * 12 + p.month - 1
        strong = marked is not None and (p.year, p.month) == (marked.year, marked.month)
        out.append(
            rect(
                x(index) + slot * 0.08,
                y(p.ratings),
                max(slot * 0.84, 0.6),
                y(0) - y(p.ratings),
                "bar strong" if strong else "bar",
                f"{p.year}-{p.month:02d}: {p.ratings:,} ratings, mean {p.mean:.2f}",
            )
        )
    out.append(line(left, y(0), left + plot_w, y(0), "axis"))
    out.append(
        text(
            14,
            top + count_h / 2,
            "ratings",
            "axis-label",
            transform=f"rotate(-90 14 {num(top + count_h / 2)})",
        )
    )
    # the mean panel
    mean_top = top + count_h + gap
    shown = [p for p in points if p.ratings >= min_mean_ratings] or list(points)
    lo = min(p.mean for p in shown)
    hi = max(p.mean for p in shown)
    mticks = nice_ticks(math.floor(lo * 2) / 2, math.ceil(hi * 2) / 2, 3)
    my = Linear(mticks[0], mticks[-1], mean_top + mean_h, mean_top)
    for t in mticks:
        out.append(line(left, my(t), left + plot_w, my(t), "grid"))
        out.append(text(left - 8, my(t) + 4, f"{t:.1f}", "tick", "end"))

    def flush(segment: list[str]) -> None:
        """A run of consecutive months as a line; a month on its own as a dot."""
        if len(segment) > 1:
            out.append(f'<polyline points="{" ".join(segment)}" class="line"/>')
        elif segment:
            cx, cy = segment[0].split(",")
            out.append(f'<circle cx="{cx}" cy="{cy}" r="2.5" class="dot"/>')

    segment: list[str] = []
    previous = None
    for p in points:
        index = p.year * 12 + p.month - 1
        if p.ratings < min_mean_ratings or (previous is not None and index != previous + 1):
            flush(segment)
            segment = []
        if p.ratings >= min_mean_ratings:
            segment.append(f"{num(x(index + 0.5))},{num(my(p.mean))}")
        previous = index
    flush(segment)
    out.append(
        text(
            14,
            mean_top + mean_h / 2,
            "mean",
            "axis-label",
            transform=f"rotate(-90 14 {num(mean_top + mean_h / 2)})",
        )
    )
    # years along the bottom
    years = range(points[0].year, points[-1].year + 1)
    step = max(1, math.ceil(len(years) * 5 * CHAR / plot_w))
    for year in years:
        if (year - points[0].year) % step:
            continue
        tx = x(max(year * 12, first))
        out.append(line(tx, mean_top + mean_h, tx, mean_top + mean_h + 5, "axis"))
        out.append(text(tx, mean_top + mean_h + 19, str(year), "tick"))
    if marked is not None:
        mx = x(marked.year * 12 + marked.month - 0.5)
        anchor = "end" if mx > left + plot_w * 0.7 else "start"
        label = f"{marked.year}-{marked.month:02d}: {marked.ratings:,}"
        out.append(text(mx + (-6 if anchor == "end" else 6), top - 7, label, "value", anchor))
    out.append(text(left + plot_w / 2, height - 6, "month (UTC)", "axis-label"))
    return figure(chart_id, height, title, desc, out)


def long_tail_chart(
    chart_id: str,
    title: str,
    desc: str,
    points: Sequence[tuple[int, int, str]],
    boundaries: Sequence[tuple[int, str]],
) -> Markup:
    """Ratings per movie against its rank, both on log scales: one line per pool, and a dashed
    line with a label after the last rank of each pool (the pool boundaries)."""
    height, left, right, top, bottom = 340, 64, 24, 48, 52
    plot_w, plot_h = WIDTH - left - right, height - top - bottom
    if not points:
        return figure(chart_id, 80, title, desc, [text(WIDTH / 2, 44, "No ratings", "tick")])
    n = max(r for r, _, _ in points)
    peak = max(c for _, c, _ in points)
    xt, yt = log_ticks(1, max(n, 10)), log_ticks(1, max(peak, 10))
    x = Log(xt[0], xt[-1], left, left + plot_w)
    y = Log(yt[0], yt[-1], top + plot_h, top)
    out = []
    for t in yt:
        out.append(line(left, y(t), left + plot_w, y(t), "grid"))
        out.append(text(left - 8, y(t) + 4, count_text(t), "tick", "end"))
    for t in xt:
        out.append(line(x(t), top, x(t), top + plot_h, "grid"))
        out.append(text(x(t), top + plot_h + 17, count_text(t), "tick"))
    pools: dict[str, list[str]] = {}
    order: list[str] = []
    previous = points[0]
    for rank, count, pool in points:
        if pool not in pools:
            order.append(pool)
            if pools:  # start each pool's line where the last one ended
                last_rank, last_count, _ = previous
                pools[pool] = [f"{num(x(last_rank))},{num(y(last_count))}"]
            else:
                pools[pool] = []
        pools[pool].append(f"{num(x(rank))},{num(y(count))}")
        previous = (rank, count, pool)
    for pool in order:
        if len(pools[pool]) == 1:
            px, py = pools[pool][0].split(",")
            out.append(f'<circle cx="{px}" cy="{py}" r="3" class="dot pool-{escape(pool)}"/>')
        else:
            out.append(f'<polyline points="{" ".join(pools[pool])}" class="line pool-{escape(pool)}"/>')
    for rank, label in boundaries:  # each label runs down its line: labels never cross lines
        bx = x(rank + 0.5)
        out.append(line(bx, top, bx, top + plot_h, "boundary"))
        out.append(
            text(
                bx - 6,
                top + 4,
                label,
                "value",
                "end",
                transform=f"rotate(-90 {num(bx - 6)} {num(top + 4)})",
            )
        )
    lx = float(left)
    for pool in order:  # the legend: one short line per pool, in rank order
        name = pool.replace("_", " ")
        out.append(
            f'<line x1="{num(lx)}" y1="20" x2="{num(lx + 22)}" y2="20" class="line pool-{escape(pool)}"/>'
        )
        out.append(text(lx + 28, 25, name, "legend", "start"))
        lx += 46 + CHAR * len(name)
    out.append(
        text(left + plot_w / 2, height - 8, "movies by rank (1 = most rated), log scale", "axis-label")
    )
    out.append(
        text(
            14,
            top + plot_h / 2,
            "ratings (log scale)",
            "axis-label",
            transform=f"rotate(-90 14 {num(top + plot_h / 2)})",
        )
    )
    return figure(chart_id, height, title, desc, out)


@dataclass(frozen=True)
class Split:
    label: str
    low: float  # share on the left
    high: float  # share on the right
    note: str = ""  # after the label, e.g. the standard deviation


def diverging_chart(
    chart_id: str, title: str, desc: str, rows: Sequence[Split], *, low_label: str, high_label: str
) -> Markup:
    """One row per item: its low share as a bar to the left of a centre line, its high share to
    the right, with the percentages."""
    row_h, top, label_w = 26, 40, 300
    height = top + row_h * len(rows) + 12
    centre = label_w + (WIDTH - label_w) / 2
    half = (WIDTH - label_w) / 2 - 44
    peak = max([max(r.low, r.high) for r in rows] + [0.01])
    scale = half / peak
    out = [
        text(centre - 8, 18, f"◀ {low_label}", "legend low", "end"),
        text(centre + 8, 18, f"{high_label} ▶", "legend high", "start"),
    ]
    for n, r in enumerate(rows):
        y0 = top + n * row_h
        label = fit(r.label, label_w - 16 - CHAR * len(r.note)) + (f" {r.note}" if r.note else "")
        out.append(text(label_w - 10, y0 + row_h / 2 + 4, label, "row-label", "end"))
        out.append(
            rect(
                centre - r.low * scale,
                y0 + 4,
                r.low * scale,
                row_h - 8,
                "bar low",
                f"{r.label}: {percent_text(r.low)} {low_label}",
            )
        )
        out.append(
            rect(
                centre,
                y0 + 4,
                r.high * scale,
                row_h - 8,
                "bar high",
                f"{r.label}: {percent_text(r.high)} {high_label}",
            )
        )
        out.append(text(centre - r.low * scale - 5, y0 + row_h / 2 + 4, percent_text(r.low), "value", "end"))
        out.append(
            text(centre + r.high * scale + 5, y0 + row_h / 2 + 4, percent_text(r.high), "value", "start")
        )
    out.append(line(centre, top - 4, centre, top + row_h * len(rows), "axis"))
    return figure(chart_id, height, title, desc, out)


@dataclass(frozen=True)
class Shrink:
    """One movie in the weighting chart: its rating count, plain mean and weighted score."""

    count: int
    mean: float
    score: float
    cls: str  # the series (a class app.css colours)
    tip: str


def shrinkage_chart(
    chart_id: str,
    title: str,
    desc: str,
    movies: Sequence[Shrink],
    *,
    c: float,
    m: float | None,
    legend: Sequence[tuple[str, str]],
) -> Markup:
    """What a weighted average does: each movie at its rating count (log scale), a line from its
    plain mean (ring) to its weighted score (dot), the prior C across and m marked. Movies drawn
    on the same spot are counted ("×40"), so a stack of one-rating movies shows its size."""
    height, left, right, top, bottom = 420, 64, 24, 48, 52
    plot_w, plot_h = WIDTH - left - right, height - top - bottom
    if not movies:
        return figure(chart_id, 80, title, desc, [text(WIDTH / 2, 44, "No movies", "tick")])
    peak = max(s.count for s in movies)
    xt = log_ticks(1, max(peak, 10))
    x = Log(xt[0], xt[-1], left, left + plot_w)
    values = [s.mean for s in movies] + [s.score for s in movies] + [c]
    yt = nice_ticks(math.floor(min(values) * 2) / 2, math.ceil(max(values) * 2) / 2, 5)
    y = Linear(yt[0], yt[-1], top + plot_h, top)
    out = []
    for t in yt:
        out.append(line(left, y(t), left + plot_w, y(t), "grid"))
        out.append(text(left - 8, y(t) + 4, f"{t:g}", "tick", "end"))
    for t in xt:
        out.append(line(x(t), top, x(t), top + plot_h, "grid"))
        out.append(text(x(t), top + plot_h + 17, count_text(t), "tick"))
    out.append(line(left, y(c), left + plot_w, y(c), "boundary"))
    out.append(text(left + plot_w - 4, y(c) - 6, f"C = {c:.2f}", "value", "end"))
    if m:
        out.append(line(x(m), top, x(m), top + plot_h, "boundary"))
        out.append(text(x(m) + 5, top + plot_h - 8, f"m = {m:,.0f}", "value", "start"))
    stacks: dict[tuple[int, int], int] = {}
    for s in movies:
        px, ms, ss = x(s.count), y(s.mean), y(s.score)
        out.append(f'<line x1="{num(px)}" y1="{num(ms)}" x2="{num(px)}" y2="{num(ss)}" class="shrink"/>')
        out.append(f'<circle cx="{num(px)}" cy="{num(ms)}" r="3.5" class="ring"/>')
        out.append(
            f'<circle cx="{num(px)}" cy="{num(ss)}" r="4.5" class="dot {escape(s.cls)}">'
            f"<title>{escape(s.tip)}</title></circle>"
        )
        key = (round(px / 4), round(ss / 4))
        stacks[key] = stacks.get(key, 0) + 1
    for (kx, ky), count in sorted(stacks.items()):
        if count >= 4:
            out.append(text(kx * 4 + 8, ky * 4 + 4, f"×{count}", "value", "start"))
    lx = float(left)
    for cls, label in [*legend, ("ring", "plain mean")]:
        kind = "ring" if cls == "ring" else "dot " + escape(cls)
        out.append(f'<circle cx="{num(lx + 6)}" cy="20" r="5" class="{kind}"/>')
        out.append(text(lx + 16, 25, label, "legend", "start"))
        lx += 30 + CHAR * len(label)
    out.append(text(left + plot_w / 2, height - 8, "ratings of the movie (log scale)", "axis-label"))
    out.append(
        text(14, top + plot_h / 2, "stars", "axis-label", transform=f"rotate(-90 14 {num(top + plot_h / 2)})")
    )
    return figure(chart_id, height, title, desc, out)


def hbar_chart(
    chart_id: str, title: str, desc: str, rows: Sequence[Bar], *, notes: Sequence[str], x_label: str
) -> Markup:
    """Horizontal bars, one labelled row each, with a note after each bar (e.g. the mean)."""
    row_h, top, label_w, right = 24, 12, 120, 110
    height = top + row_h * len(rows) + 44
    plot_w = WIDTH - label_w - right
    peak = max([r.value for r in rows] + [1])
    ticks = nice_ticks(0, peak, 4)
    x = Linear(0, ticks[-1], label_w, label_w + plot_w)
    bottom = top + row_h * len(rows)
    out = []
    for t in ticks:
        out.append(line(x(t), top, x(t), bottom, "grid"))
        out.append(text(x(t), bottom + 16, count_text(t), "tick"))
    for n, (r, note) in enumerate(zip(rows, notes)):
        y0 = top + n * row_h
        out.append(text(label_w - 8, y0 + row_h / 2 + 4, fit(r.label, label_w - 12), "row-label", "end"))
        out.append(
            rect(
                label_w,
                y0 + 4,
                x(r.value) - label_w,
                row_h - 8,
                "bar strong" if r.strong else "bar",
                r.tip or f"{r.label}: {r.value:,.0f}",
            )
        )
        out.append(text(x(r.value) + 6, y0 + row_h / 2 + 4, note, "value", "start"))
    out.append(line(label_w, top, label_w, bottom, "axis"))
    out.append(text(label_w + plot_w / 2, height - 6, x_label, "axis-label"))
    return figure(chart_id, height, title, desc, out)
