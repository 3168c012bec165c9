"""Embeddings of short texts, cached: passage sentences recur across answers and their checks."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np

from hubchat.index.embedder import Embedder

CACHE_SIZE = 20_000


class CachedEmbedder:
    """A callable `texts -> array of unit rows` in front of an `Embedder`, remembering up to `size` texts.

    When full it starts over rather than tracking recency: answers reuse the sentences of the same few passages,
    so a cold start costs one answer's worth of embedding. Safe to share between request threads.
    """

    def __init__(self, embedder: Embedder, size: int = CACHE_SIZE):
        self.embedder = embedder
        self.size = size
        self._vectors: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        with self._lock:
            missing = [t for t in dict.fromkeys(texts) if t not in self._vectors]
        if missing:
            vectors = self.embedder.embed_array(missing)
            with self._lock:
                if len(self._vectors) + len(missing) > self.size:
                    self._vectors.clear()
                self._vectors.update(zip(missing, vectors))
        with self._lock:
            known = {t: self._vectors.get(t) for t in texts}
        if any(v is None for v in known.values()):  # cleared by another thread meanwhile: embed what is gone
            gone = [t for t, v in known.items() if v is None]
            known.update(zip(gone, self.embedder.embed_array(gone)))
        return np.stack([known[t] for t in texts])
