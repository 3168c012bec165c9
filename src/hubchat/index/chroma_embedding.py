"""Hands our LangChain embeddings to Chroma as its embedding function.

Without one, Chroma falls back to its default model, which it downloads on first use.
"""

from __future__ import annotations

import warnings

import numpy as np


class _ChromaEmbedding:
    """Chroma's embedding-function protocol over a LangChain Embeddings."""

    def __init__(self, embeddings):
        self._embeddings = embeddings

    def __call__(self, input):  # noqa: A002 - Chroma's protocol names it so
        return [np.asarray(v, dtype=np.float32) for v in self._embeddings.embed_documents(list(input))]

    def embed_query(self, input):  # noqa: A002
        return [np.asarray(self._embeddings.embed_query(t), dtype=np.float32) for t in input]


def as_chroma_embedding_function(embeddings):
    """`embeddings` (a LangChain Embeddings) as a Chroma EmbeddingFunction."""
    # Imported here so that reading this module does not load chromadb.
    from chromadb.api.types import EmbeddingFunction

    class HubchatEmbedding(_ChromaEmbedding, EmbeddingFunction):
        pass

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return HubchatEmbedding(embeddings)
