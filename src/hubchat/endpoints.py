"""Server addresses and their credentials, shared by the chat and embedding backends.

A backend that talks to an OpenAI-compatible server reads its API key from the environment variable its settings
name (never from a file). A server on this machine (llama.cpp, Ollama, vLLM without --api-key) usually checks no
key, so it gets a placeholder instead of an error; a remote one without a key is refused before any request.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
from urllib.parse import urlsplit, urlunsplit

from hubchat.errors import BackendError, ConfigError

# Sent as the key to a loopback server configured without one: the OpenAI client insists on some key.
PLACEHOLDER_KEY = "not-needed"

_LOOPBACK_NAMES = {"localhost", "localhost.localdomain"}
# Key-shaped tokens (OpenAI "sk-...", bearer tokens) that a server might echo back in an error.
_KEY_PATTERN = re.compile(r"\b(sk-|sk_|Bearer\s+)[A-Za-z0-9_\-\*\.]{4,}")


def is_loopback(url: str) -> bool:
    """Whether the URL points at this machine (local servers need no API key)."""
    host = (urlsplit(url).hostname or "").lower()
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def display_url(url: str) -> str:
    """The URL without any user:password@ part, fit to show in a message or a log."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def checked_base_url(url: str, setting: str) -> str:
    """An http(s) base URL with a host, stripped of surrounding spaces and the trailing slash.

    Args:
        url: the configured value.
        setting: the setting's dotted name, for the message (e.g. "embeddings.base_url").

    Raises:
        ConfigError: the value is empty, has another scheme, or has no host.
    """
    cleaned = url.strip()
    parts = urlsplit(cleaned)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"{setting} = {display_url(cleaned)!r} is not valid: it must be an http:// or https:// URL "
            "such as http://127.0.0.1:8000/v1"
        )
    return cleaned.rstrip("/")


def api_key_for(env_name: str, base_url: str, *, what: str, setting: str, always_needed: bool = False) -> str:
    """The API key to send to the server at `base_url`.

    Args:
        env_name: the environment variable holding the key.
        base_url: the server's base URL (decides whether a missing key is acceptable).
        what: the server as the user knows it, for the message (e.g. "the embeddings server").
        setting: the setting that names the variable (e.g. "embeddings.api_key_env").
        always_needed: refuse a missing key even on loopback (a hosted service such as OpenAI's).

    Returns:
        The variable's value (surrounding spaces removed), or `PLACEHOLDER_KEY` for a loopback server when the
        variable is unset or empty.

    Raises:
        BackendError: no key and the server is not on this machine (or `always_needed`); the message names the
            variable, never a value.
    """
    key = os.environ.get(env_name, "").strip()
    if key:
        return key
    remote = not is_loopback(base_url)
    if remote or always_needed:
        why = " is not on this machine, so it" if remote and not always_needed else ""
        raise BackendError(
            f"{what} at {display_url(base_url)}{why} needs an API key: set the environment variable {env_name} "
            f"({setting} names it)."
        )
    return PLACEHOLDER_KEY


def redact(text: str, key: str | None = None) -> str:
    """`text` with `key` and anything key-shaped replaced by ***, so a server's error echo never shows a secret."""
    if key and key != PLACEHOLDER_KEY:
        text = text.replace(key, "***")
    return _KEY_PATTERN.sub(lambda m: m.group(1) + "***", text)


# The HTTP clients under the backends log each request's full URL at INFO, userinfo (user:password@) included.
_HTTP_LOGGERS = ("httpx", "httpx2", "httpcore", "httpcore2", "openai", "urllib3")
_USERINFO = re.compile(r"(\b[a-z][a-z0-9+.\-]*://)[^/\s@]*@", re.IGNORECASE)


class CredentialFilter(logging.Filter):
    """Rewrites a log record so no URL password or key-shaped token reaches any handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = _KEY_PATTERN.sub(lambda m: m.group(1) + "***", _USERINFO.sub(r"\1", message))
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def protect_http_logs() -> None:
    """Put `CredentialFilter` on the HTTP clients' loggers (once; a logger-level filter sees each record before any
    handler does, whatever logging the operator configured)."""
    for name in _HTTP_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, CredentialFilter) for f in logger.filters):
            logger.addFilter(CredentialFilter())
