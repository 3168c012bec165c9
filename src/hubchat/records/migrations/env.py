"""Alembic's environment for the records: what `alembic` runs for every command.

The store passes its open write transaction in `config.attributes["connection"]` (see hubchat.records.migrate).
From the command line (`alembic ...` in the repository root, configured by pyproject.toml's [tool.alembic]),
the database comes from `-x url=...`: an SQLAlchemy URL, or a path to an SQLite file.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from hubchat.errors import ConfigError
from hubchat.records.database import create_records_engine, parse_location, writing
from hubchat.records.schema import metadata


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=metadata)
    with context.begin_transaction():  # inside the caller's transaction this adds none of its own
        context.run_migrations()


def _command_line_url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url")
    if not url:
        raise ConfigError("name the records database: alembic -x url=postgresql+psycopg://USER@HOST/DB (or a SQLite file path) ...")
    return url


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
elif context.is_offline_mode():
    context.configure(url=parse_location(_command_line_url()), target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    engine = create_records_engine(parse_location(_command_line_url()))
    try:
        with writing(engine) as conn:
            _run(conn)
    finally:
        engine.dispose()
