"""/insights and /movies/<id> through Flask's test client: charts, their sentences (checked
against figures worked out here from the fixture's tables), caching, links, old builds, 404s."""

from __future__ import annotations

import calendar
import re
from html import unescape
from pathlib import Path

import pytest
from conftest import (
    AMELIE_ID,
    INSIGHT_METRICS,
    N_POPULAR,
    UNRATED_ID,
    XSS_ID,
    make_tables,
    write_trained_data,
)

SECTIONS = ("over-time", "distribution", "genres", "users", "long-tail", "polarising", "weighting")
CHARTS = (
    "chart-time",
    "chart-distribution",
    "chart-genres",
    "chart-users",
    "chart-tail",
    "chart-polarising",
    "chart-weighting",
)
TABLES = make_tables()


def text_of(html: str) -> str:
    """The page's text without tags, entities decoded, spaces collapsed."""
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


def reveals(html: str, section: str) -> str:
    """The 'What it reveals' sentence of one section."""
    part = html.split(f'id="{section}"', 1)[1]
    found = re.search(r'<p class="insight-reveals">(.*?)</p>', part, flags=re.S).group(1)
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", "", found))).replace("What it reveals: ", "")


def month_name(text: str) -> str:
    year, month = text.split("-")
    return f"{calendar.month_name[int(month)]} {year}"


def svg_of(html: str, chart_id: str) -> str:
    return re.search(rf'<svg class="chart" id="{chart_id}".*?</svg>', html, flags=re.S).group(0)


# ---------------------------------------------------------------------------- /insights
def test_every_chart_is_an_accessible_svg(client) -> None:
    response = client.get("/insights")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    for section in SECTIONS:
        assert f'<section class="insight" id="{section}"' in html
    for chart_id in CHARTS:
        svg = svg_of(html, chart_id)
        assert f'role="img" aria-labelledby="{chart_id}-title {chart_id}-desc"' in svg
        title = re.search(rf'<title id="{chart_id}-title">([^<]+)</title>', svg).group(1)
        desc = re.search(rf'<desc id="{chart_id}-desc">([^<]+)</desc>', svg).group(1)
        assert len(title) > 10 and len(desc) > 30
        assert re.search(r'viewBox="0 0 720 \d+"', svg)
        assert len(re.findall(r"<text [^>]*>[^<]+</text>", svg)) >= 3  # axis labels and ticks
        assert " style=" not in svg and "<script" not in svg and "<foreignObject" not in svg
    # each chart's numbers in a table with column headers
    assert html.count('<details class="chart-data">') == len(CHARTS)
    assert html.count('<th scope="col">') >= 2 * len(CHARTS)


def test_busiest_month_is_computed_from_the_table(client) -> None:
    html = client.get("/insights").get_data(as_text=True)
    months = TABLES["ratings_by_month"]
    busiest = months.sort_values(["ratings", "month"], ascending=[False, True]).iloc[0]
    total = int(months["ratings"].sum())
    sentence = reveals(html, "over-time")
    assert sentence.startswith(
        f"The busiest month was {month_name(busiest['month'])}, with {int(busiest['ratings']):,} ratings"
    )
    assert (
        f"of the {total:,} given from {month_name(months['month'].min())} to "
        f"{month_name(months['month'].max())}" in sentence
    )


def test_genre_narrows_the_first_two_charts(client) -> None:
    html = client.get("/insights?genre=Horror").get_data(as_text=True)
    months = TABLES["genre_ratings_by_month"].query("genre == 'Horror'")
    busiest = months.sort_values(["ratings", "month"], ascending=[False, True]).iloc[0]
    assert reveals(html, "over-time").startswith(
        f"The busiest month was {month_name(busiest['month'])}, "
        f"with {int(busiest['ratings']):,} Horror ratings"
    )
    stars = TABLES["genre_rating_distribution"].query("genre == 'Horror'")
    mode = stars.sort_values(["ratings", "rating"], ascending=[False, False]).iloc[0]
    share = mode["ratings"] / stars["ratings"].sum()
    assert reveals(html, "distribution").startswith(
        f"{mode['rating']:g} stars is the most common rating ({100 * share:.0f}% of Horror ratings)"
    )
    assert '<a class="chip-link" href="/insights?genre=Horror#over-time" aria-current="page">' in html
    # the other charts stay about all ratings
    assert reveals(html, "genres") == reveals(client.get("/insights").get_data(as_text=True), "genres")


def test_unknown_genre_is_a_404(client) -> None:
    for genre in ("Nope", "drama", "<b>x</b>", "Drama" * 50):
        response = client.get("/insights", query_string={"genre": genre})
        assert response.status_code == 404
        assert "<b>x</b>" not in response.get_data(as_text=True)


def test_rating_distribution_sentence(client) -> None:
    html = client.get("/insights").get_data(as_text=True)
    dist = TABLES["rating_distribution"]
    total = dist["ratings"].sum()
    mode = dist.sort_values(["ratings", "rating"], ascending=[False, False]).iloc[0]
    mean = (dist["rating"] * dist["ratings"]).sum() / total
    half = dist.loc[dist["rating"] % 1 != 0, "ratings"].sum() / total
    sentence = reveals(html, "distribution")
    assert sentence.startswith(f"{mode['rating']:g} stars is the most common rating")
    assert f"the mean is {mean:.2f}" in sentence and f"{100 * half:.0f}% use a half star" in sentence


def test_polarising_sentence_names_the_first_movie(client) -> None:
    html = client.get("/insights").get_data(as_text=True)
    first = TABLES["polarising_movies"].iloc[0]
    title = TABLES["movies"].set_index("movie_id").loc[int(first["movie_id"]), "title"]
    sentence = reveals(html, "polarising")
    assert sentence.startswith(f"{title}")
    assert (
        f"a standard deviation of {first['stddev']:.2f} stars over {int(first['ratings']):,} ratings"
        in sentence
    )
    part = html.split('id="polarising"', 1)[1]
    assert f'<a href="/movies/{int(first["movie_id"])}">' in part.split("</p>", 2)[1]
    n = INSIGHT_METRICS["polarising_min_ratings"]
    assert f"with at least {n:,} ratings" in text_of(part.split("</section>", 1)[0])
    # the chart has one row per movie shown, and the table every movie of the table
    assert len(re.findall(r'class="bar low"', svg_of(html, "chart-polarising"))) == 15
    rows = part.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    assert rows.count("<tr>") == len(TABLES["polarising_movies"])


def test_users_and_long_tail_sentences(client, store) -> None:
    html = client.get("/insights").get_data(as_text=True)
    users = TABLES["ratings_per_user"]
    assert reveals(html, "users").startswith(f"Half of the {int(users['users'].sum()):,} users rated at most")
    tail = TABLES["ratings_per_movie"]
    popular = tail[tail["pool"] == "popular"]
    counts = TABLES["movie_stats"]["vote_count"]
    assert (counts == 1).sum() == 0  # the fixture's rarest movies have 2 ratings
    assert reveals(html, "long-tail") == (
        f"The {len(popular):,} popular movies hold {100 * popular['cumulative_share'].iloc[-1]:.0f}% "
        f"of all ratings; each of the {len(tail):,} rated movies has at least {counts.min()} ratings."
    )
    assert f"last popular: #{N_POPULAR}" in svg_of(html, "chart-tail")


def test_weighting_section(client) -> None:
    html = client.get("/insights").get_data(as_text=True)
    effect = TABLES["weighting_effect"]
    size = INSIGHT_METRICS["catalog_size"]
    by_mean = effect[effect["mean_rank"] <= size]
    kept = int((by_mean["score_rank"] <= size).sum())
    assert 0 < kept < len(by_mean)
    median = by_mean["vote_count"].median()
    assert reveals(html, "weighting").startswith(
        f"Only {kept} of the {len(by_mean)} movies with the highest plain mean make the catalog: "
        f"half of them have {median:g} ratings or fewer."
    )
    svg = svg_of(html, "chart-weighting")
    assert svg.count('class="dot in-catalog"') == int((effect["score_rank"] <= size).sum()) + 1  # + legend
    assert svg.count('class="dot mean-only"') == int((effect["score_rank"] > size).sum()) + 1
    assert f"C = {INSIGHT_METRICS['C']:.2f}" in text_of(html)


def test_sentences_follow_the_data(tmp_path: Path, fresh_app_factory) -> None:
    """Change the tables and the sentences change: nothing is written into the template."""
    tables = make_tables()
    months = tables["ratings_by_month"]
    months.loc[months["month"] == "1999-07", "ratings"] = 99_999
    stats = tables["movie_stats"]
    stats.loc[stats["movie_id"].isin([41, 42]), "vote_count"] = 1  # two rare movies, one rating each
    tail = tables["ratings_per_movie"]
    tail.loc[tail["rank"] > len(tail) - 2, "ratings"] = 1
    write_trained_data(tmp_path / "td", tables, build_id="changed")
    html = fresh_app_factory(tmp_path / "td").test_client().get("/insights").get_data(as_text=True)
    assert reveals(html, "over-time").startswith("The busiest month was July 1999, with 99,999 ratings")
    assert reveals(html, "long-tail").endswith(
        f"2 of the {len(tail)} rated movies ({100 * 2 / len(tail):.1f}%) have a single rating."
    )  # < 10%: 1 decimal


def test_insights_page_is_rendered_once_per_build_and_genre(app, monkeypatch) -> None:
    from webapp import insight_pages

    calls: list[str] = []
    real = insight_pages._render_index
    monkeypatch.setattr(insight_pages, "_render_index", lambda genre: calls.append(genre) or real(genre))
    client = app.test_client()
    for url in (
        "/insights?genre=Comedy",
        "/insights?genre=Comedy",
        "/insights?genre=War",
        "/insights?genre=Comedy",
    ):
        assert client.get(url).status_code == 200
    assert calls.count("Comedy") <= 1 and calls.count("War") <= 1  # cached (maybe by an earlier test)


def test_build_without_insights_tables_is_served(tmp_path: Path, fresh_app_factory) -> None:
    """A build made before stage insights existed: the app starts, every page answers, and
    /insights says how to build the tables."""
    write_trained_data(tmp_path / "old", make_tables(insights=False), build_id="before-insights")
    client = fresh_app_factory(tmp_path / "old").test_client()
    html = client.get("/insights").get_data(as_text=True)
    assert "This build has no insights yet" in html
    assert "<code>make build</code>" in html and "<code>python -m offline insights</code>" in html
    assert "<svg" not in html.split("<main", 1)[1]
    movie = client.get("/movies/1")
    assert movie.status_code == 200
    assert "need the insights tables" in movie.get_data(as_text=True)
    assert client.get("/insights?genre=Drama").status_code == 404
    for url in ("/", "/recommendations?movie_ids=1&movie_ids=5&movie_ids=20", "/report"):
        assert client.get(url).status_code == 200


# ---------------------------------------------------------------------------- /movies/<id>
def test_movie_page_shows_the_movie(client, store) -> None:
    response = client.get("/movies/1")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    movie = store.movies[1]
    assert f'<h1 id="movie-title">{movie.title} <span class="year">{movie.year}</span></h1>' in html
    for genre in movie.genres:
        assert f"<li>{genre}</li>" in html
    text = text_of(html)
    assert f"Ratings {movie.rating_count:,}" in text and f"{movie.vote_mean:.2f} of 5" in text
    assert "Popular · among the most-rated 10% of movies" in text
    assert "#1 of the top 14 by weighted score" in text
    assert f'href="{movie.imdb_url}"' in html and f'href="{movie.tmdb_url}"' in html
    assert 'href="/?movie_ids=1#tray">Add to my picks</a>' in html
    assert 'src="https://image.tmdb.org/t/p/w342/poster1.jpg"' in html


def test_movie_charts_hold_its_own_numbers(client) -> None:
    html = client.get(f"/movies/{AMELIE_ID}").get_data(as_text=True)
    hist = TABLES["movie_rating_histogram"].query(f"movie_id == {AMELIE_ID}")["counts"].iloc[0]
    counts = {(n + 1) / 2: int(c) for n, c in enumerate(hist.split())}  # 0.5, 1, ..., 5 stars
    stars = svg_of(html, "chart-movie-stars")
    tips = dict(re.findall(r"<title>([0-9.]+) stars?: ([0-9,]+)</title>", stars))
    assert {float(k): int(v.replace(",", "")) for k, v in tips.items()} == {
        v / 2: counts.get(v / 2, 0) for v in range(1, 11)
    }
    years = TABLES["movie_ratings_by_year"].query(f"movie_id == {AMELIE_ID}").iloc[0]
    per_year = {int(years["first_year"]) + n: int(c) for n, c in enumerate(years["counts"].split()) if int(c)}
    tips = dict(re.findall(r"<title>(\d{4}): ([0-9,]+) ratings</title>", svg_of(html, "chart-movie-years")))
    span = range(min(per_year), max(per_year) + 1)
    assert {int(k): int(v.replace(",", "")) for k, v in tips.items()} == {y: per_year.get(y, 0) for y in span}
    busiest = max(span, key=lambda y: (per_year.get(y, 0), -y))
    assert f"most in {busiest} ({per_year[busiest]:,} ratings" in text_of(html)


def test_movie_page_neighbours_are_cards_in_rank_order(client, store) -> None:
    html = client.get("/movies/1").get_data(as_text=True)
    knn = TABLES["knn_neighbors"].query("movie_id == 1 and kind == 'cf'").sort_values("rank")
    section = html.split('id="neighbours-cf"', 1)[1].split("</section>", 1)[0]
    shown = [int(m) for m in re.findall(r'<h3 class="card-title"><a href="/movies/(\d+)">', section)]
    assert shown == [int(m) for m in knn["neighbor_id"] if int(m) in store.movies]
    assert f"similarity {knn['similarity'].iloc[0]:.2f}" in section


def test_add_to_picks_keeps_the_picks_in_the_url(client) -> None:
    html = client.get(f"/movies/{AMELIE_ID}?movie_ids=1&movie_ids=2").get_data(as_text=True)
    assert f'href="/?movie_ids=1&amp;movie_ids=2&amp;movie_ids={AMELIE_ID}#tray">Add to my picks</a>' in html
    picked = client.get(f"/movies/{AMELIE_ID}?movie_ids=1&movie_ids={AMELIE_ID}").get_data(as_text=True)
    assert "Add to my picks" not in picked and "In your picks" in picked
    assert f'href="/?movie_ids=1&amp;movie_ids={AMELIE_ID}#tray"' in picked
    full = client.get(f"/movies/{AMELIE_ID}?movie_ids=1&movie_ids=2&movie_ids=3").get_data(as_text=True)
    assert "Add to my picks" not in full and "picks are full" in full
    # picks that are not valid are left out; the page still answers
    odd = client.get(f"/movies/{AMELIE_ID}?movie_ids=abc&movie_ids=999999&movie_ids=2")
    assert odd.status_code == 200
    assert f'href="/?movie_ids=2&amp;movie_ids={AMELIE_ID}#tray">Add to my picks</a>' in odd.get_data(
        as_text=True
    )


@pytest.mark.parametrize(
    "path",
    [
        "/movies/999999",
        "/movies/abc",
        "/movies/-1",
        "/movies/1.5",
        "/movies/%C2%B2",
        "/movies/" + "9" * 30,
        "/movies/",
        "/movies/1/x",
    ],
)
def test_unknown_or_malformed_movie_ids_are_404_pages(client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    html = response.get_data(as_text=True)
    assert '<p class="error-code">404</p>' in html


def test_unknown_movie_says_which_id(client) -> None:
    assert "There is no movie with id 999999." in client.get("/movies/999999").get_data(as_text=True)


def test_unrated_movie_page(client) -> None:
    html = client.get(f"/movies/{UNRATED_ID}").get_data(as_text=True)
    assert "Unrated" in html and "chart-movie-stars" not in html


def test_titles_with_markup_are_escaped_on_the_movie_page(client) -> None:
    html = client.get(f"/movies/{XSS_ID}").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html


# ---------------------------------------------------------------------------- links to movie pages
def test_every_card_links_to_its_movie_page(client) -> None:
    picker = client.get("/?movie_ids=1&movie_ids=5&q=the").get_data(as_text=True)
    cards = re.findall(r'<li class="card pick-card[^"]*" data-movie-id="(\d+)".*?</li>', picker, flags=re.S)
    abouts = re.findall(r'<a class="card-about" href="/movies/(\d+)\?movie_ids=1&amp;movie_ids=5">', picker)
    assert cards and abouts == cards  # catalog and search results, the picks so far carried along
    result = client.get("/recommendations?movie_ids=1&movie_ids=5&movie_ids=20").get_data(as_text=True)
    cards = re.findall(
        r'<li class="card result-card">.*?<h3 class="card-title"><a href="/movies/(\d+)">', result, flags=re.S
    )
    assert len(cards) == 10
    summaries = re.findall(r'<p class="card-title"><a href="/movies/(\d+)">', result)
    assert summaries == ["1", "5", "20"]


def test_site_navigation_links_insights(client) -> None:
    for url in ("/", "/insights", "/movies/1", "/report"):
        html = client.get(url).get_data(as_text=True)
        assert '<nav class="site-nav" aria-label="Site">' in html and 'href="/insights"' in html
    assert 'href="/insights" aria-current="page"' in client.get("/insights").get_data(as_text=True)


def test_movie_page_survives_malformed_counts(tmp_path: Path, fresh_app_factory) -> None:
    """A per-movie counts field that is not numbers (a hand-edited table): the page answers
    without that chart instead of failing."""
    tables = make_tables()
    hist = tables["movie_rating_histogram"]
    hist.loc[hist["movie_id"] == AMELIE_ID, "counts"] = "3 x 1"
    write_trained_data(tmp_path / "td", tables, build_id="odd-counts")
    response = fresh_app_factory(tmp_path / "td").test_client().get(f"/movies/{AMELIE_ID}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "chart-movie-stars" not in html and "chart-movie-years" in html
