"""export-feedback: stored marks -> MovieLens ratings rows (no Spark)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from databases import BACKENDS, fresh_database

from offline.config import PROJECT_ROOT
from offline.feedback_export import export, user_id_base
from webapp import db
from webapp.feedback_store import FeedbackEntry, FeedbackStore, Limits

T0 = 1_800_000_000.0


def _mark(
    store: FeedbackStore,
    visitor: str,
    movie: int,
    kind: str,
    at: float,
    rating: float | None = None,
    picks: tuple[int, ...] = (),
) -> None:
    section = "marks" if kind == "undo" else "popular"
    store.record(
        FeedbackEntry(visitor, movie, kind, "b1", section, 1, rating), "127.0.0.1", picks=picks, now=at
    )


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest, tmp_path: Path):
    yield from fresh_database(request.param, tmp_path)


@pytest.fixture
def database(url: str) -> str:
    db.prepare(url)
    store = FeedbackStore(url, Limits(0, 0), b"s")
    a, b, c = "a" * 22, "b" * 22, "c" * 22
    _mark(store, a, 10, "loved", T0, picks=(1, 2, 3))
    _mark(store, b, 10, "loved", T0 + 1, picks=(1, 4, 5))  # b: only two signals
    _mark(store, a, 11, "rated", T0 + 2, rating=3.0)
    _mark(store, a, 12, "not_interested", T0 + 3)
    _mark(store, b, 13, "not_for_me", T0 + 4)
    _mark(store, c, 20, "not_for_me", T0 + 5, picks=(7, 8, 9))
    _mark(store, c, 21, "more_like_this", T0 + 6)
    _mark(store, c, 22, "loved", T0 + 7)
    _mark(store, c, 22, "undo", T0 + 8)  # c takes it back: two signals left...
    _mark(store, c, 23, "rated", T0 + 9, rating=5.0)  # ...and three again
    _mark(store, a, 11, "rated", T0 + 10, rating=4.0)  # a changes a rating: the latest counts
    store.dispose()
    return url


def test_each_visitors_latest_marks_become_ratings(database: str, tmp_path: Path) -> None:
    out = tmp_path / "var" / "feedback-ratings.csv"
    note = export(database, out, base=1000)
    frame = pd.read_csv(out)
    assert list(frame.columns) == ["userId", "movieId", "rating", "timestamp"]
    rows = sorted(map(tuple, frame[["userId", "movieId", "rating"]].itertuples(index=False)))
    assert rows == [
        (1000, 1, 4.5),
        (1000, 2, 4.5),
        (1000, 3, 4.5),
        (1000, 10, 4.5),
        (1000, 11, 4.0),
        # a's "not interested" (12) is no rating; b gave two marks: left out
        (1001, 7, 4.5),
        (1001, 8, 4.5),
        (1001, 9, 4.5),
        (1001, 20, 1.5),
        (1001, 23, 5.0),
        # c's "more like this" (21) and the loved-then-undone 22 are no ratings
    ]
    assert frame.loc[(frame.userId == 1000) & (frame.movieId == 11), "timestamp"].item() == int(T0 + 10)
    assert note["visitors"] == 2 and note["left_out"] == 1 and note["ratings"] == 10
    assert json.loads(out.with_suffix(".json").read_text())["user_id_base"] == 1000


def test_user_ids_start_above_the_data_set(database: str, tmp_path: Path) -> None:
    assert [user_id_base(n) for n in (0, 9, 10, 610, 999, 1000, 200_948)] == [
        10,
        10,
        100,
        1000,
        1000,
        10_000,
        1_000_000,
    ]
    data = tmp_path / "ml"
    data.mkdir()
    (data / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,1,4.0,1\n610,2,3.0,2\n")
    note = export(database, tmp_path / "out.csv", data_dir=data, min_signals=1)
    assert note["data_set_max_user_id"] == 610 and note["user_id_base"] == 1000
    assert pd.read_csv(tmp_path / "out.csv")["userId"].min() == 1000
    assert note["visitors"] == 3  # with one signal, b counts too


def test_the_command_line(database: str, tmp_path: Path) -> None:
    out = tmp_path / "f.csv"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "offline",
            "export-feedback",
            "--database-url",
            database,
            "--out",
            str(out),
            "--user-id-base",
            "5000",
        ],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "wrote 10 ratings of 2 visitors" in " ".join(result.stderr.split())
    assert pd.read_csv(out)["userId"].min() == 5000
    (tmp_path / "none.sqlite3").touch()  # an SQLite database without the app's tables
    empty = f"sqlite:///{tmp_path / 'none.sqlite3'}"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "offline",
            "export-feedback",
            "--database-url",
            empty,
            "--out",
            str(out),
            "--user-id-base",
            "5000",
        ],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1 and "holds no feedback tables" in result.stderr


def test_an_out_path_that_is_a_folder_is_one_line_and_leaves_nothing(database: str, tmp_path: Path) -> None:
    """The export used to fail on the rename with IsADirectoryError and leave its temporary file."""
    folder = tmp_path / "exports"
    folder.mkdir()
    with pytest.raises(ValueError, match=r"exports is a folder; pass the path of the CSV file"):
        export(database, folder, base=1000)
    assert [p.name for p in tmp_path.iterdir() if "exports" in p.name] == ["exports"]
    assert list(folder.iterdir()) == []


def test_an_existing_file_is_replaced_only_when_it_is_an_earlier_export(
    database: str, tmp_path: Path
) -> None:
    """A release's ratings.csv has the export's header: --out pointing at it replaced the data set."""
    ratings = tmp_path / "ratings.csv"
    ratings.write_text("userId,movieId,rating,timestamp\n1,1,4.0,1\n")
    with pytest.raises(ValueError, match=r"ratings.csv exists and is not an earlier export"):
        export(database, ratings, base=1000)
    assert ratings.read_text() == "userId,movieId,rating,timestamp\n1,1,4.0,1\n"
    out = tmp_path / "feedback-ratings.csv"
    first = export(database, out, base=1000)
    assert export(database, out, base=2000)["user_id_base"] == 2000 != first["user_id_base"]


def test_a_mistyped_sqlite_path_is_not_created(tmp_path: Path) -> None:
    """SQLite made an empty database file at the mistyped path, and the message was about tables."""
    missing = tmp_path / "typo.sqlite3"
    with pytest.raises(db.DatabaseError, match=r"typo.sqlite3: no such database file"):
        export(f"sqlite:///{missing}", tmp_path / "out.csv", base=1000)
    assert not missing.exists() and not (tmp_path / "out.csv").exists()
