"""The JSON API and the health check."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import AMELIE_ID, BUILD_ID, N_POPULAR, UNRATED_ID, expected_levels, make_tables

from webapp.recommend import Recommender

MOVIE_KEYS = {"movie_id", "title", "year", "genres", "poster_url", "rating_count", "score", "reason"}


def test_recommendations(client) -> None:
    """The API's answer, checked against the synthetic tables themselves (not the app's store):
    pools, rating counts, titles, and the recommender run on the tables as written."""
    tables = make_tables()
    levels = expected_levels(tables)
    response = client.post("/api/recommendations", json={"movie_ids": [1, AMELIE_ID, 20]})
    body = response.get_json()
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert [m["movie_id"] for m in body["picks"]] == [1, AMELIE_ID, 20]
    assert len(body["popular"]) == 5 and len(body["less_known"]) == 5
    for movie in body["picks"] + body["popular"] + body["less_known"]:
        assert MOVIE_KEYS <= set(movie)
        assert isinstance(movie["genres"], list)
    stats = tables["movie_stats"].set_index("movie_id")
    titles = tables["movies"].set_index("movie_id")["title"]
    for section in ("popular", "less_known"):
        for movie in body[section]:
            assert stats.at[movie["movie_id"], "pool"] == section
            assert movie["rating_count"] == stats.at[movie["movie_id"], "vote_count"]
            assert movie["title"] == titles[movie["movie_id"]]
            assert movie["reason_head"].startswith("Because you picked ")
            assert isinstance(movie["score"], float)
            assert set(movie["because_of"]) <= {1, AMELIE_ID, 20}
    assert all(m["rating_count"] >= levels["gems"] for m in body["less_known"])
    assert body["picks"][1]["title"] == "Amélie"
    assert body["less_known_min_count"] == levels["gems"]
    assert body["build_id"] == BUILD_ID
    # the same ten, reasons and all, as the recommender gives on the tables before they were
    # written, read back, checked and served
    expected = Recommender.from_tables(tables, less_known_min_count=levels["gems"]).recommend_for_picks(
        [1, AMELIE_ID, 20]
    )
    got = [
        (m["movie_id"], m["source"], tuple(m["because_of"]), m["reason"])
        for m in body["popular"] + body["less_known"]
    ]
    assert got == [(r.movie_id, r.source, r.because_of, r.reason) for r in expected.all()]


def test_recommendations_less_known_settings(client) -> None:
    levels = expected_levels(make_tables())
    known = client.post("/api/recommendations", json={"movie_ids": [1, 5, 20], "less_known": "known"})
    body = known.get_json()
    assert body["less_known_min_count"] == levels["known"]
    assert all(m["rating_count"] >= levels["known"] for m in body["less_known"])
    explicit = client.post("/api/recommendations", json={"movie_ids": [1, 5, 20], "less_known_min_count": 30})
    assert explicit.status_code == 200 and explicit.get_json()["less_known_min_count"] == 30
    assert all(m["rating_count"] >= 30 for m in explicit.get_json()["less_known"])


def test_recommendations_charset_param_is_json(client) -> None:
    response = client.post(
        "/api/recommendations",
        data='{"movie_ids": [1, 2, 3]}',
        content_type="application/json; charset=utf-8",
    )
    assert response.status_code == 200


def test_search(client) -> None:
    body = client.get("/api/movies?q=AMELIE&limit=3").get_json()
    assert body["query"] == "AMELIE" and body["count"] == 1
    assert body["movies"][0]["movie_id"] == AMELIE_ID
    assert client.get("/api/movies?q=the").get_json()["count"] <= 10
    body = client.get("/api/movies?q=the&limit=2&genre=Crime").get_json()
    assert body["count"] == 2 and all("Crime" in m["genres"] for m in body["movies"])


def test_catalog(client) -> None:
    body = client.get("/api/catalog").get_json()
    assert body["count"] == N_POPULAR == len(body["movies"])
    assert [m["rank"] for m in body["movies"]] == list(range(1, N_POPULAR + 1))
    assert body["movies"][0]["title"] == "The Shawshank Redemption"
    assert "Drama" in body["genres"]
    assert set(body["less_known_levels"]) == {"gems", "known"}


def test_movie(client) -> None:
    body = client.get(f"/api/movies/{AMELIE_ID}").get_json()
    assert body["title"] == "Amélie" and body["year"] == 2001
    assert body["genres"] == ["Comedy", "Romance"]
    assert body["imdb_url"] == "https://www.imdb.com/title/tt0100005/"
    assert body["tmdb_url"] == "https://www.themoviedb.org/movie/805"
    assert body["pool"] == "popular"
    unrated = client.get(f"/api/movies/{UNRATED_ID}").get_json()
    assert unrated["rating_count"] == 0 and unrated["pool"] is None


def test_movie_without_poster_or_year(client) -> None:
    body = client.get("/api/movies/41").get_json()
    assert body["poster_url"] is None and body["year"] is None and body["genres"] == []
    assert body["tmdb_url"] is None


def test_user_recommendations(client) -> None:
    body = client.get("/api/users/1/recommendations").get_json()
    assert body["user_id"] == 1
    expected = make_tables()["als_user_top"].query("user_id == 1").sort_values("rank")
    assert [m["movie_id"] for m in body["recommendations"]] == expected["movie_id"].tolist()
    assert [m["rank"] for m in body["recommendations"]] == [1, 2, 3, 4, 5]
    assert body["recommendations"][0]["predicted_rating"] == pytest.approx(
        expected["score"].iloc[0], abs=1e-4
    )
    assert len(client.get("/api/users/1/recommendations?limit=2").get_json()["recommendations"]) == 2


def test_predicted_rating(client) -> None:
    tables = make_tables()
    user = tables["als_user_factors"].set_index("user_id").loc[2].to_numpy()
    item = tables["als_item_factors"].set_index("movie_id").loc[3].to_numpy()
    body = client.get("/api/users/2/ratings/3").get_json()
    assert body == {
        "user_id": 2,
        "movie_id": 3,
        "predicted_rating": pytest.approx(float(np.clip(user @ item, 0.5, 5.0)), abs=1e-4),
    }


@pytest.mark.parametrize(
    "url",
    [
        "/api/users/999/recommendations",
        "/api/users/999/ratings/1",
        f"/api/users/1/ratings/{UNRATED_ID}",
        "/api/movies/999999",
    ],
)
def test_unknown_ids_are_404_json(client, url: str) -> None:
    response = client.get(url)
    assert response.status_code == 404
    assert response.get_json()["error"] == "not_found"


def test_healthz(client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json()["build_id"] == BUILD_ID
    assert response.get_json()["status"] == "ok"


def test_api_is_csrf_exempt_but_form_is_not(app) -> None:
    fresh = app.test_client()
    assert fresh.post("/api/recommendations", json={"movie_ids": [1, 2, 3]}).status_code == 200
    assert fresh.post("/recommendations", data={"movie_ids": ["1", "2", "3"]}).status_code == 400


def test_openapi_documents_every_api_route(app) -> None:
    import re
    from pathlib import Path

    spec = (Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml").read_text()
    documented = set(re.findall(r"^  (/\S+):$", spec, flags=re.M))
    routes = {
        re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/") or rule.rule == "/healthz"
    }
    assert documented == routes


def test_recommendation_evidence_is_counted_and_is_the_sentence(client) -> None:
    """Each reason's evidence fields are brute-force counts from the ratings fixture the tables
    were made from (the kNN co-raters) or from the NeuMF tables, and the detail sentence shows
    exactly those numbers."""
    import re

    from conftest import fixture_raters

    tables = make_tables()
    raters = fixture_raters()
    movie_users, user_top = tables["neumf_movie_top_users"], tables["neumf_user_top"]
    genres = {
        m: set(g.split("|")) - {""} for m, g in zip(tables["movies"]["movie_id"], tables["movies"]["genres"])
    }
    catalog = [m["movie_id"] for m in client.get("/api/catalog").get_json()["movies"]]
    seen = set()
    for n in range(12):
        picks = [catalog[n], catalog[(n + 4) % len(catalog)], catalog[(n + 9) % len(catalog)]]
        body = client.post("/api/recommendations", json={"movie_ids": picks}).get_json()
        for movie in body["popular"] + body["less_known"]:
            ev, detail, source = movie["evidence"], movie["reason_detail"], movie["source"]
            if source == "fallback":
                assert ev is None
                continue
            assert ev["pick_id"] in movie["because_of"]
            pick, this = ev["pick_id"], movie["movie_id"]
            bare = detail
            for named in body["picks"]:  # a title's own digits are not evidence
                bare = bare.replace(named["title"], "")
            numbers = [int(x.replace(",", "")) for x in re.findall(r"\d[\d,]*", bare)]
            if "rated_both" in ev:
                seen.add(source)
                assert ev["pick_raters"] == len(raters[pick])
                assert ev["rated_both"] == len(raters[pick] & raters[this])
                assert numbers == [ev["rated_both"], ev["pick_raters"]]
                assert f"{ev['rated_both']} of the {ev['pick_raters']} people who rated" in detail
            elif source == "neumf":
                seen.add(source)
                users = set(movie_users.loc[movie_users["movie_id"] == pick, "user_id"])
                listing = set(user_top.loc[user_top["movie_id"] == this, "user_id"])
                assert ev["top_viewers"] == len(users)
                assert ev["top_viewers_with_this"] == len(users & listing)
                assert numbers == [ev["top_viewers_with_this"], ev["top_viewers"]]
            elif source == "content":
                seen.add(source)
                assert set(ev["shared_genres"]) == genres[pick] & genres[this]
                assert all(g in detail for g in ev["shared_genres"])
            else:
                assert source == "als" and set(ev) == {"pick_id"} and not numbers
    assert {"knn", "als", "neumf"} <= seen, seen  # content reasons: tests/webapp/test_recommend.py


@pytest.mark.parametrize("count", [1, 2, 5, 10])
def test_recommendations_for_one_to_ten_picks(client, count: int) -> None:
    """The API takes 1 to 10 picks (the cold-start curve's counts): ten movies, none a pick."""
    picks = list(range(1, count + 1))
    response = client.post("/api/recommendations", json={"movie_ids": picks})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert [m["movie_id"] for m in body["picks"]] == picks
    shown = [m["movie_id"] for m in body["popular"] + body["less_known"]]
    assert len(shown) == len(set(shown)) and not set(shown) & set(picks)
    assert body["popular"] and body["less_known"]


def test_too_many_movie_ids_is_a_clear_400(client) -> None:
    """More liked ids than a profile holds is refused with a message that says the limit."""
    from webapp.recommend import MAX_PROFILE

    response = client.post("/api/recommendations", json={"movie_ids": list(range(1, MAX_PROFILE + 2))})
    assert response.status_code == 400
    body = response.get_json()
    assert body["error"] == "invalid_picks"
    assert f"at most {MAX_PROFILE}" in body["message"]
