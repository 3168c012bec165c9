"""The chat backends against real servers: the in-process llama.cpp server with SmolLM2, a loopback port with
nothing listening, a socket that never answers, and a small HTTP server that answers with error statuses.

SmolLM2's answers are poor, so these tests check the mechanics (text arrives, streams arrive in pieces, errors
are clear and quick), never what the model says.
"""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import openai
import pytest
from langchain_core.messages import AIMessage, HumanMessage

from hubchat.config import ChatSettings
from hubchat.errors import BackendError, ConfigError, ModelNotAvailableError
from hubchat.generation.backends import backend_label, build_chat_model, check_backend
from hubchat.generation.failures import backend_errors, describe_backend_failure
from hubchat.generation.llama_server import LlamaServer, get_server, running_server
from tests.conftest_llm import TEST_N_CTX, TEST_PARALLEL, TEST_THREADS, UNSET_KEY_ENV

KEY_ENV = "HUBCHAT_TEST_API_KEY"
SECRET = "sk-hubchat-test-0123456789abcdef"
QUESTION = [HumanMessage("Name three colours.")]


def _settings(**values: object) -> ChatSettings:
    return ChatSettings(**{"timeout_s": 5, "max_retries": 0, "max_tokens": 16, **values})


def _failure(settings: ChatSettings) -> BackendError:
    """Ask the backend one question and return the BackendError it must fail with."""
    model = build_chat_model(settings)
    with pytest.raises(BackendError) as caught, backend_errors(settings):
        model.invoke(QUESTION)
    return caught.value


@pytest.fixture
def secret_key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(KEY_ENV, SECRET)
    return SECRET


# --- choosing and configuring a backend (no server needed) ---


def test_extractive_backend_has_no_chat_model_to_build() -> None:
    # The extractive generator (tests/test_answer.py) answers without one; asking for one is a configuration bug.
    with pytest.raises(ConfigError, match="no chat model"):
        build_chat_model(_settings(backend="extractive"))


def test_openai_without_key_names_the_variable_to_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(UNSET_KEY_ENV, raising=False)
    settings = _settings(backend="openai", model="gpt-4o-mini", api_key_env=UNSET_KEY_ENV)

    with pytest.raises(BackendError, match=UNSET_KEY_ENV):
        build_chat_model(settings)
    with pytest.raises(BackendError, match=UNSET_KEY_ENV):
        check_backend(settings)


def test_openai_compatible_requires_a_base_url() -> None:
    with pytest.raises(ConfigError, match="chat.base_url"):
        build_chat_model(_settings(backend="openai-compatible", base_url=""))


def test_a_malformed_base_url_is_a_config_error(secret_key: str) -> None:
    with pytest.raises(ConfigError, match="chat.base_url"):
        build_chat_model(_settings(backend="openai-compatible", base_url="127.0.0.1:8000/v1", api_key_env=KEY_ENV))


def test_a_remote_openai_compatible_server_needs_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(UNSET_KEY_ENV, raising=False)
    settings = _settings(backend="openai-compatible", base_url="https://llm.example.com/v1", api_key_env=UNSET_KEY_ENV)

    with pytest.raises(BackendError, match=UNSET_KEY_ENV):
        build_chat_model(settings)


def test_openai_model_is_built_from_settings_and_the_named_variable(secret_key: str) -> None:
    settings = _settings(backend="openai", model="gpt-4o-mini", api_key_env=KEY_ENV, timeout_s=7, max_retries=3)

    model = build_chat_model(settings)

    assert model.openai_api_key.get_secret_value() == SECRET
    assert model.openai_api_base == "https://api.openai.com/v1"
    assert (model.model_name, model.request_timeout, model.max_retries) == ("gpt-4o-mini", 7, 3)
    assert SECRET not in repr(model)


def test_labels_name_backend_and_model(tmp_path: Path) -> None:
    assert backend_label(_settings(backend="local")) == "local:qwen2.5-coder-1.5b-instruct-q4_k_m"
    assert backend_label(_settings(backend="local", model_path=tmp_path / "tiny.Q4.gguf")) == "local:tiny.Q4"
    assert backend_label(_settings(backend="openai", model="gpt-4o-mini")) == "openai:gpt-4o-mini"
    label = backend_label(_settings(backend="openai-compatible", model="llama3", base_url="http://u:pw@10.0.0.5:8000/v1"))
    assert label == "openai-compatible:llama3@10.0.0.5:8000"


# --- the local backend on the real xllamacpp server ---


@pytest.mark.server
def test_local_backend_answers_with_text(local_chat_settings: ChatSettings) -> None:
    reply = build_chat_model(local_chat_settings).invoke(QUESTION)

    assert isinstance(reply, AIMessage)
    assert reply.content.strip()
    assert reply.response_metadata["finish_reason"] in ("stop", "length")
    assert 0 < reply.usage_metadata["output_tokens"] <= local_chat_settings.max_tokens


@pytest.mark.server
def test_local_backend_streams_in_several_chunks(local_chat_settings: ChatSettings) -> None:
    chunks = list(build_chat_model(local_chat_settings).stream(QUESTION))

    pieces = [c.content for c in chunks if c.content]
    assert len(pieces) >= 3
    assert "".join(pieces).strip()
    # llama.cpp reports usage at the end of the stream, so callers can log tokens without counting them.
    reported = sum(c.usage_metadata["output_tokens"] for c in chunks if c.usage_metadata)
    assert len(pieces) <= reported <= local_chat_settings.max_tokens


@pytest.mark.server
def test_local_backend_streams_asynchronously(local_chat_settings: ChatSettings) -> None:
    model = build_chat_model(local_chat_settings)

    async def collect() -> list[str]:
        return [chunk.content async for chunk in model.astream(QUESTION) if chunk.content]

    pieces = asyncio.run(collect())
    assert len(pieces) >= 3


@pytest.mark.server
def test_local_backend_reuses_the_one_running_server(local_chat_settings: ChatSettings, llama_server: LlamaServer) -> None:
    first = build_chat_model(local_chat_settings)
    second = build_chat_model(local_chat_settings)

    assert first.openai_api_base == second.openai_api_base == llama_server.base_url
    assert running_server(local_chat_settings.model_path) is llama_server


@pytest.mark.server
def test_registry_keeps_one_server_per_model_file(
    llama_server: LlamaServer, smollm2_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert get_server(smollm2_path, TEST_N_CTX, TEST_THREADS, TEST_PARALLEL) is llama_server
    # Other settings do not restart it (that would break requests in flight); they are reported instead.
    with caplog.at_level(logging.WARNING, logger="hubchat.generation.llama_server"):
        assert get_server(smollm2_path, 512, 1, 1) is llama_server
    assert "reusing the running server" in caplog.text


@pytest.mark.server
def test_nothing_touches_tiktoken_encodings(local_chat_settings: ChatSettings, monkeypatch: pytest.MonkeyPatch) -> None:
    import tiktoken

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("tiktoken encodings download at run time; they must never be loaded")

    monkeypatch.setattr(tiktoken, "get_encoding", forbidden)
    monkeypatch.setattr(tiktoken, "encoding_for_model", forbidden)
    model = build_chat_model(local_chat_settings)

    assert model.invoke(QUESTION).content
    assert any(chunk.content for chunk in model.stream(QUESTION))


@pytest.mark.server
def test_check_backend_passes_on_the_running_local_server(local_chat_settings: ChatSettings) -> None:
    check_backend(local_chat_settings)
    check_backend(local_chat_settings, start_local=True)


@pytest.mark.server
def test_status_check_does_not_load_a_local_model_unless_asked(smollm2_path: Path, tmp_path: Path) -> None:
    other_copy = tmp_path / "copy.gguf"
    shutil.copyfile(smollm2_path, other_copy)
    settings = _settings(backend="local", model_path=other_copy, n_ctx=512, parallel=1, pin_slots=False)

    check_backend(settings)
    assert running_server(other_copy) is None

    check_backend(settings, start_local=True)
    started = running_server(other_copy)
    assert started is not None
    started.stop()


def test_a_missing_local_model_file_says_so(tmp_path: Path) -> None:
    settings = _settings(backend="local", model_path=tmp_path / "absent.gguf")

    with pytest.raises(ModelNotAvailableError, match="absent.gguf"):
        build_chat_model(settings)
    with pytest.raises(ModelNotAvailableError, match="chat.model_path"):
        check_backend(settings)


# --- the openai-compatible backend and the raw openai client against the same real server ---


@pytest.mark.server
def test_openai_compatible_backend_talks_to_the_server_with_the_configured_key(compatible_chat_settings: ChatSettings) -> None:
    model = build_chat_model(compatible_chat_settings)

    assert model.invoke(QUESTION).content.strip()
    assert len([c for c in model.stream(QUESTION) if c.content]) >= 3
    check_backend(compatible_chat_settings)


@pytest.mark.server
def test_raw_openai_client_plain_and_streamed(llama_server: LlamaServer) -> None:
    client = openai.OpenAI(base_url=llama_server.base_url, api_key=llama_server.api_key, max_retries=0, timeout=60)
    messages = [{"role": "user", "content": "Name three colours."}]

    plain = client.chat.completions.create(model=llama_server.model_id, messages=messages, max_tokens=16)
    streamed = client.chat.completions.create(model=llama_server.model_id, messages=messages, max_tokens=16, stream=True)
    deltas = [c.choices[0].delta.content for c in streamed if c.choices and c.choices[0].delta.content]

    assert plain.choices[0].message.content.strip()
    assert plain.usage.completion_tokens > 0
    assert len(deltas) >= 3
    assert [m.id for m in client.models.list()] == [llama_server.model_id]


@pytest.mark.server
def test_the_in_process_server_takes_only_its_own_random_key_and_no_web_page_can_read_it(llama_server: LlamaServer) -> None:
    import urllib.error
    import urllib.request

    assert llama_server.api_key and len(llama_server.api_key) >= 32
    assert llama_server.api_key not in repr(llama_server)
    assert llama_server.address.startswith("http://127.0.0.1:")
    for key in (None, "not-needed", llama_server.api_key[:-1]):
        request = urllib.request.Request(llama_server.base_url + "/models", headers={"Authorization": f"Bearer {key}"} if key else {})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        assert refused.value.code == 401, key
    # A page on another origin, in the operator's browser: no CORS header lets its script read the answer (llama.cpp
    # sends the header empty, which matches no origin).
    request = urllib.request.Request(
        llama_server.base_url + "/models", method="OPTIONS",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
    )
    with urllib.request.urlopen(request, timeout=10) as preflight:
        assert not preflight.headers.get("Access-Control-Allow-Origin")
    request = urllib.request.Request(
        llama_server.base_url + "/models", headers={"Origin": "https://evil.example", "Authorization": f"Bearer {llama_server.api_key}"}
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 200 and not answer.headers.get("Access-Control-Allow-Origin")


@pytest.mark.server
def test_check_backend_names_the_models_a_server_really_serves(compatible_chat_settings: ChatSettings) -> None:
    settings = compatible_chat_settings.model_copy(update={"model": "no-such-model"})

    with pytest.raises(BackendError, match="SmolLM2-135M-Instruct.Q4_1") as caught:
        check_backend(settings)
    assert "no-such-model" in str(caught.value)


@pytest.mark.server
def test_a_wrong_path_is_reported_as_model_not_found(compatible_chat_settings: ChatSettings, llama_server: LlamaServer) -> None:
    settings = compatible_chat_settings.model_copy(update={"base_url": f"{llama_server.address}/wrong"})

    message = str(_failure(settings))

    assert "404" in message and "chat.base_url" in message


@pytest.mark.server
def test_a_prompt_longer_than_the_context_is_explained(compatible_chat_settings: ChatSettings) -> None:
    model = build_chat_model(compatible_chat_settings)

    with pytest.raises(BackendError, match="longer than the model's context") as caught, backend_errors(compatible_chat_settings):
        model.invoke([HumanMessage("word " * (TEST_N_CTX + 500))])
    assert "chat.n_ctx" in str(caught.value)


@pytest.fixture(scope="module")
def keyed_server(smollm2_path: Path) -> Iterator[LlamaServer]:
    with LlamaServer(smollm2_path, n_ctx=512, threads=TEST_THREADS, api_key=SECRET) as server:
        yield server


@pytest.mark.server
def test_a_rejected_key_names_the_variable_and_never_shows_the_key(
    keyed_server: LlamaServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, SECRET + "-wrong")
    settings = _settings(backend="openai-compatible", base_url=keyed_server.base_url, api_key_env=KEY_ENV)

    message = str(_failure(settings))

    assert "401" in message and KEY_ENV in message
    assert SECRET not in message


@pytest.mark.server
def test_the_right_key_opens_a_keyed_server(keyed_server: LlamaServer, secret_key: str) -> None:
    settings = _settings(backend="openai-compatible", base_url=keyed_server.base_url, api_key_env=KEY_ENV)

    assert build_chat_model(settings).invoke(QUESTION).content
    check_backend(settings.model_copy(update={"model": keyed_server.model_id}))


# --- servers that are down or slow ---


def test_a_down_server_fails_quickly_with_a_clear_message(unused_port: int, secret_key: str) -> None:
    base_url = f"http://127.0.0.1:{unused_port}/v1"
    settings = _settings(backend="openai-compatible", base_url=base_url, api_key_env=KEY_ENV)

    started = time.monotonic()
    error = _failure(settings)
    elapsed = time.monotonic() - started

    assert str(error) == (
        f"The chat backend at {base_url} is not reachable (connection refused). "
        "Start the server or change chat.base_url or choose another profile."
    )
    assert elapsed < 3
    with pytest.raises(BackendError, match="connection refused"):
        check_backend(settings)


def test_a_down_server_fails_the_same_way_when_streaming(unused_port: int) -> None:
    settings = _settings(backend="openai-compatible", base_url=f"http://127.0.0.1:{unused_port}/v1")
    model = build_chat_model(settings)

    with pytest.raises(BackendError, match="not reachable"), backend_errors(settings):
        for _ in model.stream(QUESTION):
            pass


def test_a_silent_server_times_out_within_the_configured_time(silent_server: str) -> None:
    settings = _settings(backend="openai-compatible", base_url=silent_server, timeout_s=0.5)

    started = time.monotonic()
    error = _failure(settings)
    elapsed = time.monotonic() - started

    assert "did not answer within 0.5 s (timeout)" in str(error)
    assert silent_server in str(error)
    assert elapsed < 5
    with pytest.raises(BackendError, match="timeout"):
        check_backend(settings)


@pytest.mark.slow
def test_the_readiness_probe_gives_up_after_ten_seconds_whatever_the_chat_timeout(silent_server: str) -> None:
    settings = _settings(backend="openai-compatible", base_url=silent_server, timeout_s=120)

    started = time.monotonic()
    with pytest.raises(BackendError, match=r"did not answer within 10 s \(timeout\)"):
        check_backend(settings)
    assert time.monotonic() - started < 15


@pytest.mark.server
def test_a_tiny_timeout_on_the_real_server_is_a_timeout_error(compatible_chat_settings: ChatSettings) -> None:
    settings = compatible_chat_settings.model_copy(update={"timeout_s": 0.001})

    assert "(timeout)" in str(_failure(settings))


@pytest.mark.server
def test_a_local_failure_names_the_local_server(local_chat_settings: ChatSettings, llama_server: LlamaServer) -> None:
    settings = local_chat_settings.model_copy(update={"timeout_s": 0.001})

    message = str(_failure(settings))

    assert message.startswith(f"The chat backend at {llama_server.base_url} did not answer within 0.001 s (timeout).")


# --- error statuses from a server that echoes the key back (as some providers do) ---


class _StatusHandler(BaseHTTPRequestHandler):
    status = 500

    def _answer(self) -> None:
        key = self.headers.get("Authorization", "").removeprefix("Bearer ")
        body = json.dumps({"error": {"message": f"status {self.status} for key {key}", "type": "test"}}).encode()
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def status_server() -> Iterator[ThreadingHTTPServer]:
    handler = type("Handler", (_StatusHandler,), {})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (400, "rejected the request (HTTP 400"),
        (401, f"rejected the API key (401 Unauthorized). Put a valid key in the environment variable {KEY_ENV}"),
        (403, "refused access (403 Forbidden)"),
        (404, "does not serve the model 'gpt-4o-mini' (404 Not Found)"),
        (429, "(429 Too Many Requests)"),
        (500, "server error (HTTP 500)"),
        (503, "server error (HTTP 503)"),
    ],
)
def test_error_statuses_become_actionable_messages_without_the_key(
    status_server: ThreadingHTTPServer, secret_key: str, status: int, expected: str
) -> None:
    status_server.RequestHandlerClass.status = status
    base_url = f"http://127.0.0.1:{status_server.server_address[1]}/v1"
    settings = _settings(backend="openai", model="gpt-4o-mini", base_url=base_url, api_key_env=KEY_ENV)

    message = str(_failure(settings))

    assert message.startswith(f"The chat backend at {base_url} ")
    assert expected in message
    assert SECRET not in message
    with pytest.raises(BackendError) as caught:
        check_backend(settings)
    assert SECRET not in str(caught.value)


def test_a_backend_error_passes_through_unchanged() -> None:
    original = BackendError("already explained")

    assert describe_backend_failure(original, _settings(backend="openai")) is original


def test_programming_errors_are_not_disguised_as_backend_failures() -> None:
    with pytest.raises(ValueError), backend_errors(_settings(backend="openai")):
        raise ValueError("a bug, not a backend problem")


def test_an_unused_port_really_refuses(unused_port: int) -> None:
    # Guards the down-server tests above: they would prove nothing if something listened there.
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", unused_port), timeout=1).close()


# --- the server's own life cycle ---


@pytest.mark.server
def test_a_server_stops_and_frees_its_port(smollm2_path: Path) -> None:
    with LlamaServer(smollm2_path, n_ctx=512, threads=TEST_THREADS) as server:
        address = server.address
        assert server.running and server.startup_seconds is not None
        assert server.base_url == f"{address}/v1"
        host, port = address.removeprefix("http://").split(":")
        assert host == "127.0.0.1"

    assert not server.running
    with pytest.raises(BackendError, match="not running"):
        _ = server.base_url
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((host, int(port)), timeout=1).close()


def test_a_file_that_is_not_a_model_fails_to_start_with_its_path(tmp_path: Path) -> None:
    not_a_model = tmp_path / "notes.gguf"
    not_a_model.write_text("not a model", encoding="utf-8")

    with pytest.raises(BackendError, match="notes.gguf"):
        LlamaServer(not_a_model, log_verbosity=0).start()

