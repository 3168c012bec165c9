"""A real PostgreSQL server for the records tests (pytest plugin; register with pytest_plugins).

Fixtures:
    postgres_server: Debian's PostgreSQL (`apt-get install postgresql`; `make test` installs it) in a temporary
        folder on a free loopback port, for the whole session. Debian's server refuses to run as root, so as root
        it runs as the `postgres` user. If it cannot start, the tests that need it fail, saying why.
    postgres_url: a new, empty database on that server for one test, as an SQLAlchemy URL (text).
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.conftest_store import free_port

SUPERUSER = "hubchat"
_SERVER_USER = "postgres"  # Debian's package creates it; initdb and postgres refuse to run as root
_INSTALL_HINT = "install Debian's PostgreSQL server: `apt-get install postgresql` (`make test` does)"


@dataclass(frozen=True)
class PostgresServer:
    host: str
    port: int
    user: str
    folder: Path

    def url(self, database: str = "postgres", password: str | None = None) -> str:
        auth = f"{self.user}:{password}" if password else self.user
        return f"postgresql+psycopg://{auth}@{self.host}:{self.port}/{database}"


def postgres_bindir() -> Path:
    """The folder of initdb and pg_ctl: Debian's newest /usr/lib/postgresql/N/bin, else pg_config's, else PATH's."""
    def version(folder: Path) -> tuple[int, ...]:
        return tuple(int(part) for part in re.findall(r"\d+", folder.parent.name))

    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=version, reverse=True)
    pg_config = shutil.which("pg_config")
    if pg_config:
        done = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True)
        if done.returncode == 0 and done.stdout.strip():
            candidates.append(Path(done.stdout.strip()))
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    for folder in candidates:
        if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file():
            return folder
    pytest.fail(f"PostgreSQL's initdb and pg_ctl were not found (looked in {[str(c) for c in candidates]}): {_INSTALL_HINT}")


def _run(cmd: list[str], what: str, log: Path | None = None) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        tail = log.read_text(errors="replace")[-2000:] if log is not None and log.exists() else ""
        pytest.fail(
            f"PostgreSQL {what} failed ({' '.join(cmd)} exited with {done.returncode}):\n{done.stdout[-2000:]}"
            f"\n{done.stderr[-2000:]}\n{tail}"
        )


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    bindir = postgres_bindir()
    as_root = os.geteuid() == 0
    if as_root:
        try:
            server_user = pwd.getpwnam(_SERVER_USER)
        except KeyError:
            pytest.fail(f"there is no `{_SERVER_USER}` user to run PostgreSQL as (this runs as root): {_INSTALL_HINT}")
        # pytest's own temporary folders are closed to other users; the server's must be its own.
        folder = Path(tempfile.mkdtemp(prefix="hubchat-pg-"))
        os.chown(folder, server_user.pw_uid, server_user.pw_gid)
        as_server = ["runuser", "-u", _SERVER_USER, "--"]
    else:
        folder = tmp_path_factory.mktemp("postgres")
        as_server = []
    data, log, port = folder / "data", folder / "server.log", free_port()
    pg_ctl = [*as_server, str(bindir / "pg_ctl"), "-D", str(data)]
    try:
        _run([*as_server, str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", SUPERUSER, "-E", "UTF8",
              "--no-locale", "--no-sync"], "initdb")
        # fsync off: a test server need not survive a power cut, and it keeps the 2-core test machine quick.
        options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        _run([*pg_ctl, "-o", options, "-l", str(log), "-w", "-t", "60", "start"], "start", log)
        try:
            yield PostgresServer("127.0.0.1", port, SUPERUSER, folder)
        finally:
            subprocess.run([*pg_ctl, "-m", "fast", "-w", "stop"], capture_output=True, timeout=120)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


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
