"""The loop end to end: visitors give feedback through the web app, export-feedback writes it as
ratings, build --include-feedback learns from it, and the new tables show it. On a tiny synthetic
release (offline.data.synth); two real builds, so marked slow."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from html import unescape
from pathlib import Path

import pandas as pd
import pytest
from werkzeug.datastructures import MultiDict

from offline.config import PROJECT_ROOT
from offline.data.synth import SynthSize, write_release

pytestmark = pytest.mark.slow


def _offline(*args: str) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "-m", "offline", *args],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def _form(html: str) -> list[tuple[str, str]]:
    form = html.split('<form id="feedback"', 1)[1].split("</form>", 1)[0]
    return [
        (unescape(n), unescape(v))
        for n, v in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form)
    ]


def test_feedback_reaches_the_next_build(tmp_path: Path) -> None:
    release, work = tmp_path / "ml-synth", tmp_path / "work"
    write_release(release, SynthSize.for_ratings(20_000), seed=11)
    common = ["--data-dir", str(release), "--posters", "none", "--work-dir", str(work)]
    first = tmp_path / "trained-a"
    _offline("build", *common, "--out-dir", str(first))

    # three visitors mark the same list through the web app (the result page's form); a fourth
    # gives two marks only and is left out of the export
    from webapp import create_app

    database = tmp_path / "feedback.sqlite3"
    app = create_app(
        {
            "TESTING": True,
            "TRAINED_DATA": str(first),
            "SECRET_KEY": "loop",
            "RELOAD_INTERVAL": -1,
            "DATABASE_PATH": str(database),
        }
    )
    catalog = app.test_client().get("/api/catalog").get_json()["movies"]
    picks = [m["movie_id"] for m in catalog[:3]]
    url = "/recommendations?" + "&".join(f"movie_ids={m}" for m in picks)
    page = app.test_client().get(url).get_data(as_text=True)
    shown = [int(m) for m in re.findall(r'value="loved:(\d+)"', page)]
    loved, disliked, rated = shown[0], shown[1], shown[5]
    for visitor in range(4):
        client = app.test_client()
        marks = [f"loved:{loved}", f"not_for_me:{disliked}", f"rated:{rated}"][: 3 if visitor < 3 else 2]
        for mark in marks:
            html = client.get(url).get_data(as_text=True)
            data = MultiDict(_form(html) + [("mark", mark), (f"stars-{rated}", "5")])
            assert client.post("/feedback", data=data).status_code == 303

    exported = tmp_path / "feedback-ratings.csv"
    out = _offline(
        "export-feedback", *common, "--database-url", f"sqlite:///{database}", "--out", str(exported)
    )
    assert "3 visitors" in out.stderr
    rows = pd.read_csv(exported)
    base = json.loads(exported.with_suffix(".json").read_text())["user_id_base"]
    data_set = pd.read_csv(release / "ratings.csv")
    assert base > data_set["userId"].max()
    assert sorted(rows["userId"].unique()) == [base, base + 1, base + 2]
    assert len(rows) == 3 * 6  # three picks, loved, not for me, rated

    second = tmp_path / "trained-b"
    _offline("build", *common, "--out-dir", str(second), "--include-feedback", str(exported))
    a = json.loads((first / "manifest.json").read_text())
    b = json.loads((second / "manifest.json").read_text())
    # the input fingerprint covers the visitors' file
    assert "feedback-ratings.csv" in b["input"]["files"] and "feedback-ratings.csv" not in a["input"]["files"]
    assert b["input"]["fingerprint"] != a["input"]["fingerprint"]
    assert b["input"]["rows"]["ratings"] == a["input"]["rows"]["ratings"] + len(rows)
    assert b["input"]["rows"]["users"] == a["input"]["rows"]["users"] + 3
    # the new tables: three more ratings of each marked movie, and the visitors as ALS users
    stats_a = pd.read_csv(first / "movie_stats.csv").set_index("movie_id")["vote_count"]
    stats_b = pd.read_csv(second / "movie_stats.csv").set_index("movie_id")["vote_count"]
    for movie in (loved, disliked, rated, *picks):
        assert stats_b[movie] == stats_a[movie] + 3, movie
    users = set(pd.read_csv(second / "als_user_factors.csv")["user_id"])
    assert {base, base + 1, base + 2} <= users
    assert not {base, base + 1, base + 2} & set(pd.read_csv(first / "als_user_factors.csv")["user_id"])
