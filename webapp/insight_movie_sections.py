"""The movie sections of /insights: the long tail of ratings per movie, the most polarising
movies, and what the weighted average does to the catalog's order (see webapp/insight_sections.py
for the section type and the rating sections)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd
from markupsafe import Markup

from webapp import charts
from webapp.charts import Split
from webapp.insight_sections import POOL_NAMES, DataTable, Section, share_text
from webapp.insights import Insights
from webapp.movies import Movie
from webapp.schema import LESS_KNOWN, POPULAR

POLARISING_SHOWN = 15


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
