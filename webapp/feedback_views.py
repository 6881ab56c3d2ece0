"""Feedback on recommended movies: the result page's form (POST /feedback) and the JSON API
(POST /api/feedback). Every mark is stored (committed) before the answer goes out.

The form works without JavaScript: it posts the page's state (picks and marks, hidden fields),
the button pressed (`mark=loved:318`) and where the movie was shown, and is answered with a
redirect to the result URL of the new state, which holds the marks, so the refreshed list can be
reloaded and shared. static/app.js sends the same form with fetch() and swaps the page in place.
"""

from __future__ import annotations

import logging
import re
import secrets
from typing import Any

from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    session,
)
from sqlalchemy.exc import SQLAlchemyError

from webapp import csrf, current_store
from webapp.db import database_url, prepare
from webapp.feedback_store import FeedbackEntry, FeedbackStore, Limits, RateLimited
from webapp.marks import MARK_KINDS, MAX_MARKS, PageState, parse_marks, parse_stars
from webapp.params import MAX_ID, ParameterError, json_choice, json_int
from webapp.picks import check_text_picks, parse_movie_id
from webapp.store import Store
from webapp.urls import page_path

bp = Blueprint("feedback", __name__)
log = logging.getLogger(__name__)
FEEDBACK_KEY = "movierec.feedback"
VISITOR = "visitor"  # the session key of the visitor's random id
_BUILD_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
API_KINDS = ("loved", "not_for_me", "not_interested", "rated", "more_like_this", "undo")
API_SECTIONS = ("picks", "popular", "less_known", "marks")
MAX_RANK = 100


def init_app(app: Flask) -> None:
    """Open (and migrate, or check) the database, say so in one line, register the routes."""
    url = database_url(app.config)
    log.info("%s", prepare(url, str(app.config["DATABASE_MIGRATE"])))
    limits = Limits(int(app.config["RATE_LIMIT_VISITOR"]), int(app.config["RATE_LIMIT_ADDRESS"]))
    app.extensions[FEEDBACK_KEY] = FeedbackStore(url, limits, str(app.config["SECRET_KEY"]).encode())
    app.register_blueprint(bp)
    csrf.exempt(api_feedback)  # JSON only, like the rest of the API


def feedback_store(app: Flask | None = None) -> FeedbackStore:
    return (app or current_app).extensions[FEEDBACK_KEY]


def visitor_id() -> str:
    """This visitor's random id, kept in the signed session cookie (made on first feedback)."""
    found = session.get(VISITOR)
    if isinstance(found, str) and re.fullmatch(r"[A-Za-z0-9_-]{16,32}", found):
        return found
    session[VISITOR] = secrets.token_urlsafe(16)
    session.permanent = True  # a month (PERMANENT_SESSION_LIFETIME), not until the browser closes
    return session[VISITOR]


def read_state(store: Store, values) -> tuple[PageState | None, list[str]]:
    """The picks and marks of a result URL or form; (None, errors) when they are not usable."""
    check = check_text_picks(store, values.getlist("movie_ids"))
    marks, errors = parse_marks(
        {name: values.getlist(name) for name in MARK_KINDS}, store.knows, check.ids, parse_movie_id
    )
    errors = list(check.errors) + errors
    return (None, errors) if errors else (PageState(check.ids, marks), [])


def results_url(state: PageState, level: str, anchor: str | None = None) -> str:
    """The result page of a state (the level only when it is not the default)."""
    url = f"{page_path('pages.recommendations')}?{state.query(less_known=None if level == 'gems' else level)}"
    return f"{url}#{anchor}" if anchor else url


def _error_page(status: int, message: str, back: str | None) -> tuple[str, int, dict[str, str]]:
    titles = {400: "That did not work", 429: "Too much at once", 503: "Not saved"}
    headers = {"Cache-Control": "private, no-store"}
    html = render_template(
        "error.html",
        status=status,
        title=titles.get(status, "Error"),
        message=message,
        back_url=back,
        back_label="Back to your recommendations",
    )
    return html, status, headers


def expired_form_page(store: Store) -> tuple[str, int, dict[str, str]]:
    """A feedback form without a valid token (expired, or from another session): nothing is
    stored; the way back leads to the page the visitor was on."""
    state, _ = read_state(store, request.form)
    back = results_url(state, "gems") if state is not None else None
    return _error_page(
        400,
        "The page had expired, so your mark was not saved. Go back to your "
        "recommendations and mark the movie again.",
        back,
    )


def _where_shown(movie_id: int) -> tuple[str, int] | None:
    """(section, rank) of a movie in the lists the posting page showed."""
    for section in ("popular", "less_known"):
        shown = request.form.getlist(f"shown_{section}")
        if str(movie_id) in shown:
            return section, shown.index(str(movie_id)) + 1
    return None


@bp.post("/feedback")
def submit():
    """One mark from the result page's form: stored, then a redirect to the refreshed list."""
    store = current_store()
    state, errors = read_state(store, request.form)
    level = request.form.get("less_known", "gems")
    level = level if level in store.levels else "gems"
    if state is None:
        return _error_page(400, " ".join(errors), None)
    back = results_url(state, level)
    param, _, id_text = request.form.get("mark", "").partition(":")
    movie_id = parse_movie_id(id_text)
    if (param not in MARK_KINDS and param != "undo") or movie_id is None:
        return _error_page(400, "Choose one of the buttons on a movie to mark it.", back)
    build_id = request.form.get("build_id", "")
    if not _BUILD_ID.fullmatch(build_id):
        return _error_page(
            400,
            "The page did not say which version of the recommendations it showed; reload it and mark again.",
            back,
        )
    if param == "undo":
        mark = state.mark_of(movie_id)
        if mark is None:  # already taken back (a second click): nothing to do
            return redirect(results_url(state, level, "your-marks"), 303)
        section, rank, stars = "marks", state.marks.index(mark) + 1, None
        new_state, kind, anchor = state.with_mark(movie_id, None), "undo", "your-marks"
    else:
        where = _where_shown(movie_id)
        if where is None:
            return _error_page(
                400,
                f"Movie {movie_id} is not on your list any more: reload the page to see your current list.",
                back,
            )
        section, rank = where
        stars = None
        if param == "rated":
            stars = parse_stars(request.form.get(f"stars-{movie_id}", ""))
            if stars is None:
                return _error_page(400, "Choose how many stars (0.5 to 5) before pressing Rate.", back)
        if state.mark_of(movie_id) is not None:
            return _error_page(400, f"Movie {movie_id} is already marked: take that mark back first.", back)
        if len(state.marks) >= MAX_MARKS:
            return _error_page(400, f"A page keeps at most {MAX_MARKS} marks: take one back first.", back)
        new_state, kind = state.with_mark(movie_id, param, stars), MARK_KINDS[param]
        anchor = "popular" if section == "popular" else "less-known"
    try:
        feedback_store().record(
            FeedbackEntry(visitor_id(), movie_id, kind, build_id, section, rank, stars),
            request.remote_addr or "",
            picks=state.picks,
        )
    except RateLimited as exc:
        html, status, headers = _error_page(429, str(exc), back)
        return html, status, {**headers, "Retry-After": str(exc.retry_after)}
    except SQLAlchemyError:
        log.exception("storing feedback failed")
        return _error_page(
            503,
            "Your mark could not be saved just now (nothing was changed). Please try again in a moment.",
            back,
        )
    return redirect(results_url(new_state, level, anchor), 303)


# ---------------------------------------------------------------------------- JSON API
def _api_error(status: int, code: str, message: str, **extra: Any) -> tuple[Response, int]:
    return jsonify({"error": code, "message": message, **extra}), status


@bp.post("/api/feedback")
def api_feedback():
    """One mark as JSON: {"movie_id", "kind", "rating"?, "build_id", "section", "rank",
    "picks"?}; 201 with the stored row once it is committed."""
    from webapp.api import _json_body

    if not request.is_json:
        return _api_error(
            415, "unsupported_media_type", "Send a JSON body with Content-Type: application/json."
        )
    body = _json_body()
    if not isinstance(body, dict):
        return _api_error(
            400,
            "malformed_json",
            "The body must be a JSON object like "
            '{"movie_id": 318, "kind": "loved", "build_id": "...", "section": "popular", "rank": 1}.',
        )
    store = current_store()
    try:
        mark, picks = _api_mark(body, store)
    except ParameterError as exc:
        return _api_error(400, "invalid_parameter", str(exc))
    unknown = [m for m in (mark.movie_id, *picks) if not store.knows(m)]
    if unknown:
        return _api_error(400, "unknown_movie", f"There is no movie with id {unknown[0]}.", movie_ids=unknown)
    try:
        stored = feedback_store().record(mark, request.remote_addr or "", picks=picks)
    except RateLimited as exc:
        response, status = _api_error(429, "rate_limited", str(exc), retry_after=exc.retry_after)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response, status
    except SQLAlchemyError:
        log.exception("storing feedback failed")
        return _api_error(
            503,
            "unavailable",
            "The feedback could not be stored just now; nothing was changed. Try again in a moment.",
        )
    return jsonify(
        {
            "feedback": {
                "id": stored.id,
                "created_at": stored.created_at.isoformat(),
                "movie_id": mark.movie_id,
                "kind": mark.kind,
                "rating": mark.rating,
                "build_id": mark.build_id,
                "section": mark.section,
                "rank": mark.rank,
                "picks": list(picks),
            }
        }
    ), 201


def _api_mark(body: dict[str, Any], store: Store) -> tuple[FeedbackEntry, tuple[int, ...]]:
    """The mark a JSON body describes; ParameterError naming the first bad field."""
    movie_id = json_int(body, "movie_id", 0, MAX_ID)
    if movie_id is None:
        raise ParameterError("movie_id is required: an integer movie id.")
    kind = json_choice(body, "kind", API_KINDS, "")
    rating = body.get("rating")
    if kind == "rated":
        if (
            isinstance(rating, bool)
            or not isinstance(rating, (int, float))
            or parse_stars(repr(float(rating)) if isinstance(rating, float) else str(rating)) is None
        ):
            raise ParameterError("rating must be a number from 0.5 to 5 in half stars (kind rated).")
        rating = float(rating)
    elif rating is not None:
        raise ParameterError("rating goes with kind rated only.")
    build_id = body.get("build_id")
    if not isinstance(build_id, str) or not _BUILD_ID.fullmatch(build_id):
        raise ParameterError(
            "build_id must be the build_id the movie was shown under "
            "(1 to 64 letters, digits, '.', '_' or '-')."
        )
    section = json_choice(body, "section", API_SECTIONS, "")
    rank = json_int(body, "rank", 1, MAX_RANK)
    if rank is None:
        raise ParameterError(f"rank is required: the movie's position in its section, 1 to {MAX_RANK}.")
    picks = body.get("picks", [])
    if (
        not isinstance(picks, list)
        or len(picks) > MAX_MARKS
        or not all(isinstance(p, int) and not isinstance(p, bool) and 0 <= p <= MAX_ID for p in picks)
        or len(set(picks)) != len(picks)
    ):
        raise ParameterError(f"picks must be a list of at most {MAX_MARKS} distinct movie ids.")
    return FeedbackEntry(visitor_id(), movie_id, kind, build_id, section, rank, rating), tuple(picks)
