"""Feedback under real gunicorn: a stream of posts while workers are killed with SIGKILL; every
mark a client saw acknowledged (201) must be in the database, whole, and the database intact."""

from __future__ import annotations

import http.client
import json
import os
import signal
import sqlite3
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from conftest import AMELIE_ID
from test_web_gunicorn import _free_port, _get, _gunicorn, _stop, _wait, _workers

POSTERS = 4  # client threads
KILLS = 3


def _post(base: str, n: int) -> int | None:
    """One mark; its stored id when acknowledged, None when the answer never came (killed)."""
    body = json.dumps(
        {
            "movie_id": AMELIE_ID,
            "kind": "rated",
            "rating": 0.5 + (n % 10) / 2,
            "build_id": f"post-{n}",
            "section": "popular",
            "rank": 1 + n % 5,
        }
    ).encode()
    request = urllib.request.Request(
        base + "/api/feedback", data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)["feedback"]["id"] if response.status == 201 else None
    except (
        urllib.error.URLError,
        ConnectionError,
        TimeoutError,
        json.JSONDecodeError,
        http.client.HTTPException,
    ):
        # a worker killed mid-request: the client was told nothing, or got the headers without
        # the whole body (IncompleteRead), which acknowledges nothing either
        return None


def test_acknowledged_marks_survive_killed_workers(trained_copy: Path, tmp_path: Path) -> None:
    database = tmp_path / "feedback.sqlite3"
    port, log = _free_port(), tmp_path / "gunicorn.log"
    proc = _gunicorn(
        trained_copy,
        port,
        log,
        MOVIEREC_DATABASE_PATH=str(database),
        MOVIEREC_RATE_LIMIT_VISITOR="0",
        MOVIEREC_RATE_LIMIT_ADDRESS="0",
        MOVIEREC_ACCESS_LOG="",
    )
    base = f"http://127.0.0.1:{port}"
    acknowledged: dict[int, int] = {}  # post number -> stored id
    sent = [0]
    lock = threading.Lock()
    stop = threading.Event()

    def poster() -> None:
        while not stop.is_set():
            with lock:
                n = sent[0] = sent[0] + 1
            stored = _post(base, n)
            if stored is not None:
                with lock:
                    acknowledged[n] = stored

    try:
        _wait(lambda: _get(base + "/healthz")[0] == 200)
        threads = [threading.Thread(target=poster) for _ in range(POSTERS)]
        for thread in threads:
            thread.start()
        killed = []
        for _ in range(KILLS):
            time.sleep(1.0)
            workers = sorted(_workers(proc.pid))
            victim = workers[len(killed) % len(workers)]
            os.kill(victim, signal.SIGKILL)  # mid-stream: some request is likely in flight
            killed.append(victim)
            _wait(lambda gone=victim: gone not in _workers(proc.pid) and len(_workers(proc.pid)) == 2)
        time.sleep(1.0)
        stop.set()
        for thread in threads:
            thread.join(30)
        assert proc.poll() is None
        assert _get(base + "/healthz")[0] == 200
    finally:
        stop.set()
        _stop(proc, log)

    assert len(acknowledged) > 50, f"too few posts got through ({len(acknowledged)} of {sent[0]})"
    with sqlite3.connect(database) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows = {
            r[0]: r
            for r in conn.execute(
                "SELECT id, build_id, kind, rating, movie_id, section, rank FROM feedback "
                "WHERE kind = 'rated'"
            )
        }
    missing = [n for n, stored in acknowledged.items() if stored not in rows]
    assert not missing, f"acknowledged but not stored: {missing[:10]}"
    for n, stored in acknowledged.items():  # whole rows, as they were sent
        assert rows[stored][1:] == (f"post-{n}", "rated", 0.5 + (n % 10) / 2, AMELIE_ID, "popular", 1 + n % 5)
    # a post whose answer was lost may or may not be stored, but nothing else is there
    unacknowledged = len(rows) - len(acknowledged)
    assert 0 <= unacknowledged <= KILLS * POSTERS
    assert len(killed) == KILLS
    print(
        f"{sent[0]} posts sent, {len(acknowledged)} acknowledged and all stored, "
        f"{unacknowledged} stored without an answer, {KILLS} workers killed"
    )
