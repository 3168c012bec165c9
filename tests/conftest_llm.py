"""Fixtures for tests that need a real chat model server (pytest plugin; register with pytest_plugins).

One real xllamacpp server with the small SmolLM2-135M file serves the whole session. It is started through
`hubchat.generation.llama_server.get_server` with the same settings as `local_chat_settings`, so the "local" backend under
test reuses it instead of loading the model again. SmolLM2's answers are poor: test mechanics, never content.

Fixtures:
    smollm2_path: Path of the SmolLM2 GGUF file (a missing package is an error naming what to install).
    llama_server: the running session `LlamaServer` (its `base_url` ends in /v1).
    local_chat_settings: ChatSettings for backend "local" on SmolLM2 (short answers, no retries).
    compatible_chat_settings: ChatSettings for backend "openai-compatible" pointed at `llama_server`.
    embedding_server: a second session server on the same SmolLM2 file serving /v1/embeddings (576-d), which
        requires the key `EMBED_KEY` (outside the chat registry, so chat tests never get it by mistake).
    compatible_embedding_settings: EmbeddingSettings for backend "openai-compatible" pointed at
        `embedding_server`, with its key in the variable `EMBED_KEY_ENV`.
    unused_port: a loopback port with nothing listening on it.
    silent_server: base URL of a loopback socket that accepts connections and never answers.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from hubchat.config import ChatSettings, EmbeddingSettings
from hubchat.generation.llama_server import LlamaServer, get_server, stop_all
from tests import small_model

# Two slots so a UI or concurrency test can have two answers in flight; SmolLM2's KV cache is tiny.
TEST_N_CTX = 2048
TEST_THREADS = 2
TEST_PARALLEL = 2
# The name of an environment variable that no test sets: "no key configured".
UNSET_KEY_ENV = "HUBCHAT_TEST_UNSET_API_KEY"
# Holds the session llama.cpp server's key for the openai-compatible backend.
CHAT_KEY_ENV = "HUBCHAT_TEST_CHAT_KEY"
# Embedding inputs are chunks (at most a few hundred tokens) and short sentences; one slot keeps the load small.
EMBED_N_CTX = 1024
# The embeddings server checks a key, so the tests see that the configured one is really sent.
EMBED_KEY = "hubchat-test-embed-key"
EMBED_KEY_ENV = "HUBCHAT_TEST_EMBED_KEY"


@pytest.fixture(scope="session")
def smollm2_path() -> Path:
    return small_model.smollm2_path()


@pytest.fixture(scope="session")
def llama_server(smollm2_path: Path) -> Iterator[LlamaServer]:
    server = get_server(smollm2_path, TEST_N_CTX, TEST_THREADS, TEST_PARALLEL, startup_timeout_s=60)
    yield server
    stop_all()


@pytest.fixture
def local_chat_settings(llama_server: LlamaServer, smollm2_path: Path) -> ChatSettings:
    return ChatSettings(
        backend="local",
        model_path=smollm2_path,
        n_ctx=TEST_N_CTX,
        threads=TEST_THREADS,
        parallel=TEST_PARALLEL,
        max_tokens=16,
        temperature=0.0,
        timeout_s=60,
        max_retries=0,
    )


@pytest.fixture
def compatible_chat_settings(llama_server: LlamaServer, monkeypatch: pytest.MonkeyPatch) -> ChatSettings:
    # The session server checks its own random key, as the app's in-process server does; configured like any
    # other server's key, through the variable chat.api_key_env names.
    monkeypatch.setenv(CHAT_KEY_ENV, llama_server.api_key)
    return ChatSettings(
        backend="openai-compatible",
        base_url=llama_server.base_url,
        model=llama_server.model_id,
        api_key_env=CHAT_KEY_ENV,
        max_tokens=16,
        temperature=0.0,
        timeout_s=60,
        max_retries=0,
    )


@pytest.fixture(scope="session")
def embedding_server(smollm2_path: Path) -> Iterator[LlamaServer]:
    server = LlamaServer(
        smollm2_path, n_ctx=EMBED_N_CTX, threads=TEST_THREADS, startup_timeout_s=60, api_key=EMBED_KEY, embedding=True
    ).start()
    yield server
    server.stop()


def embedding_settings_for(server: LlamaServer, **overrides) -> EmbeddingSettings:
    """EmbeddingSettings for backend "openai-compatible" at `server`; the caller puts EMBED_KEY in EMBED_KEY_ENV."""
    values = {
        "backend": "openai-compatible",
        "model": server.model_id,
        "base_url": server.base_url,
        "api_key_env": EMBED_KEY_ENV,
        "batch_size": 16,
        "timeout_s": 60,
    }
    return EmbeddingSettings(**(values | overrides))


@pytest.fixture
def compatible_embedding_settings(embedding_server: LlamaServer, monkeypatch: pytest.MonkeyPatch) -> EmbeddingSettings:
    monkeypatch.setenv(EMBED_KEY_ENV, EMBED_KEY)
    return embedding_settings_for(embedding_server)


@pytest.fixture
def unused_port() -> int:
    # Bind to learn a free port, then close: nothing listens there afterwards (connections are refused).
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def silent_server() -> Iterator[str]:
    # The kernel completes the TCP handshake for queued connections; nobody ever reads or answers them.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
