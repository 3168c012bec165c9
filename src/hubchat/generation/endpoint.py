"""Where a chat backend is and which key it takes: the server address for each backend kind, fit for messages.

Keys come only from the environment variable that `chat.api_key_env` names; a local server needs none.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from hubchat.config import ChatSettings
from hubchat.endpoints import is_loopback
from hubchat.errors import BackendError, ConfigError

OPENAI_BASE_URL = "https://api.openai.com/v1"
# Local servers ignore the key, but the openai client refuses to run without one.
PLACEHOLDER_KEY = "not-needed"


@dataclass(frozen=True)
class Endpoint:
    """An OpenAI-compatible server: its base URL (ending in /v1) and the key to send."""

    base_url: str
    api_key: str

    def __repr__(self) -> str:  # keep the key out of logs and tracebacks
        return f"Endpoint(base_url={self.base_url!r}, api_key='***')"


def resolve_endpoint(settings: ChatSettings) -> Endpoint:
    """The server address and key for this backend; for "local", the running in-process server (started if needed)."""
    match settings.backend:
        case "local":
            from hubchat.generation.llama_server import get_server

            server = get_server(
                local_model_path(settings),
                settings.n_ctx,
                settings.threads,
                settings.parallel,
                startup_timeout_s=settings.startup_timeout_s,
            )
            return Endpoint(server.base_url, PLACEHOLDER_KEY)
        case "openai":
            base_url = _checked_url(settings.base_url or OPENAI_BASE_URL)
            key = api_key(settings)
            if key is None:
                raise BackendError(
                    f"The openai chat backend needs an API key: set the environment variable {settings.api_key_env} "
                    "(chat.api_key_env names it), or choose another profile."
                )
            return Endpoint(base_url, key)
        case "openai-compatible":
            if not settings.base_url:
                raise ConfigError(
                    "chat.base_url is required for chat.backend = \"openai-compatible\" "
                    "(e.g. http://127.0.0.1:8000/v1 for vLLM, http://127.0.0.1:11434/v1 for Ollama)"
                )
            base_url = _checked_url(settings.base_url)
            key = api_key(settings)
            if key is None:
                if not is_loopback(base_url):
                    raise BackendError(
                        f"The chat backend at {display_url(base_url)} is not on this machine, so it needs an API key: "
                        f"set the environment variable {settings.api_key_env} (chat.api_key_env names it)."
                    )
                key = PLACEHOLDER_KEY
            return Endpoint(base_url, key)
        case other:
            raise ConfigError(f"chat.backend = {other!r} has no server to reach")


def local_model_path(settings: ChatSettings) -> Path:
    """The GGUF file the local backend serves: chat.model_path, or the packaged default (assembled on first use)."""
    if settings.model_path is not None:
        return Path(settings.model_path)
    from hubchat.generation.model_files import default_chat_model_path

    return default_chat_model_path(settings.model_cache_dir)


def api_key(settings: ChatSettings) -> str | None:
    """The key from the environment variable named by chat.api_key_env, or None when it is unset or empty."""
    value = os.environ.get(settings.api_key_env, "").strip()
    return value or None


def _checked_url(url: str) -> str:
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"chat.base_url = {display_url(url)!r} is not valid: it must look like http://host:port/v1")
    return url.strip().rstrip("/")


def display_url(url: str) -> str:
    """The URL without any user:password@ part, fit to show."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def url_for_messages(settings: ChatSettings) -> str:
    """Where the backend is, fit for an error message: no credentials, and never assembling the local model."""
    match settings.backend:
        case "local":
            from hubchat.generation.llama_server import running_server

            # Not local_model_path(): on an error path, never assemble the 1.1 GB default model.
            if settings.model_path is not None:
                path = Path(settings.model_path)
            else:
                from hubchat.generation.model_files import CHAT_MODEL_FILE

                path = Path(settings.model_cache_dir) / CHAT_MODEL_FILE
            server = running_server(path)
            return server.base_url if server is not None else "the local model server"
        case "openai":
            return display_url((settings.base_url or OPENAI_BASE_URL).rstrip("/"))
        case _:
            return display_url(settings.base_url.rstrip("/")) or "(no chat.base_url)"


