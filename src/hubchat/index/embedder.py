"""What every embedder offers (`Embedder`), and `build_embeddings`, the one place that chooses one from settings.

Two implementations: the packaged MiniLM int8 model run locally (hubchat.index.local_onnx, the default) and a
client for an OpenAI-compatible embeddings server (hubchat.index.openai_compatible). Both are also LangChain
`Embeddings`, which is what the store hands to Chroma.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

from hubchat.endpoints import api_key_for, checked_base_url
from hubchat.errors import ConfigError
from hubchat.index.local_onnx import LocalOnnxEmbeddings
from hubchat.index.openai_compatible import OpenAICompatibleEmbeddings

if TYPE_CHECKING:
    from hubchat.config import EmbeddingSettings


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into unit vectors; documents and queries are embedded alike.

    Attributes:
        name: identifies the model; the store records it and refuses to mix vectors of two models.
        dimension: the vector width, or None while unknown (a server's model is learned from its first answer).
        batch_size: texts per model run or request; callers size their groups in multiples of it.
    """

    @property
    def name(self) -> str: ...

    @property
    def dimension(self) -> int | None: ...

    @property
    def batch_size(self) -> int: ...

    def embed_array(self, texts: Sequence[str]) -> np.ndarray:
        """float32 array of shape (len(texts), dimension), rows L2-normalised and in the order given."""
        ...

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """LangChain's form of `embed_array`: one list of floats per text."""
        ...

    def embed_query(self, text: str) -> list[float]:
        """LangChain's form of one `embed_array` row."""
        ...


def build_embeddings(settings: EmbeddingSettings) -> Embedder:
    """The embedder the settings ask for.

    Args:
        settings: the `[embeddings]` section.

    Raises:
        ConfigError: the openai-compatible backend has no usable `base_url`.
        BackendError: the variable named by `api_key_env` is unset and the server is not on this machine.
        ModelNotAvailableError: (local, on first use) the packaged model or tokenizer is missing.
    """
    match settings.backend:
        case "local":
            return LocalOnnxEmbeddings(
                threads=settings.threads, batch_size=settings.batch_size, max_tokens=settings.max_tokens
            )
        case "openai-compatible":
            return _openai_compatible(settings)
        case other:
            raise ConfigError(f"embeddings.backend = {other!r} is not valid: use 'local' or 'openai-compatible'")


def _openai_compatible(settings: EmbeddingSettings) -> Embedder:
    if not settings.base_url.strip():
        raise ConfigError(
            "embeddings.base_url is empty: the openai-compatible embeddings backend needs the server's URL "
            "(e.g. http://127.0.0.1:8000/v1)"
        )
    base_url = checked_base_url(settings.base_url, "embeddings.base_url")
    key = api_key_for(
        settings.api_key_env, base_url, what="the embeddings server", setting="embeddings.api_key_env"
    )
    return OpenAICompatibleEmbeddings(
        model=settings.model,
        base_url=base_url,
        api_key=key,
        api_key_env=settings.api_key_env,
        batch_size=settings.batch_size,
        timeout_s=settings.timeout_s,
    )
