"""Generated posters (SVG: title, year, colours from the genres) for movies without a TMDB image."""

from __future__ import annotations

import functools
import hashlib
import textwrap

from flask import Blueprint, abort, make_response, render_template, request

from webapp import current_store
from webapp.movies import Movie
from webapp.schema import DEFAULT_COLOURS, GENRE_COLOURS
from webapp.urls import page_path

bp = Blueprint("posters", __name__)


@functools.cache
def genre_css() -> tuple[str, str]:
    """(stylesheet, version): the covers app.css draws over a TMDB image that fails to load,
    one rule per genre in the same colours as the SVG posters (so they are defined only once)."""
    rules = [
        f".poster-photo::before {{ background: linear-gradient(160deg, {DEFAULT_COLOURS[0]}, "
        f"{DEFAULT_COLOURS[1]}); }}"
    ]
    rules += [
        f'.poster-photo[data-genre="{_css_string(genre)}"]::before '
        f"{{ background: linear-gradient(160deg, {top}, {bottom}); }}"
        for genre, (top, bottom) in GENRE_COLOURS.items()
    ]
    css = (
        "/* Generated from webapp/schema.py GENRE_COLOURS by webapp/posters.py. */\n"
        + "\n".join(rules)
        + "\n"
    )
    return css, hashlib.sha256(css.encode()).hexdigest()[:10]


def _css_string(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def genre_colours(genres: tuple[str, ...]) -> tuple[str, str]:
    """Gradient colours: the first genre's pair, its bottom mixed with the second genre's."""
    if not genres:
        return DEFAULT_COLOURS
    first = GENRE_COLOURS.get(genres[0]) or _hashed(genres[0])
    if len(genres) > 1:
        second = GENRE_COLOURS.get(genres[1]) or _hashed(genres[1])
        return first[0], second[1]
    return first


def _hashed(name: str) -> tuple[str, str]:
    """Colours for a genre without its own (stable: from a hash of the name)."""
    hue = int(hashlib.sha256(name.encode()).hexdigest()[:4], 16) % 360
    return f"hsl({hue},55%,40%)", f"hsl({hue},60%,10%)"


def title_lines(title: str) -> tuple[list[str], int]:
    """The title wrapped for a 200-unit-wide poster: (lines, font size)."""
    for width, size in ((12, 20), (15, 17), (19, 14)):
        lines = textwrap.wrap(title, width=width, break_long_words=True) or [title]
        if len(lines) <= 5:
            return lines, size
    lines = textwrap.wrap(title, width=19)[:6]
    lines[-1] = lines[-1][:18] + "…"
    return lines, 14


@bp.get("/posters/<id:movie_id>.svg")
def poster(movie_id: int):
    """The generated poster of one movie (cached by the browser; ETag by build)."""
    store = current_store()
    movie: Movie | None = store.movie(movie_id)
    if movie is None:
        abort(404)
    lines, size = title_lines(movie.title)
    top, bottom = genre_colours(movie.genres)
    svg = render_template(
        "poster.svg",
        movie=movie,
        lines=lines,
        size=size,
        top=top,
        bottom=bottom,
        genres=" · ".join(movie.genres[:2]),
    )
    response = make_response(svg)
    response.mimetype = "image/svg+xml"
    response.headers["Cache-Control"] = "public, max-age=86400"
    response.set_etag(f"{store.build_id}-{movie_id}")
    return response.make_conditional(request)


@bp.get("/posters/genres.css")
def genre_stylesheet():
    """The genre covers' stylesheet; linked with ?v=<its hash>, so it can be cached for a year."""
    css, version = genre_css()
    response = make_response(css)
    response.mimetype = "text/css"
    response.headers["Cache-Control"] = (
        "public, max-age=31536000" if request.args.get("v") == version else "no-cache"
    )
    response.set_etag(version)
    return response.make_conditional(request)


@bp.app_template_global()
def genre_css_url() -> str:
    """The URL of the genre covers' stylesheet, with its version."""
    return f"{page_path('posters.genre_stylesheet')}?v={genre_css()[1]}"
