"""The pieces the SVG charts are made of (webapp/charts.py): number formatting, tick values,
linear and log scales, and escaped <text>, <line>, <rect> and the chart's <svg> itself. No style
attributes: the page's CSP allows none (see charts.py)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH = 720
FONT = 13  # user units; app.css sets the same size (kept here for the layout arithmetic)
CHAR = 7.2  # about the width of one character at FONT, for fitting labels


# ---------------------------------------------------------------------------- formatting
def count_text(value: float) -> str:
    """12,345 in full below 100,000; 123k and 1.2M above (axis ticks and bar labels)."""
    value = float(value)
    if abs(value) >= 1_000_000:
        return f"{value / 1_000_000:.3g}M"
    if abs(value) >= 100_000:
        return f"{value / 1_000:.0f}k"
    return f"{value:,.0f}" if value == int(value) else f"{value:,.2g}"


def percent_text(share: float) -> str:
    return f"{100 * share:.0f}%" if share >= 0.1 or share == 0 else f"{100 * share:.1f}%"


def num(value: float) -> str:
    """A coordinate: short and stable."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def nice_ticks(lo: float, hi: float, target: int = 5) -> list[float]:
    """Round tick values (1, 2 or 5 times a power of ten apart) covering lo..hi."""
    if hi <= lo:
        hi = lo + 1
    raw = (hi - lo) / max(1, target)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.floor(lo / step) * step
    ticks = []
    value = first
    while value <= hi + step * 1e-9:
        ticks.append(round(value, 10))
        value += step
    if ticks[-1] < hi:
        ticks.append(round(value, 10))
    return ticks


def log_ticks(lo: float, hi: float) -> list[float]:
    """Powers of ten from lo to hi (both > 0)."""
    start, stop = math.floor(math.log10(max(lo, 1e-9))), math.ceil(math.log10(max(hi, 1e-9)))
    return [10.0**k for k in range(start, stop + 1)]


@dataclass(frozen=True)
class Linear:
    """A linear scale from a domain to a pixel range."""

    d0: float
    d1: float
    r0: float
    r1: float

    def __call__(self, value: float) -> float:
        span = (self.d1 - self.d0) or 1.0
        return self.r0 + (value - self.d0) / span * (self.r1 - self.r0)


@dataclass(frozen=True)
class Log:
    """A log10 scale (domain > 0)."""

    d0: float
    d1: float
    r0: float
    r1: float

    def __call__(self, value: float) -> float:
        a, b = math.log10(self.d0), math.log10(self.d1)
        return self.r0 + (math.log10(max(value, self.d0)) - a) / ((b - a) or 1.0) * (self.r1 - self.r0)


# ---------------------------------------------------------------------------- pieces
def text(x: float, y: float, text: str, cls: str = "", anchor: str = "middle", **attrs: str) -> str:
    extra = "".join(f' {k.replace("_", "-")}="{escape(v)}"' for k, v in attrs.items())
    klass = f' class="{cls}"' if cls else ""
    return f'<text x="{num(x)}" y="{num(y)}" text-anchor="{anchor}"{klass}{extra}>{escape(text)}</text>'


def line(x1: float, y1: float, x2: float, y2: float, cls: str) -> str:
    return f'<line x1="{num(x1)}" y1="{num(y1)}" x2="{num(x2)}" y2="{num(y2)}" class="{cls}"/>'


def rect(x: float, y: float, w: float, h: float, cls: str, tip: str = "") -> str:
    body = f"<title>{escape(tip)}</title>" if tip else ""
    shape = (
        f'<rect x="{num(x)}" y="{num(y)}" width="{num(max(w, 0))}" height="{num(max(h, 0))}" class="{cls}"'
    )
    return f"{shape}>{body}</rect>" if body else f"{shape}/>"


def figure(
    chart_id: str, height: float, title: str, desc: str, body: Sequence[str], width: float = WIDTH
) -> Markup:
    """The chart's <svg>: role img, named by <title> and described by <desc>."""
    cid = escape(chart_id)
    return Markup(
        f'<svg class="chart" id="{cid}" viewBox="0 0 {num(width)} {num(height)}" width="{num(width)}" '
        f'height="{num(height)}" role="img" aria-labelledby="{cid}-title {cid}-desc" '
        f'focusable="false" xmlns="http://www.w3.org/2000/svg">'
        f'<title id="{cid}-title">{escape(title)}</title><desc id="{cid}-desc">{escape(desc)}</desc>'
        + "".join(body)
        + "</svg>"
    )


def fit(label: str, width: float) -> str:
    """A label cut to fit a width, with an ellipsis."""
    room = max(3, int(width / CHAR))
    return label if len(label) <= room else label[: room - 1].rstrip() + "…"
