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
            found = {t: self._vectors.get(t) for t in texts}
        missing = [t for t, v in found.items() if v is None]
        if missing:  # embedded outside the lock: answers in other threads need not wait for this one
            fresh = dict(zip(missing, self.embedder.embed_array(missing)))
            found.update(fresh)
            with self._lock:
                if len(self._vectors) + len(fresh) > self.size:
                    self._vectors.clear()
                self._vectors.update(fresh)
        return np.stack([found[t] for t in texts])
