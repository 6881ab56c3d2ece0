"""Storing visitors' feedback: one committed transaction per mark, with rate limits.

`FeedbackStore.record()` checks the visitor's and the address's rate limits and inserts the mark
(and, the first time, the picks it was given under) in one transaction, committed before it
returns: a mark the visitor saw acknowledged is on disk. Every mark is kept (an append-only log;
"undo" is a row too), so nothing a visitor said is lost or overwritten.

Rate limits are counted in the database (table rate_limits, one row per key and minute), so all
gunicorn workers, and all app servers on one PostgreSQL, share them. Addresses are stored only
as a keyed hash, in rows deleted after two minutes; the feedback rows hold no address. A worker
remembers which keys are over their limit until the minute ends, so a flood from one visitor is
refused without touching the database.

Engines are made per process: gunicorn forks its workers after start-up, and connections must
not be shared across a fork.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import os
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from sqlalchemy import and_, delete, insert, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from webapp.db import KINDS, SECTIONS, feedback, make_engine, rate_limits

WINDOW_S = 60


@dataclass(frozen=True)
class FeedbackEntry:
    """One piece of feedback as the app hands it over (already validated)."""

    visitor_id: str
    movie_id: int
    kind: str  # webapp.db.KINDS
    build_id: str
    section: str  # webapp.db.SECTIONS
    rank: int
    rating: float | None = None

    def __post_init__(self) -> None:
        # The last line of defence; the views say what is wrong in the visitor's words first.
        if self.kind not in KINDS or self.section not in SECTIONS or self.rank < 1:
            raise ValueError(f"not a valid mark: {self}")
        if (self.kind == "rated") != (self.rating is not None):
            raise ValueError("a rating goes with kind 'rated' only")


@dataclass(frozen=True)
class Stored:
    id: int
    created_at: dt.datetime


@dataclass(frozen=True)
class Limits:
    """Marks per minute; 0 turns a limit off."""

    per_visitor: int = 60
    per_address: int = 600


class RateLimited(Exception):
    """Too many marks from one visitor or one address in this minute."""

    def __init__(self, scope: str, limit: int, retry_after: int) -> None:
        self.scope, self.limit, self.retry_after = scope, limit, retry_after
        who = "visitor" if scope == "visitor" else "network address"
        super().__init__(
            f"Too much feedback at once: at most {limit} marks a minute per {who}. "
            f"Please wait {retry_after} s and try again; nothing you marked before "
            f"was lost."
        )


class FeedbackStore:
    """The app's handle on the feedback tables."""

    def __init__(self, url: str, limits: Limits, secret: bytes) -> None:
        self.url = url
        self.limits = limits
        self._secret = secret
        self._engine: Engine | None = None
        self._pid = 0
        self._blocked: dict[str, tuple[int, str, int]] = {}  # key -> (window, scope, limit)
        self._lock = threading.Lock()

    @property
    def engine(self) -> Engine:
        """This process's engine (a forked worker makes its own)."""
        if self._engine is None or self._pid != os.getpid():
            with self._lock:
                if self._engine is None or self._pid != os.getpid():
                    self._engine, self._pid = make_engine(self.url), os.getpid()
                    self._blocked = {}
        return self._engine

    def dispose(self) -> None:
        if self._engine is not None and self._pid == os.getpid():
            self._engine.dispose()
        self._engine = None

    # ------------------------------------------------------------------ writing
    def record(
        self, mark: "FeedbackEntry", address: str, picks: Sequence[int] = (), now: float | None = None
    ) -> Stored:
        """Store one mark (and the picks it was given under, once per visitor and movie) after
        the rate limits; committed when this returns. RateLimited when over a limit."""
        now = time.time() if now is None else now
        window = int(now // WINDOW_S) * WINDOW_S
        keys = self._keys(mark.visitor_id, address)
        self._refuse_if_blocked(keys, window, now)
        created = dt.datetime.fromtimestamp(now, dt.UTC)
        with self.engine.begin() as conn:
            for key, scope, limit in keys:
                if limit and self._hit(conn, key, window) > limit:
                    # leaving the block rolls the transaction (this request's counts) back
                    with self._lock:
                        self._blocked[key] = (window, scope, limit)
                    raise RateLimited(scope, limit, max(1, int(window + WINDOW_S - now + 0.999)))
            new_picks = self._new_picks(conn, mark.visitor_id, picks)
            rows = [
                {
                    "created_at": created,
                    "visitor_id": mark.visitor_id,
                    "movie_id": int(p),
                    "kind": "pick",
                    "rating": None,
                    "build_id": mark.build_id,
                    "section": "picks",
                    "rank": n,
                }
                for n, p in enumerate(picks, start=1)
                if int(p) in new_picks
            ]
            if rows:
                conn.execute(insert(feedback), rows)
            result = conn.execute(
                insert(feedback).values(
                    created_at=created,
                    visitor_id=mark.visitor_id,
                    movie_id=mark.movie_id,
                    kind=mark.kind,
                    rating=mark.rating,
                    build_id=mark.build_id,
                    section=mark.section,
                    rank=mark.rank,
                )
            )
            inserted = result.inserted_primary_key
            assert inserted is not None  # a single-row insert
            stored = Stored(int(inserted[0]), created)
        return stored

    def _keys(self, visitor_id: str, address: str) -> list[tuple[str, str, int]]:
        hashed = hmac.new(self._secret, address.encode(), hashlib.sha256).hexdigest()[:32]
        return [
            ("v:" + visitor_id, "visitor", self.limits.per_visitor),
            ("a:" + hashed, "address", self.limits.per_address),
        ]

    def _refuse_if_blocked(self, keys: list[tuple[str, str, int]], window: int, now: float) -> None:
        """Refuse at once a key this worker already saw over its limit in this window."""
        with self._lock:
            for key, _, _ in keys:
                found = self._blocked.get(key)
                if found is not None and found[0] != window:
                    del self._blocked[key]
                elif found is not None:
                    raise RateLimited(found[1], found[2], max(1, int(window + WINDOW_S - now + 0.999)))

    @staticmethod
    def _hit(conn: Connection, key: str, window: int) -> int:
        """Count one request of key in window; the count so far (this one included)."""
        where = and_(rate_limits.c.limit_key == key, rate_limits.c.window_start == window)
        bump = update(rate_limits).where(where).values(hits=rate_limits.c.hits + 1)
        if conn.dialect.update_returning:  # SQLite >= 3.35, PostgreSQL: one statement
            found = conn.execute(bump.returning(rate_limits.c.hits)).scalar_one_or_none()
            if found is not None:
                return int(found)
        elif conn.execute(bump).rowcount:
            return int(conn.execute(select(rate_limits.c.hits).where(where)).scalar_one())
        # The key's first request in this window: old windows go now (once per key and minute).
        conn.execute(delete(rate_limits).where(rate_limits.c.window_start < window - WINDOW_S))
        try:
            with conn.begin_nested():  # a concurrent first insert (PostgreSQL) must not abort us
                conn.execute(insert(rate_limits).values(limit_key=key, window_start=window, hits=1))
            return 1
        except IntegrityError:
            conn.execute(update(rate_limits).where(where).values(hits=rate_limits.c.hits + 1))
            return int(conn.execute(select(rate_limits.c.hits).where(where)).scalar_one())

    @staticmethod
    def _new_picks(conn: Connection, visitor_id: str, picks: Sequence[int]) -> set[int]:
        if not picks:
            return set()
        stored = conn.execute(
            select(feedback.c.movie_id).where(
                feedback.c.visitor_id == visitor_id,
                feedback.c.kind == "pick",
                feedback.c.movie_id.in_([int(p) for p in picks]),
            )
        ).scalars()
        return {int(p) for p in picks} - set(stored)

    # ------------------------------------------------------------------ reading
    def rows(self, visitor_id: str | None = None) -> list[dict]:
        """Stored marks in the order they were made (tests, tools)."""
        query = select(feedback).order_by(feedback.c.id)
        if visitor_id is not None:
            query = query.where(feedback.c.visitor_id == visitor_id)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]


def iter_marks(engine: Engine, chunk: int = 10_000) -> Iterator[dict]:
    """Every stored mark in id order, streamed in chunks (the export)."""
    last = 0
    with engine.connect() as conn:
        while True:
            rows = conn.execute(
                select(feedback).where(feedback.c.id > last).order_by(feedback.c.id).limit(chunk)
            ).all()
            if not rows:
                return
            for row in rows:
                yield dict(row._mapping)
            last = rows[-1].id
