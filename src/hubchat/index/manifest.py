"""The ingest manifest: the article states the last ingest ended with, saved beside the index.

Reading every chunk's metadata back from Chroma is the slow part of a no-change ingest (about a second per
6,000 chunks). The manifest is trusted only while Chroma holds exactly the chunk ids it lists (ids alone are
cheap to read, and an id fixes article, version and ordinal), and only for the same embedding model.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

from hubchat.index.articles import ArticleState
from hubchat.index.lexical import fingerprint
from hubchat.index.metadata import SCHEMA_VERSION


def write_manifest(path: Path, states: Sequence[ArticleState], embedding_name: str) -> None:
    """Write the manifest atomically (a reader sees the old file or the new one)."""
    payload = {
        "format": SCHEMA_VERSION,
        "embedding_model": embedding_name,
        "fingerprint": fingerprint(cid for s in states for cid in s.chunk_ids),
        "articles": [[s.article_id, s.source_path, s.version_key, s.expected_chunks, list(s.chunk_ids)] for s in states],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(payload, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, path)


def read_manifest(path: Path, embedding_name: str, current_fingerprint: str) -> dict[str, ArticleState] | None:
    """The article states in the manifest, or None if there is none, it cannot be read, or it does not match.

    Args:
        path: the manifest file.
        embedding_name: the store's embedding model; a manifest written for another model is ignored.
        current_fingerprint: `fingerprint` of the chunk ids Chroma holds now.
    """
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
        if (
            payload.get("format") != SCHEMA_VERSION
            or payload.get("embedding_model") != embedding_name
            or payload.get("fingerprint") != current_fingerprint
        ):
            return None
        return {
            article_id: ArticleState(article_id, source_path, version, int(expected), tuple(ids), ())
            for article_id, source_path, version, expected, ids in payload["articles"]
        }
    except (OSError, ValueError, KeyError, TypeError):
        return None
