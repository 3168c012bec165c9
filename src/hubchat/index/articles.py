"""Article versions as the store holds them: what ingest writes, and what the store reads back per article."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from hubchat.types import Chunk


@dataclass(frozen=True)
class ArticleState:
    """What the store holds of one article."""

    article_id: str
    source_path: str
    version_key: str
    expected_chunks: int
    chunk_ids: tuple[str, ...]
    stale_ids: tuple[str, ...]  # chunks of another version of the article (left by an interrupted update)

    @property
    def complete(self) -> bool:
        return not self.stale_ids and len(self.chunk_ids) == self.expected_chunks

    @property
    def from_site(self) -> bool:
        """Whether the article was fetched from the site (its source is the page's address) rather than read from
        the corpus folder (a relative path): each of the two updates and removes only its own articles."""
        return "://" in self.source_path


@dataclass(frozen=True)
class ArticleVersion:
    """One version of an article ready to store: its chunks and their vectors, in the same order."""

    chunks: tuple[Chunk, ...]
    vectors: np.ndarray
    source_path: str
    version_key: str


def states_from_records(records: Iterable[tuple[str, dict]]) -> dict[str, ArticleState]:
    """Per article, the version to keep and the chunks of any other version, from (chunk id, chunk metadata).

    A complete version wins over a partial one, then the most recently written one, then the one with more
    chunks: after a crash mid-update that is the version the next ingest should build on.
    """
    grouped: dict[str, list[tuple[str, dict]]] = {}
    for cid, meta in records:
        grouped.setdefault(meta["article_id"], []).append((cid, meta))
    states = {}
    for article_id, article_records in grouped.items():
        by_version: dict[str, list[tuple[str, dict]]] = {}
        for cid, meta in article_records:
            by_version.setdefault(meta["version_key"], []).append((cid, meta))
        version, chosen = max(
            by_version.items(),
            key=lambda kv: (
                len(kv[1]) == kv[1][0][1]["n_chunks"],
                max(float(m.get("written_at", 0.0)) for _, m in kv[1]),
                len(kv[1]),
            ),
        )
        stale = tuple(cid for v, recs in by_version.items() if v != version for cid, _ in recs)
        states[article_id] = ArticleState(
            article_id=article_id,
            source_path=chosen[0][1]["source_path"],
            version_key=version,
            expected_chunks=int(chosen[0][1]["n_chunks"]),
            chunk_ids=tuple(cid for cid, _ in chosen),
            stale_ids=stale,
        )
    return states
