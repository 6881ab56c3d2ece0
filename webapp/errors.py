"""Errors as JSON for the API and as a page for people; a bad form comes back with its picks."""

from __future__ import annotations

import logging

from flask import Flask, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

log = logging.getLogger(__name__)
CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    414: "uri_too_long",
    415: "unsupported_media_type",
    431: "headers_too_large",
    500: "internal_error",
}


def wants_json() -> bool:
    return request.path.startswith("/api/") or request.path == "/healthz"


def handle_http_error(exc: HTTPException):
    status = exc.code or 500
    message = {413: "The request body is too large.", 500: "Something went wrong on our side."}.get(
        status, exc.description
    )
    if wants_json():
        return jsonify({"error": CODES.get(status, "error"), "message": message}), status
    return render_template("error.html", status=status, title=exc.name, message=message), status


def handle_csrf_error(exc: CSRFError):
    """An expired or missing form token: show the picker again with the picks kept."""
    from webapp import current_store
    from webapp.pages import render_picker
    from webapp.picks import PickCheck, check_text_picks

    store = current_store()
    if request.endpoint == "feedback.submit":
        from webapp.feedback_views import expired_form_page

        return expired_form_page(store)
    kept = check_text_picks(store, request.form.getlist("movie_ids"), need_three=False)
    message = "The form had expired. Your picks are kept: please submit again."
    return render_picker(store, PickCheck(kept.ids, (message,)), 400)


def handle_unexpected(exc: InternalServerError):
    log.error(
        "unhandled error on %s %s", request.method, request.path, exc_info=exc.original_exception or exc
    )
    return handle_http_error(InternalServerError())


def init_app(app: Flask) -> None:
    app.register_error_handler(CSRFError, handle_csrf_error)
    app.register_error_handler(InternalServerError, handle_unexpected)
    app.register_error_handler(HTTPException, handle_http_error)
