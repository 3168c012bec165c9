"""A real PostgreSQL server for the records tests (pytest plugin; register with pytest_plugins).

Fixtures:
    postgres_server: Debian's PostgreSQL (`apt-get install postgresql`; `make test` installs it) in a temporary
        folder on a free loopback port, for the whole session. Debian's server refuses to run as root, so as root
        it runs as the `postgres` user. If it cannot start, the tests that need it fail, saying why.
    postgres_url: a new, empty database on that server for one test, as an SQLAlchemy URL (text).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text

from tests.server_processes import PostgresServer, ServerStartError, start_postgres

__all__ = ["PostgresServer", "postgres_server", "postgres_url"]


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    try:
        running = start_postgres(tmp_path_factory.getbasetemp())
    except ServerStartError as exc:
        pytest.fail(str(exc))
    try:
        yield running.server
    finally:
        running.stop()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    name = f"records_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_server.url(), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield postgres_server.url(name)
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()
