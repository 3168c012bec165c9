"""Where a chat backend is and which key it takes: the server address for each backend kind, fit for messages.

Keys come only from the environment variable that `chat.api_key_env` names; a local server needs none.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from hubchat.config import ChatSettings
from hubchat.endpoints import (
    PLACEHOLDER_KEY,
    api_key_for,
    checked_base_url,
    display_url,
)
from hubchat.errors import ConfigError

OPENAI_BASE_URL = "https://api.openai.com/v1"


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
                prompt_cache_mib=settings.prompt_cache_mib,
            )
            return Endpoint(server.base_url, server.api_key or PLACEHOLDER_KEY)
        case "openai":
            base_url = checked_base_url(settings.base_url or OPENAI_BASE_URL, "chat.base_url")
            key = api_key_for(
                settings.api_key_env, base_url, what="The openai chat backend", setting="chat.api_key_env", always_needed=True
            )
            return Endpoint(base_url, key)
        case "openai-compatible":
            if not settings.base_url:
                raise ConfigError(
                    "chat.base_url is required for chat.backend = \"openai-compatible\" "
                    "(e.g. http://127.0.0.1:8000/v1 for vLLM, http://127.0.0.1:11434/v1 for Ollama)"
                )
            base_url = checked_base_url(settings.base_url, "chat.base_url")
            key = api_key_for(settings.api_key_env, base_url, what="The chat backend", setting="chat.api_key_env")
            return Endpoint(base_url, key)
        case other:
            raise ConfigError(f"chat.backend = {other!r} has no server to reach")


def local_model_path(settings: ChatSettings) -> Path:
    """The GGUF file the local backend serves: chat.model_path, or the packaged model chat.model names (assembled
    on first use).

    Raises:
        ConfigError: chat.model names no packaged model (and chat.model_path is unset).
        ModelNotAvailableError: that model's part packages are missing or damaged; the message says what to install.
    """
    if settings.model_path is not None:
        return Path(settings.model_path)
    from hubchat.generation.model_files import packaged_model, packaged_model_path

    return packaged_model_path(packaged_model(settings.model), settings.model_cache_dir)


def api_key(settings: ChatSettings) -> str | None:
    """The key from the environment variable named by chat.api_key_env, or None when it is unset or empty."""
    value = os.environ.get(settings.api_key_env, "").strip()
    return value or None


def url_for_messages(settings: ChatSettings) -> str:
    """Where the backend is, fit for an error message: no credentials, and never assembling the local model."""
    match settings.backend:
        case "local":
            from hubchat.generation.llama_server import running_server

            # Not local_model_path(): on an error path, never assemble a packaged model.
            if settings.model_path is not None:
                path = Path(settings.model_path)
            else:
                from hubchat.generation.model_files import PACKAGED_MODELS

                model = PACKAGED_MODELS.get(settings.model)
                if model is None:
                    return "the local model server"
                path = Path(settings.model_cache_dir) / model.file_name
            server = running_server(path)
            return server.base_url if server is not None else "the local model server"
        case "openai":
            return display_url((settings.base_url or OPENAI_BASE_URL).rstrip("/"))
        case _:
            return display_url(settings.base_url.rstrip("/")) or "(no chat.base_url)"


