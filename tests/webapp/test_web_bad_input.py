"""Bad input: always a 4xx with a clear message, never a 5xx."""

from __future__ import annotations

import json

import pytest
from conftest import UNRATED_ID

# ---------------------------------------------------------------- picks in a URL or a form
BAD_PICKS = {
    "none": [],
    "one": ["1"],
    "two": ["1", "5"],
    "four": ["1", "5", "20", "2"],
    "non_numeric": ["1", "5", "abc"],
    "empty_value": ["1", "5", ""],
    "negative": ["1", "5", "-3"],
    "plus_sign": ["1", "5", "+3"],
    "decimal": ["1", "5", "3.0"],
    "exponent": ["1", "5", "1e3"],
    "hex": ["1", "5", "0x10"],
    "huge": ["1", "5", "99999999999999999999999999"],
    "above_int32": ["1", "5", "2147483648"],
    "unknown": ["1", "5", "999999"],
    "zero": ["1", "5", "0"],
    "duplicate": ["1", "5", "5"],
    "all_same": ["1", "1", "1"],
    "unicode_digits": ["1", "5", "٣"],
    "markup": ["1", "5", "<script>alert(1)</script>"],
    "long_text": ["1", "5", "x" * 5000],
    "many": [str(i) for i in range(1, 40)],
}


@pytest.mark.parametrize("case", sorted(BAD_PICKS))
def test_result_url_with_bad_picks_is_400_with_the_form(client, case: str) -> None:
    query = "&".join(f"movie_ids={v}" for v in BAD_PICKS[case]).replace("+", "%2B")
    response = client.get(f"/recommendations?{query}")
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert 'role="alert"' in html and 'id="picker"' in html
    assert "<script>alert(1)</script>" not in html


@pytest.mark.parametrize("case", sorted(BAD_PICKS))
def test_form_post_with_bad_picks_is_400(client, csrf_token, case: str) -> None:
    response = client.post(
        "/recommendations", data={"csrf_token": csrf_token(), "movie_ids": BAD_PICKS[case]}
    )
    assert response.status_code == 400
    assert 'role="alert"' in response.get_data(as_text=True)


def test_messages_say_what_is_wrong(client) -> None:
    def message(query: str) -> str:
        return client.get(f"/recommendations?{query}").get_data(as_text=True)

    assert "Pick exactly three movies (you picked 2)" in message("movie_ids=1&movie_ids=5")
    assert "There is no movie with id 999999" in message("movie_ids=1&movie_ids=5&movie_ids=999999")
    assert "You picked Amélie (2001) twice" in message("movie_ids=1&movie_ids=5&movie_ids=5")
    assert "remove 1" in message("movie_ids=1&movie_ids=5&movie_ids=20&movie_ids=2")


def test_unrated_movie_is_a_valid_pick(client) -> None:
    response = client.get(f"/recommendations?movie_ids=1&movie_ids=5&movie_ids={UNRATED_ID}")
    assert response.status_code == 200


# ---------------------------------------------------------------- the JSON API
BAD_BODIES = {
    "not_a_list": {"movie_ids": "1,2,3"},
    "missing": {},
    "null": {"movie_ids": None},
    "object": {"movie_ids": {"a": 1}},
    "empty": {"movie_ids": []},
    "strings": {"movie_ids": ["1", "5", "20"]},
    "floats": {"movie_ids": [1.0, 5, 20]},
    "bools": {"movie_ids": [True, 5, 20]},
    "negative": {"movie_ids": [-1, 5, 20]},
    "huge": {"movie_ids": [10**30, 5, 20]},
    "unknown": {"movie_ids": [1, 5, 999999]},
    "duplicate": {"movie_ids": [1, 5, 5]},
    "nested": {"movie_ids": [[1], 5, 20]},
    "nulls": {"movie_ids": [None, 5, 20]},
    "many": {"movie_ids": list(range(1, 102))},
    "liked_and_disliked": {"movie_ids": [1, 5, 20], "disliked_ids": [5]},
    "disliked_not_a_list": {"movie_ids": [1, 5, 20], "disliked_ids": 5},
    "disliked_unknown": {"movie_ids": [1, 5, 20], "disliked_ids": [999999]},
    "ratings_not_an_object": {"movie_ids": [1, 5, 20], "ratings": [[1, 4]]},
    "rating_of_another_movie": {"movie_ids": [1, 5, 20], "ratings": {"2": 4}},
    "rating_not_half_star": {"movie_ids": [1, 5, 20], "ratings": {"1": 4.2}},
    "rating_bool": {"movie_ids": [1, 5, 20], "ratings": {"1": True}},
    "more_like_not_liked": {"movie_ids": [1, 5, 20], "more_like": 2},
    "bad_level": {"movie_ids": [1, 5, 20], "less_known": "obscure"},
    "bad_min_count": {"movie_ids": [1, 5, 20], "less_known_min_count": "25"},
    "negative_min_count": {"movie_ids": [1, 5, 20], "less_known_min_count": -5},
}


@pytest.mark.parametrize("case", sorted(BAD_BODIES))
def test_api_bad_body_is_400_json(client, case: str) -> None:
    response = client.post("/api/recommendations", json=BAD_BODIES[case])
    body = response.get_json()
    assert response.status_code == 400
    assert body["error"] in {"invalid_picks", "unknown_movie", "invalid_parameter"}
    assert body["message"]


def test_api_unknown_ids_are_listed(client) -> None:
    body = client.post("/api/recommendations", json={"movie_ids": [1, 999998, 999999]}).get_json()
    assert body["error"] == "unknown_movie" and body["movie_ids"] == [999998, 999999]


RAW_BODIES = {
    "malformed_json": ("application/json", b'{"movie_ids": [1, 2,'),
    "json_array": ("application/json", b"[1, 2, 3]"),
    "json_string": ("application/json", b'"hello"'),
    "json_number": ("application/json", b"3"),
    "empty_body": ("application/json", b""),
    "not_utf8": ("application/json", b'{"movie_ids": [1, 2, "\xff"]}'),
    "nan": ("application/json", b'{"movie_ids": [NaN, 2, 3]}'),
    "deep_nesting": ("application/json", b"[" * 5000 + b"]" * 5000),
}


@pytest.mark.parametrize("case", sorted(RAW_BODIES))
def test_api_malformed_bodies_are_400(client, case: str) -> None:
    content_type, data = RAW_BODIES[case]
    response = client.post("/api/recommendations", data=data, content_type=content_type)
    assert response.status_code == 400
    assert "error" in response.get_json()


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", None],
)
def test_api_wrong_content_type_is_415(client, content_type: str | None) -> None:
    response = client.post(
        "/api/recommendations", data=json.dumps({"movie_ids": [1, 2, 3]}), content_type=content_type
    )
    assert response.status_code == 415
    assert response.get_json()["error"] == "unsupported_media_type"


def test_api_oversized_body_is_413_json(client) -> None:
    body = json.dumps({"movie_ids": [1, 2, 3], "padding": "x" * 100_000})
    response = client.post("/api/recommendations", data=body, content_type="application/json")
    assert response.status_code == 413
    assert response.get_json()["error"] == "too_large"


def test_form_oversized_body_is_413(client) -> None:
    response = client.post("/recommendations", data={"movie_ids": ["1"], "x": "y" * 100_000})
    assert response.status_code == 413


@pytest.mark.parametrize(
    "url",
    [
        "/api/movies",
        "/api/movies?q=",
        "/api/movies?q=%20%20",
        "/api/movies?q=" + "a" * 101,
        "/api/movies?q=x&limit=0",
        "/api/movies?q=x&limit=51",
        "/api/movies?q=x&limit=abc",
        "/api/movies?q=x&limit=-1",
        "/api/users/1/recommendations?limit=0",
    ],
)
def test_api_bad_query_parameters_are_400(client, url: str) -> None:
    response = client.get(url)
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_parameter"


@pytest.mark.parametrize(
    "url",
    [
        "/api/movies/abc",
        "/api/movies/-1",
        "/api/movies/99999999999999999999",
        "/api/movies/1.5",
        "/api/users/abc/recommendations",
        "/api/users/-1/ratings/1",
        "/api/users/1/ratings/99999999999999999999",
        "/posters/abc.svg",
        "/posters/-1.svg",
        "/posters/99999999999999999999.svg",
        "/posters/999999.svg",
        "/api/nothing",
    ],
)
def test_bad_path_ids_are_404(client, url: str) -> None:
    response = client.get(url)
    assert response.status_code == 404
    if url.startswith("/api/"):
        assert response.get_json()["error"] == "not_found"


@pytest.mark.parametrize("method", ["get", "put", "delete", "patch"])
def test_api_recommendations_other_methods_are_405(client, method: str) -> None:
    response = getattr(client, method)("/api/recommendations")
    assert response.status_code == 405
    assert response.get_json()["error"] == "method_not_allowed"


@pytest.mark.parametrize(
    "query",
    [
        "q=" + "a" * 500,
        "q=%00%01%02",
        "q=%ff%fe",
        "genre=<script>",
        "genre=NoSuchGenre",
        "movie_ids=abc",
        "movie_ids=1&movie_ids=1",
        "q=%E2%80%AE%E2%80%AD",
    ],
)
def test_picker_survives_odd_query_strings(client, query: str) -> None:
    response = client.get(f"/?{query}")
    assert response.status_code in (200, 400)
    assert "<script>" not in response.get_data(as_text=True).split("<body", 1)[1].replace('<script src="', "")


def test_less_known_unknown_level_falls_back(client) -> None:
    response = client.get("/recommendations?movie_ids=1&movie_ids=5&movie_ids=20&less_known=zzz")
    assert response.status_code == 200
