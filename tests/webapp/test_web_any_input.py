"""No input gives a 5xx: generated values of every JSON type at every parameter of every route.

The routes come from the app's URL map, so a new route fails `test_every_route_is_covered` until
its parameters are listed in PARAMS. Each value is drawn from: null, booleans, small and huge
integers, floats (NaN and infinities too), strings across Unicode categories, digit strings mixing
ASCII and other scripts' digits ("1²", "①", "٣"), lists and nested objects; or a valid value, so
that the checks behind the first one (three good picks, then less_known) are reached as well:
each example sends one request with any values, then one per parameter with a bad value there and
valid values elsewhere.
Query, form and path parameters get the values as text; JSON fields get them as they are.

Answers must be below 500 and, when they are errors, have the documented shape: the JSON error
object of docs/api.md for /api/ and /healthz, the HTML error page (or the picker with its alert)
for pages.

Twenty examples per route in the test run; FUZZ_EXAMPLES=200 (say) runs a longer search.
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from conftest import AMELIE_ID, XSS_ID
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from werkzeug.datastructures import MultiDict

ROOT = Path(__file__).resolve().parents[2]
# Where each endpoint reads its parameters (path parameters come from the rule itself).
PARAMS: dict[str, dict[str, tuple[str, ...]]] = {
    "pages.picker": {"query": ("movie_ids", "q", "genre")},
    "pages.update_picks": {"form": ("csrf_token", "movie_ids", "q", "genre", "remove", "action")},
    "pages.submit_picks": {"form": ("csrf_token", "movie_ids")},
    "pages.recommendations": {"query": ("movie_ids", "less_known")},
    "pages.report": {},
    "insights.index": {"query": ("genre",)},
    "insights.movie": {"query": ("movie_ids",)},
    "api.recommend": {
        "json": ("movie_ids", "disliked_ids", "ratings", "more_like", "less_known", "less_known_min_count")
    },
    "feedback.submit": {
        "form": (
            "csrf_token",
            "movie_ids",
            "loved",
            "not_for_me",
            "not_interested",
            "rated",
            "more",
            "mark",
            "build_id",
            "less_known",
            "shown_popular",
            "shown_less_known",
            "stars-2",
        )
    },
    "feedback.api_feedback": {"json": ("movie_id", "kind", "rating", "build_id", "section", "rank", "picks")},
    "api.search_movies": {"query": ("q", "limit", "genre")},
    "api.catalog": {},
    "api.movie": {},
    "api.user_recommendations": {"query": ("limit",)},
    "api.predicted_rating": {},
    "api.healthz": {},
    "posters.poster": {},
    "posters.genre_stylesheet": {"query": ("v",)},
    "static": {"query": ("v",)},
}
# Values that pass each parameter's check, so the checks after it run too.
VALID: dict[str, list[Any]] = {
    "movie_ids": [[1, AMELIE_ID, 20], [2, 3, XSS_ID]],
    "q": ["the", "amelie"],
    "genre": ["Drama", "Horror"],
    "less_known": ["gems", "known"],
    "limit": [5, 50],
    "less_known_min_count": [0, 30],
    "movie_id": [1, AMELIE_ID],
    "user_id": [1, 2],
    "filename": ["app.css", "favicon.svg"],
    "remove": [5],
    "action": ["search"],
    "v": ["x"],
    # feedback: marks in a result URL / form, and the JSON API's fields
    "loved": [2, 3],
    "not_for_me": [4],
    "not_interested": [21],
    "rated": ["3:4.5", "4:1"],
    "more": [2],
    "mark": ["loved:2", "rated:2", "undo:3", "more:21"],
    "build_id": ["synthetic000001"],
    "shown_popular": [[2, 3, 4, 6, 8]],
    "shown_less_known": [[21, 22]],
    "stars-2": ["4.5", "1"],
    "kind": ["loved", "rated", "undo"],
    "rating": [4.5, 1],
    "section": ["popular", "marks"],
    "rank": [1, 3],
    "picks": [[1, 2, 3]],
    "disliked_ids": [[2], [3, 4]],
    "ratings": [{"1": 4.5}],
    "more_like": [1],
}
# Characters Python counts as digits or numbers, outside ASCII, in three groups: decimal digits of
# other scripts (int("٣") is 3), digits that are not decimal ("²".isdigit() but int("²") fails)
# and other numerals ("½", "Ⅻ": isnumeric() only).
_NON_ASCII = [chr(c) for c in range(0x80, 0x30000)]
OTHER_DECIMALS = [c for c in _NON_ASCII if c.isdecimal()]
OTHER_DIGITS = [c for c in _NON_ASCII if c.isdigit() and not c.isdecimal()]
OTHER_NUMERALS = [c for c in _NON_ASCII if c.isnumeric() and not c.isdigit()]

# Digit strings with at least one character from the groups above: "1²", "①", "٣", "1½".
_digit = st.one_of(
    st.sampled_from("0123456789"),
    st.sampled_from(OTHER_DECIMALS),
    st.sampled_from(OTHER_DIGITS),
    st.sampled_from(OTHER_NUMERALS),
)
digit_strings = st.builds(
    lambda head, odd, tail: head + odd + tail,
    st.text(st.sampled_from("0123456789"), max_size=3),
    st.one_of(
        st.sampled_from(OTHER_DECIMALS), st.sampled_from(OTHER_DIGITS), st.sampled_from(OTHER_NUMERALS)
    ),
    st.text(_digit, max_size=3),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-1000, max_value=1000),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(st.characters(exclude_categories=("Cs",)), max_size=24),  # every category but surrogates
    st.text(st.one_of(_digit, st.sampled_from(" -+.e")), min_size=1, max_size=8),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=8,
)


def _documented_error_codes() -> set[str]:
    """The `error` codes of the Error schema in docs/openapi.yaml."""
    spec = (ROOT / "docs" / "openapi.yaml").read_text()
    block = re.search(r"^    Error:\n(.*?)(?=^    \S|\Z)", spec, flags=re.M | re.S).group(1)
    listed = re.search(r"enum: \[([^\]]*)\]", block, flags=re.S).group(1)
    return {code.strip() for code in listed.split(",")}


ERROR_CODES = _documented_error_codes()


def _text(value: Any) -> str:
    """A JSON value as a query, form or path parameter would carry it."""
    if isinstance(value, str):
        return value
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)  # nan, inf, -inf
    return json.dumps(value)


def _text_values(value: Any) -> list[str]:
    """A list becomes the parameter repeated (movie_ids=1&movie_ids=2); anything else one value."""
    return [_text(v) for v in value] if isinstance(value, list) else [_text(value)]


containers = st.one_of(
    st.lists(json_values, max_size=4), st.dictionaries(st.text(max_size=6), json_values, max_size=4)
)
# A focused parameter gets one value of each kind per example.
BAD_KINDS = {"any": json_values, "digits": digit_strings, "container": containers}
bad_values = st.one_of(*BAD_KINDS.values())


class _Drawer:
    """Draws each parameter's value for one request.

    With a focus, that parameter gets a bad value and every other one a valid value or none (a
    valid less_known_min_count would hide a bad less_known), so the checks behind the first ones
    are reached too; without, every parameter gets any value, or none.
    """

    def __init__(
        self, data: st.DataObject, focus: str | None, token: str, bad: st.SearchStrategy[Any] = bad_values
    ) -> None:
        self.data = data
        self.focus = focus
        self.token = token
        self.bad = bad

    def value(self, name: str, *, required: bool = False) -> Any:
        """The value to send, or None for none."""
        valid = [self.token] if name == "csrf_token" else VALID.get(name)
        if self.focus is None:
            if not required and not self.data.draw(st.booleans(), label=f"send {name}"):
                return None
            options = [bad_values] + ([st.sampled_from(valid)] if valid else [])
            return self.data.draw(st.one_of(*options), label=name)
        if name == self.focus:
            return self.data.draw(self.bad, label=name)
        if valid and (
            required
            or name in ("movie_ids", "q", "csrf_token")
            or self.data.draw(st.booleans(), label=f"send {name}")
        ):
            return self.data.draw(st.sampled_from(valid), label=name)
        return self.data.draw(bad_values, label=name) if required else None


@pytest.fixture(scope="module")
def session(app):
    """A client with a session, and a valid CSRF token of that session."""
    client = app.test_client()
    html = client.get("/").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    return client, token


def _rules(app) -> dict[str, Any]:
    return {rule.endpoint: rule for rule in app.url_map.iter_rules()}


def test_every_route_is_covered(app) -> None:
    """A new route must list its parameters in PARAMS, so that the test below reaches it."""
    assert set(_rules(app)) == set(PARAMS)


def _check_answer(request: str, response) -> None:
    path = request.split(" ", 2)[1].split("?", 1)[0]
    assert response.status_code < 500, (request, response.status_code, response.get_data(as_text=True)[:300])
    if response.status_code < 400:
        return
    if path.startswith("/api/") or path == "/healthz":
        assert response.mimetype == "application/json"
        body = response.get_json()
        assert isinstance(body, dict) and body["error"] in ERROR_CODES, (request, body)
        assert isinstance(body["message"], str) and body["message"], (request, body)
        assert all(isinstance(m, int) for m in body.get("movie_ids", [])), (request, body)
    else:
        assert response.mimetype == "text/html"
        html = response.get_data(as_text=True)
        error_page = (
            'class="error-page"' in html and f'<p class="error-code">{response.status_code}</p>' in html
        )
        picker_with_alert = 'id="picker"' in html and 'role="alert"' in html
        assert error_page or picker_with_alert, (request, response.status_code, html[:300])


def _request(client, rule, where: dict[str, tuple[str, ...]], draw: _Drawer, data: st.DataObject):
    """One request to the rule with values from draw: (the request as text, response)."""
    method = data.draw(st.sampled_from(sorted(rule.methods - {"HEAD", "OPTIONS"})), label="method")
    path = rule.rule
    for name in sorted(rule.arguments):  # path parameters: the value as text, %-escaped
        raw = _text(draw.value(name, required=True))
        path = re.sub(rf"<(?:[^:>]+:)?{name}>", quote(raw, safe="") or "%20", path)
    query_names = where.get("query", ()) + ("unexpected",)  # a parameter no route reads, too
    query = MultiDict(
        [
            (name, v)
            for name in query_names
            if (value := draw.value(name)) is not None
            for v in _text_values(value)
        ]
    )
    kwargs: dict[str, Any] = {"query_string": query}
    if "form" in where:
        kwargs["data"] = MultiDict(
            [
                (name, v)
                for name in where["form"]
                if (value := draw.value(name)) is not None
                for v in _text_values(value)
            ]
        )
        kwargs["content_type"] = "application/x-www-form-urlencoded"
    if "json" in where:
        if draw.focus is None and data.draw(st.integers(0, 4), label="body kind") == 0:
            body: Any = data.draw(json_values, label="body")  # not even an object
        else:
            body = {name: value for name in where["json"] if (value := draw.value(name)) is not None}
        # allow_nan: NaN and Infinity go out as bare tokens, which strict JSON does not allow
        kwargs["data"] = json.dumps(body, allow_nan=True)
        kwargs["content_type"] = "application/json"
    response = client.open(path, method=method, **kwargs)
    shown = f"{method} {path}?{urlencode(list(query.items(multi=True)))} {kwargs.get('data', '')!r}"[:2000]
    return shown, response


@pytest.mark.parametrize("endpoint", sorted(PARAMS))
# No shrinking: an example is some twenty requests, and the failure message already shows the
# request that failed.
@settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "20")),
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_no_input_gives_a_server_error(app, session, endpoint: str, data: st.DataObject) -> None:
    """Per example: one request with any values, then, per parameter, one request for each kind
    of bad value there (valid values or none elsewhere)."""
    client, token = session
    rule = _rules(app)[endpoint]
    where = PARAMS[endpoint]
    names = sorted(rule.arguments) + [n for kind in where.values() for n in kind] + ["unexpected"]
    drawers = [_Drawer(data, None, token)] + [
        _Drawer(data, focus, token, bad) for focus in names for bad in BAD_KINDS.values()
    ]
    for draw in drawers:
        request, response = _request(client, rule, where, draw, data)
        _check_answer(request, response)


@pytest.mark.parametrize(
    "url",
    [
        "/api/movies?q=heat&limit=%C2%B2",
        "/api/movies?q=heat&limit=%E2%91%A0",
        "/api/movies?q=heat&limit=1%C2%B2",
        "/api/users/1/recommendations?limit=%C2%B2",
        "/api/users/1/recommendations?limit=%E2%91%A0",
        "/api/users/1/recommendations?limit=1%C2%B2",
    ],
)
def test_digits_of_other_scripts_are_not_numbers(client, url: str) -> None:
    """ "²".isdigit() is True but int("²") fails: such a limit is a 400 that names the parameter."""
    response = client.get(url)
    assert response.status_code == 400
    assert response.get_json() == {
        "error": "invalid_parameter",
        "message": "limit must be an integer from 1 to 50.",
    }


@pytest.mark.parametrize(
    "url",
    ["/api/movies/%D9%A1", "/api/movies/%EF%BC%91", "/posters/%D9%A1.svg", "/api/users/%D9%A1/ratings/1"],
)
def test_ids_in_paths_are_ascii_digits(client, url: str) -> None:
    """int("١") is 1: a path id in another script's digits must not match (404), not alias id 1."""
    assert client.get(url).status_code == 404


@pytest.mark.parametrize(
    "extra",
    [
        {"less_known": []},
        {"less_known": {}},
        {"less_known": 1},
        {"less_known": None},
        {"less_known_min_count": "25"},
        {"less_known_min_count": [25]},
        {"less_known_min_count": 2.5},
    ],
)
def test_wrongly_typed_optional_fields_are_400(client, extra: dict[str, Any]) -> None:
    response = client.post("/api/recommendations", json={"movie_ids": [1, AMELIE_ID, 20], **extra})
    assert response.status_code == 400
    body = response.get_json()
    assert body["error"] == "invalid_parameter" and next(iter(extra)) in body["message"]
