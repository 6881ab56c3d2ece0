"""URLs of the app's own pages, without a url_for() call per link on every request.

url_for() takes tens of microseconds and a result page has about ten links. A page's path depends
only on its endpoint and the script root (the prefix a proxy mounts the app under), so each path
is made once per script root with url_for(); the movie ids of a query are appended here, in the
order and form url_for() gives them (movie_ids=1&movie_ids=2...).
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlencode

from flask import current_app, request, url_for

PATHS_KEY = "movierec.paths"


def page_path(endpoint: str) -> str:
    """url_for(endpoint) for an endpoint without parameters, made once per script root."""
    paths: dict[tuple[str, str], str] = current_app.extensions.setdefault(PATHS_KEY, {})
    key = (request.script_root, endpoint)
    path = paths.get(key)
    if path is None:
        path = paths[key] = url_for(endpoint)
    return path


def picks_url(endpoint: str, ids: Sequence[int], *, anchor: str | None = None, **params: str | None) -> str:
    """The endpoint's URL with these picks (and params that are not None): what
    url_for(endpoint, movie_ids=list(ids), **params, _anchor=anchor) gives."""
    query = "&".join(f"movie_ids={int(m)}" for m in ids)
    extra = urlencode([(name, value) for name, value in params.items() if value is not None])
    query = "&".join(part for part in (query, extra) if part)
    url = page_path(endpoint) + (f"?{query}" if query else "")
    return f"{url}#{anchor}" if anchor else url


def movie_url(movie_id: int, picks: Sequence[int] = ()) -> str:
    """A movie's page; with picks, they ride along in the query so that its "add to my picks"
    link keeps them (what url_for("insights.movie", movie_id=..., movie_ids=[...]) gives)."""
    paths: dict[tuple[str, str], str] = current_app.extensions.setdefault(PATHS_KEY, {})
    key = (request.script_root, "insights.movie:prefix")
    prefix = paths.get(key)
    if prefix is None:
        prefix = paths[key] = url_for("insights.movie", movie_id=0)[:-1]  # ".../movies/"
    query = "&".join(f"movie_ids={int(m)}" for m in picks)
    return f"{prefix}{int(movie_id)}" + (f"?{query}" if query else "")
