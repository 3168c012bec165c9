"""Chat models by name: the one place that chooses and configures an LLM backend.

- "local": the packaged GGUF model (or `chat.model_path`) served in-process by xllamacpp (`llama_server`).
- "openai": OpenAI's API; the key comes from the environment variable named by `chat.api_key_env`.
- "openai-compatible": any server speaking the OpenAI protocol at `chat.base_url` (vLLM, Ollama, LM Studio...).

("extractive" has no chat model: `hubchat.runtime` gives it its own generator.) Every backend is reached through
`langchain_openai.ChatOpenAI`; `hubchat.generation.failures` explains what goes wrong with it. Nothing here counts
tokens: `ChatOpenAI.get_num_tokens*` would load tiktoken encodings, which download.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

from hubchat.config import ChatSettings
from hubchat.errors import BackendError, ConfigError
from hubchat.generation.chat_endpoint import display_url, local_model_path, resolve_endpoint
from hubchat.generation.failures import backend_errors

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

_PROBE_TIMEOUT_S = 10.0
LLM_BACKENDS = ("local", "openai", "openai-compatible")
ANSWER_SLOT = 0
SIDE_SLOT = 1


def slot_options(settings: ChatSettings, job: Literal["answer", "side"]) -> dict:
    """Call options that keep answers in a llama.cpp slot of their own (`chat.pin_slots`, local backend).

    Every answer's prompt starts with the same rules, so the slot that wrote the last answer already holds them
    and reads only the new excerpts. Any other call ("side": a follow-up rewrite, or the evaluation's baseline)
    would overwrite that slot if the server chose it, so it goes to the other slot instead.
    """
    if settings.backend != "local" or not settings.pin_slots:
        return {}
    return {"extra_body": {"id_slot": ANSWER_SLOT if job == "answer" else SIDE_SLOT}}


def build_chat_model(settings: ChatSettings) -> BaseChatModel:
    """The chat model for these settings, ready to invoke or stream.

    Args:
        settings: the `chat` section of the settings.

    Returns:
        A `ChatOpenAI` bound to the chosen server.

    Raises:
        ConfigError: a required setting is missing or malformed (e.g. no base_url for "openai-compatible"), or the
            backend is "extractive", which has no chat model.
        BackendError: the API key is missing, or the local server could not start.
        ModelNotAvailableError: the local model file or package is missing.
    """
    if settings.backend not in LLM_BACKENDS:
        raise ConfigError(f"chat.backend = {settings.backend!r} has no chat model (LLM backends: {', '.join(LLM_BACKENDS)})")
    endpoint = resolve_endpoint(settings)
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
    if settings.backend == "local" and not start_local:
        from hubchat.generation.llama_server import require_model_file, running_server

        path = local_model_path(settings)
        if running_server(path) is None:
            require_model_file(path)  # all a status check can say without loading the model
            return
    endpoint = resolve_endpoint(settings)
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
            f"The chat backend at {display_url(endpoint.base_url)} does not serve the model {settings.model!r} "
            f"(it serves: {shown}). Change chat.model or chat.base_url."
        )


def backend_label(settings: ChatSettings) -> str:
    """A short name for status lines and logs, e.g. "local:qwen2.5-coder-1.5b-instruct-q4_k_m"."""
    match settings.backend:
        case "local":
            # With an explicit file the configured model name would be a wrong label.
            return f"local:{Path(settings.model_path).stem if settings.model_path else settings.model}"
        case "openai-compatible" if settings.base_url:
            return f"openai-compatible:{settings.model}@{urlsplit(settings.base_url).netloc.rpartition('@')[2]}"
        case _:
            return f"{settings.backend}:{settings.model}"


