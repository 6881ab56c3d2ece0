"""The JSON API (docs/api.md, docs/openapi.yaml) and the health check. CSRF-exempt: JSON only."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from webapp import PAGES_KEY, current_store, store_holder
from webapp.movies import Movie
from webapp.params import MAX_ID as MAX_MOVIE_ID
from webapp.params import ParameterError, json_choice, json_int, query_int
from webapp.picks import check_json_ids
from webapp.recommend import MAX_PROFILE, InvalidPicksError, Profile, Recommendation
from webapp.search import MAX_QUERY_LENGTH
from webapp.store import Store

bp = Blueprint("api", __name__)
MAX_LIMIT = 50
MAX_MIN_COUNT = 1_000_000
DEFAULT_LEVEL = "gems"


def api_error(status: int, code: str, message: str, **extra: Any) -> tuple[Response, int]:
    """The API's error body: {"error": code, "message": text, ...}."""
    return jsonify({"error": code, "message": message, **extra}), status


def movie_json(movie: Movie, rec: Recommendation | None = None) -> dict[str, Any]:
    """A movie object; with score, reason (one line, and its two parts), source, because_of and
    evidence (the numbers in the reason's sentence, or null) for a recommendation."""
    out = movie.to_json()
    out["score"] = rec.score if rec else None
    out["reason"] = rec.reason if rec else None
    if rec:
        out["reason_head"] = rec.reason_head
        out["reason_detail"] = rec.reason_detail
        out["source"] = rec.source
        out["because_of"] = list(rec.because_of)
        out["evidence"] = rec.evidence.to_json() if rec.evidence else None
    return out


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


def _json_body() -> Any:
    """The parsed body, or None when it is not strict JSON (NaN, bad UTF-8, nesting too deep)."""
    try:
        return json.loads(request.get_data(cache=True), parse_constant=_reject_constant)
    except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        return None


@bp.errorhandler(ParameterError)
def bad_parameter(exc: ParameterError) -> tuple[Response, int]:
    return api_error(400, "invalid_parameter", str(exc))


def _limit(default: int) -> int:
    """The `limit` query parameter (1..50)."""
    return query_int(request.args, "limit", default, 1, MAX_LIMIT)


def _min_count(body: dict[str, Any], levels: dict[str, int]) -> int:
    """less_known_min_count from the body (int), else the less_known level's ('gems'|'known')."""
    explicit = json_int(body, "less_known_min_count", 0, MAX_MIN_COUNT)
    if explicit is not None:
        return explicit
    return levels[json_choice(body, "less_known", levels, DEFAULT_LEVEL)]


@bp.post("/api/recommendations")
def recommend():
    """A profile in (1..N liked movie ids, optionally disliked ids, ratings and a "more like
    this" focus; three picks are the simplest), five popular and five less-known out."""
    if not request.is_json:
        return api_error(
            415, "unsupported_media_type", "Send a JSON body with Content-Type: application/json."
        )
    body = _json_body()
    if not isinstance(body, dict):
        return api_error(
            400, "malformed_json", 'The body must be a JSON object like {"movie_ids": [1, 2, 3]}.'
        )
    store = current_store()
    liked = check_json_ids(store, body.get("movie_ids"), "movie_ids", minimum=1)
    disliked = check_json_ids(store, body.get("disliked_ids", []), "disliked_ids", minimum=0)
    for check in (liked, disliked):
        if not check.ok:
            code = "unknown_movie" if check.unknown else "invalid_picks"
            return api_error(400, code, " ".join(check.errors), movie_ids=list(check.unknown))
    profile = Profile(
        liked.ids, disliked.ids, _ratings(body, liked.ids + disliked.ids), focus=_focus(body, liked.ids)
    )
    if len(profile.ids()) > MAX_PROFILE or set(liked.ids) & set(disliked.ids):
        return api_error(
            400,
            "invalid_picks",
            f"movie_ids and disliked_ids must not share ids and hold at most {MAX_PROFILE} movies together.",
        )
    min_count = _min_count(body, dict(store.levels))
    try:
        # no script root in the key: the body holds no links to the app (only TMDB and IMDb's)
        body_json = current_app.extensions[PAGES_KEY].get_or_make(
            ("api", store.build_id, profile, min_count),
            lambda: _recommendations_json(store, profile, min_count),
        )
    except InvalidPicksError as exc:  # the recommender's own check, should the two ever differ
        return api_error(400, "invalid_picks", str(exc))
    return current_app.response_class(body_json, mimetype="application/json")


def _ratings(body: dict[str, Any], ids: tuple[int, ...]) -> tuple[tuple[int, float], ...]:
    """`ratings`: {"<movie id>": stars} for ids of the profile, half stars from 0.5 to 5."""
    from webapp.marks import parse_stars
    from webapp.params import parse_int

    raw = body.get("ratings", {})
    if not isinstance(raw, dict):
        raise ParameterError('ratings must be an object like {"318": 4.5}.')
    out = []
    for key, stars in raw.items():
        movie_id = parse_int(key, 0, MAX_MOVIE_ID)
        if movie_id is None or movie_id not in ids:
            raise ParameterError("ratings may only rate movies of movie_ids or disliked_ids.")
        if (
            isinstance(stars, bool)
            or not isinstance(stars, (int, float))
            or parse_stars(repr(float(stars)) if isinstance(stars, float) else str(stars)) is None
        ):
            raise ParameterError("ratings must be numbers from 0.5 to 5 in half stars.")
        out.append((movie_id, float(stars)))
    return tuple(sorted(out))


def _focus(body: dict[str, Any], liked: tuple[int, ...]) -> int | None:
    """`more_like`: one of movie_ids, the movie to lean towards ("more like this")."""
    focus = json_int(body, "more_like", 0, MAX_MOVIE_ID)
    if focus is not None and focus not in liked:
        raise ParameterError("more_like must be one of movie_ids.")
    return focus


def _recommendations_json(store: Store, profile: Profile, min_count: int) -> str:
    """The response body of POST /api/recommendations (memoised per build, profile and setting)."""
    result = store.recommend_profile(profile, min_count)
    return current_app.json.dumps(
        {
            "picks": [movie_json(store.movies[m]) for m in profile.liked],
            "popular": [
                movie_json(store.movies[r.movie_id], r) for r in result.popular if r.movie_id in store.movies
            ],
            "less_known": [
                movie_json(store.movies[r.movie_id], r)
                for r in result.less_known
                if r.movie_id in store.movies
            ],
            "less_known_min_count": min_count,
            "build_id": store.build_id,
        }
    )


@bp.get("/api/movies")
def search_movies():
    """Title search over all movies: ?q=text&limit=10 (&genre=Comedy)."""
    q = request.args.get("q", "").strip()
    if not q or len(q) > MAX_QUERY_LENGTH:
        return api_error(400, "invalid_parameter", f"q must be 1 to {MAX_QUERY_LENGTH} characters.")
    limit = _limit(10)
    store = current_store()
    genre = request.args.get("genre") or None
    movies = store.search(q, limit, genre)
    return jsonify({"query": q, "count": len(movies), "movies": [movie_json(m) for m in movies]})


@bp.get("/api/catalog")
def catalog():
    """The 100-movie catalog (table popular) in rank order, with its genres."""
    store = current_store()
    return jsonify(
        {
            "count": len(store.catalog),
            "genres": list(store.genres),
            "less_known_levels": dict(store.levels),
            "movies": [{"rank": n, **movie_json(m)} for n, m in enumerate(store.catalog, start=1)],
        }
    )


@bp.get("/api/movies/<id:movie_id>")
def movie(movie_id: int):
    """One movie, with its pool ('popular', 'less_known', 'rare' or null)."""
    found = current_store().movie(movie_id)
    if found is None:
        return api_error(404, "not_found", f"There is no movie with id {movie_id}.")
    return jsonify({**movie_json(found), "pool": found.pool})


@bp.get("/api/users/<id:user_id>/recommendations")
def user_recommendations(user_id: int):
    """A known user's precomputed top N (ALS, table als_user_top): ?limit=10."""
    limit = _limit(MAX_LIMIT)
    rows = current_store().user_recommendations(user_id)
    if rows is None:
        return api_error(404, "not_found", f"There is no user with id {user_id}.")
    return jsonify(
        {
            "user_id": user_id,
            "recommendations": [
                {
                    **movie_json(m),
                    "score": round(s, 4),
                    "reason": f"Predicted rating {s:.1f} of 5 for user {user_id}",
                    "predicted_rating": round(s, 4),
                    "rank": n,
                }
                for n, (m, s) in enumerate(rows[:limit], start=1)
            ],
        }
    )


@bp.get("/api/users/<id:user_id>/ratings/<id:movie_id>")
def predicted_rating(user_id: int, movie_id: int):
    """The ALS predicted rating of one movie for one known user (0.5..5)."""
    store = current_store()
    rating = store.predicted_rating(user_id, movie_id)
    if rating is None:
        what = f"user {user_id}" if store.user_factors.get(user_id) is None else f"movie {movie_id}"
        return api_error(404, "not_found", f"There are no trained factors for {what}.")
    return jsonify({"user_id": user_id, "movie_id": movie_id, "predicted_rating": round(rating, 4)})


@bp.get("/healthz")
def healthz():
    """200 with the trained data's version once the store is loaded; `refused` says whether a
    newer build was published but could not be loaded (while this one keeps serving)."""
    store = current_store()
    refusal = store_holder().refusal
    return jsonify(
        {
            "status": "ok",
            "build_id": store.build_id,
            "created_at": store.manifest.get("created_at"),
            "movies": len(store.movies),
            "catalog": len(store.catalog),
            "refused": refusal.to_json() if refusal else None,
        }
    )
