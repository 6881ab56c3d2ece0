"""Alembic environment: run by webapp.db.prepare() with an open connection (the app's start-up,
`python -m webapp.db upgrade`), or by the alembic command line for a new revision
(`alembic -c webapp/migrations/alembic.ini revision -m "..."`), then on the app's database."""

from __future__ import annotations

from alembic import context
from sqlalchemy import text

from webapp.db import metadata

# Any number fixed for this app: concurrent start-ups on PostgreSQL migrate one at a time.
PG_LOCK = 7_251_009


def run(connection) -> None:
    context.configure(
        connection=connection, target_metadata=metadata, render_as_batch=connection.dialect.name == "sqlite"
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(text(f"SELECT pg_advisory_xact_lock({PG_LOCK})"))
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    run(connection)
else:  # the alembic command line: the app's own settings from the environment
    import os

    from webapp.db import database_url, make_engine
    from webapp.settings import DEFAULTS, settings_from_env

    engine = make_engine(database_url({**DEFAULTS, **settings_from_env(os.environ)}))
    try:
        with engine.connect() as conn:
            run(conn)
            conn.commit()
    finally:
        engine.dispose()
