"""Turn a failed call to a chat backend into one actionable `BackendError` that never contains the API key.

Every backend is reached through `langchain_openai.ChatOpenAI`, so failures arrive as `openai` exceptions, or as
the transport exceptions beneath them: `httpx2` (which openai 3 uses) or `httpx`. They are recognised by class,
walking the chain of causes, so a wrapped timeout is still a timeout.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import httpx2
import openai
from langchain_core.exceptions import ContextOverflowError

from hubchat.config import ChatSettings
from hubchat.endpoints import redact
from hubchat.errors import BackendError, HubchatError
from hubchat.generation.chat_endpoint import api_key, url_for_messages

log = logging.getLogger(__name__)

_TIMEOUTS = (openai.APITimeoutError, TimeoutError, httpx.TimeoutException, httpx2.TimeoutException)
_CONNECTION_FAILURES = (openai.APIConnectionError, ConnectionError, httpx.TransportError, httpx2.TransportError)
_BACKEND_FAILURES = (openai.OpenAIError, TimeoutError, ConnectionError, httpx.HTTPError, httpx2.HTTPError)


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
    where = f"The chat backend at {url_for_messages(settings)}"
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
            f"GET {url_for_messages(settings)}/models, and that chat.base_url ends in /v1."
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
        log.debug("chat backend call failed", exc_info=True)
        raise describe_backend_failure(exc, settings) from None


def _causes(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _is_timeout(exc: BaseException) -> bool:
    return any(isinstance(e, _TIMEOUTS) for e in _causes(exc))


def _is_connection_failure(exc: BaseException) -> bool:
    return any(isinstance(e, _CONNECTION_FAILURES) for e in _causes(exc))


def _is_refused(exc: BaseException) -> bool:
    return any(isinstance(e, ConnectionRefusedError) or "refused" in str(e).lower() for e in _causes(exc))


def _is_backend_failure(exc: BaseException) -> bool:
    return isinstance(exc, _BACKEND_FAILURES)


def _status_code(exc: BaseException) -> int | None:
    for e in _causes(exc):
        if isinstance(e, openai.APIStatusError):
            return e.status_code
        if isinstance(e, (httpx.HTTPStatusError, httpx2.HTTPStatusError)):
            return e.response.status_code
    return None


def _is_context_overflow(exc: BaseException) -> bool:
    for e in _causes(exc):
        if isinstance(e, ContextOverflowError):  # langchain-openai's own classification
            return True
        body = e.body if isinstance(e, openai.APIError) else None
        if isinstance(body, dict) and body.get("type") == "exceed_context_size_error":  # llama.cpp
            return True
        if "context" in str(e).lower() and ("exceed" in str(e).lower() or "too long" in str(e).lower()):
            return True
    return False


def _server_message(exc: BaseException, settings: ChatSettings) -> str:
    message = (exc.message if isinstance(exc, openai.APIError) else "") or str(exc)
    message = re.sub(r"^Error code: \d+ - ", "", str(message))
    return _redact(message, settings)[:300]


def _redact(text: str, settings: ChatSettings) -> str:
    return redact(text, api_key(settings))


def _short_reason(exc: BaseException) -> str:
    innermost = list(_causes(exc))[-1]
    return f"{type(innermost).__name__}: {innermost}"[:200]
