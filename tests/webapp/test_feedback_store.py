"""The feedback database on SQLite and on PostgreSQL: migrations, the stored rows, the schema's
own checks, rate limits, and concurrent writers from several processes."""

from __future__ import annotations

import datetime as dt
import multiprocessing
from collections.abc import Iterator
from pathlib import Path

import pytest
from databases import BACKENDS, fresh_database
from sqlalchemy import insert, select, text
from sqlalchemy.exc import IntegrityError

from webapp import db
from webapp.feedback_store import FeedbackEntry, FeedbackStore, Limits, RateLimited

NOW = 1_800_000_000.0  # a fixed time at the start of a minute window (1_800_000_000 % 60 == 0)


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    yield from fresh_database(request.param, tmp_path)


@pytest.fixture
def migrated(url: str) -> str:
    db.prepare(url)
    return url


_OPEN: list[FeedbackStore] = []


@pytest.fixture(autouse=True)
def _dispose_stores() -> Iterator[None]:
    """Close every store's connections after each test (an engine dropped with open connections
    is a ResourceWarning, and the PostgreSQL database is dropped at teardown)."""
    yield
    while _OPEN:
        _OPEN.pop().dispose()


def _store(url: str, visitor: int = 0, address: int = 0) -> FeedbackStore:
    store = FeedbackStore(url, Limits(visitor, address), b"secret")
    _OPEN.append(store)
    return store


def _entry(
    visitor: str = "visitor-aaaaaaaaaaaaaaaa",
    movie: int = 318,
    kind: str = "loved",
    rating: float | None = None,
    rank: int = 2,
) -> FeedbackEntry:
    return FeedbackEntry(visitor, movie, kind, "build-1", "popular", rank, rating)


def test_migrations_create_check_and_report_in_one_line(url: str) -> None:
    with pytest.raises(db.DatabaseError) as refused:
        db.prepare(url, "check")
    assert "has schema none, this code needs 0001_feedback" in str(refused.value)
    assert "python -m webapp.db upgrade" in str(refused.value) and "\n" not in str(refused.value)
    line = db.prepare(url)
    assert "schema 0001_feedback, upgraded from an empty database" in line and "\n" not in line
    assert db.prepare(url, "check").endswith("schema 0001_feedback, current")
    assert db.prepare(url).endswith("current")  # idempotent


def test_a_password_never_reaches_the_log_line() -> None:
    shown = db.describe("postgresql+psycopg://app:s3cret@db.example/movierec")
    assert "s3cret" not in shown and "app:***@db.example" in shown


def test_an_unusable_database_is_one_clear_line(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(db.DatabaseError) as refused:
        db.prepare(f"sqlite:///{tmp_path / 'file' / 'db.sqlite3'}")  # a file where a folder should be
    assert str(refused.value).startswith("database sqlite:///") and "\n" not in str(refused.value)


def test_a_schema_from_newer_code_is_refused_and_left_as_it_is(migrated: str) -> None:
    """After a rolled-back deploy the database has a revision this code does not know: `upgrade`
    was Alembic's traceback and `check` advised running `upgrade`."""
    from sqlalchemy import create_engine

    engine = create_engine(migrated)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0002_from_the_future'"))
    for mode in ("upgrade", "check"):
        with pytest.raises(db.DatabaseError) as refused:
            db.prepare(migrated, mode)
        message = str(refused.value)
        assert "has schema 0002_from_the_future, which this code does not know" in message
        assert "nothing was changed" in message and "\n" not in message
    with engine.connect() as connection:
        assert (
            connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
            == "0002_from_the_future"
        )
    engine.dispose()


def test_record_stores_every_field_and_the_picks_once(migrated: str) -> None:
    store = _store(migrated)
    stored = store.record(_entry(), "127.0.0.1", picks=(1, 2, 3), now=NOW)
    store.record(
        _entry(movie=260, kind="rated", rating=3.5, rank=4), "127.0.0.1", picks=(1, 2, 3), now=NOW + 1
    )
    rows = store.rows("visitor-aaaaaaaaaaaaaaaa")
    assert [(r["kind"], r["movie_id"], r["section"], r["rank"]) for r in rows] == [
        ("pick", 1, "picks", 1),
        ("pick", 2, "picks", 2),
        ("pick", 3, "picks", 3),
        ("loved", 318, "popular", 2),
        ("rated", 260, "popular", 4),
    ]
    loved = rows[3]
    assert loved["id"] == stored.id and loved["build_id"] == "build-1" and loved["rating"] is None
    assert rows[4]["rating"] == 3.5
    created = loved["created_at"]
    created = created if created.tzinfo else created.replace(tzinfo=dt.UTC)
    assert created == dt.datetime.fromtimestamp(NOW, dt.UTC)
    store.dispose()


def test_the_schema_refuses_what_the_app_never_writes(migrated: str) -> None:
    """The checks hold in the database itself, not only in the app: a rating on a 'loved' row, a
    rating out of range, an unknown kind or section, a rank of 0."""
    engine = db.make_engine(migrated)
    good = {
        "created_at": dt.datetime.now(dt.UTC),
        "visitor_id": "v" * 22,
        "movie_id": 1,
        "kind": "rated",
        "rating": 4.0,
        "build_id": "b",
        "section": "popular",
        "rank": 1,
    }
    with engine.begin() as conn:
        conn.execute(insert(db.feedback).values(**good))
    for bad in (
        {"kind": "loved"},
        {"rating": 5.5},
        {"rating": None},
        {"kind": "hated", "rating": None},
        {"section": "sidebar"},
        {"rank": 0},
    ):
        with pytest.raises(IntegrityError):
            with engine.begin() as conn:
                conn.execute(insert(db.feedback).values(**{**good, **bad}))
    with engine.connect() as conn:
        assert conn.execute(select(db.feedback.c.id)).all() == [(1,)]
    engine.dispose()


def test_rate_limit_per_visitor(migrated: str) -> None:
    store = _store(migrated, visitor=3)
    for n in range(3):
        store.record(_entry(movie=10 + n), "10.0.0.1", now=NOW + n)
    with pytest.raises(RateLimited) as limited:
        store.record(_entry(movie=20), "10.0.0.1", now=NOW + 10)
    assert limited.value.scope == "visitor" and limited.value.retry_after == 50
    assert "at most 3 marks a minute per visitor" in str(limited.value)
    store.record(_entry(visitor="visitor-bbbbbbbbbbbbbbbb", movie=20), "10.0.0.1", now=NOW + 11)
    # a fresh worker (no memory of the refusal) is refused by the database's count
    with pytest.raises(RateLimited):
        _store(migrated, visitor=3).record(_entry(movie=21), "10.0.0.2", now=NOW + 12)
    store.record(_entry(movie=22), "10.0.0.1", now=NOW + 60)  # the next minute
    movies = [r["movie_id"] for r in store.rows("visitor-aaaaaaaaaaaaaaaa")]
    assert movies == [10, 11, 12, 22]  # nothing of the refused ones was stored


def test_rate_limit_per_address_and_old_windows_go(migrated: str) -> None:
    store = _store(migrated, address=2)
    store.record(_entry(visitor="v1" * 8), "192.0.2.7", now=NOW)
    store.record(_entry(visitor="v2" * 8), "192.0.2.7", now=NOW + 1)
    with pytest.raises(RateLimited) as limited:
        store.record(_entry(visitor="v3" * 8), "192.0.2.7", now=NOW + 2)
    assert limited.value.scope == "address"
    store.record(_entry(visitor="v3" * 8), "192.0.2.8", now=NOW + 3)  # another address
    store.record(_entry(visitor="v4" * 8), "192.0.2.7", now=NOW + 200)
    with store.engine.connect() as conn:
        keys = conn.execute(select(db.rate_limits.c.limit_key, db.rate_limits.c.window_start)).all()
    assert all(window >= NOW + 120 for _, window in keys)  # earlier windows were deleted
    assert not any("192.0.2" in key for key, _ in keys)  # addresses only as keyed hashes


def _writer(url: str, worker: int, count: int) -> None:
    store = _store(url)
    for n in range(count):
        store.record(
            _entry(visitor=f"worker-{worker:02d}-aaaaaaaaaa", movie=1000 + n),
            f"10.1.0.{worker}",
            picks=(1, 2, 3),
        )
    store.dispose()


def test_concurrent_writers_lose_nothing(migrated: str) -> None:
    """Four processes write 40 marks each at once: every mark is there, picks once per visitor."""
    context = multiprocessing.get_context("fork")
    procs = [context.Process(target=_writer, args=(migrated, w, 40)) for w in range(4)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(120)
        assert proc.exitcode == 0
    rows = _store(migrated).rows()
    marks = [r for r in rows if r["kind"] == "loved"]
    assert len(marks) == 160 and len({r["id"] for r in rows}) == len(rows)
    for w in range(4):
        mine = [r["movie_id"] for r in marks if r["visitor_id"] == f"worker-{w:02d}-aaaaaaaaaa"]
        assert mine == list(range(1000, 1040))  # in order
    assert sum(r["kind"] == "pick" for r in rows) == 12


def test_sqlite_is_in_wal_mode_with_full_sync(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.sqlite3'}"
    engine = db.make_engine(url)
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() == db.BUSY_TIMEOUT_MS
    engine.dispose()


def test_the_migrations_match_the_tables_the_code_uses(migrated: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    engine = db.make_engine(migrated)
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), db.metadata) == []
    engine.dispose()
