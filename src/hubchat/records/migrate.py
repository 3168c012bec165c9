"""Schema migrations (Alembic, in `migrations/`), run up to the newest revision whenever a store opens.

Two processes may open the same database at once (two app workers starting together). The upgrade runs in one
write transaction: on SQLite its `BEGIN IMMEDIATE` lets one process in at a time, and on PostgreSQL a
transaction-scoped advisory lock does the same; whoever comes second finds the work done. Both backends run DDL
inside the transaction, so a failed upgrade leaves the database as it was.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, func, select

from hubchat.errors import BackendError
from hubchat.records.database import reading, shown, writing

MIGRATIONS = Path(__file__).resolve().with_name("migrations")
# The advisory lock PostgreSQL openers queue on: any fixed number other programs on the server do not use.
_ADVISORY_LOCK = 0x6875626368617400  # "hubchat\0"


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration for the packaged migrations, optionally bound to an open connection."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))  # configparser interpolates %
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@cache
def head_revisions() -> frozenset[str]:
    """The newest revision(s) this hubchat knows."""
    return frozenset(ScriptDirectory.from_config(alembic_config()).get_heads())


def current_revisions(conn: Connection) -> frozenset[str]:
    """The revision(s) the database is at; empty for a new database, or one from before migrations existed."""
    return frozenset(MigrationContext.configure(conn).get_current_heads())


def upgrade(engine: Engine) -> None:
    """Bring the database to the newest revision (a no-op when it is there already).

    Raises:
        BackendError: the database cannot be reached, or was migrated by a newer hubchat than this one.
    """
    with reading(engine) as conn:
        if current_revisions(conn) == head_revisions():
            return
    with writing(engine) as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(select(func.pg_advisory_xact_lock(_ADVISORY_LOCK)))
        _refuse_unknown_revisions(conn, engine)
        command.upgrade(alembic_config(conn), "head")


def _refuse_unknown_revisions(conn: Connection, engine: Engine) -> None:
    script = ScriptDirectory.from_config(alembic_config())
    known = {rev.revision for rev in script.walk_revisions()}
    unknown = sorted(current_revisions(conn) - known)
    if unknown:
        raise BackendError(
            f"the records database {shown(engine.url)} is at schema revision {', '.join(unknown)}, which this "
            f"hubchat does not know (its newest: {', '.join(sorted(head_revisions()))}): it was written by a newer "
            "hubchat; upgrade this one."
        )
