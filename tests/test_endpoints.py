"""Server addresses and API keys: loopback detection, URL checks, the key or the placeholder, and redaction."""

from __future__ import annotations

import pytest

from hubchat.endpoints import (
    PLACEHOLDER_KEY,
    api_key_for,
    checked_base_url,
    display_url,
    is_loopback,
    redact,
)
from hubchat.errors import BackendError, ConfigError

ENV = "HUBCHAT_TEST_ENDPOINT_KEY"


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080/v1", "http://127.8.9.1/v1", "http://localhost:11434/v1", "http://[::1]:8000/v1"]
)
def test_loopback_urls(url):
    assert is_loopback(url)


@pytest.mark.parametrize(
    "url", ["https://api.openai.com/v1", "http://10.0.0.5:8000/v1", "http://localhost.evil.example/v1", "not a url"]
)
def test_other_urls_are_not_loopback(url):
    assert not is_loopback(url)


def test_checked_base_url_strips_spaces_and_the_trailing_slash():
    assert checked_base_url("  http://127.0.0.1:8000/v1/ ", "embeddings.base_url") == "http://127.0.0.1:8000/v1"


@pytest.mark.parametrize("url", ["", "127.0.0.1:8000/v1", "ftp://host/v1", "http:///v1"])
def test_checked_base_url_names_the_setting(url):
    with pytest.raises(ConfigError, match=r"^chat\.base_url = .* is not valid"):
        checked_base_url(url, "chat.base_url")


def test_a_bad_url_message_hides_its_password():
    with pytest.raises(ConfigError) as caught:
        checked_base_url("ftp://user:hunter2@host/v1", "chat.base_url")
    assert "hunter2" not in str(caught.value)
    assert display_url("https://user:hunter2@host:8000/v1") == "https://host:8000/v1"


def test_the_key_comes_from_the_named_variable(monkeypatch):
    monkeypatch.setenv(ENV, "  sk-abc123  ")
    assert api_key_for(ENV, "https://api.example.com/v1", what="the server", setting="x.api_key_env") == "sk-abc123"


@pytest.mark.parametrize("value", [None, "", "   "])
def test_a_loopback_server_without_key_gets_the_placeholder(monkeypatch, value):
    if value is None:
        monkeypatch.delenv(ENV, raising=False)
    else:
        monkeypatch.setenv(ENV, value)
    assert api_key_for(ENV, "http://127.0.0.1:8000/v1", what="the server", setting="x.api_key_env") == PLACEHOLDER_KEY


def test_a_remote_server_without_key_is_refused_naming_the_variable(monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    with pytest.raises(BackendError) as caught:
        api_key_for(ENV, "https://me:pw@api.example.com/v1", what="the embeddings server", setting="embeddings.api_key_env")
    message = str(caught.value)
    assert message.startswith("the embeddings server at https://api.example.com/v1 is not on this machine")
    assert ENV in message and "embeddings.api_key_env" in message
    assert "pw@" not in message


def test_a_service_that_always_needs_a_key_refuses_even_on_loopback(monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    with pytest.raises(BackendError, match=rf"needs an API key: set the environment variable {ENV}"):
        api_key_for(ENV, "http://127.0.0.1:8000/v1", what="the openai chat backend", setting="chat.api_key_env", always_needed=True)


def test_redact_hides_the_key_and_key_shaped_tokens():
    text = "bad key my-own-secret-key; also sk-proj-abcdef and Bearer abc.def-123"
    cleaned = redact(text, "my-own-secret-key")
    assert "my-own-secret-key" not in cleaned
    assert "abcdef" not in cleaned and "abc.def-123" not in cleaned
    assert cleaned == "bad key ***; also sk-*** and Bearer ***"
    assert redact("not-needed is fine", PLACEHOLDER_KEY) == "not-needed is fine"


def test_http_client_log_lines_lose_url_passwords_and_keys(caplog):
    import logging

    from hubchat.endpoints import protect_http_logs

    protect_http_logs()
    protect_http_logs()  # twice: still one filter
    assert sum(type(f).__name__ == "CredentialFilter" for f in logging.getLogger("httpx").filters) == 1
    with caplog.at_level(logging.INFO, logger="httpx"):
        logging.getLogger("httpx").info('HTTP Request: POST %s "%s"', "http://admin:s3cret@127.0.0.1:9/v1/chat", "HTTP/1.1 401")
        logging.getLogger("httpx").info("Authorization: Bearer abcdefghijkl")
    assert "s3cret" not in caplog.text and "abcdefghijkl" not in caplog.text
    assert "POST http://127.0.0.1:9/v1/chat" in caplog.text and "Bearer ***" in caplog.text
