"""The smallest data set the synthetic generator makes (40 ratings of 2 users): the build runs
without warnings and publishes tables the web app serves. A real build, so marked slow.

Found by trying it: the build published an als_user_top with no rows, which the app refused
("column movie_id is not all integers"), and the ALS grid printed a numpy warning for each of its
empty validation scores."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from offline.config import PROJECT_ROOT
from offline.data.synth import SynthSize, write_release

pytestmark = pytest.mark.slow


def test_a_tiny_data_set_builds_quietly_into_tables_the_app_serves(tmp_path: Path) -> None:
    release, out = tmp_path / "ml-tiny", tmp_path / "trained"
    write_release(release, SynthSize.for_ratings(40), seed=42)
    result = subprocess.run(
        [sys.executable, "-m", "offline", "build", "--data-dir", str(release), "--posters", "none"]
        + ["--out-dir", str(out), "--work-dir", str(tmp_path / "work")],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Warning" not in result.stderr.replace("WARN NativeCodeLoader", ""), result.stderr[-3000:]

    from webapp import create_app

    app = create_app(
        {"TESTING": True, "TRAINED_DATA": str(out), "SECRET_KEY": "tiny", "RELOAD_INTERVAL": -1}
        | {"DATABASE_PATH": str(tmp_path / "feedback.sqlite3")}
    )
    client = app.test_client()
    picks = [m["movie_id"] for m in client.get("/api/catalog").get_json()["movies"][:3]]
    body = client.post("/api/recommendations", json={"movie_ids": picks}).get_json()
    assert len(body["popular"]) + len(body["less_known"]) == 10
    page = client.get("/recommendations?" + "&".join(f"movie_ids={m}" for m in picks))
    assert page.status_code == 200
