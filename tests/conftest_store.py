"""Fixtures for tests that embed and store chunks (pytest plugin; register with pytest_plugins).

Fixtures:
    embedder: the session's real LocalOnnxEmbeddings (the packaged MiniLM int8 model), loaded once.
    chroma_server: a real `chroma run` server on a free loopback port, for store.mode = "server".
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from hubchat.index.local_onnx import LocalOnnxEmbeddings
from tests.server_processes import ServerStartError, free_port, start_chroma

__all__ = ["ChromaServer", "chroma_server", "embedder", "free_port"]


@pytest.fixture(scope="session")
def embedder() -> LocalOnnxEmbeddings:
    emb = LocalOnnxEmbeddings(threads=2, batch_size=32)
    emb.embed_array(["warm up: load the model once for the session"])
    return emb


@dataclass(frozen=True)
class ChromaServer:
    host: str
    port: int
    path: Path
    log: Path
    pid: int


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChromaServer]:
    """A real Chroma server process, stopped with SIGTERM (a clean shutdown) at the end of the session."""
    try:
        running = start_chroma(tmp_path_factory.mktemp("chroma-server"))
    except ServerStartError as exc:
        pytest.fail(str(exc))
    try:
        yield ChromaServer(running.host, running.port, running.path, running.log, running.pid)
    finally:
        running.stop()
