"""Generated posters, security headers, CSRF and the request size limit."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from conftest import AMELIE_ID, MOVIE_IDS, NO_POSTER_ID, TITLES, XSS_ID

from webapp.posters import genre_colours, title_lines
from webapp.schema import GENRE_COLOURS

SVG = "{http://www.w3.org/2000/svg}"
RESULT = "/recommendations?movie_ids=1&movie_ids=5&movie_ids=20"


def _texts(svg: bytes) -> list[str]:
    root = ET.fromstring(svg)
    return [" ".join("".join(t.itertext()).split()) for t in root.iter(f"{SVG}text")]


def test_generated_poster_is_valid_svg_with_title_and_year(client) -> None:
    response = client.get(f"/posters/{AMELIE_ID}.svg")
    assert response.status_code == 200
    assert response.mimetype == "image/svg+xml"
    texts = _texts(response.data)
    assert "Amélie" in texts[0] and "2001" in texts
    assert "COMEDY · ROMANCE" in texts


def test_generated_poster_escapes_markup(client) -> None:
    response = client.get(f"/posters/{XSS_ID}.svg")
    root = ET.fromstring(response.data)  # well-formed XML despite the title
    assert not list(root.iter(f"{SVG}script")) and not list(root.iter("script"))
    # the title is there as text, markup characters and all (wrapped over lines: spaces aside)
    title = TITLES[MOVIE_IDS.index(XSS_ID)][0]
    assert _texts(response.data)[0].replace(" ", "") == title.replace(" ", "")
    assert b"<script>" not in response.data and b"&lt;script&gt;" in response.data


def test_generated_poster_for_a_movie_without_year_or_genres(client) -> None:
    texts = _texts(client.get(f"/posters/{NO_POSTER_ID}.svg").data)
    assert texts[0] == "Untitled Project"


def test_generated_poster_is_cacheable_with_etag(client) -> None:
    first = client.get("/posters/1.svg")
    assert "max-age" in first.headers["Cache-Control"]
    again = client.get("/posters/1.svg", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304


def test_genre_colours() -> None:
    assert genre_colours(("Horror",)) == ("#7a0b0b", "#1a0303")
    assert genre_colours(("Horror", "Comedy")) == ("#7a0b0b", "#3f3006")
    assert genre_colours(()) != genre_colours(("Drama",))
    top, bottom = genre_colours(("Unheard-Of",))
    assert top.startswith("hsl(") and bottom.startswith("hsl(")


@pytest.mark.parametrize(
    "title",
    [
        "Heat",
        "The Lord of the Rings: The Fellowship of the Ring",
        "Dr. Strangelove or: How I Learned to Stop Worrying and Love the Bomb",
        "Supercalifragilisticexpialidocious" * 3,
    ],
)
def test_title_lines_fit(title: str) -> None:
    lines, size = title_lines(title)
    assert 1 <= len(lines) <= 6
    assert all(len(line) * size * 0.62 <= 175 for line in lines)


def test_movies_without_a_tmdb_poster_use_the_generated_one(client) -> None:
    html = client.get("/?q=untitled").get_data(as_text=True)
    card = html.split(f'data-movie-id="{NO_POSTER_ID}"', 1)[1].split("</li>", 1)[0]
    assert 'class="poster-generated" src="/posters/41.svg"' in card and "image.tmdb.org" not in card


def test_tmdb_posters_carry_their_fallback(client) -> None:
    html = client.get("/").get_data(as_text=True)
    img = re.search(
        r'<img class="poster-photo" src="https://image.tmdb.org/t/p/w342/poster1.jpg"[^>]*>', html
    ).group(0)
    assert 'data-fallback="/posters/1.svg"' in img
    assert 'data-label="The Shawshank Redemption"' in img and 'data-genre="Crime"' in img


def test_css_cover_colours_are_the_svg_colours(client) -> None:
    """The no-JavaScript cover colours are served from the same table as the SVG posters'."""
    html = client.get("/").get_data(as_text=True)
    link = re.search(r'<link rel="stylesheet" href="(/posters/genres\.css\?v=[0-9a-f]+)">', html).group(1)
    response = client.get(link)
    assert response.status_code == 200 and response.mimetype == "text/css"
    assert "max-age=31536000" in response.headers["Cache-Control"]
    css = response.get_data(as_text=True)
    for genre in ("Horror", "Comedy", "Crime"):
        top, bottom = genre_colours((genre,))
        assert (
            f'.poster-photo[data-genre="{genre}"]::before '
            f"{{ background: linear-gradient(160deg, {top}, {bottom}); }}" in css
        )
    assert len(re.findall(r"\[data-genre=", css)) == len(GENRE_COLOURS)
    top, bottom = genre_colours(())
    assert f".poster-photo::before {{ background: linear-gradient(160deg, {top}, {bottom}); }}" in css
    app_css = (Path(__file__).resolve().parents[2] / "static" / "app.css").read_text()
    assert "data-genre=" not in app_css  # defined once: not copied into the static stylesheet
    assert client.get("/posters/genres.css?v=old").headers["Cache-Control"] == "no-cache"


@pytest.mark.parametrize(
    "url",
    [
        "/",
        RESULT,
        "/api/catalog",
        "/healthz",
        "/posters/1.svg",
        "/no-such-page",
        "/api/movies/999999",
        "/insights",
        "/movies/1",
        "/movies/999999",
        "/report",
    ],
)
def test_security_headers_everywhere(client, url: str) -> None:
    headers = client.get(url).headers
    csp = headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp and "img-src 'self' https://image.tmdb.org" in csp
    assert "unsafe-inline" not in csp
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "same-origin"


def test_no_inline_script_or_style(client) -> None:
    for url in ("/", RESULT, "/insights", "/insights?genre=Drama", "/movies/1", "/report"):
        html = client.get(url).get_data(as_text=True)
        assert "<script>" not in html and "<style" not in html and " style=" not in html
        assert " onerror=" not in html and " onclick=" not in html


def test_never_debug(app) -> None:
    assert app.debug is False
    assert app.config["DEBUG"] is False


def test_errors_do_not_leak_details(trained_dir, monkeypatch) -> None:
    from webapp import create_app
    from webapp.store import Store

    app = create_app({"TRAINED_DATA": str(trained_dir), "SECRET_KEY": "x"})

    def boom(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(Store, "search", boom)
    response = app.test_client().get("/api/movies?q=x")
    assert response.status_code == 500
    assert response.get_json() == {"error": "internal_error", "message": "Something went wrong on our side."}
    response = app.test_client().get("/?q=x")
    assert response.status_code == 500
    assert "secret internals" not in response.get_data(as_text=True)
    assert "Traceback" not in response.get_data(as_text=True)


def test_session_cookie_flags(client) -> None:
    cookie = client.get("/").headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_csrf_token_from_another_session_is_rejected(app, csrf_token) -> None:
    token = csrf_token()
    other = app.test_client()
    response = other.post("/recommendations", data={"csrf_token": token, "movie_ids": ["1", "5", "20"]})
    assert response.status_code == 400


def test_update_form_needs_csrf_too(app) -> None:
    response = app.test_client().post("/", data={"movie_ids": ["1"], "q": "x"})
    assert response.status_code == 400
