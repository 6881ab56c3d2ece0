"""The feedback database: where it is, its schema, engines with safe settings, and migrations.

SQLite by default (a file, no set-up; `MOVIEREC_DATABASE_PATH`, default `var/movierec.sqlite3`,
outside trained_data/ so a rebuild never touches it); any database SQLAlchemy supports by URL
(`MOVIEREC_DATABASE_URL`, e.g. `postgresql+psycopg://user@host/movierec`). The schema is managed
by Alembic migrations (webapp/migrations/); the app applies them at start-up, or only checks them
(`MOVIEREC_DATABASE_MIGRATE=check`), and says so in one line.

    python -m webapp.db upgrade|check|current     # the same, by hand

SQLite settings, per connection: WAL journal (readers never wait for the writer), synchronous=FULL
(a commit is on disk before it returns, so a row the visitor saw acknowledged survives a killed
worker or a power cut), a busy timeout (workers queue for the write lock instead of failing), and
BEGIN IMMEDIATE for writing transactions (the write lock is taken at the start, so two workers
never deadlock upgrading a read lock).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    create_engine,
    event,
)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
BUSY_TIMEOUT_MS = 10_000

# What a visitor can say about a movie (webapp/marks.py maps them to the recommender's profile and
# offline/feedback_export.py to ratings). "pick": one of the three picks the feedback was given
# under, stored once per visitor and movie; "undo": a mark taken back.
KINDS = ("pick", "loved", "not_for_me", "not_interested", "rated", "more_like_this", "undo")
# Where the movie was on the page: the picks row, one of the two result sections, or the
# visitor's own list of marks (where "undo" is clicked).
SECTIONS = ("picks", "popular", "less_known", "marks")

metadata = MetaData()

feedback = Table(
    "feedback",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("created_at", DateTime(timezone=True), nullable=False),  # UTC
    Column("visitor_id", String(32), nullable=False),  # random, from the signed cookie
    Column("movie_id", Integer, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("rating", Float, nullable=True),  # half stars, only for kind 'rated'
    Column("build_id", String(64), nullable=False),  # the trained data the movie was shown under
    Column("section", String(16), nullable=False),
    Column("rank", SmallInteger, nullable=False),  # 1-based position within the section
    CheckConstraint(f"kind IN ({', '.join(repr(k) for k in KINDS)})", name="ck_feedback_kind"),
    CheckConstraint(f"section IN ({', '.join(repr(s) for s in SECTIONS)})", name="ck_feedback_section"),
    CheckConstraint(
        "(kind = 'rated' AND rating IS NOT NULL AND rating >= 0.5 AND rating <= 5) "
        "OR (kind <> 'rated' AND rating IS NULL)",
        name="ck_feedback_rating",
    ),
    CheckConstraint("rank >= 1", name="ck_feedback_rank"),
    Index("ix_feedback_visitor", "visitor_id", "id"),
)

# Requests per key and fixed window, for the rate limits (webapp/feedback_store.py). A key is
# "v:" + visitor id, or "a:" + a keyed hash of the address; rows older than a window are deleted.
rate_limits = Table(
    "rate_limits",
    metadata,
    Column("limit_key", String(40), primary_key=True),
    Column("window_start", BigInteger, primary_key=True),
    Column("hits", Integer, nullable=False),
    Index("ix_rate_limits_window", "window_start"),
)


class DatabaseError(RuntimeError):
    """The database cannot be used; the message is one line that says what to do. A
    RuntimeError, so that gunicorn (preload_app) prints just this line and exits."""


def database_url(config: Mapping[str, Any]) -> str:
    """MOVIEREC_DATABASE_URL when set, else the SQLite file at DATABASE_PATH."""
    if config.get("DATABASE_URL"):
        return str(config["DATABASE_URL"])
    return sqlite_url(Path(config["DATABASE_PATH"]))


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{Path(path).absolute()}"


URL_EXAMPLE = "postgresql+psycopg://user@host/movierec or sqlite:////srv/movierec.sqlite3"


def describe(url: str) -> str:
    """The URL for a log line: without its password (a text that is no URL is not shown at all:
    it may hold one)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(not a URL)"


def make_engine(url: str, *, writes: bool = True) -> Engine:
    """An engine with the settings above. `writes`: SQLite transactions begin IMMEDIATE (the
    app); False for readers (the export), whose transactions take no write lock. A URL that
    SQLAlchemy cannot use is a DatabaseError whose one line says why."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise DatabaseError(
            f"the database URL is not an SQLAlchemy URL; expected e.g. {URL_EXAMPLE}"
        ) from None
    if parsed.get_backend_name() != "sqlite":
        try:
            return create_engine(url, pool_size=2, max_overflow=4, pool_pre_ping=True)
        except NoSuchModuleError:
            raise DatabaseError(
                f"database {describe(url)}: SQLAlchemy knows no database {parsed.drivername!r}; "
                f"expected e.g. {URL_EXAMPLE}"
            ) from None
        except ImportError as exc:
            raise DatabaseError(
                f"database {describe(url)}: its driver, the Python module {exc.name!r}, is not "
                f"installed (requirements.txt brings psycopg for PostgreSQL)"
            ) from None
    if parsed.database and parsed.database != ":memory:":
        if not writes and not Path(parsed.database).is_file():
            # SQLite would make an empty file at a mistyped path, and the reader would then
            # speak of missing tables
            raise DatabaseError(
                f"{parsed.database}: no such database file; point MOVIEREC_DATABASE_URL / _PATH "
                f"(export-feedback: --database-url) at the web app's database"
            )
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves (below)
        cursor = dbapi_connection.cursor()
        for pragma in (
            "journal_mode=WAL",
            "synchronous=FULL",
            f"busy_timeout={BUSY_TIMEOUT_MS}",
            "foreign_keys=ON",
        ):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE" if writes else "BEGIN")

    return engine


# ---------------------------------------------------------------------------- migrations
def _alembic_config(connection=None):
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError(f"no Alembic migration found in {MIGRATIONS}")
    return head


def known_revisions() -> set[str]:
    """Every revision this code's migrations know (the history, not only the head)."""
    from alembic.script import ScriptDirectory

    return {script.revision for script in ScriptDirectory.from_config(_alembic_config()).walk_revisions()}


def current_revision(engine: Engine) -> str | None:
    from alembic.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def prepare(url: str, mode: str = "upgrade") -> str:
    """Bring the schema to the code's revision ("upgrade") or only check it ("check"); return
    the one line that says what was found and done. DatabaseError when it cannot be used."""
    if mode not in ("upgrade", "check"):
        raise DatabaseError(f"MOVIEREC_DATABASE_MIGRATE must be 'upgrade' or 'check', got {mode!r}")
    shown = describe(url)
    try:
        engine = make_engine(url)
    except (SQLAlchemyError, OSError, ValueError) as exc:
        raise DatabaseError(f"database {shown} cannot be used: {_first_line(exc)}") from None
    try:
        head = head_revision()
        before = current_revision(engine)
        if before == head:
            return f"database {shown}: schema {head}, current"
        if before is not None and before not in known_revisions():
            # Newer code migrated it (a rolled-back deploy): upgrading cannot help, and a
            # downgrade would drop what the newer schema holds. Nothing is changed.
            raise DatabaseError(
                f"database {shown} has schema {before}, which this code does not know (newer code "
                f"migrated it; this code needs {head}): run the code that made it, or point "
                f"MOVIEREC_DATABASE_URL / _PATH at another database; nothing was changed"
            )
        if mode == "check":
            raise DatabaseError(
                f"database {shown} has schema {before or 'none'}, this code needs {head}: run "
                f"`python -m webapp.db upgrade` (or start with MOVIEREC_DATABASE_MIGRATE=upgrade)"
            )
        from alembic import command

        with engine.begin() as connection:
            command.upgrade(_alembic_config(connection), "head")
        return f"database {shown}: schema {head}, upgraded from {before or 'an empty database'}"
    except SQLAlchemyError as exc:
        raise DatabaseError(f"database {shown} cannot be used: {_first_line(exc)}") from None
    finally:
        engine.dispose()  # gunicorn forks after this: each worker opens its own connections


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc)
    return " ".join(text.splitlines()[:1]) or type(exc).__name__


def main(argv: list[str] | None = None) -> int:
    """`python -m webapp.db upgrade|check|current` with the app's settings from the environment."""
    from webapp.settings import DEFAULTS, SettingsError, settings_from_env

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0] not in ("upgrade", "check", "current"):
        print("usage: python -m webapp.db upgrade|check|current", file=sys.stderr)
        return 2
    try:
        url = database_url({**DEFAULTS, **settings_from_env(os.environ)})
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    try:
        if args[0] == "current":
            engine = make_engine(url, writes=False)
            try:
                print(
                    f"database {describe(url)}: schema {current_revision(engine) or 'none'}, "
                    f"code needs {head_revision()}"
                )
            finally:
                engine.dispose()
            return 0
        print(prepare(url, args[0]))
        return 0
    except (DatabaseError, SQLAlchemyError) as exc:
        print(f"error: {_first_line(exc)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
