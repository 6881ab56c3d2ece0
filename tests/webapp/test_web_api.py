"""The JSON API and the health check."""
from __future__ import annotations

import pytest

from conftest import AMELIE_ID, BUILD_ID, N_POPULAR, UNRATED_ID

MOVIE_KEYS = {"movie_id", "title", "year", "genres", "poster_url", "rating_count", "score", "reason"}


def test_recommendations(client, store) -> None:
    response = client.post("/api/recommendations", json={"movie_ids": [1, AMELIE_ID, 20]})
    body = response.get_json()
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert [m["movie_id"] for m in body["picks"]] == [1, AMELIE_ID, 20]
    assert len(body["popular"]) == 5 and len(body["less_known"]) == 5
    for movie in body["picks"] + body["popular"] + body["less_known"]:
        assert MOVIE_KEYS <= set(movie)
        assert isinstance(movie["genres"], list)
    for movie in body["popular"] + body["less_known"]:
        assert movie["reason"].startswith("Because you picked")
        assert isinstance(movie["score"], float)
        assert set(movie["because_of"]) <= {1, AMELIE_ID, 20}
    assert body["picks"][1]["title"] == "Amélie"
    assert body["less_known_min_count"] == store.levels["gems"]
    assert body["build_id"] == BUILD_ID
    expected = store.recommend([1, AMELIE_ID, 20])
    assert [m["movie_id"] for m in body["popular"]] == [r.movie_id for r in expected.popular]


def test_recommendations_less_known_settings(client, store) -> None:
    known = client.post("/api/recommendations", json={"movie_ids": [1, 5, 20], "less_known": "known"})
    assert known.get_json()["less_known_min_count"] == store.levels["known"]
    explicit = client.post("/api/recommendations", json={"movie_ids": [1, 5, 20], "less_known_min_count": 30})
    assert explicit.status_code == 200 and explicit.get_json()["less_known_min_count"] == 30


def test_recommendations_charset_param_is_json(client) -> None:
    response = client.post("/api/recommendations", data='{"movie_ids": [1, 2, 3]}',
                           content_type="application/json; charset=utf-8")
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


def test_user_recommendations(client, store) -> None:
    body = client.get("/api/users/1/recommendations").get_json()
    assert body["user_id"] == 1
    expected = store.tables["als_user_top"].query("user_id == 1").sort_values("rank")
    assert [m["movie_id"] for m in body["recommendations"]] == expected["movie_id"].tolist()
    assert [m["rank"] for m in body["recommendations"]] == [1, 2, 3, 4, 5]
    assert body["recommendations"][0]["predicted_rating"] == pytest.approx(expected["score"].iloc[0], abs=1e-4)
    assert len(client.get("/api/users/1/recommendations?limit=2").get_json()["recommendations"]) == 2


def test_predicted_rating(client, store) -> None:
    body = client.get("/api/users/2/ratings/3").get_json()
    assert body == {"user_id": 2, "movie_id": 3,
                    "predicted_rating": pytest.approx(store.predicted_rating(2, 3), abs=1e-4)}
    assert 0.5 <= body["predicted_rating"] <= 5.0


@pytest.mark.parametrize("url", ["/api/users/999/recommendations", "/api/users/999/ratings/1",
                                 f"/api/users/1/ratings/{UNRATED_ID}", "/api/movies/999999"])
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
    routes = {re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule) for rule in app.url_map.iter_rules()
              if rule.rule.startswith("/api/") or rule.rule == "/healthz"}
    assert documented == routes
