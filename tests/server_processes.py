"""Start and stop the real servers hubchat scales out on: PostgreSQL (records) and `chroma run` (vectors).

Plain functions, no pytest, so the tests' fixtures and the soak benchmark start them the same way. A server that
cannot start raises `ServerStartError` saying what to install or what its log said; the fixtures turn that into
a test failure, never a skip.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

POSTGRES_SUPERUSER = "hubchat"
_POSTGRES_SERVER_USER = "postgres"  # Debian's package creates it; initdb and postgres refuse to run as root
POSTGRES_INSTALL_HINT = "install Debian's PostgreSQL server: `apt-get install postgresql` (`make test` does)"
CHROMA_STARTUP_TIMEOUT_S = 60


class ServerStartError(RuntimeError):
    """A server the tests or a benchmark need could not be started; the message says why and what to do."""


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ---- PostgreSQL --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PostgresServer:
    host: str
    port: int
    user: str
    folder: Path

    def url(self, database: str = "postgres", password: str | None = None) -> str:
        auth = f"{self.user}:{password}" if password else self.user
        return f"postgresql+psycopg://{auth}@{self.host}:{self.port}/{database}"


@dataclass
class PostgresProcess:
    """A running PostgreSQL cluster in its own folder; `stop()` shuts it down and removes the folder."""

    server: PostgresServer
    pg_ctl: list[str]

    def stop(self) -> None:
        try:
            subprocess.run([*self.pg_ctl, "-m", "fast", "-w", "stop"], capture_output=True, timeout=120)
        finally:
            shutil.rmtree(self.server.folder, ignore_errors=True)

    def create_database(self, name: str) -> str:
        """A new empty database on this server; returns its SQLAlchemy URL."""
        from sqlalchemy import create_engine, text

        admin = create_engine(self.server.url(), isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
        finally:
            admin.dispose()
        return self.server.url(name)


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
    raise ServerStartError(
        f"PostgreSQL's initdb and pg_ctl were not found (looked in {[str(c) for c in candidates]}): {POSTGRES_INSTALL_HINT}"
    )


def _run(cmd: list[str], what: str, log: Path | None = None) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        tail = log.read_text(errors="replace")[-2000:] if log is not None and log.exists() else ""
        raise ServerStartError(
            f"PostgreSQL {what} failed ({' '.join(cmd)} exited with {done.returncode}):\n{done.stdout[-2000:]}"
            f"\n{done.stderr[-2000:]}\n{tail}"
        )


def start_postgres(parent: Path | None = None) -> PostgresProcess:
    """Debian's PostgreSQL in a new folder under `parent` (default: the system's temporary folder), on a free
    loopback port, trusting local connections. As root it runs as the `postgres` user, in a folder of its own
    under the system's temporary folder (pytest's are closed to other users)."""
    bindir = postgres_bindir()
    if os.geteuid() == 0:
        try:
            server_user = pwd.getpwnam(_POSTGRES_SERVER_USER)
        except KeyError:
            raise ServerStartError(
                f"there is no `{_POSTGRES_SERVER_USER}` user to run PostgreSQL as (this runs as root): {POSTGRES_INSTALL_HINT}"
            ) from None
        folder = Path(tempfile.mkdtemp(prefix="hubchat-pg-"))
        os.chown(folder, server_user.pw_uid, server_user.pw_gid)
        as_server = ["runuser", "-u", _POSTGRES_SERVER_USER, "--"]
    else:
        folder = Path(tempfile.mkdtemp(prefix="hubchat-pg-", dir=parent))
        as_server = []
    data, log, port = folder / "data", folder / "server.log", free_port()
    pg_ctl = [*as_server, str(bindir / "pg_ctl"), "-D", str(data)]
    try:
        _run([*as_server, str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", POSTGRES_SUPERUSER, "-E", "UTF8",
              "--no-locale", "--no-sync"], "initdb")
        # fsync off: a test server need not survive a power cut, and it keeps the 2-core test machine quick.
        options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        _run([*pg_ctl, "-o", options, "-l", str(log), "-w", "-t", "60", "start"], "start", log)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return PostgresProcess(PostgresServer("127.0.0.1", port, POSTGRES_SUPERUSER, folder), pg_ctl)


# ---- Chroma --------------------------------------------------------------------------------------------------


def chroma_executable() -> str:
    candidate = Path(sys.executable).with_name("chroma")
    if not candidate.is_file():
        raise ServerStartError(f"the `chroma` console script is missing next to {sys.executable}: reinstall chromadb in this venv")
    return str(candidate)


def chroma_heartbeat(host: str, port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/api/v2/heartbeat", timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


@dataclass
class ChromaProcess:
    """A `chroma run` server over `path` on `port`; it can be stopped and started again on the same port and data
    (what an operator's restart does)."""

    path: Path
    port: int
    log: Path
    host: str = "127.0.0.1"
    proc: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def pid(self) -> int:
        if self.proc is None:
            raise ServerStartError("the Chroma server is not running")
        return self.proc.pid

    def start(self, timeout_s: float = CHROMA_STARTUP_TIMEOUT_S) -> ChromaProcess:
        env = dict(os.environ, ANONYMIZED_TELEMETRY="False")
        with open(self.log, "ab") as log_file:
            self.proc = subprocess.Popen(
                [chroma_executable(), "run", "--path", str(self.path), "--host", self.host, "--port", str(self.port)],
                stdout=log_file, stderr=subprocess.STDOUT, env=env,
            )
        deadline = time.monotonic() + timeout_s
        while not chroma_heartbeat(self.host, self.port):
            if self.proc.poll() is not None:
                raise ServerStartError(
                    f"`chroma run` exited with code {self.proc.returncode}:\n{self.log.read_text(errors='replace')[-2000:]}"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise ServerStartError(f"`chroma run` did not answer its heartbeat within {timeout_s:.0f} s (log: {self.log})")
            time.sleep(0.2)
        return self

    def stop(self) -> None:
        """SIGTERM (a clean shutdown), SIGKILL if it has not exited within 15 s."""
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None


def start_chroma(folder: Path) -> ChromaProcess:
    """A `chroma run` server with its data in folder/data and its log in folder/chroma.log, on a free port."""
    folder.mkdir(parents=True, exist_ok=True)
    return ChromaProcess(folder / "data", free_port(), folder / "chroma.log").start()
