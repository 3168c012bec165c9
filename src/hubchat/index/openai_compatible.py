"""Embeddings from a server speaking OpenAI's /v1/embeddings protocol (vLLM, Ollama, LM Studio, llama.cpp, OpenAI).

The client sends raw strings: no local tokenising, so no tiktoken encodings to download, and the server applies
its own length limit. Vectors come back L2-normalised whatever the server does, so cosine math in the store, the
relevance floor and the citation checker holds.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings

from hubchat.endpoints import display_url, redact
from hubchat.errors import BackendError

# EmbeddingSettings has no retry setting. The openai client retries connection errors, 429 and 5xx with backoff;
# two retries ride out a server restart without making a dead server slow to report.
DEFAULT_MAX_RETRIES = 2
# How much of a server's error text goes into our message.
_SERVER_MESSAGE_CHARS = 300


class OpenAICompatibleEmbeddings(Embeddings):
    """Embeds through an OpenAI-compatible HTTP server, `batch_size` texts per request.

    `dimension` is None until the first successful response, then the width the server returned; a later
    response of another width is an error (the server changed models under an index built with the old one).
    The HTTP client is created on first use (importing `openai` costs about a second). Safe to call from
    several threads.

    Args:
        model: the model name sent with every request.
        base_url: the server's base URL, checked by the caller (e.g. http://127.0.0.1:8000/v1).
        api_key: the key to send (kept private: never in a message, repr or attribute that prints it).
        api_key_env: the environment variable the key came from, named in authentication errors.
        batch_size: texts per request.
        timeout_s: seconds to wait for one response.
        max_retries: retries of a failed request (connection errors, 429, 5xx) by the openai client.
    """

    def __init__(
        self,
        *,
        model: str,
        base_url: str,
        api_key: str,
        api_key_env: str,
        batch_size: int = 32,
        timeout_s: float = 60.0,
        max_retries: int = DEFAULT_MAX_RETRIES,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.model = model
        self.base_url = base_url
        self.api_key_env = api_key_env
        self.batch_size = batch_size
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self._api_key = api_key
        self._dimension: int | None = None
        self._client: Any = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"OpenAICompatibleEmbeddings(model={self.model!r}, base_url={display_url(self.base_url)!r})"

    @property
    def name(self) -> str:
        return f"openai-compatible:{self.model}"

    @property
    def dimension(self) -> int | None:
        """The vector width, known after the first successful response (None before)."""
        return self._dimension

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embed_array(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.embed_array([text])[0].tolist()

    def embed_array(self, texts: Sequence[str]) -> np.ndarray:
        """Embed `texts` into a float32 array of unit rows, shape (len(texts), dimension), in the order given.

        An empty input gives shape (0, dimension), or (0, 0) while the dimension is not yet known.

        Raises:
            BackendError: the server is unreachable, slow, refused the request or the key, or sent vectors that
                do not fit (wrong count, ragged, zero, or another width than before).
        """
        texts = list(texts)
        if not texts:
            return np.empty((0, self._dimension or 0), dtype=np.float32)
        # Servers refuse an empty string outright ("input cannot be empty"); a space means the same nothing.
        texts = [t if t else " " for t in texts]
        rows = [self._request(texts[i : i + self.batch_size]) for i in range(0, len(texts), self.batch_size)]
        return np.concatenate(rows, axis=0)

    def _request(self, batch: list[str]) -> np.ndarray:
        import openai

        try:
            response = self._http().embeddings.create(model=self.model, input=batch, encoding_format="float")
        except openai.APIError as exc:
            raise BackendError(self._explain(exc)) from None
        # The protocol allows any order; `index` says which input each vector belongs to.
        data = sorted(response.data, key=lambda item: item.index)
        if [item.index for item in data] != list(range(len(batch))):
            raise BackendError(
                f"the embeddings server at {display_url(self.base_url)} returned {len(data)} vectors for "
                f"{len(batch)} texts; it does not follow the OpenAI embeddings protocol"
            )
        widths = {len(item.embedding) for item in data}
        if len(widths) != 1 or 0 in widths:
            raise BackendError(
                f"the embeddings server at {display_url(self.base_url)} returned vectors of widths {sorted(widths)}"
            )
        vectors = np.asarray([item.embedding for item in data], dtype=np.float32)
        self._learn_dimension(vectors.shape[1])
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        if not np.all(np.isfinite(norms)) or np.any(norms == 0):
            raise BackendError(
                f"the embeddings server at {display_url(self.base_url)} returned a zero or non-finite vector "
                f"for model {self.model!r}"
            )
        return vectors / norms

    def _learn_dimension(self, width: int) -> None:
        with self._lock:
            if self._dimension is None:
                self._dimension = width
            elif self._dimension != width:
                raise BackendError(
                    f"the embeddings server at {display_url(self.base_url)} now returns {width}-d vectors for "
                    f"{self.model!r}, after {self._dimension}-d ones: did the model behind it change? Rebuild the "
                    "index (`hubchat ingest --rebuild`) once the server serves the model you want."
                )

    def _http(self) -> Any:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    import openai

                    self._client = openai.OpenAI(
                        base_url=self.base_url,
                        api_key=self._api_key,
                        timeout=self.timeout_s,
                        max_retries=self.max_retries,
                    )
        return self._client

    def _explain(self, exc: Exception) -> str:
        """A message for a failed request that says what to do; it never contains the key."""
        import openai

        where = f"the embeddings server at {display_url(self.base_url)}"
        if isinstance(exc, openai.APITimeoutError):
            return f"{where} did not answer within {self.timeout_s:g} s: check its load, or raise embeddings.timeout_s"
        if isinstance(exc, openai.APIConnectionError):
            return f"{where} is not reachable: is it running, and is embeddings.base_url right?"
        if isinstance(exc, openai.APIStatusError):
            said = re.sub(r"^Error code: \d+ - ", "", redact(str(exc.message), self._api_key))[:_SERVER_MESSAGE_CHARS]
            if exc.status_code in (401, 403):
                return (
                    f"{where} refused the API key (HTTP {exc.status_code}): check the environment variable "
                    f"{self.api_key_env} (embeddings.api_key_env names it)"
                )
            if exc.status_code == 404:
                return (
                    f"{where} answered HTTP 404 ({said}): check embeddings.model = {self.model!r}, and that "
                    "embeddings.base_url is the API root (it usually ends in /v1)"
                )
            return f"{where} refused the request for model {self.model!r} (HTTP {exc.status_code}: {said})"
        return f"{where} failed: {redact(str(exc), self._api_key)[:_SERVER_MESSAGE_CHARS]}"
