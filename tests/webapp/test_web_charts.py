"""webapp/charts.py: scales, ticks, geometry and escaping of the server-rendered SVG charts."""

from __future__ import annotations

import re

import pytest

from webapp import charts
from webapp.charts import Bar, MonthPoint, Shrink, Split


@pytest.mark.parametrize(
    "lo, hi, expected",
    [
        (0, 87, [0, 20, 40, 60, 80, 100]),
        (0, 5, [0, 1, 2, 3, 4, 5]),
        (0, 12_345, [0, 5000, 10000, 15000]),
        (2.5, 4.5, [2.5, 3, 3.5, 4, 4.5]),
    ],
)
def test_nice_ticks(lo: float, hi: float, expected: list[float]) -> None:
    assert charts.nice_ticks(lo, hi) == pytest.approx(expected)


@pytest.mark.parametrize(
    "value, text", [(7, "7"), (12_345, "12,345"), (123_456, "123k"), (2_500_000, "2.5M"), (0.5, "0.5")]
)
def test_count_text(value: float, text: str) -> None:
    assert charts.count_text(value) == text


def _bars(svg: str) -> list[tuple[float, float]]:
    """(y, height) of each bar."""
    return [
        (float(y), float(h))
        for y, h in re.findall(r'<rect x="[^"]+" y="([^"]+)" width="[^"]+" height="([^"]+)" class="bar', svg)
    ]


def test_column_heights_are_proportional_and_start_at_zero() -> None:
    svg = charts.column_chart(
        "c", "T", "D", [Bar("a", 100), Bar("b", 50), Bar("c", 0)], x_label="x", y_label="y"
    )
    (y1, h1), (y2, h2), (y3, h3) = _bars(svg)
    assert h2 == pytest.approx(h1 / 2, abs=0.1) and h3 == 0
    assert y1 + h1 == pytest.approx(y2 + h2) == pytest.approx(y3 + h3)  # one baseline


def test_text_is_escaped_and_named() -> None:
    svg = str(
        charts.column_chart(
            "c<1>", 'A "title" & <b>', "<desc>", [Bar("<i>x</i>", 3, "<tip>")], x_label="<x>", y_label="y"
        )
    )
    assert "<b>" not in svg and "<i>" not in svg and "<tip>" not in svg and "<desc>" not in svg
    assert '<title id="c&lt;1&gt;-title">A &#34;title&#34; &amp; &lt;b&gt;</title>' in svg
    assert 'aria-labelledby="c&lt;1&gt;-title c&lt;1&gt;-desc"' in svg and 'role="img"' in svg


def test_no_chart_writes_a_style() -> None:
    made = [
        charts.column_chart("a", "t", "d", [Bar("1", 1)], x_label="x", y_label="y"),
        charts.timeline_chart("b", "t", "d", [MonthPoint(2000, 1, 5, 3.5), MonthPoint(2000, 3, 7, 4.0)]),
        charts.long_tail_chart(
            "c", "t", "d", [(1, 100, "popular"), (2, 10, "less_known"), (3, 1, "rare")], [(1, "last popular")]
        ),
        charts.diverging_chart("d", "t", "d", [Split("m", 0.3, 0.4, "σ 1.5")], low_label="l", high_label="h"),
        charts.shrinkage_chart(
            "e",
            "t",
            "d",
            [Shrink(12, 4.0, 3.8, "in-catalog", "m")],
            c=3.3,
            m=27.0,
            legend=[("in-catalog", "in")],
        ),
        charts.hbar_chart("f", "t", "d", [Bar("Drama", 10)], notes=["10 · 3.5"], x_label="x"),
    ]
    for svg in made:
        assert " style=" not in svg and "<style" not in svg and "<script" not in svg
        assert svg.startswith('<svg class="chart"') and svg.endswith("</svg>")


def test_timeline_breaks_the_mean_line_at_a_gap() -> None:
    points = [MonthPoint(2000, m, 10, 3.0 + m / 10) for m in (1, 2, 3, 6, 7)]
    svg = charts.timeline_chart("t", "t", "d", points)
    lines = re.findall(r'<polyline points="([^"]+)" class="line"/>', svg)
    assert [len(line.split()) for line in lines] == [3, 2]  # Jan-Mar, then Jun-Jul
    assert svg.count('class="bar') == 5


def test_long_tail_is_log_log() -> None:
    svg = charts.long_tail_chart(
        "l", "t", "d", [(1, 1000, "popular"), (10, 100, "popular"), (100, 10, "popular")], []
    )
    xs, ys = zip(
        *[map(float, p.split(",")) for p in re.search(r'<polyline points="([^"]+)"', svg).group(1).split()]
    )
    assert xs[1] - xs[0] == pytest.approx(xs[2] - xs[1], abs=0.2)  # equal steps per decade
    assert ys[1] - ys[0] == pytest.approx(ys[2] - ys[1], abs=0.2)


def test_shrinkage_counts_movies_drawn_on_one_spot() -> None:
    movies = [Shrink(1, 5.0, 3.4, "mean-only", f"m{n}") for n in range(40)]
    movies += [Shrink(300, 4.4, 4.3, "in-catalog", "big")]
    svg = charts.shrinkage_chart("w", "t", "d", movies, c=3.26, m=27.0, legend=[])
    assert ">×40</text>" in svg and svg.count('class="ring"') == 41 + 1  # + the legend's
    assert ">C = 3.26</text>" in svg and ">m = 27</text>" in svg
    # each movie's line runs from its plain mean down to its score, at its own count
    lines = re.findall(r'<line x1="([^"]+)" y1="([^"]+)" x2="([^"]+)" y2="([^"]+)" class="shrink"/>', svg)
    assert len(lines) == 41 and all(float(y1) < float(y2) for _, y1, _, y2 in lines)  # SVG y grows down
    assert float(lines[-1][0]) > float(lines[0][0])  # 300 ratings sit right of 1
