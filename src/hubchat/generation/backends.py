"""Chat models by name: the one place that chooses and configures the chat backend.

- "local": the packaged GGUF model (or `chat.model_path`) served in-process by xllamacpp (`llama_server`).
- "openai": OpenAI's API; the key comes from the environment variable named by `chat.api_key_env`.
- "openai-compatible": any server speaking the OpenAI protocol at `chat.base_url` (vLLM, Ollama, LM Studio...).
- "extractive": no LLM at all; `build_chat_model` returns None and the answer module composes the reply.

Every backend is reached through `langchain_openai.ChatOpenAI`, so failures arrive as `openai` exceptions;
`describe_backend_failure` turns them into one actionable `BackendError` that never contains the key.
Nothing here counts tokens: `ChatOpenAI.get_num_tokens*` would load tiktoken encodings, which download.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from hubchat.config import ChatSettings
from hubchat.endpoints import is_loopback
from hubchat.errors import BackendError, ConfigError, HubchatError

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

logger = logging.getLogger(__name__)

OPENAI_BASE_URL = "https://api.openai.com/v1"
# Local servers ignore the key, but the openai client refuses to run without one.
_PLACEHOLDER_KEY = "not-needed"
_PROBE_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class _Endpoint:
    base_url: str
    api_key: str

    def __repr__(self) -> str:  # keep the key out of logs and tracebacks
        return f"_Endpoint(base_url={self.base_url!r}, api_key='***')"


def build_chat_model(settings: ChatSettings) -> BaseChatModel | None:
    """The chat model for these settings, ready to invoke or stream.

    Args:
        settings: the `chat` section of the settings.

    Returns:
        A `ChatOpenAI` bound to the chosen server, or None for "extractive" (no LLM is used).

    Raises:
        ConfigError: a required setting is missing or malformed (e.g. no base_url for "openai-compatible").
        BackendError: the API key is missing, or the local server could not start.
        ModelNotAvailableError: the local model file or package is missing.
    """
    if settings.backend == "extractive":
        return None
    endpoint = _resolve_endpoint(settings)
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(
        base_url=endpoint.base_url,
        api_key=endpoint.api_key,
        model=settings.model,
        temperature=settings.temperature,
        max_tokens=settings.max_tokens,
        timeout=settings.timeout_s,
        max_retries=settings.max_retries,
        # Async streams also give up after this much silence between chunks.
        stream_chunk_timeout=settings.timeout_s,
        # OpenAI and llama.cpp report token usage at the end of a stream; other servers may reject the option.
        stream_usage=settings.backend in ("local", "openai"),
    )


def check_backend(settings: ChatSettings, *, start_local: bool = False) -> None:
    """A cheap readiness probe: GET {base_url}/models, and check the configured model is served.

    Args:
        settings: the `chat` section.
        start_local: for "local", start (or reuse) the model server and probe it. When False a server that is
            not running yet is only checked for its model file, so `hubchat status` stays fast; app start-up
            passes True so the model is loaded before the first question arrives.

    Raises:
        BackendError: the backend is unreachable, slow, refuses the key, or does not serve the model.
        ConfigError, ModelNotAvailableError: as `build_chat_model`.
    """
    if settings.backend == "extractive":
        return
    if settings.backend == "local" and not start_local:
        from hubchat.generation.llama_server import require_model_file, running_server

        path = _local_model_path(settings)
        if running_server(path) is None:
            require_model_file(path)  # all a status check can say without loading the model
            return
    endpoint = _resolve_endpoint(settings)
    import openai

    probe = settings.model_copy(update={"timeout_s": min(settings.timeout_s, _PROBE_TIMEOUT_S)})
    client = openai.OpenAI(base_url=endpoint.base_url, api_key=endpoint.api_key, timeout=probe.timeout_s, max_retries=0)
    try:
        with backend_errors(probe):
            served = [model.id for model in client.models.list()]
    finally:
        client.close()
    # llama.cpp answers to any model name (it serves one file); elsewhere a wrong name fails every question.
    # Ollama lists "name:latest" for a model asked for as "name".
    if settings.backend != "local" and not {settings.model, f"{settings.model}:latest"} & set(served):
        shown = ", ".join(sorted(served)[:10]) or "none"
        raise BackendError(
            f"The chat backend at {_display_url(endpoint.base_url)} does not serve the model {settings.model!r} "
            f"(it serves: {shown}). Change chat.model or chat.base_url."
        )


def backend_label(settings: ChatSettings) -> str:
    """A short name for status lines and logs, e.g. "local:qwen2.5-coder-1.5b-instruct-q4_k_m"."""
    match settings.backend:
        case "extractive":
            return "extractive"
        case "local":
            # With an explicit file the configured model name would be a wrong label.
            return f"local:{Path(settings.model_path).stem if settings.model_path else settings.model}"
        case "openai-compatible" if settings.base_url:
            return f"openai-compatible:{settings.model}@{urlsplit(settings.base_url).netloc.rpartition('@')[2]}"
        case _:
            return f"{settings.backend}:{settings.model}"


def describe_backend_failure(exc: BaseException, settings: ChatSettings) -> BackendError:
    """One clear, actionable BackendError for a failed call to the chat backend.

    Args:
        exc: what the call raised (openai, httpx, or timeout exceptions; a BackendError is returned as is).
        settings: the `chat` section, to name the server, model and key variable in the advice.

    Returns:
        A BackendError whose message says what failed and what to do; it never contains the API key.
    """
    if isinstance(exc, BackendError):
        return exc
    where = f"The chat backend at {_url_for_messages(settings)}"
    other = "or choose another profile"
    fix_server = (
        "Restart hubchat; if it happens again, set chat.backend = \"extractive\" " + other
        if settings.backend == "local"
        else f"Start the server or change chat.base_url {other}"
    )
    status = _status_code(exc)
    if _is_timeout(exc):
        message = (
            f"{where} did not answer within {settings.timeout_s:g} s (timeout). The server may be overloaded or the "
            f"model too slow for this prompt: raise chat.timeout_s, lower retrieval.top_k, {other}."
        )
    elif _is_connection_failure(exc):
        reason = "connection refused" if _is_refused(exc) else f"connection failed: {_short_reason(exc)}"
        message = f"{where} is not reachable ({reason}). {fix_server}."
    elif status == 401:
        message = (
            f"{where} rejected the API key (401 Unauthorized). Put a valid key in the environment variable "
            f"{settings.api_key_env} (chat.api_key_env names it)."
        )
    elif status == 403:
        message = (
            f"{where} refused access (403 Forbidden): the key in {settings.api_key_env} may lack access to "
            f"model {settings.model!r}. Use another key or model."
        )
    elif status == 404:
        message = (
            f"{where} does not serve the model {settings.model!r} (404 Not Found). Check chat.model against "
            f"GET {_url_for_messages(settings)}/models, and that chat.base_url ends in /v1."
        )
    elif status == 429:
        message = (
            f"{where} is rate-limiting requests or the quota is used up (429 Too Many Requests). "
            f"Wait and ask again, raise the quota, {other}."
        )
    elif status is not None and status >= 500:
        message = f"{where} failed with a server error (HTTP {status}). Check the server's log and retry later, {other}."
    elif status == 400 and _is_context_overflow(exc):
        message = (
            f"{where} rejected the prompt as longer than the model's context ({_server_message(exc, settings)}). "
            "Lower retrieval.top_k or raise chat.n_ctx."
        )
    elif status is not None:
        message = f"{where} rejected the request (HTTP {status}: {_server_message(exc, settings)})."
    else:
        message = f"{where} failed: {type(exc).__name__}: {_redact(str(exc), settings)}"
    return BackendError(message)


@contextmanager
def backend_errors(settings: ChatSettings) -> Iterator[None]:
    """Re-raise failures of the chat backend inside the block as `describe_backend_failure` BackendErrors.

    Wrap calls and stream loops: `with backend_errors(s): for chunk in model.stream(msgs): ...`.
    Programming errors (TypeError, ValueError...) and HubchatErrors pass through untouched.
    """
    try:
        yield
    except HubchatError:
        raise
    except Exception as exc:
        if not _is_backend_failure(exc):
            raise
        logger.debug("chat backend call failed", exc_info=True)
        raise describe_backend_failure(exc, settings) from None


def _resolve_endpoint(settings: ChatSettings) -> _Endpoint:
    match settings.backend:
        case "local":
            from hubchat.generation.llama_server import get_server

            server = get_server(
                _local_model_path(settings),
                settings.n_ctx,
                settings.threads,
                settings.parallel,
                startup_timeout_s=settings.startup_timeout_s,
            )
            return _Endpoint(server.base_url, _PLACEHOLDER_KEY)
        case "openai":
            base_url = _checked_url(settings.base_url or OPENAI_BASE_URL)
            key = _api_key(settings)
            if key is None:
                raise BackendError(
                    f"The openai chat backend needs an API key: set the environment variable {settings.api_key_env} "
                    "(chat.api_key_env names it), or choose another profile."
                )
            return _Endpoint(base_url, key)
        case "openai-compatible":
            if not settings.base_url:
                raise ConfigError(
                    "chat.base_url is required for chat.backend = \"openai-compatible\" "
                    "(e.g. http://127.0.0.1:8000/v1 for vLLM, http://127.0.0.1:11434/v1 for Ollama)"
                )
            base_url = _checked_url(settings.base_url)
            key = _api_key(settings)
            if key is None:
                if not is_loopback(base_url):
                    raise BackendError(
                        f"The chat backend at {_display_url(base_url)} is not on this machine, so it needs an API key: "
                        f"set the environment variable {settings.api_key_env} (chat.api_key_env names it)."
                    )
                key = _PLACEHOLDER_KEY
            return _Endpoint(base_url, key)
        case other:
            raise ConfigError(f"chat.backend = {other!r} has no server to reach")


def _local_model_path(settings: ChatSettings) -> Path:
    if settings.model_path is not None:
        return Path(settings.model_path)
    from hubchat.generation.model_files import default_chat_model_path

    return default_chat_model_path(settings.model_cache_dir)


def _api_key(settings: ChatSettings) -> str | None:
    value = os.environ.get(settings.api_key_env, "").strip()
    return value or None


def _checked_url(url: str) -> str:
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"chat.base_url = {_display_url(url)!r} is not valid: it must look like http://host:port/v1")
    return url.strip().rstrip("/")


def _display_url(url: str) -> str:
    """The URL without any user:password@ part, fit to show."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def _url_for_messages(settings: ChatSettings) -> str:
    match settings.backend:
        case "local":
            from hubchat.generation.llama_server import running_server

            # Not _local_model_path(): on an error path, never assemble the 1.1 GB default model.
            if settings.model_path is not None:
                path = Path(settings.model_path)
            else:
                from hubchat.generation.model_files import CHAT_MODEL_FILE

                path = Path(settings.model_cache_dir) / CHAT_MODEL_FILE
            server = running_server(path)
            return server.base_url if server is not None else "the local model server"
        case "openai":
            return _display_url((settings.base_url or OPENAI_BASE_URL).rstrip("/"))
        case _:
            return _display_url(settings.base_url.rstrip("/")) or "(no chat.base_url)"


def _causes(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _is_timeout(exc: BaseException) -> bool:
    import openai

    return any(isinstance(e, (openai.APITimeoutError, TimeoutError)) or _is_httpx(e, "TimeoutException") for e in _causes(exc))


def _is_connection_failure(exc: BaseException) -> bool:
    import openai

    return any(
        isinstance(e, (openai.APIConnectionError, ConnectionError)) or _is_httpx(e, "TransportError") for e in _causes(exc)
    )


def _is_refused(exc: BaseException) -> bool:
    return any(isinstance(e, ConnectionRefusedError) or "refused" in str(e).lower() for e in _causes(exc))


def _is_httpx(exc: BaseException, class_name: str) -> bool:
    """True if exc is an httpx or httpx2 exception of that class (openai 3 uses httpx2, other code httpx)."""
    return any(
        cls.__name__ == class_name and cls.__module__.split(".")[0] in ("httpx", "httpx2") for cls in type(exc).__mro__
    )


def _is_backend_failure(exc: BaseException) -> bool:
    import openai

    return isinstance(exc, (openai.OpenAIError, TimeoutError, ConnectionError)) or _is_httpx(exc, "HTTPError")


def _status_code(exc: BaseException) -> int | None:
    for e in _causes(exc):
        status = getattr(e, "status_code", None)
        if isinstance(status, int):
            return status
    return None


def _is_context_overflow(exc: BaseException) -> bool:
    for e in _causes(exc):
        if any(cls.__name__ == "ContextOverflowError" for cls in type(e).__mro__):
            return True
        body = getattr(e, "body", None)
        if isinstance(body, dict) and body.get("type") == "exceed_context_size_error":  # llama.cpp
            return True
        if "context" in str(e).lower() and ("exceed" in str(e).lower() or "too long" in str(e).lower()):
            return True
    return False


def _server_message(exc: BaseException, settings: ChatSettings) -> str:
    message = getattr(exc, "message", None) or str(exc)
    message = re.sub(r"^Error code: \d+ - ", "", str(message))
    return _redact(message, settings)[:300]


# Key-shaped tokens (OpenAI "sk-...", bearer tokens) that a server might echo back in an error.
_KEY_PATTERN = re.compile(r"\b(sk-|sk_|Bearer\s+)[A-Za-z0-9_\-\*\.]{4,}")


def _redact(text: str, settings: ChatSettings) -> str:
    key = _api_key(settings)
    if key:
        text = text.replace(key, "***")
    return _KEY_PATTERN.sub(lambda m: m.group(1) + "***", text)


def _short_reason(exc: BaseException) -> str:
    innermost = list(_causes(exc))[-1]
    return f"{type(innermost).__name__}: {innermost}"[:200]
