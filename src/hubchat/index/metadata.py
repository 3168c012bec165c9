"""How a chunk is written into Chroma's metadata and read back from it.

Every chunk carries its article's id, version key and chunk count, so the state of each article (complete,
partial, stale) can be read back from Chroma after any crash.
"""

from __future__ import annotations

import datetime as dt
import json

from hubchat.types import Chunk

# The layout of the chunk metadata below; stored on the collection and in the ingest manifest.
SCHEMA_VERSION = 1


def date_num(date: str) -> int:
    """An ISO date as the integer YYYYMMDD (0 when it is not a date): Chroma compares numbers, not strings."""
    try:
        return int(dt.date.fromisoformat(date[:10]).strftime("%Y%m%d"))
    except ValueError:
        return 0


def tag_key(tag: str) -> str:
    """The metadata key that marks a chunk as carrying `tag`."""
    return f"tag:{tag}"


def chunk_metadata(chunk: Chunk, *, source_path: str, version_key: str, n_chunks: int, written_at: float = 0.0) -> dict:
    """Chroma metadata of one chunk of one article version.

    Args:
        chunk: the chunk.
        source_path: the article's file in the corpus.
        version_key: identifies the article version the chunk belongs to.
        n_chunks: how many chunks that version has (a version with fewer stored is incomplete).
        written_at: when the version was written (seconds since the epoch).
    """
    meta = {
        "article_id": chunk.article_id,
        "ordinal": chunk.ordinal,
        "title": chunk.title,
        "url": chunk.url,
        "date": chunk.date,
        "date_num": date_num(chunk.date),
        "heading_path": json.dumps(list(chunk.heading_path), ensure_ascii=False),
        "tags": json.dumps(list(chunk.tags), ensure_ascii=False),
        "start": chunk.start,
        "end": chunk.end,
        "source_path": source_path,
        "version_key": version_key,
        "n_chunks": n_chunks,
        # When this version was written: after a crash mid-update, the newest complete version is the one to keep.
        "written_at": written_at,
    }
    # One boolean key per tag: Chroma filters can test it directly.
    for tag in chunk.tags:
        meta[tag_key(tag)] = True
    return meta


def chunk_from_record(cid: str, text: str, meta: dict) -> Chunk:
    """The chunk a Chroma record (id, document, metadata) holds."""
    return Chunk(
        id=cid,
        article_id=meta["article_id"],
        ordinal=int(meta["ordinal"]),
        text=text,
        start=int(meta["start"]),
        end=int(meta["end"]),
        title=meta.get("title", ""),
        heading_path=tuple(json.loads(meta.get("heading_path", "[]"))),
        url=meta.get("url", ""),
        date=meta.get("date", ""),
        tags=tuple(json.loads(meta.get("tags", "[]"))),
    )
