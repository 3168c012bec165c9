"""PLACEHOLDER (lead's branch): replaced by the embedder protocol from the embeddings branch."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Embedder(Protocol):
    def embed_array(self, texts: Sequence[str]) -> np.ndarray: ...
