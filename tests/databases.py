"""The databases the storage tests run on: a fresh SQLite file always, and a fresh database on
the PostgreSQL server named by MOVIEREC_TEST_POSTGRES_URL (.ci/run starts a throw-away one).
Without that variable the PostgreSQL cases are skipped; with it they must run."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

POSTGRES_ENV = "MOVIEREC_TEST_POSTGRES_URL"
BACKENDS = ["sqlite", "postgresql"]


def fresh_database(backend: str, tmp_path: Path) -> Iterator[str]:
    """A URL of an empty database of this backend, dropped afterwards."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'feedback.sqlite3'}"
        return
    server = os.environ.get(POSTGRES_ENV)
    if not server:
        pytest.skip(f"set {POSTGRES_ENV} to run the storage tests on PostgreSQL (.ci/run does)")
    name = f"movierec_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
