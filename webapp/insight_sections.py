"""The sections of /insights: for each chart, what it shows, one thing it reveals about this data
(computed from the tables, never written in by hand), the chart and its numbers as a table.

This module has the section type, its shared helpers and the rating sections (over time,
distribution, genres, users); webapp/insight_movie_sections.py has the movie sections (the long
tail, polarising movies, what the weighting does)."""

from __future__ import annotations

import calendar
from dataclasses import dataclass

import numpy as np
import pandas as pd
from markupsafe import Markup

from webapp import charts
from webapp.charts import Bar, MonthPoint
from webapp.insights import Insights
from webapp.schema import LESS_KNOWN, POPULAR, RARE

POOL_NAMES = {POPULAR: "popular", LESS_KNOWN: "less known", RARE: "rare"}
RATING_VALUES = tuple(v / 2 for v in range(1, 11))  # 0.5 .. 5.0
STEADY_MONTH = 100  # a month's mean is compared with others only from this many ratings
TOP_USERS_SHARE = 0.10  # "the most active tenth of users"


@dataclass(frozen=True)
class DataTable:
    """A chart's numbers: a caption, column headers and rows of text (or links, as Markup)."""

    caption: str
    headers: tuple[str, ...]
    rows: tuple[tuple[str | Markup, ...], ...]


@dataclass(frozen=True)
class Section:
    key: str  # the section's anchor
    title: str
    shows: str  # what the chart shows
    reveals: str | Markup  # one thing it reveals about this data
    chart: Markup
    table: DataTable | None


def month_name(year: int, month: int) -> str:
    return f"{calendar.month_name[month]} {year}"


def _month_points(frame: pd.DataFrame) -> list[MonthPoint]:
    out = []
    for month, ratings, mean in zip(frame["month"].astype(str), frame["ratings"], frame["mean_rating"]):
        year, number = month.split("-")
        out.append(MonthPoint(int(year), int(number), int(ratings), float(mean)))
    return sorted(out, key=lambda p: (p.year, p.month))


def share_text(part: float, whole: float) -> str:
    """part as a percentage of whole ('0%' when whole is 0)."""
    return charts.percent_text(part / whole) if whole else "0%"


def stars_text(value: float) -> str:
    return f"{value:g} star{'' if value == 1 else 's'}"


# ---------------------------------------------------------------------------- over time
def timeline_section(insights: Insights, genre: str = "") -> Section:
    """Ratings per month and their mean (all ratings, or one genre's)."""
    frame = insights.tables["ratings_by_month"]
    if genre:
        frame = insights.tables["genre_ratings_by_month"]
        frame = frame[frame["genre"] == genre]
    points = _month_points(frame)
    whom = f"{genre} ratings" if genre else "ratings"
    shows = f"How many {whom} were given each month (the bars), and their mean (the line below)."
    if not points:
        return Section(
            "over-time",
            "Ratings over time",
            shows,
            f"There are no {whom}.",
            charts.timeline_chart("chart-time", "Ratings per month", "No ratings.", []),
            None,
        )
    total = sum(p.ratings for p in points)
    busiest = max(points, key=lambda p: (p.ratings, -p.year, -p.month))
    steady = [p for p in points if p.ratings >= STEADY_MONTH]
    if len(steady) >= 2:
        shows += f" The line skips months with fewer than {STEADY_MONTH} ratings: their mean says little."
    reveals = (
        f"The busiest month was {month_name(busiest.year, busiest.month)}, with "
        f"{busiest.ratings:,} {whom} ({share_text(busiest.ratings, total)} of the "
        f"{total:,} given from {month_name(points[0].year, points[0].month)} to "
        f"{month_name(points[-1].year, points[-1].month)})."
    )
    if len(steady) >= 2:
        high = max(steady, key=lambda p: (p.mean, -p.year, -p.month))
        low = min(steady, key=lambda p: (p.mean, p.year, p.month))
        reveals += (
            f" Among months with at least {STEADY_MONTH} ratings, the mean was highest in "
            f"{month_name(high.year, high.month)} ({high.mean:.2f}) and lowest in "
            f"{month_name(low.year, low.month)} ({low.mean:.2f})."
        )
    desc = (
        f"{len(points)} months from {month_name(points[0].year, points[0].month)} to "
        f"{month_name(points[-1].year, points[-1].month)}. " + reveals
    )
    chart = charts.timeline_chart(
        "chart-time",
        f"{'Ratings' if not genre else genre + ' ratings'} per month and their mean",
        desc,
        points,
        marked=busiest,
        min_mean_ratings=STEADY_MONTH if len(steady) >= 2 else 1,
    )
    table = DataTable(
        f"{whom.capitalize()} per month",
        ("month", "ratings", "mean rating"),
        tuple((f"{p.year}-{p.month:02d}", f"{p.ratings:,}", f"{p.mean:.2f}") for p in points),
    )
    return Section("over-time", "Ratings over time", shows, reveals, chart, table)


# ---------------------------------------------------------------------------- distribution
def distribution_section(insights: Insights, genre: str = "") -> Section:
    """How often each rating value (half stars) is given."""
    frame = insights.tables["rating_distribution"]
    if genre:
        frame = insights.tables["genre_rating_distribution"]
        frame = frame[frame["genre"] == genre]
    counts = {round(float(r) * 2) / 2: int(c) for r, c in zip(frame["rating"], frame["ratings"])}
    total = sum(counts.values())
    whom = f"{genre} ratings" if genre else "ratings"
    shows = f"How many {whom} give each number of stars, from half a star to five."
    if not total:
        return Section(
            "distribution",
            "How people rate",
            shows,
            f"There are no {whom}.",
            charts.column_chart(
                "chart-distribution",
                "Ratings by stars",
                "No ratings.",
                [],
                x_label="stars",
                y_label="ratings",
            ),
            None,
        )
    values = sorted(set(RATING_VALUES) | set(counts))
    mode = max(values, key=lambda v: (counts.get(v, 0), v))
    mean = sum(v * c for v, c in counts.items()) / total
    half = sum(c for v, c in counts.items() if v != int(v))
    at_least_4 = sum(c for v, c in counts.items() if v >= 4)
    reveals = (
        f"{stars_text(mode).capitalize()} is the most common rating ({share_text(counts[mode], total)}"
        f" of {whom}); the mean is {mean:.2f}, {share_text(at_least_4, total)} are 4 stars or more"
        f" and {share_text(half, total)} use a half star."
    )
    bars = [
        Bar(
            f"{v:g}",
            counts.get(v, 0),
            f"{stars_text(v)}: {counts.get(v, 0):,} ratings ({share_text(counts.get(v, 0), total)})",
            strong=v == mode,
        )
        for v in values
    ]
    chart = charts.column_chart(
        "chart-distribution",
        f"{whom.capitalize()} by stars",
        f"{total:,} {whom}. " + reveals,
        bars,
        x_label="stars",
        y_label="ratings",
    )
    table = DataTable(
        f"{whom.capitalize()} by stars",
        ("stars", "ratings", "share"),
        tuple((f"{v:g}", f"{counts.get(v, 0):,}", share_text(counts.get(v, 0), total)) for v in values),
    )
    return Section("distribution", "How people rate", shows, reveals, chart, table)


# ---------------------------------------------------------------------------- genres
def genres_section(insights: Insights) -> Section:
    """Ratings and mean rating per genre."""
    frame = insights.tables["genre_rating_distribution"]
    per = (
        frame.assign(total=frame["rating"] * frame["ratings"])
        .groupby("genre", sort=True)
        .agg(ratings=("ratings", "sum"), total=("total", "sum"))
    )
    per["mean"] = per["total"] / per["ratings"]
    per = per.sort_values(["ratings"], ascending=False, kind="mergesort")
    shows = (
        "How many ratings the movies of each genre received, and their mean. A movie with "
        "several genres counts in each."
    )
    if per.empty:
        return Section(
            "genres",
            "Genres",
            shows,
            "No rated movie has a genre.",
            charts.hbar_chart(
                "chart-genres", "Ratings per genre", "No genres.", [], notes=[], x_label="ratings"
            ),
            None,
        )
    top = per.index[0]
    floor = int(insights.metrics.get("polarising_min_ratings", 1)) * 10
    steady = per[per["ratings"] >= floor] if (per["ratings"] >= floor).sum() >= 2 else per
    best = steady["mean"].idxmax()
    worst = steady["mean"].idxmin()
    reveals = (
        f"{top} has the most ratings ({int(per.loc[top, 'ratings']):,}); "
        f"{best} has the highest mean ({per.loc[best, 'mean']:.2f}) and {worst} the lowest "
        f"({per.loc[worst, 'mean']:.2f})"
        + (f", among genres with at least {floor:,} ratings." if steady is not per else ".")
    )
    bars = [
        Bar(str(g), int(r), f"{g}: {int(r):,} ratings, mean {m:.2f}", strong=g == top)
        for g, r, m in zip(per.index, per["ratings"], per["mean"])
    ]
    chart = charts.hbar_chart(
        "chart-genres",
        "Ratings per genre, with the mean rating",
        reveals,
        bars,
        notes=[f"{charts.count_text(b.value)} · {m:.2f}" for b, m in zip(bars, per["mean"])],
        x_label="ratings (the label after a bar: ratings · mean)",
    )
    table = DataTable(
        "Ratings per genre",
        ("genre", "ratings", "mean rating"),
        tuple((str(g), f"{int(r):,}", f"{m:.2f}") for g, r, m in zip(per.index, per["ratings"], per["mean"])),
    )
    return Section("genres", "Genres", shows, reveals, chart, table)


# ---------------------------------------------------------------------------- users
def users_section(insights: Insights) -> Section:
    """How many movies each user rated: a histogram over power-of-two bins (a log scale)."""
    frame = insights.tables["ratings_per_user"].sort_values("min_ratings")
    bins = [
        (int(lo), int(hi), int(u), int(r))
        for lo, hi, u, r in zip(frame["min_ratings"], frame["max_ratings"], frame["users"], frame["ratings"])
    ]
    users = sum(b[2] for b in bins)
    ratings = sum(b[3] for b in bins)
    shows = (
        "How many users rated how many movies. Each bar is twice as wide in ratings as the "
        "one before (1, 2–3, 4–7, 8–15, …): a log scale, so the few very active users show."
    )
    if not users:
        return Section(
            "users",
            "Ratings per user",
            shows,
            "There are no users.",
            charts.column_chart(
                "chart-users",
                "Users by ratings",
                "No users.",
                [],
                x_label="ratings per user",
                y_label="users",
            ),
            None,
        )
    mode = max(bins, key=lambda b: (b[2], -b[0]))
    # the smallest bin start whose users and those above are at most a tenth of all users
    active = next(
        (
            (lo, sum(b[2] for b in bins if b[0] >= lo), sum(b[3] for b in bins if b[0] >= lo))
            for lo, *_ in bins
            if sum(b[2] for b in bins if b[0] >= lo) <= TOP_USERS_SHARE * users
        ),
        None,
    )
    half = np.searchsorted(np.cumsum([b[2] for b in bins]), users / 2)
    median_bin = bins[min(int(half), len(bins) - 1)]
    reveals = f"Half of the {users:,} users rated at most {median_bin[1]:,} movies"
    if active is not None:
        reveals += (
            f", while the {share_text(active[1], users)} who rated {active[0]:,} or more gave "
            f"{share_text(active[2], ratings)} of all ratings."
        )
    else:
        reveals += "."
    label = lambda lo, hi: f"{lo:,}" if lo == hi else f"{lo:,}–{hi:,}"  # noqa: E731
    bars = [
        Bar(charts.count_text(lo), u, f"{label(lo, hi)} ratings: {u:,} users", strong=(lo, hi, u, r) == mode)
        for lo, hi, u, r in bins
    ]
    chart = charts.column_chart(
        "chart-users",
        "Users by how many movies they rated",
        reveals,
        bars,
        x_label="ratings per user (each bar: from its label to just under twice it)",
        y_label="users",
    )
    table = DataTable(
        "Users by ratings per user",
        ("ratings per user", "users", "their ratings"),
        tuple((label(lo, hi), f"{u:,}", f"{r:,}") for lo, hi, u, r in bins),
    )
    return Section("users", "Ratings per user", shows, reveals, chart, table)
