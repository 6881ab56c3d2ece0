"""Behind a reverse proxy (MOVIEREC_PROXY_COUNT): the visitor's address and the mount prefix come
from the X-Forwarded-* headers of exactly that many proxies, and are ignored without it (a client
could send them itself)."""

from __future__ import annotations

import logging
import re

import pytest
from conftest import BUILD_ID

from webapp import create_app
from webapp.settings import settings_from_env

RESULT_PATH = "/recommendations?movie_ids={}&movie_ids={}&movie_ids={}"


def _app(trained_dir, tmp_path, **config):
    return create_app(
        {
            "TESTING": True,
            "TRAINED_DATA": str(trained_dir),
            "SECRET_KEY": "test",
            "RELOAD_INTERVAL": -1,
            "DATABASE_PATH": str(tmp_path / "feedback.sqlite3"),
            **config,
        }
    )


def _mark(client, movie_id: int, address: str):
    body = {"movie_id": movie_id, "kind": "loved", "build_id": BUILD_ID, "section": "popular", "rank": 1}
    return client.post("/api/feedback", json=body, headers={"X-Forwarded-For": address})


@pytest.mark.parametrize("proxies, other_address_status", [(0, 429), (1, 201)])
def test_the_per_address_limit_counts_the_forwarded_address_only_behind_a_proxy(
    trained_dir, tmp_path, proxies: int, other_address_status: int
) -> None:
    app = _app(trained_dir, tmp_path, PROXY_COUNT=proxies, RATE_LIMIT_ADDRESS=2, RATE_LIMIT_VISITOR=0)
    client = app.test_client()
    movies = [m["movie_id"] for m in client.get("/api/catalog").get_json()["movies"]][:4]
    first = [_mark(client, m, "203.0.113.7").status_code for m in movies[:2]]
    assert first == [201, 201]
    assert _mark(client, movies[2], "203.0.113.7").status_code == 429
    # Another visitor's address: its own allowance behind a proxy; without one, every request
    # comes from the same peer (the test client's 127.0.0.1), so it shares the spent allowance.
    assert _mark(client, movies[3], "198.51.100.9").status_code == other_address_status


@pytest.mark.parametrize("proxies", [0, 1])
def test_links_carry_the_forwarded_prefix_only_behind_a_proxy(trained_dir, tmp_path, proxies: int) -> None:
    client = _app(trained_dir, tmp_path, PROXY_COUNT=proxies).test_client()
    ids = [m["movie_id"] for m in client.get("/api/catalog").get_json()["movies"]][:3]
    page = client.get(RESULT_PATH.format(*ids), headers={"X-Forwarded-Prefix": "/films"})
    html = page.get_data(as_text=True)
    links = re.findall(r'(?:href|action|src)="(/[^"]*)"', html)
    assert len(links) > 10
    on_prefix = [link for link in links if link.startswith("/films/")]
    assert on_prefix == (links if proxies else [])


@pytest.mark.parametrize("value", ["-1", "11", "one", "²"])
def test_a_bad_proxy_count_stops_start_up_with_its_name(trained_dir, tmp_path, value: str) -> None:
    with pytest.raises(ValueError, match="MOVIEREC_PROXY_COUNT"):
        _app(trained_dir, tmp_path, **settings_from_env({"MOVIEREC_PROXY_COUNT": value}))


@pytest.mark.parametrize("proxies", [0, 1])
def test_a_forwarded_request_without_a_trusted_proxy_is_logged_once(
    trained_dir, tmp_path, caplog, proxies: int
) -> None:
    """An operator who puts nginx in front and forgets MOVIEREC_PROXY_COUNT hears of it."""
    client = _app(trained_dir, tmp_path, PROXY_COUNT=proxies).test_client()
    with caplog.at_level(logging.WARNING, logger="webapp"):
        client.get("/healthz")  # no header: nothing to say
        for _ in range(3):
            assert client.get("/healthz", headers={"X-Forwarded-For": "203.0.113.7"}).status_code == 200
    said = [r.getMessage() for r in caplog.records if r.name == "webapp"]
    assert len(said) == (0 if proxies else 1)
    assert all("MOVIEREC_PROXY_COUNT is 0" in line for line in said)
