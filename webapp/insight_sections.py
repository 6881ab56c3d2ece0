"""The sections of /insights: for each chart, what it shows, one thing it reveals about this data
(computed from the tables, never written in by hand), the chart and its numbers as a table."""

from __future__ import annotations

import calendar
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from markupsafe import Markup

from webapp import charts
from webapp.charts import Bar, MonthPoint, Split
from webapp.insights import Insights
from webapp.movies import Movie
from webapp.schema import LESS_KNOWN, POPULAR, RARE

POOL_NAMES = {POPULAR: "popular", LESS_KNOWN: "less known", RARE: "rare"}
RATING_VALUES = tuple(v / 2 for v in range(1, 11))  # 0.5 .. 5.0
STEADY_MONTH = 100  # a month's mean is compared with others only from this many ratings
POLARISING_SHOWN = 15
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


# ---------------------------------------------------------------------------- movies
def long_tail_section(insights: Insights, stats: pd.DataFrame, pools: Mapping[str, Any]) -> Section:
    """Ratings per movie by rank: the long tail, with the pools' boundaries."""
    frame = insights.tables["ratings_per_movie"].sort_values("rank")
    points = [(int(r), int(c), str(p)) for r, c, p in zip(frame["rank"], frame["ratings"], frame["pool"])]
    floor = pools.get("less_known_min_count", 5)
    share = pools.get("popular_share", 0.1)
    shows = (
        f"Every rated movie by its number of ratings, most rated first, on log scales. The "
        f"dashed lines are the pools' boundaries: the popular pool is the most-rated "
        f"{charts.percent_text(float(share))} of movies; the less-known pool is the rest with "
        f"at least {floor} ratings; the remaining movies are rare and never recommended."
    )
    if not points:
        return Section(
            "long-tail",
            "Ratings per movie: the long tail",
            shows,
            "No movie is rated.",
            charts.long_tail_chart("chart-tail", "Ratings per movie", "No movies.", [], []),
            None,
        )
    last_of: dict[str, tuple[int, float]] = {}
    for rank, pool, cumulative in zip(frame["rank"], frame["pool"], frame["cumulative_share"]):
        last_of[str(pool)] = (int(rank), float(cumulative))
    n = points[-1][0]
    boundaries = [
        (last_of[p][0], f"last {POOL_NAMES[p]}: #{last_of[p][0]:,}")
        for p in (POPULAR, LESS_KNOWN)
        if p in last_of and last_of[p][0] < n
    ]
    singles = int((stats["vote_count"] == 1).sum())
    reveals = ""
    if POPULAR in last_of:
        reveals = (
            f"The {last_of[POPULAR][0]:,} popular movies hold "
            f"{charts.percent_text(last_of[POPULAR][1])} of all ratings; "
        )
    if singles:
        reveals += f"{singles:,} of the {n:,} rated movies ({share_text(singles, n)}) have a single rating."
    else:
        reveals += f"each of the {n:,} rated movies has at least {points[-1][1]:,} ratings."
    chart = charts.long_tail_chart(
        "chart-tail", "Ratings per movie by rank, log scales", reveals, points, boundaries
    )
    table = DataTable(
        "Ratings per movie at sampled ranks",
        ("rank", "ratings", "pool", "share of all ratings up to this rank"),
        tuple(
            (f"{r:,}", f"{c:,}", POOL_NAMES.get(p, p), charts.percent_text(s))
            for (r, c, p), s in zip(points, frame["cumulative_share"])
        ),
    )
    return Section("long-tail", "Ratings per movie: the long tail", shows, reveals, chart, table)


def _movie_link(movie: Movie | None, movie_id: int, url: Callable[[int], str]) -> Markup:
    label = movie.label if movie else f"Movie {movie_id}"
    return Markup('<a href="{}">{}</a>').format(url(movie_id), label)


def polarising_section(insights: Insights, movies: Mapping[int, Movie], url: Callable[[int], str]) -> Section:
    """The movies whose ratings spread most (standard deviation), with both extremes' shares."""
    frame = insights.tables["polarising_movies"].sort_values("rank")
    n_min = int(
        insights.metrics.get("polarising_min_ratings") or (frame["ratings"].min() if len(frame) else 0)
    )
    candidates = insights.metrics.get("polarising_candidates")
    low = float(insights.metrics.get("low_rating", 2.0))
    high = float(insights.metrics.get("high_rating", 4.5))
    among = f"the {int(candidates):,} movies" if candidates is not None else "movies"
    shows = (
        f"The movies whose ratings spread most (the largest standard deviation of their "
        f"ratings), among {among} with at least {n_min:,} ratings: fewer ratings make the "
        f"spread too uncertain. The bars show the share of ratings of {low:g} stars or less "
        f"(left) and {high:g} or more (right). The threshold grows with the data: one per "
        f"100,000 ratings, kept between 20 and 250."
    )
    if frame.empty:
        return Section(
            "polarising",
            "Polarising movies",
            shows,
            f"No movie has {n_min:,} ratings yet.",
            charts.diverging_chart(
                "chart-polarising", "Polarising movies", "None.", [], low_label="", high_label=""
            ),
            None,
        )
    rows = list(frame.head(POLARISING_SHOWN).itertuples(index=False))
    first = rows[0]
    reveals = Markup(
        "{} divides viewers most: its ratings have a standard deviation of {} stars "
        "over {} ratings (mean {}); {} gave it {} stars or less and {} {} or more."
    ).format(
        _movie_link(movies.get(int(first.movie_id)), int(first.movie_id), url),
        f"{first.stddev:.2f}",
        f"{int(first.ratings):,}",
        f"{first.mean_rating:.2f}",
        charts.percent_text(first.low_share),
        f"{low:g}",
        charts.percent_text(first.high_share),
        f"{high:g}",
    )
    splits = [
        Split(
            movies[int(r.movie_id)].label if int(r.movie_id) in movies else f"Movie {r.movie_id}",
            float(r.low_share),
            float(r.high_share),
            f"σ {r.stddev:.2f}",
        )
        for r in rows
    ]
    chart = charts.diverging_chart(
        "chart-polarising",
        f"The {len(rows)} most polarising movies",
        reveals.striptags(),
        splits,
        low_label=f"{low:g} stars or less",
        high_label=f"{high:g} stars or more",
    )
    table = DataTable(
        "Polarising movies",
        ("rank", "movie", "ratings", "mean", "standard deviation", f"≤ {low:g} stars", f"≥ {high:g} stars"),
        tuple(
            (
                str(int(r.rank)),
                _movie_link(movies.get(int(r.movie_id)), int(r.movie_id), url),
                f"{int(r.ratings):,}",
                f"{r.mean_rating:.2f}",
                f"{r.stddev:.2f}",
                charts.percent_text(r.low_share),
                charts.percent_text(r.high_share),
            )
            for r in frame.itertuples(index=False)
        ),
    )
    return Section("polarising", "Polarising movies", shows, reveals, chart, table)


def _ordinal_percentile(quantile: float) -> str:
    n = round(100 * quantile)
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix} percentile"


def weighting_section(insights: Insights, movies: Mapping[int, Movie], url: Callable[[int], str]) -> Section:
    """The catalog's weighted score against the plain mean: what the weighting does."""
    frame = insights.tables["weighting_effect"]
    metrics = insights.metrics
    size = int(metrics.get("catalog_size") or 100)
    percentile = _ordinal_percentile(float(metrics.get("vote_quantile") or 0.9))
    c = float(metrics["C"]) if metrics.get("C") is not None else None
    m = float(metrics["m"]) if metrics.get("m") is not None else None
    shows = (
        f"The catalog (the top {size} movies by weighted score, which the picker shows) and the "
        f"top {size} by plain mean rating, each at its number of ratings: a ring at its plain "
        f"mean, a dot at its weighted score. The score is v/(v+m)·R + m/(v+m)·C for a movie "
        f"with v ratings of mean R, where C"
        + (f" = {c:.2f}" if c is not None else "")
        + " is the mean of every movie's mean and m"
        + (f" = {m:,.0f}" if m is not None else "")
        + f" the {percentile} of ratings per movie: "
        f"the fewer ratings a movie has, the more its score is pulled toward C."
    )
    if frame.empty or c is None:
        return Section(
            "weighting",
            "What the weighting does",
            shows,
            "No movie is rated.",
            charts.shrinkage_chart(
                "chart-weighting", "Weighted score against plain mean", "None.", [], c=0.0, m=None, legend=[]
            ),
            None,
        )
    in_catalog = frame["score_rank"] <= size
    by_mean = frame[frame["mean_rank"] <= size]
    kept = int((by_mean["score_rank"] <= size).sum())
    top_mean = frame.sort_values("mean_rank").iloc[0]
    top_score = frame.sort_values("score_rank").iloc[0]

    def name(row: Any) -> str:
        movie_id = int(row.movie_id)
        return movies[movie_id].label if movie_id in movies else f"Movie {movie_id}"

    ratings = lambda n: f"{int(n):,} rating{'s' if int(n) != 1 else ''}"  # noqa: E731
    median = by_mean["vote_count"].median()
    kept_text = "None" if kept == 0 else "All" if kept == len(by_mean) else f"Only {kept}"
    reveals = (
        f"{kept_text} of the {len(by_mean)} movies with the highest plain mean "
        f"{'makes' if kept_text == 'None' else 'make'} the catalog: half of them have "
        f"{ratings(median) if median == int(median) else f'{median:g} ratings'} or fewer. "
    )
    if int(top_mean.movie_id) == int(top_score.movie_id):
        reveals += (
            f"{name(top_mean)} leads both lists: with {ratings(top_mean.vote_count)} it "
            f"keeps a score of {top_mean.score:.2f} of its mean {top_mean.vote_mean:.2f}."
        )
    else:
        reveals += (
            f"The highest plain mean, {name(top_mean)} ({top_mean.vote_mean:.2f} from "
            f"{ratings(top_mean.vote_count)}), scores {top_mean.score:.2f}; the catalog's "
            f"first, {name(top_score)}, keeps {top_score.score:.2f} of its "
            f"{top_score.vote_mean:.2f} with {ratings(top_score.vote_count)}."
        )
    shown = []
    for row, catalog in zip(frame.itertuples(index=False), in_catalog):
        shown.append(
            charts.Shrink(
                int(row.vote_count),
                float(row.vote_mean),
                float(row.score),
                "in-catalog" if catalog else "mean-only",
                f"{name(row)}: mean {row.vote_mean:.2f} from {ratings(row.vote_count)}, score "
                f"{row.score:.2f} (#{int(row.score_rank):,} by score, #{int(row.mean_rank):,} by mean)",
            )
        )
    chart = charts.shrinkage_chart(
        "chart-weighting",
        "Plain mean and weighted score by number of ratings",
        reveals,
        shown,
        c=c,
        m=m,
        legend=[
            ("in-catalog", f"score: in the catalog (top {size})"),
            ("mean-only", f"score: top {size} by plain mean only"),
        ],
    )
    table = DataTable(
        "Weighted score and plain mean",
        ("movie", "ratings", "plain mean", "weighted score", "rank by score", "rank by mean"),
        tuple(
            (
                _movie_link(movies.get(int(r.movie_id)), int(r.movie_id), url),
                f"{int(r.vote_count):,}",
                f"{r.vote_mean:.2f}",
                f"{r.score:.2f}",
                f"{int(r.score_rank):,}",
                f"{int(r.mean_rank):,}",
            )
            for r in frame.sort_values(["score_rank"]).itertuples(index=False)
        ),
    )
    return Section("weighting", "What the weighting does", shows, reveals, chart, table)


def all_sections(
    insights: Insights,
    movies: Mapping[int, Movie],
    stats: pd.DataFrame,
    pools: Mapping[str, Any],
    url: Callable[[int], str],
    genre: str = "",
) -> list[Section]:
    """Every section of /insights, in page order."""
    return [
        timeline_section(insights, genre),
        distribution_section(insights, genre),
        genres_section(insights),
        users_section(insights),
        long_tail_section(insights, stats, pools),
        polarising_section(insights, movies, url),
        weighting_section(insights, movies, url),
    ]
