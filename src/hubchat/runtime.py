"""Builds the long-lived parts from settings once: embeddings, store, retriever, generator, answerer.

The CLI and the UI both start here, so a backend is chosen in exactly one place per kind.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING

from hubchat.config import ChatSettings, Settings
from hubchat.endpoints import protect_http_logs

if TYPE_CHECKING:
    import numpy as np

    from hubchat.generation.generator import Generator
    from hubchat.generation.prompts import Prompts


def build_generator(settings: ChatSettings, prompts: Prompts, embed: Callable[[list[str]], np.ndarray]) -> Generator:
    """What writes answers: the one place that turns `chat.backend` into a Generator.

    Args:
        settings: the `chat` section.
        prompts: the loaded templates.
        embed: texts -> unit vectors (the extractive composer scores sentences with it).
    """
    match settings.backend:
        case "extractive":
            from hubchat.answer.extractive import ExtractiveGenerator

            return ExtractiveGenerator(prompts.refusal, embed)
        case _:
            from hubchat.generation.chat_generator import ChatModelGenerator

            return ChatModelGenerator(settings, prompts)


class Runtime:
    """Lazily built components for one Settings object."""

    def __init__(self, settings: Settings):
        self.settings = settings
        protect_http_logs()  # backend URLs may carry a password; the HTTP clients log them whole

    @cached_property
    def embeddings(self):
        from hubchat.index.embedder import build_embeddings

        return build_embeddings(self.settings.embeddings)

    @cached_property
    def store(self):
        from hubchat.index.store import ChunkStore

        return ChunkStore(self.settings, self.embeddings)

    @cached_property
    def records(self):
        """The records store the settings name (`ui.records_url`, else the SQLite file `ui.db_path`)."""
        from hubchat.records import open_records

        return open_records(self.settings.ui)

    @cached_property
    def demoter(self):
        """The passages editors' "wrong citation" verdicts demote, read from the records (None when
        `retrieval.demote_wrong_citations` is off)."""
        if not self.settings.retrieval.demote_wrong_citations:
            return None
        from hubchat.retrieval.demotion import CitationDemoter

        return CitationDemoter(self.records, self.embed_cache, self.settings.retrieval)

    @cached_property
    def retriever(self):
        from hubchat.retrieval.hybrid import HybridRetriever

        return HybridRetriever(self.store, self.embeddings, self.settings.retrieval, demoter=self.demoter)

    @cached_property
    def prompts(self):
        from hubchat.generation.prompts import load_prompts

        return load_prompts()

    @cached_property
    def embed_cache(self):
        """The embedder in front of the citation checker and the extractive composer (short texts, cached)."""
        from hubchat.answer.embed_cache import CachedEmbedder

        return CachedEmbedder(self.embeddings)

    @cached_property
    def generator(self) -> Generator:
        return build_generator(self.settings.chat, self.prompts, self.embed_cache)

    @cached_property
    def answerer(self):
        from hubchat.answer.chain import Answerer

        return Answerer(self.settings, self.retriever, self.generator, self.embed_cache, self.prompts)

    def ingest(self, corpus_dir=None, rebuild: bool = False, progress=None):
        """The folder ingest (`hubchat.ingest.pipeline.ingest`); a rebuild keeps the site's synced pages, re-embedded
        from the sync's state without the network."""
        from hubchat.ingest.pipeline import ingest
        from hubchat.sync.state import kept_articles

        if rebuild and "store" not in self.__dict__:
            from hubchat.index.store import ChunkStore

            # A rebuild replaces the live collection, so one built with another embedding model is no reason to stop.
            self.__dict__["store"] = ChunkStore(self.settings, self.embeddings, check_model=False)
        return ingest(
            self.settings, self.store, self.embeddings, corpus_dir=corpus_dir, rebuild=rebuild,
            site_articles=lambda: kept_articles(self.settings), progress=progress,
        )

    def sync(self, progress=None):
        """One sync of the site pages (`site`) into this runtime's store; see `hubchat.sync.site.sync_site`."""
        from hubchat.sync.site import sync_site

        return sync_site(self.settings, self.store, self.embeddings, progress=progress)

    def background_updates(self):
        """`serve`'s watcher of the corpus folder (`corpus.watch`) and interval sync (`site.interval_s`), not
        started yet; they update this runtime's store, which the chat answers from."""
        from pathlib import Path

        from hubchat.sync.background import BackgroundUpdates

        s = self.settings
        return BackgroundUpdates(
            self,
            corpus_dir=Path(s.corpus.path) if s.corpus.watch else None,
            interval_s=s.site.interval_s if s.site.configured else 0.0,
        )
