"""Builds the long-lived parts from settings once: embeddings, store, retriever, answerer.

The CLI and the UI both start here, so a backend is chosen in exactly one place per kind.
"""

from __future__ import annotations

import logging
from functools import cached_property

from hubchat.config import Settings

log = logging.getLogger(__name__)


class Runtime:
    """Lazily built components for one Settings object."""

    def __init__(self, settings: Settings):
        self.settings = settings

    @cached_property
    def embeddings(self):
        from hubchat.index.embedder import build_embeddings

        return build_embeddings(self.settings.embeddings)

    @cached_property
    def store(self):
        from hubchat.index.store import ChunkStore

        emb = self.embeddings
        return ChunkStore(self.settings, emb.name, emb, emb.dimension)

    @cached_property
    def retriever(self):
        from hubchat.retrieval.hybrid import HybridRetriever

        return HybridRetriever(self.store, self.embeddings, self.settings.retrieval)

    @cached_property
    def answerer(self):
        from hubchat.answer.chain import Answerer

        return Answerer(self.settings, self.retriever, self.embeddings)

    def ingest(self, corpus_dir=None, rebuild: bool = False, progress=None):
        from hubchat.ingest.pipeline import ingest

        return ingest(self.settings, self.store, self.embeddings, corpus_dir=corpus_dir, rebuild=rebuild, progress=progress)
