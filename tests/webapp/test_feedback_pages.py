"""Feedback through the result page's form (no JavaScript) and the JSON API: what is stored,
the refreshed list, the shareable URL, and every refusal (CSRF, bad marks, rate limits)."""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import parse_qsl, urlsplit

import pytest
from conftest import AMELIE_ID, BUILD_ID
from werkzeug.datastructures import MultiDict

from webapp.feedback_views import feedback_store
from webapp.recommend import LOVED_RATING
from webapp.recommendation import MAX_NAMED

RESULT = f"/recommendations?movie_ids=1&movie_ids={AMELIE_ID}&movie_ids=20"


class Fields(list):
    """Form fields in order; `+` keeps the type, the test client gets a MultiDict."""

    def __add__(self, other):
        return Fields(list(self) + list(other))


def _form(html: str) -> Fields:
    """The feedback form's hidden fields, as a browser would send them."""
    form = html.split('<form id="feedback"', 1)[1].split("</form>", 1)[0]
    return Fields(
        (unescape(n), unescape(v))
        for n, v in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form)
    )


def _send(client, fields):
    return client.post(
        "/feedback", data=MultiDict(list(fields)), content_type="application/x-www-form-urlencoded"
    )


def _cards(html: str, section: str) -> list[int]:
    part = html.split(f'id="{section}"', 1)[1].split("</section>", 1)[0]
    return [int(m) for m in re.findall(r'value="loved:(\d+)"', part)]


def _post(client, url: str, mark: str, **extra: str):
    """Press a card's button on the page at url (stars-<id> for Rate)."""
    html = client.get(url).get_data(as_text=True)
    return _send(client, _form(html) + [("mark", mark)] + list(extra.items()))


def _rows(app, client) -> list[dict]:
    with client.session_transaction() as session:
        visitor = session.get("visitor")
    return feedback_store(app).rows(visitor) if visitor else []


def test_loved_movie_joins_the_picks_and_the_list_refreshes(app) -> None:
    client = app.test_client()
    first = client.get(RESULT).get_data(as_text=True)
    loved = _cards(first, "popular")[1]
    response = _post(client, RESULT, f"loved:{loved}")
    assert response.status_code == 303
    target = response.headers["Location"]
    assert target.endswith("#popular") and f"loved={loved}" in target
    # the new list: a GET URL that holds the mark, so it survives a reload and can be shared
    page = client.get(target).get_data(as_text=True)
    assert loved not in _cards(page, "popular") + _cards(page, "less-known")
    assert len(_cards(page, "popular") + _cards(page, "less-known")) == 10
    assert "<strong>Because you liked" in page and "<strong>Because you picked" not in page
    _heads_link_what_they_name(client, page, [loved])  # as for three picks (they used to be plain)
    marks = page.split('id="your-marks"', 1)[1].split("</section>", 1)[0]
    assert "Seen it, loved it" in marks and f'value="undo:{loved}"' in marks
    assert app.test_client().get(target).get_data(as_text=True).count("result-card") == 10
    rows = _rows(app, client)
    assert [(r["kind"], r["movie_id"], r["section"]) for r in rows] == [
        ("pick", 1, "picks"),
        ("pick", AMELIE_ID, "picks"),
        ("pick", 20, "picks"),
        ("loved", loved, "popular"),
    ]
    assert rows[-1]["rank"] == 2 and rows[-1]["build_id"] == BUILD_ID and rows[-1]["rating"] is None


def _heads_link_what_they_name(client, page: str, loved: list[int]) -> list[list[int]]:
    """Each head on the page reads as the API's for the same profile, and links the movies it
    names: all of them, or the first MAX_NAMED of "A, B, C and 2 more". The links, per card."""
    heads = re.findall(r'<p class="reason"><strong>(.*?)</strong>', page)
    body = {"movie_ids": [1, AMELIE_ID, 20, *loved], "ratings": {str(m): LOVED_RATING for m in loved}}
    api = client.post("/api/recommendations", json=body).json
    recs = api["popular"] + api["less_known"]
    assert [unescape(re.sub(r"<[^>]+>", "", h)) for h in heads] == [r["reason_head"] for r in recs]
    linked = [[int(m) for m in re.findall(r'<a href="/movies/(\d+)">', h)] for h in heads]
    assert linked == [r["because_of"][:MAX_NAMED] for r in recs]
    return [r["because_of"] for r in recs]


def test_a_head_naming_many_liked_movies_links_the_first_few(app) -> None:
    """Seven liked movies: some head reads "Because you liked A, B, C and 1 more" and links A, B
    and C."""
    client = app.test_client()
    loved = _cards(client.get(RESULT).get_data(as_text=True), "popular")[:4]
    page = client.get(RESULT + "".join(f"&loved={m}" for m in loved)).get_data(as_text=True)
    because = _heads_link_what_they_name(client, page, loved)
    assert any(len(ids) > MAX_NAMED for ids in because)


def test_each_kind_of_mark(app) -> None:
    client = app.test_client()
    url, marked = RESULT, {}
    for kind, section, rank in (
        ("not_for_me", "popular", 1),
        ("not_interested", "less-known", 1),
        ("rated", "popular", 3),
        ("more", "less-known", 2),
    ):
        movie = _cards(client.get(url).get_data(as_text=True), section)[rank - 1]
        marked[kind] = movie
        extra = {f"stars-{movie}": "3.5"} if kind == "rated" else {}
        response = _post(client, url, f"{kind}:{movie}", **extra)
        assert response.status_code == 303, response.get_data(as_text=True)[:500]
        url = response.headers["Location"].split("#")[0]
    popular = [marked["not_for_me"], None, marked["rated"]]
    less_known = [marked["not_interested"], marked["more"]]
    query = dict(parse_qsl(urlsplit(url).query))
    assert query["not_for_me"] == str(popular[0]) and query["not_interested"] == str(less_known[0])
    assert query["rated"] == f"{popular[2]}:3.5" and query["more"] == str(less_known[1])
    page = client.get(url).get_data(as_text=True)
    shown = _cards(page, "popular") + _cards(page, "less-known")
    assert len(shown) == 10 and not {popular[0], popular[2], less_known[0], less_known[1]} & set(shown)
    rows = [r for r in _rows(app, client) if r["kind"] != "pick"]
    assert [(r["kind"], r["rating"], r["section"], r["rank"]) for r in rows] == [
        ("not_for_me", None, "popular", 1),
        ("not_interested", None, "less_known", 1),
        ("rated", 3.5, "popular", 3),
        ("more_like_this", None, "less_known", 2),
    ]


def test_undo_takes_a_mark_back_and_is_stored_too(app) -> None:
    client = app.test_client()
    movie = _cards(client.get(RESULT).get_data(as_text=True), "popular")[0]
    marked = _post(client, RESULT, f"not_interested:{movie}").headers["Location"].split("#")[0]
    response = _post(client, marked, f"undo:{movie}")
    assert response.status_code == 303 and response.headers["Location"].endswith("#your-marks")
    assert response.headers["Location"].split("#")[0] == RESULT
    assert [(r["kind"], r["section"], r["rank"]) for r in _rows(app, client)][-2:] == [
        ("not_interested", "popular", 1),
        ("undo", "marks", 1),
    ]
    # undo on a page that no longer has the mark (a second click after the refresh): no change
    again = _send(client, _form(client.get(RESULT).get_data(as_text=True)) + [("mark", f"undo:{movie}")])
    assert again.status_code == 303 and again.headers["Location"].split("#")[0] == RESULT
    assert len(_rows(app, client)) == 5


@pytest.mark.parametrize(
    "mark, extra, message",
    [
        ("loved:999999", {}, "There is no movie"),  # unknown after the shown check? shown check first
        ("loved:1", {}, "not on your list"),  # a pick: never a card
        ("rated:{p}", {}, "Choose how many stars"),
        ("rated:{p}", {"stars-{p}": "4.2"}, "Choose how many stars"),
        ("hated:{p}", {}, "Choose one of the buttons"),
        ("loved", {}, "Choose one of the buttons"),
        ("loved:{p}", {"build_id": "<script>"}, "which version"),
    ],
)
def test_bad_marks_are_400_and_store_nothing(app, mark: str, extra: dict, message: str) -> None:
    client = app.test_client()
    page = client.get(RESULT).get_data(as_text=True)
    p = _cards(page, "popular")[0]
    data = dict(_form(page))
    fields = [(k, v) for k, v in _form(page) if not (k in extra and k == "build_id")]
    fields += [(k.format(p=p), v) for k, v in extra.items()] + [("mark", mark.format(p=p))]
    response = _send(client, fields)
    html = response.get_data(as_text=True)
    assert response.status_code == 400, html[:300]
    assert 'class="error-page"' in html and "Back to your recommendations" in html
    if "not on your list" in message or "no movie" in message:
        assert "not on your list" in html or "no movie" in html
    else:
        assert message in html
    assert _rows(app, client) == [] and data


def test_without_a_csrf_token_nothing_is_stored(app) -> None:
    client = app.test_client()
    page = client.get(RESULT).get_data(as_text=True)
    movie = _cards(page, "popular")[0]
    fields = [(k, v) for k, v in _form(page) if k != "csrf_token"] + [("mark", f"loved:{movie}")]
    response = _send(client, fields)
    assert response.status_code == 400
    assert _rows(app, client) == []


def test_marks_in_the_url_are_checked(client) -> None:
    for query, message in (
        ("&loved=abc", "is not a movie id"),
        ("&loved=999999", "no movie with id"),
        ("&loved=1", "more than once"),
        ("&rated=2:6", "is not a rating"),
        ("&loved=2&not_for_me=2", "more than once"),
    ):
        response = client.get(RESULT + query)
        assert response.status_code == 400 and message in response.get_data(as_text=True)
    assert client.get(RESULT + "&loved=2&rated=3:4.5&more=4").status_code == 200


def test_rate_limit_is_a_429_with_a_clear_message(fresh_app_factory, trained_dir, tmp_path) -> None:
    app = fresh_app_factory(
        trained_dir, RATE_LIMIT_VISITOR=2, DATABASE_PATH=str(tmp_path / "limited.sqlite3")
    )
    client = app.test_client()
    page = client.get(RESULT).get_data(as_text=True)
    movies = _cards(page, "popular")
    statuses = [
        _send(client, _form(page) + [("mark", f"not_interested:{m}")]).status_code for m in movies[:2]
    ]
    limited = _send(client, _form(page) + [("mark", f"loved:{movies[2]}")])
    assert statuses == [303, 303] and limited.status_code == 429
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert "at most 2 marks a minute per visitor" in limited.get_data(as_text=True)
    assert [r["movie_id"] for r in _rows(app, client) if r["kind"] != "pick"] == movies[:2]
    api = client.post(
        "/api/feedback",
        json={"movie_id": movies[3], "kind": "loved", "build_id": BUILD_ID, "section": "popular", "rank": 4},
    )
    assert api.status_code == 429 and api.get_json()["error"] == "rate_limited"


# ---------------------------------------------------------------- the JSON API
def test_api_feedback_is_stored_and_answered_201(app) -> None:
    client = app.test_client()
    body = {
        "movie_id": AMELIE_ID,
        "kind": "rated",
        "rating": 4.5,
        "build_id": BUILD_ID,
        "section": "less_known",
        "rank": 3,
        "picks": [1, 2, 3],
    }
    response = client.post("/api/feedback", json=body)
    assert response.status_code == 201
    stored = response.get_json()["feedback"]
    assert {k: stored[k] for k in ("movie_id", "kind", "rating", "section", "rank")} == {
        "movie_id": AMELIE_ID,
        "kind": "rated",
        "rating": 4.5,
        "section": "less_known",
        "rank": 3,
    }
    rows = _rows(app, client)
    assert [(r["kind"], r["movie_id"]) for r in rows] == [
        ("pick", 1),
        ("pick", 2),
        ("pick", 3),
        ("rated", AMELIE_ID),
    ]
    assert rows[-1]["id"] == stored["id"]


@pytest.mark.parametrize(
    "change, field",
    [
        ({"movie_id": "5"}, "movie_id"),
        ({"kind": "hated"}, "kind"),
        ({"kind": None}, "kind"),
        ({"rating": 4.2}, "rating"),
        ({"rating": True}, "rating"),
        ({"kind": "loved"}, "rating"),
        ({"build_id": ""}, "build_id"),
        ({"build_id": 5}, "build_id"),
        ({"section": "top"}, "section"),
        ({"rank": 0}, "rank"),
        ({"rank": "1"}, "rank"),
        ({"picks": [1, 1]}, "picks"),
        ({"picks": "1,2"}, "picks"),
    ],
)
def test_api_feedback_bad_fields_are_400(app, change: dict, field: str) -> None:
    client = app.test_client()
    body = {
        "movie_id": AMELIE_ID,
        "kind": "rated",
        "rating": 4.0,
        "build_id": BUILD_ID,
        "section": "popular",
        "rank": 1,
        **change,
    }
    response = client.post("/api/feedback", json=body)
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_parameter" and field in response.get_json()["message"]
    assert _rows(app, client) == []


def test_api_feedback_unknown_movie_and_content_type(app) -> None:
    client = app.test_client()
    body = {"movie_id": 999999, "kind": "loved", "build_id": BUILD_ID, "section": "popular", "rank": 1}
    response = client.post("/api/feedback", json=body)
    assert response.status_code == 400 and response.get_json()["movie_ids"] == [999999]
    assert client.post("/api/feedback", data="{}", content_type="text/plain").status_code == 415
    assert client.post("/api/feedback", data="[", content_type="application/json").status_code == 400


def test_api_recommendations_take_a_profile(client) -> None:
    three = client.post("/api/recommendations", json={"movie_ids": [1, AMELIE_ID, 20]}).get_json()
    first = [m["movie_id"] for m in three["popular"] + three["less_known"]]
    one = client.post("/api/recommendations", json={"movie_ids": [AMELIE_ID]})
    assert one.status_code == 200 and len(one.get_json()["popular"]) == 5
    body = {
        "movie_ids": [1, AMELIE_ID, 20, first[0]],
        "disliked_ids": [first[1], first[2]],
        "ratings": {str(first[0]): 5, str(first[1]): 1.5},
        "more_like": first[0],
    }
    response = client.post("/api/recommendations", json=body)
    assert response.status_code == 200, response.get_json()
    data = response.get_json()
    ids = [m["movie_id"] for m in data["popular"] + data["less_known"]]
    assert len(ids) == 10 and not set(ids) & {1, AMELIE_ID, 20, first[0], first[1], first[2]}
    assert [m["movie_id"] for m in data["picks"]] == [1, AMELIE_ID, 20, first[0]]
    assert all(m["reason_head"].startswith("Because you liked ") for m in data["popular"])


def test_start_up_migrates_and_says_so_in_one_line(fresh_app_factory, trained_dir, tmp_path, caplog) -> None:
    import logging

    from webapp.db import DatabaseError

    path = tmp_path / "var" / "movierec.sqlite3"
    with pytest.raises(DatabaseError, match="has schema none, this code needs"):
        fresh_app_factory(trained_dir, DATABASE_PATH=str(path), DATABASE_MIGRATE="check")
    with caplog.at_level(logging.INFO, logger="webapp.feedback_views"):
        fresh_app_factory(trained_dir, DATABASE_PATH=str(path))
        fresh_app_factory(trained_dir, DATABASE_PATH=str(path), DATABASE_MIGRATE="check")
    lines = [r.getMessage() for r in caplog.records if r.name == "webapp.feedback_views"]
    assert lines == [
        f"database sqlite:///{path}: schema 0001_feedback, upgraded from an empty database",
        f"database sqlite:///{path}: schema 0001_feedback, current",
    ]
