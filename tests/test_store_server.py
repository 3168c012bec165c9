"""store.mode = "server": ingestion and search against a real `chroma run` server, and a clear error when it is down."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

import pytest

from hubchat.errors import BackendError
from hubchat.index.chroma_client import make_chroma_client
from hubchat.index.store import ChunkStore
from hubchat.ingest.pipeline import ingest
from tests.conftest_store import ChromaServer, free_port
from tests.helpers import (
    SAMPLES,
    SMALL_CHUNKS_TOML,
    assert_index_matches_corpus,
    open_store,
    settings_for,
    write_samples,
)

SMALL = SMALL_CHUNKS_TOML


def server_settings(tmp_path: Path, corpus: Path, host: str, port: int, collection: str):
    return settings_for(
        tmp_path,
        corpus,
        f'{SMALL}\n\n[store]\nmode = "server"\nhost = "{host}"\nport = {port}\ntimeout_s = 5',
        index={"collection": collection},
    )


@pytest.mark.server
def test_ingest_and_search_through_a_chroma_server(tmp_path: Path, chroma_server: ChromaServer, embedder):
    corpus = tmp_path / "corpus"
    write_samples(corpus)
    settings = server_settings(tmp_path, corpus, chroma_server.host, chroma_server.port, "server-ingest")
    store = open_store(settings, embedder)
    assert "chroma server" in store.location and str(chroma_server.port) in store.location

    summary = ingest(settings, store, embedder)
    assert summary.added == tuple(sorted(s.url for s in SAMPLES))
    assert_index_matches_corpus(store, settings, corpus)
    # The vectors live in the server's folder, not in a local Chroma folder.
    assert not (Path(settings.index.dir) / "chroma").exists()
    assert any(chroma_server.path.iterdir())

    dense = store.dense_search(embedder.embed_query("How do I turn a meeting recording into notes?"), 3)
    assert dense and dense[0][0].article_id == "/use-cases/whisper-meeting-notes"
    lexical = store.lexical_search("GPU rental prices", 3)
    assert lexical and lexical[0][0].article_id == "/insights/gpu-rental-prices"

    # A second client (another process would do the same) sees the index as complete.
    again = ingest(settings, open_store(settings, embedder), embedder)
    assert again.chunks_written == 0 and again.unchanged == len(SAMPLES)

    (corpus / f"{SAMPLES[0].slug}.md").unlink()
    gone = ingest(settings, store, embedder)
    assert gone.deleted == (SAMPLES[0].url,)
    assert_index_matches_corpus(store, settings, corpus)


def test_a_down_server_is_a_backend_error_that_says_what_to_do(tmp_path: Path, embedder):
    port = free_port()
    settings = server_settings(tmp_path, tmp_path, "127.0.0.1", port, "nobody-home")
    with pytest.raises(BackendError) as info:
        make_chroma_client(settings)
    message = str(info.value)
    assert f"127.0.0.1:{port}" in message
    assert "not reachable" in message
    assert "chroma run" in message and 'store.mode = "embedded"' in message
    with pytest.raises(BackendError):
        ChunkStore(settings, embedder)


@pytest.fixture
def paused(chroma_server: ChromaServer):
    """Pause the Chroma server (SIGSTOP): it still accepts connections, and answers nothing until resumed."""

    @contextlib.contextmanager
    def pause():
        os.kill(chroma_server.pid, signal.SIGSTOP)
        try:
            yield
        finally:
            os.kill(chroma_server.pid, signal.SIGCONT)

    return pause


@pytest.mark.server
def test_a_hanging_server_is_a_clear_error_within_the_timeout_and_the_next_request_recovers(
    tmp_path: Path, chroma_server: ChromaServer, embedder, paused
):
    corpus = tmp_path / "corpus"
    write_samples(corpus)
    settings = server_settings(tmp_path, corpus, chroma_server.host, chroma_server.port, "server-hang")
    settings = settings.model_copy(update={"store": settings.store.model_copy(update={"timeout_s": 2.0})})
    store = open_store(settings, embedder)
    ingest(settings, store, embedder)
    vector = embedder.embed_query("How do I turn a meeting recording into notes?")

    with paused():
        started = time.monotonic()
        with pytest.raises(BackendError, match=r"did not answer within 2 s \(store.timeout_s\)"):
            store.dense_search(vector, 3)
        assert time.monotonic() - started < 10
        started = time.monotonic()
        with pytest.raises(BackendError, match="did not answer within 2 s"):
            make_chroma_client(settings)  # a new client, too, gives up instead of waiting forever
        assert time.monotonic() - started < 10

    hits = store.dense_search(vector, 3)  # resumed: the same store answers again
    assert hits and hits[0][0].article_id == "/use-cases/whisper-meeting-notes"
