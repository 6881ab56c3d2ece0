"""The /insights page and a page per movie (/movies/<id>): plain HTML with server-rendered SVG
charts, no script needed. Both are rendered once per build, script root and query (genre; the
picks carried in a movie page's URL) and cached like the result page."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd
from flask import Blueprint, abort, current_app, render_template, request

from webapp import PAGES_KEY, current_store
from webapp.fragments import html_key
from webapp.insight_movie_sections import long_tail_section, polarising_section, weighting_section
from webapp.insight_sections import (
    Section,
    distribution_section,
    genres_section,
    timeline_section,
    users_section,
)
from webapp.insights import BUILD_COMMAND, STAGE_COMMAND, Insights
from webapp.movie_details import movie_details
from webapp.movies import Movie
from webapp.picks import check_text_picks
from webapp.recommend import PICKS_REQUIRED
from webapp.urls import movie_url, picks_url

bp = Blueprint("insights", __name__)


@bp.get("/insights")
def index():
    """What is in the data: charts with a sentence each. ?genre=X narrows the time and
    distribution charts to one genre (an unknown genre is a 404, so no query makes a new page)."""
    store = current_store()
    genre = request.args.get("genre", "")
    if genre and (store.insights is None or genre not in store.insights.genres):
        abort(404, description=f"There is no genre “{genre[:40]}” in this data.")
    return current_app.extensions[PAGES_KEY].get_or_make(
        html_key(store.build_id, "insights", genre), lambda: _render_index(genre)
    )


def _render_index(genre: str) -> str:
    store = current_store()
    insights = store.insights
    sections = []
    if insights is not None:
        pools = store.manifest.get("pools") or store.manifest.get("config", {}).get("pools") or {}
        sections = all_sections(insights, store.movies, store.tables["movie_stats"], pools, movie_url, genre)
    return render_template(
        "insights.html",
        store=store,
        insights=insights,
        sections=sections,
        genre=genre,
        build_command=BUILD_COMMAND,
        stage_command=STAGE_COMMAND,
    )


@bp.get("/movies/<id:movie_id>")
def movie(movie_id: int):
    """One movie: poster, facts, its charts, its neighbours, and a link that adds it to the picks
    carried in the query (movie_ids=...; ones that are not valid picks are left out)."""
    store = current_store()
    found = store.movie(movie_id)
    if found is None:
        abort(404, description=f"There is no movie with id {movie_id}.")
    picks = check_text_picks(store, request.args.getlist("movie_ids")[:PICKS_REQUIRED], need_three=False).ids
    return current_app.extensions[PAGES_KEY].get_or_make(
        html_key(store.build_id, "movie", movie_id, picks), lambda: _render_movie(movie_id, picks)
    )


def _render_movie(movie_id: int, picks: tuple[int, ...]) -> str:
    store = current_store()
    details = movie_details(store, store.movies[movie_id])
    pickable = store.knows(movie_id)
    picked = movie_id in picks
    full = len(picks) >= PICKS_REQUIRED
    add_url = (
        picks_url("pages.picker", [*picks, movie_id], anchor="tray")
        if pickable and not picked and not full
        else None
    )
    return render_template(
        "movie.html",
        store=store,
        details=details,
        movie=details.movie,
        pickable=pickable,
        picked=picked,
        full=full,
        add_url=add_url,
        picks=picks,
        picker_url=picks_url("pages.picker", picks, anchor="tray" if picks else None),
        picks_required=PICKS_REQUIRED,
        build_command=BUILD_COMMAND,
    )


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
