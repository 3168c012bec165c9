"""Fixtures for tests that embed and store chunks (pytest plugin; register with pytest_plugins).

Fixtures:
    embedder: the session's real LocalOnnxEmbeddings (the packaged MiniLM int8 model), loaded once.
    chroma_server: a real `chroma run` server on a free loopback port, for store.mode = "server".
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from hubchat.index.local_onnx import LocalOnnxEmbeddings

CHROMA_STARTUP_TIMEOUT_S = 60


@pytest.fixture(scope="session")
def embedder() -> LocalOnnxEmbeddings:
    emb = LocalOnnxEmbeddings(threads=2, batch_size=32)
    emb.embed_array(["warm up: load the model once for the session"])
    return emb


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class ChromaServer:
    host: str
    port: int
    path: Path
    log: Path
    pid: int


def _chroma_executable() -> str:
    candidate = Path(sys.executable).with_name("chroma")
    if not candidate.is_file():
        pytest.fail(f"the `chroma` console script is missing next to {sys.executable}: reinstall chromadb in this venv")
    return str(candidate)


def _heartbeat(host: str, port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/api/v2/heartbeat", timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChromaServer]:
    """A real Chroma server process, stopped with SIGTERM (a clean shutdown) at the end of the session."""
    folder = tmp_path_factory.mktemp("chroma-server")
    port = free_port()
    log = folder / "chroma.log"
    env = dict(os.environ, ANONYMIZED_TELEMETRY="False")
    with open(log, "wb") as log_file:
        proc = subprocess.Popen(
            [_chroma_executable(), "run", "--path", str(folder / "data"), "--host", "127.0.0.1", "--port", str(port)],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        deadline = time.monotonic() + CHROMA_STARTUP_TIMEOUT_S
        while not _heartbeat("127.0.0.1", port):
            if proc.poll() is not None:
                pytest.fail(f"`chroma run` exited with code {proc.returncode}:\n{log.read_text(errors='replace')[-2000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"`chroma run` did not answer its heartbeat within {CHROMA_STARTUP_TIMEOUT_S} s")
            time.sleep(0.2)
        yield ChromaServer("127.0.0.1", port, folder / "data", log, proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
