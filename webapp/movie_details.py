"""What a movie's page shows beyond its card: its rating histogram and ratings per year (charts
with a sentence each, computed from the insights tables), its pool, its rank in the catalog and
its nearest neighbours."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup

from webapp import charts
from webapp.charts import Bar
from webapp.insight_sections import POOL_NAMES, RATING_VALUES, DataTable, share_text, stars_text
from webapp.insights import Insights
from webapp.movies import Movie
from webapp.store import Store

NEIGHBOURS_SHOWN = 10
CHART_WIDTH = 540  # two charts side by side: a narrower viewBox keeps the labels as large
# knn_neighbors.kind: what each kind of neighbour means to a visitor
NEIGHBOUR_KINDS = (
    (
        "cf",
        "Rated by the same people",
        "Movies that the people who rated this one also rated (cosine similarity of who rated what).",
    ),
    (
        "content",
        "Similar genres and tags",
        "Movies with the most similar genres and tags "
        "(TF-IDF): for movies with too few ratings to compare by who rated them.",
    ),
)


def pool_note(pool: str, pools: Mapping[str, Any]) -> str:
    """What a pool means, with the build's own definition (manifest `pools`)."""
    share = charts.percent_text(float(pools.get("popular_share", 0.1)))
    floor = pools.get("less_known_min_count", 5)
    return {
        "popular": f"among the most-rated {share} of movies",
        "less_known": f"at least {floor} ratings, outside the most-rated {share}",
        "rare": f"fewer than {floor} ratings: never recommended",
    }.get(pool, "")


@dataclass(frozen=True)
class MovieChart:
    title: str
    reveals: str
    chart: Markup
    table: DataTable


@dataclass(frozen=True)
class NeighbourGroup:
    kind: str
    title: str
    note: str
    movies: tuple[tuple[Movie, float], ...]


@dataclass(frozen=True)
class MovieDetails:
    movie: Movie
    pool_name: str | None
    pool_note: str | None
    catalog_rank: int | None
    catalog_size: int
    charts: tuple[MovieChart, ...]  # empty when the build has no insights tables
    neighbours: tuple[NeighbourGroup, ...]


def histogram_chart(
    movie: Movie, counts: Sequence[tuple[float, int]], mean_of_means: float | None, low: float, high: float
) -> MovieChart:
    """The movie's ratings by stars, every half star shown (zero where none)."""
    by_value = {round(v * 2) / 2: c for v, c in counts}
    total = sum(by_value.values())
    mode = max(RATING_VALUES, key=lambda v: (by_value.get(v, 0), v))
    lows = sum(c for v, c in by_value.items() if v <= low)
    highs = sum(c for v, c in by_value.items() if v >= high)
    mean = sum(v * c for v, c in by_value.items()) / total
    reveals = (
        f"{stars_text(mode).capitalize()} is its most common rating ({share_text(by_value[mode], total)} "
        f"of {total:,}); {share_text(lows, total)} gave it {low:g} stars or less and "
        f"{share_text(highs, total)} {high:g} or more."
    )
    if mean_of_means is not None:
        side = "above" if mean > mean_of_means else "below" if mean < mean_of_means else "at"
        reveals += f" Its mean of {mean:.2f} is {side} the mean of all movies' means ({mean_of_means:.2f})."
    bars = [
        Bar(f"{v:g}", by_value.get(v, 0), f"{stars_text(v)}: {by_value.get(v, 0):,}", strong=v == mode)
        for v in RATING_VALUES
    ]
    chart = charts.column_chart(
        "chart-movie-stars",
        f"Ratings of {movie.label} by stars",
        reveals,
        bars,
        x_label="stars",
        y_label="ratings",
        height=260,
        width=CHART_WIDTH,
    )
    table = DataTable(
        f"Ratings of {movie.label} by stars",
        ("stars", "ratings"),
        tuple((f"{v:g}", f"{by_value.get(v, 0):,}") for v in RATING_VALUES),
    )
    return MovieChart("Its ratings by stars", reveals, chart, table)


def years_chart(movie: Movie, counts: Sequence[tuple[float, int]]) -> MovieChart:
    """The movie's ratings per calendar year, from its first to its last (zero years shown)."""
    by_year = {int(y): c for y, c in counts}
    years = list(range(min(by_year), max(by_year) + 1))
    total = sum(by_year.values())
    busiest = max(years, key=lambda y: (by_year.get(y, 0), -y))
    reveals = (
        f"It was rated from {years[0]} to {years[-1]}; most in {busiest} "
        f"({by_year[busiest]:,} ratings, {share_text(by_year[busiest], total)})."
    )
    if movie.year and years[0] > movie.year + 1:
        reveals += (
            f" Its first rating here came {years[0] - movie.year} years after its release in {movie.year}."
        )
    bars = [
        Bar(str(y), by_year.get(y, 0), f"{y}: {by_year.get(y, 0):,} ratings", strong=y == busiest)
        for y in years
    ]
    chart = charts.column_chart(
        "chart-movie-years",
        f"Ratings of {movie.label} per year",
        reveals,
        bars,
        x_label="year of rating (UTC)",
        y_label="ratings",
        height=260,
        width=CHART_WIDTH,
    )
    table = DataTable(
        f"Ratings of {movie.label} per year",
        ("year", "ratings"),
        tuple((str(y), f"{by_year.get(y, 0):,}") for y in years),
    )
    return MovieChart("Its ratings over time", reveals, chart, table)


def movie_charts(movie: Movie, insights: Insights | None) -> tuple[MovieChart, ...]:
    if insights is None:
        return ()
    out = []
    histogram = insights.histogram.for_movie(movie.movie_id)
    if sum(c for _, c in histogram) > 0:
        c = insights.metrics.get("C")
        out.append(
            histogram_chart(
                movie,
                histogram,
                float(c) if c is not None else None,
                float(insights.metrics.get("low_rating", 2.0)),
                float(insights.metrics.get("high_rating", 4.5)),
            )
        )
    years = insights.years.for_movie(movie.movie_id)
    if sum(c for _, c in years) > 0:
        out.append(years_chart(movie, years))
    return tuple(out)


def neighbour_groups(store: Store, movie_id: int) -> tuple[NeighbourGroup, ...]:
    found = store.neighbours.of(movie_id) if store.neighbours is not None else {}
    groups = []
    for kind, title, note in NEIGHBOUR_KINDS:
        movies = tuple(
            (store.movies[n], s) for n, s in found.get(kind, []) if n in store.movies and n != movie_id
        )[:NEIGHBOURS_SHOWN]
        if movies:
            groups.append(NeighbourGroup(kind, title, note, movies))
    return tuple(groups)


def movie_details(store: Store, movie: Movie) -> MovieDetails:
    """Everything the movie's page shows about it."""
    pool = movie.pool
    pools = store.manifest.get("pools") or store.manifest.get("config", {}).get("pools") or {}
    return MovieDetails(
        movie=movie,
        pool_name=POOL_NAMES.get(pool) if pool else None,
        pool_note=pool_note(pool, pools) if pool else None,
        catalog_rank=store.catalog_ranks.get(movie.movie_id),
        catalog_size=len(store.catalog),
        charts=movie_charts(movie, store.insights),
        neighbours=neighbour_groups(store, movie.movie_id),
    )
