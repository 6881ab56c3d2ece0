"""The HTML pages through Flask's test client: picker, no-JavaScript form flow, result page."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from conftest import AMELIE_ID, N_POPULAR, XSS_ID, expected_levels, make_tables

from webapp.recommend import Recommender

RESULT = "/recommendations?movie_ids=1&movie_ids=5&movie_ids=20"


def _cards(html: str, grid: str) -> list[str]:
    section = html.split(f'id="{grid}"', 1)[1].split("</ul>", 1)[0]
    return re.findall(r'<li class="card pick-card[^"]*" data-movie-id="(\d+)"', section)


def test_picker_shows_the_catalog_grid(client) -> None:
    response = client.get("/")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert _cards(html, "catalog-grid") == [str(m) for m in range(1, N_POPULAR + 1)]
    assert 'name="csrf_token"' in html
    assert 'type="search"' in html and 'name="q"' in html
    assert 'name="genre" value="Drama"' in html
    assert "Pick 1" in html and "0 of 3" in html
    assert 'src="https://image.tmdb.org/t/p/w342/poster1.jpg"' in html
    assert 'data-fallback="/posters/1.svg"' in html


def test_picker_has_labels_and_landmarks(client) -> None:
    html = client.get("/").get_data(as_text=True)
    assert '<html lang="en">' in html
    assert '<label class="search-label" for="q">' in html
    assert "<legend>Filter by genre</legend>" in html
    assert '<main id="main"' in html and 'class="skip-link"' in html
    assert 'aria-live="polite"' in html
    assert 'name="viewport"' in html


def test_picker_search_without_javascript(client) -> None:
    html = client.get("/?q=amelie").get_data(as_text=True)
    assert _cards(html, "results-grid") == [str(AMELIE_ID)]
    assert "Results for “amelie”" in html


def test_picker_search_no_match(client) -> None:
    html = client.get("/?q=qqqqqq").get_data(as_text=True)
    assert "No title matches “qqqqqq”" in html


def test_picker_genre_filter_hides_other_cards(client) -> None:
    html = client.get("/?genre=Horror").get_data(as_text=True)
    visible = re.findall(r'data-movie-id="(\d+)"[^>]*data-genres="([^"]*)"[^>]*data-fallback="[^"]*">', html)
    assert visible and all("Horror" in genres for _, genres in visible)
    assert 'value="Horror" checked' in html


def test_picker_keeps_picks_from_the_url(client) -> None:
    html = client.get("/?movie_ids=1&movie_ids=5").get_data(as_text=True)
    tray = html.split('id="tray-list"', 1)[1].split("</ol>", 1)[0]
    assert re.findall(r'name="movie_ids" value="(\d+)"', tray) == ["1", "5"]
    assert "2 of 3" in html and "Pick 3" in html
    # each pick has a remove button that says, to a screen reader, which movie it removes
    removes = re.findall(
        r'<button class="tray-remove" type="submit" name="remove" value="(\d+)">'
        r'<span aria-hidden="true">×</span><span class="visually-hidden">([^<]*)</span>',
        tray,
    )
    assert removes == [("1", "Remove The Shawshank Redemption (1994)"), ("5", "Remove Amélie (2001)")]
    # a picked movie in the grid is shown as picked, without a second form field
    card = html.split('data-movie-id="1"', 2)[2].split("</li>", 1)[0]
    assert "checked disabled" in card and 'name="movie_ids"' not in card


def test_no_js_search_post_redirects_to_get_with_state(client, csrf_token) -> None:
    response = client.post(
        "/",
        data={
            "csrf_token": csrf_token(),
            "movie_ids": ["1", "5"],
            "q": "léon",
            "genre": "",
            "action": "search",
        },
    )
    assert response.status_code == 303
    url = urlsplit(response.headers["Location"])
    assert url.path == "/" and url.fragment == "results"
    assert parse_qs(url.query) == {"movie_ids": ["1", "5"], "q": ["léon"]}


def test_no_js_remove_button(client, csrf_token) -> None:
    response = client.post(
        "/", data={"csrf_token": csrf_token(), "movie_ids": ["1", "5", "9"], "remove": "5"}
    )
    assert parse_qs(urlsplit(response.headers["Location"]).query) == {"movie_ids": ["1", "9"]}


def test_no_js_submit_redirects_to_the_shareable_url(client, csrf_token) -> None:
    response = client.post(
        "/recommendations", data={"csrf_token": csrf_token(), "movie_ids": ["1", "5", "20"]}
    )
    assert response.status_code == 303
    assert response.headers["Location"] == RESULT


def test_form_without_csrf_token_comes_back_with_picks(client) -> None:
    response = client.post("/recommendations", data={"movie_ids": ["1", "5", "20"]})
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "The form had expired" in html
    tray = html.split('id="tray-list"', 1)[1].split("</ol>", 1)[0]
    assert re.findall(r'name="movie_ids" value="(\d+)"', tray) == ["1", "5", "20"]


def test_form_error_keeps_valid_picks_and_shows_the_message(client, csrf_token) -> None:
    response = client.post(
        "/recommendations", data={"csrf_token": csrf_token(), "movie_ids": ["1", "abc", "20"]}
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert 'role="alert"' in html and "“abc” is not a movie id." in html
    tray = html.split('id="tray-list"', 1)[1].split("</ol>", 1)[0]
    assert re.findall(r'name="movie_ids" value="(\d+)"', tray) == ["1", "20"]


def test_result_page(client) -> None:
    response = client.get(RESULT)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    picks = html.split('class="pick-row"', 1)[1].split("</ol>", 1)[0]
    assert picks.count('class="pick-summary"') == 3 and "Amélie" in picks
    assert html.count('class="card result-card"') == 10
    popular = html.split('id="popular"', 1)[1].split("</section>", 1)[0]
    less_known = html.split('id="less-known"', 1)[1].split("</section>", 1)[0]
    assert popular.count("result-card") == 5 and less_known.count("result-card") == 5
    assert html.count("Because you picked") >= 10
    assert html.count("https://www.imdb.com/title/tt") == 10
    assert html.count("https://www.themoviedb.org/movie/") >= 9
    assert re.search(r"\d[\d,]* ratings", html)
    assert 'rel="noopener noreferrer external"' in html


def test_result_page_change_one_pick_links(client) -> None:
    html = client.get(RESULT).get_data(as_text=True)
    links = re.findall(r'class="change-link" href="([^"]+)"', html)
    assert [parse_qs(urlsplit(link.replace("&amp;", "&")).query)["movie_ids"] for link in links] == [
        ["5", "20"],
        ["1", "20"],
        ["1", "5"],
    ]


def _counts_shown(html: str) -> list[int]:
    """The rating counts of the less-known cards."""
    less_known = html.split('id="less-known"', 1)[1]
    return [int(c.replace(",", "")) for c in re.findall(r'class="card-count">([\d,]+) rating', less_known)]


def test_result_page_less_known_toggle(client) -> None:
    levels = expected_levels(make_tables())
    gems = client.get(RESULT).get_data(as_text=True)
    known = client.get(RESULT + "&less_known=known").get_data(as_text=True)
    assert 'aria-current="true">Hidden gems' in gems
    assert 'aria-current="true">Better known' in known
    assert f"at least {levels['gems']} ratings" in gems
    assert f"at least {levels['known']} ratings" in known
    gem_counts, known_counts = _counts_shown(gems), _counts_shown(known)
    assert len(gem_counts) == len(known_counts) == 5
    assert all(c >= levels["known"] for c in known_counts), known_counts
    assert all(c >= levels["gems"] for c in gem_counts), gem_counts
    assert min(gem_counts) < levels["known"]  # so the threshold above is what made the difference


def test_result_url_is_shareable_without_session(app) -> None:
    """A fresh visitor (no cookie) gets the same lists. The page carries the feedback form, so
    like the picker it sets the session cookie that holds the form's token, and nothing else:
    a GET result page stores nothing."""
    from webapp.feedback_views import feedback_store

    before = len(feedback_store(app).rows())
    fresh = app.test_client()  # no cookie, no token
    response = fresh.get(RESULT)
    assert response.status_code == 200
    cards = re.findall(r'value="loved:(\d+)"', response.get_data(as_text=True))
    again = app.test_client().get(RESULT).get_data(as_text=True)
    assert len(cards) == 10 and re.findall(r'value="loved:(\d+)"', again) == cards
    assert response.headers.getlist("Set-Cookie") and all(
        c.startswith("session=") for c in response.headers.getlist("Set-Cookie")
    )
    assert len(feedback_store(app).rows()) == before


def test_titles_with_markup_are_escaped_everywhere(client) -> None:
    pages = [
        client.get("/?q=bold").get_data(as_text=True),
        client.get(f"/recommendations?movie_ids={XSS_ID}&movie_ids=1&movie_ids=5").get_data(as_text=True),
        client.get(f"/?movie_ids={XSS_ID}").get_data(as_text=True),
    ]
    for html in pages:
        assert "<script>alert(1)</script>" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        assert "<b>Bold</b>" not in html


def test_quotes_and_ampersands_are_escaped(client) -> None:
    html = client.get("/?q=cheese").get_data(as_text=True)
    assert 'data-title="Say &#34;Cheese&#34; &amp; Run"' in html
    assert "Say &#34;Cheese&#34; &amp; Run" in html


def test_search_input_is_reflected_escaped(client) -> None:
    html = client.get('/?q="><script>alert(2)</script>').get_data(as_text=True)
    assert "<script>alert(2)</script>" not in html
    assert 'value="&#34;&gt;&lt;script&gt;alert(2)&lt;/script&gt;"' in html


def test_footer_attribution(client) -> None:
    html = client.get("/").get_data(as_text=True)
    assert "This product uses the TMDB API but is not endorsed or certified by TMDB." in html
    assert "GroupLens" in html and "MovieLens" in html


def test_no_external_css_js_or_fonts(client) -> None:
    for url in ("/", RESULT):
        html = client.get(url).get_data(as_text=True)
        for src in re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', html):
            assert src.startswith(("/static/", "/posters/genres.css?v=")), src


def test_static_assets_are_served_and_cacheable(client) -> None:
    html = client.get("/").get_data(as_text=True)
    for asset in re.findall(r'"(/static/[^"]+)"', html):
        response = client.get(asset)
        assert response.status_code == 200
        assert "max-age" in response.headers.get("Cache-Control", "")


def test_unknown_page_is_a_404_page(client) -> None:
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert "Back to the picker" in response.get_data(as_text=True)


def test_method_not_allowed(client) -> None:
    assert client.put("/recommendations").status_code == 405


def test_cached_result_card_equals_the_macro(app, store) -> None:
    """The per-movie card cache must render exactly what the result_card macro renders."""
    from webapp.fragments import Parts

    movie = next(iter(store.movies.values()))
    with app.test_request_context("/"):
        macros = app.jinja_env.get_template("_macros.html").module
        for head, detail in [
            ('Because you picked <Heat> & "Casino"', "People who <b>rated</b> it"),
            ("Popular with everyone", ""),
        ]:
            assert Parts().result_card(movie, head, detail) == str(macros.result_card(movie, head, detail))


def test_page_shows_the_reasons_the_api_gives(client) -> None:
    """One reason text: the page's head and detail are exactly the API's reason_head and
    reason_detail, card by card, and the API's one-line reason is made of the same two parts."""
    from html import unescape

    html = client.get(RESULT).get_data(as_text=True)
    found = re.findall(r'<p class="reason"><strong>(.*?)</strong><span>([^<]*)</span></p>', html)
    shown = [(unescape(re.sub(r"<[^>]+>", "", h)), unescape(d)) for h, d in found]
    body = client.post("/api/recommendations", json={"movie_ids": [1, 5, 20]}).get_json()
    recs = body["popular"] + body["less_known"]
    assert shown == [(r["reason_head"], r["reason_detail"]) for r in recs]
    # and the sentence is the recommender's own, as built (numbers included), not rebuilt
    tables = make_tables()
    expected = Recommender.from_tables(tables, less_known_min_count=expected_levels(tables)["gems"])
    assert [d for _, d in shown] == [r.reason_detail for r in expected.recommend_for_picks([1, 5, 20]).all()]
    assert any(r["evidence"] and "rated_both" in r["evidence"] for r in recs)
    # each pick a reason names links to that pick's page, in the reason's order
    linked = [[int(m) for m in re.findall(r'<a href="/movies/(\d+)">', h)] for h, _ in found]
    assert linked == [r["because_of"] for r in recs]
    titles = {m["movie_id"]: m["title"] for m in body["picks"]}
    for r in recs:
        names = [titles[m] for m in r["because_of"]]
        assert r["reason_head"] == "Because you picked " + (
            names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
        )
        assert r["reason"] == f"{r['reason_head']}: {r['reason_detail'][0].lower()}{r['reason_detail'][1:]}"


@pytest.mark.parametrize(
    "url",
    [
        RESULT,
        RESULT + "&less_known=known",
        "/",
        "/?q=the",
        "/insights",
        "/insights?genre=Drama",
        "/movies/1",
        "/movies/5?movie_ids=1",
    ],
)
def test_cached_pages_follow_the_script_name(app, url: str) -> None:
    """Behind a proxy that mounts the app under a prefix (SCRIPT_NAME), every link of a page
    points under that prefix, also when the page or its cards were cached under another one."""
    client = app.test_client()
    for prefix in ("/first", "/second", ""):
        html = client.get(url, environ_overrides={"SCRIPT_NAME": prefix}).get_data(as_text=True)
        links = re.findall(r'(?:href|src|action|data-[a-z-]+)="(/[^"]*)"', html)
        assert len(links) > 10
        assert all(link.startswith(prefix + "/") for link in links), (
            prefix,
            [link for link in links if not link.startswith(prefix + "/")][:5],
        )


def test_cached_pick_summary_equals_the_macro(app, store) -> None:
    from webapp.fragments import Parts

    movie = store.movies[XSS_ID]  # markup in the title: escaped the same way both ways
    with app.test_request_context("/"):
        macros = app.jinja_env.get_template("_macros.html").module
        for url in ("/?movie_ids=1&movie_ids=5#search", '/x?"<q>"'):
            assert Parts().pick_summary(movie, url) == str(macros.pick_summary(movie, url))


def test_result_page_frame_equals_the_template(app, store) -> None:
    """The cached frame of results.html, filled, is exactly the template rendered with the same
    values (titles and links with markup characters included)."""
    from flask import render_template
    from markupsafe import Markup

    from webapp import fragments

    values = {
        "picks_title": 'A & "B" <i>',
        "pick_summaries": Markup("\n      <li>x</li>"),
        "popular_cards": Markup("\n      <li>p</li>"),
        "less_known_cards": Markup(""),
        "gems_url": "/recommendations?movie_ids=1&movie_ids=2#less-known",
        "known_url": "/recommendations?movie_ids=1&less_known=known#less-known",
        "marks_section": Markup("<section>m</section>"),
        "feedback_fields": Markup('<input type="hidden" name="x" value="1">'),
        "csrf_token": 'tok"en<',
    }
    for level in ("gems", "known"):
        with app.test_request_context("/recommendations"):
            frame = fragments.Parts().results_frame(level)
            filled = frame.fill(values)
            # bound in two steps (the page is cached but for its token): the same page
            token = {"csrf_token": values["csrf_token"]}
            rest = {k: v for k, v in values.items() if k != "csrf_token"}
            assert frame.bind(rest).fill(token) == filled
            direct = render_template("results.html", store=store, level=level, levels=store.levels, **values)
        assert filled == direct
        assert "A &amp; &#34;B&#34; &lt;i&gt;" in filled and "movie_ids=1&amp;movie_ids=2" in filled
