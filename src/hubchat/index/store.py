"""The chunk store: Chroma (embedded folder or `chroma run` server) plus the persisted lexical index.

Chroma is the source of truth. Every chunk carries its article's id, version key and chunk count, so the
state of each article (complete, partial, stale) can be read back after any crash, and the lexical index is
checked against Chroma's ids when it is loaded.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hubchat.config import Settings
from hubchat.errors import BackendError, IndexError_
from hubchat.index.lexical import LexicalIndex, fingerprint
from hubchat.types import Chunk, Filters

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
_GET_PAGE = 5000


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


@dataclass(frozen=True)
class ArticleVersion:
    """One version of an article ready to store: its chunks and their vectors, in the same order."""

    chunks: tuple[Chunk, ...]
    vectors: np.ndarray
    source_path: str
    version_key: str


def _date_num(date: str) -> int:
    try:
        return int(dt.date.fromisoformat(date[:10]).strftime("%Y%m%d"))
    except ValueError:
        return 0


def chunk_metadata(chunk: Chunk, *, source_path: str, version_key: str, n_chunks: int, written_at: float = 0.0) -> dict:
    meta = {
        "article_id": chunk.article_id,
        "ordinal": chunk.ordinal,
        "title": chunk.title,
        "url": chunk.url,
        "date": chunk.date,
        "date_num": _date_num(chunk.date),
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
        meta[f"tag:{tag}"] = True
    return meta


def chunk_from_record(cid: str, text: str, meta: dict) -> Chunk:
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


def chroma_where(filters: Filters | None) -> dict | None:
    """The same filters as `matches`, in Chroma's where syntax."""
    if filters is None or filters.is_empty():
        return None
    clauses: list[dict] = []
    if filters.tags:
        tag_clauses = [{f"tag:{t}": True} for t in filters.tags]
        clauses.append(tag_clauses[0] if len(tag_clauses) == 1 else {"$or": tag_clauses})
    if filters.since:
        clauses.append({"date_num": {"$gte": _date_num(filters.since)}})
    if filters.until:
        clauses.append({"date_num": {"$lte": _date_num(filters.until)}})
    if filters.article_ids:
        clauses.append({"article_id": {"$in": list(filters.article_ids)}})
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


def matches(chunk: Chunk, filters: Filters | None) -> bool:
    """Whether a chunk passes the filters (the lexical side of `chroma_where`)."""
    if filters is None or filters.is_empty():
        return True
    if filters.tags and not set(filters.tags) & set(chunk.tags):
        return False
    num = _date_num(chunk.date)
    if filters.since and num < _date_num(filters.since):
        return False
    if filters.until and num > _date_num(filters.until):
        return False
    if filters.article_ids and chunk.article_id not in filters.article_ids:
        return False
    return True


class _FilterColumns:
    """The lexical index's chunk metadata as arrays, built once per index, so a filter is a few vector ops."""

    def __init__(self, chunks: Sequence[Chunk]):
        self.dates = np.fromiter((_date_num(c.date) for c in chunks), dtype=np.int64, count=len(chunks))
        self.articles = np.array([c.article_id for c in chunks], dtype=object)
        self.tags: dict[str, np.ndarray] = {}
        for i, chunk in enumerate(chunks):
            for tag in chunk.tags:
                self.tags.setdefault(tag, np.zeros(len(chunks), dtype=bool))[i] = True


_columns: dict[int, tuple[object, _FilterColumns]] = {}


def filter_mask(index: LexicalIndex, filters: Filters) -> np.ndarray:
    """0/1 over the index order: the same test as `matches`, vectorised."""
    cached = _columns.get(id(index))
    if cached is None or cached[0] is not index:
        _columns.clear()  # one live index per process is the norm; never keep a replaced one alive
        cached = (index, _FilterColumns(index.chunks))
        _columns[id(index)] = cached
    cols = cached[1]
    keep = np.ones(len(index), dtype=bool)
    if filters.tags:
        any_tag = np.zeros(len(index), dtype=bool)
        for tag in filters.tags:
            if tag in cols.tags:
                any_tag |= cols.tags[tag]
        keep &= any_tag
    if filters.since:
        keep &= cols.dates >= _date_num(filters.since)
    if filters.until:
        keep &= cols.dates <= _date_num(filters.until)
    if filters.article_ids:
        keep &= np.isin(cols.articles, list(filters.article_ids))
    return keep.astype(np.float32)


def _chroma_settings():
    from chromadb.config import Settings as ChromaSettings

    return ChromaSettings(anonymized_telemetry=False, allow_reset=False)


def make_chroma_client(settings: Settings):
    """The one place that chooses embedded or server Chroma."""
    import chromadb

    match settings.store.mode:
        case "embedded":
            path = Path(settings.index.dir) / "chroma"
            path.mkdir(parents=True, exist_ok=True)
            return chromadb.PersistentClient(path=str(path), settings=_chroma_settings())
        case "server":
            where = f"{settings.store.host}:{settings.store.port}"
            try:
                client = chromadb.HttpClient(
                    host=settings.store.host, port=settings.store.port, ssl=settings.store.ssl, settings=_chroma_settings()
                )
                client.heartbeat()
            except Exception as exc:  # chromadb raises plain ValueError/ConnectionError variants
                raise BackendError(
                    f"The Chroma server at {where} is not reachable ({type(exc).__name__}). Start it with "
                    f"`chroma run --path DIR --host {settings.store.host} --port {settings.store.port}`, "
                    "or set store.mode = \"embedded\"."
                ) from None
            return client
        case other:  # config validation makes this unreachable; kept so a new mode cannot slip through
            raise BackendError(f"unknown store.mode {other!r}")


class _ChromaEmbedding:
    """Adapts our LangChain embeddings to Chroma, so Chroma never falls back to its downloading default."""

    def __init__(self, embeddings):
        self._embeddings = embeddings

    def __call__(self, input):  # noqa: A002 - Chroma's protocol names it so
        return [np.asarray(v, dtype=np.float32) for v in self._embeddings.embed_documents(list(input))]

    def embed_query(self, input):  # noqa: A002
        return [np.asarray(self._embeddings.embed_query(t), dtype=np.float32) for t in input]


def _as_chroma_ef(embeddings):
    from chromadb.api.types import EmbeddingFunction

    class HubchatEmbedding(_ChromaEmbedding, EmbeddingFunction):
        pass

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return HubchatEmbedding(embeddings)


class ChunkStore:
    """Chunks with their vectors in Chroma, and the lexical index kept consistent with them.

    Args:
        settings: where the index lives and which Chroma to use.
        embedding_name: the embedding model's name; an index built with another model is refused.
        embeddings: the LangChain embeddings, handed to Chroma as its embedding function.
    """

    def __init__(self, settings: Settings, embedding_name: str, embeddings=None, dimension: int | None = None):
        self.settings = settings
        self.embedding_name = embedding_name
        self._embeddings, self._dimension = embeddings, dimension  # kept for reset()
        self.client = make_chroma_client(settings)
        self.lexical_dir = Path(settings.index.dir) / "lexical"
        metadata = {"embedding_model": embedding_name, "hubchat_schema": SCHEMA_VERSION}
        if dimension:
            metadata["dimension"] = dimension
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            self.collection = self.client.get_or_create_collection(
                name=settings.index.collection,
                metadata=metadata,
                configuration={"hnsw": {"space": "cosine"}},
                embedding_function=_as_chroma_ef(embeddings) if embeddings is not None else None,
            )
        built_with = (self.collection.metadata or {}).get("embedding_model")
        if built_with and built_with != embedding_name:
            raise IndexError_(
                f"The index in {self.location} was built with the embedding model {built_with!r}, but the config "
                f"uses {embedding_name!r}. Run `hubchat ingest --rebuild` to re-embed the corpus."
            )
        self._lexical: LexicalIndex | None = None

    @property
    def location(self) -> str:
        if self.settings.store.mode == "server":
            return f"chroma server {self.settings.store.host}:{self.settings.store.port}, collection {self.settings.index.collection}"
        return f"{self.settings.index.dir} (collection {self.settings.index.collection})"

    # ---- reading the state -------------------------------------------------------------------------------

    def count(self) -> int:
        return self.collection.count()

    def _get_all(self, include: list[str]) -> dict:
        ids: list[str] = []
        metas: list[dict] = []
        docs: list[str] = []
        total = self.collection.count()
        for offset in range(0, total, _GET_PAGE):
            page = self.collection.get(include=include, limit=_GET_PAGE, offset=offset)
            ids += page["ids"]
            metas += page.get("metadatas") or [] if "metadatas" in include else []
            docs += page.get("documents") or [] if "documents" in include else []
        return {"ids": ids, "metadatas": metas, "documents": docs}

    def article_states(self) -> dict[str, ArticleState]:
        """Per article: which chunks the store holds and whether they form one complete version.

        Reading every chunk's metadata back from Chroma is the slow part of a no-change ingest (about a second
        per 6,000 chunks), so the last ingest's result is kept in a manifest and used whenever Chroma still holds
        exactly the chunk ids it lists (ids alone are cheap to read; an id fixes article, version and ordinal).
        """
        cached = self._load_manifest(fingerprint(self._get_all([])["ids"]))
        if cached is not None:
            return cached
        data = self._get_all(["metadatas"])
        grouped: dict[str, list[tuple[str, dict]]] = {}
        for cid, meta in zip(data["ids"], data["metadatas"]):
            grouped.setdefault(meta["article_id"], []).append((cid, meta))
        states = {}
        for article_id, records in grouped.items():
            # Keep a complete version over a partial one, then the most recently written one.
            by_version: dict[str, list[tuple[str, dict]]] = {}
            for cid, meta in records:
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

    @property
    def manifest_path(self) -> Path:
        return Path(self.settings.index.dir) / f"manifest-{self.settings.index.collection}.json"

    def save_manifest(self, states: Sequence[ArticleState]) -> bool:
        """Record the article states an ingest ended with, if they are complete and match Chroma's ids exactly.

        Returns:
            Whether the manifest was written (otherwise any old one is removed and the next read scans Chroma).
        """
        ids = [cid for s in states for cid in s.chunk_ids]
        usable = all(s.complete for s in states) and fingerprint(ids) == fingerprint(self._get_all([])["ids"])
        path = self.manifest_path
        if not usable:
            path.unlink(missing_ok=True)
            return False
        payload = {
            "format": SCHEMA_VERSION,
            "embedding_model": self.embedding_name,
            "fingerprint": fingerprint(ids),
            "articles": [
                [s.article_id, s.source_path, s.version_key, s.expected_chunks, list(s.chunk_ids)] for s in states
            ],
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(payload, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, path)
        return True

    def _load_manifest(self, current_fingerprint: str) -> dict[str, ArticleState] | None:
        try:
            payload = json.loads(self.manifest_path.read_text(encoding="utf-8"))
            if (
                payload.get("format") != SCHEMA_VERSION
                or payload.get("embedding_model") != self.embedding_name
                or payload.get("fingerprint") != current_fingerprint
            ):
                return None
            return {
                article_id: ArticleState(article_id, source_path, version, int(expected), tuple(ids), ())
                for article_id, source_path, version, expected, ids in payload["articles"]
            }
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def all_chunks(self) -> list[Chunk]:
        data = self._get_all(["metadatas", "documents"])
        chunks = [chunk_from_record(cid, doc, meta) for cid, doc, meta in zip(data["ids"], data["documents"], data["metadatas"])]
        return sorted(chunks, key=lambda c: (c.article_id, c.ordinal))

    # ---- writing -----------------------------------------------------------------------------------------

    def write_article(self, chunks: Sequence[Chunk], vectors: np.ndarray, *, source_path: str, version_key: str) -> None:
        """Store one article version (see `write_articles`)."""
        self.write_articles([ArticleVersion(tuple(chunks), vectors, source_path, version_key)])

    def write_articles(self, versions: Sequence["ArticleVersion"]) -> None:
        """Store whole article versions: add the new chunks first, then drop any other version's chunks.

        Adding before deleting means an interrupted update leaves the old version searchable; the next ingest
        sees two versions and finishes the job. Several articles go in one upsert: Chroma's cost per call is
        several times its cost per chunk.
        """
        versions = [v for v in versions if v.chunks]
        if not versions:
            return
        written_at = time.time()
        ids: list[str] = []
        documents: list[str] = []
        metadatas: list[dict] = []
        for v in versions:
            ids += [c.id for c in v.chunks]
            documents += [c.text for c in v.chunks]
            metadatas += [
                chunk_metadata(c, source_path=v.source_path, version_key=v.version_key, n_chunks=len(v.chunks), written_at=written_at)
                for c in v.chunks
            ]
        vectors = np.concatenate([np.asarray(v.vectors, dtype=np.float32) for v in versions])
        step = self._max_batch()
        for i in range(0, len(ids), step):
            self.collection.upsert(
                ids=ids[i : i + step], documents=documents[i : i + step], embeddings=vectors[i : i + step], metadatas=metadatas[i : i + step]
            )
        article_ids = sorted({v.chunks[0].article_id for v in versions})
        where = {"article_id": article_ids[0]} if len(article_ids) == 1 else {"article_id": {"$in": article_ids}}
        keep = set(ids)
        stale = [cid for cid in self.collection.get(where=where, include=[])["ids"] if cid not in keep]
        if stale:
            self.collection.delete(ids=stale)

    def _max_batch(self) -> int:
        try:
            return max(1, int(self.client.get_max_batch_size()))
        except Exception:  # an older server without the endpoint: Chroma's smallest documented limit
            return 5000

    def delete_article(self, article_id: str) -> None:
        self.collection.delete(where={"article_id": article_id})

    def delete_chunks(self, ids: Sequence[str]) -> None:
        if ids:
            self.collection.delete(ids=list(ids))

    def reset(self) -> None:
        """Drop the whole collection and lexical index (for `ingest --rebuild`)."""
        import shutil

        name = self.settings.index.collection
        self.client.delete_collection(name)
        shutil.rmtree(self.lexical_dir, ignore_errors=True)
        self.manifest_path.unlink(missing_ok=True)
        self.__init__(self.settings, self.embedding_name, self._embeddings, self._dimension)

    # ---- the lexical index ---------------------------------------------------------------------------------

    def sync_lexical(self, force: bool = False) -> LexicalIndex:
        """Load the lexical index, rebuilding it from Chroma only when it does not match Chroma's chunks."""
        current_ids = self._get_all([])["ids"]
        index = None if force else LexicalIndex.load(self.lexical_dir)
        if index is None or index.fingerprint != fingerprint(current_ids):
            log.info("building the lexical index from %d chunks", len(current_ids))
            index = LexicalIndex.build(self.all_chunks())
            index.save(self.lexical_dir)
        self._lexical = index
        return index

    @property
    def lexical(self) -> LexicalIndex:
        if self._lexical is None:
            self.sync_lexical()
        return self._lexical

    # ---- searching -----------------------------------------------------------------------------------------

    def dense_search(self, vector: Sequence[float], k: int, filters: Filters | None = None) -> list[tuple[Chunk, float]]:
        """Top-k chunks by cosine similarity (higher is better)."""
        n = self.count()
        if n == 0 or k <= 0:
            return []
        result = self.collection.query(
            query_embeddings=[np.asarray(vector, dtype=np.float32)],
            n_results=min(k, n),
            where=chroma_where(filters),
            include=["documents", "metadatas", "distances"],
        )
        out = []
        for cid, doc, meta, dist in zip(result["ids"][0], result["documents"][0], result["metadatas"][0], result["distances"][0]):
            out.append((chunk_from_record(cid, doc, meta), 1.0 - float(dist)))
        return out

    def lexical_search(self, query: str, k: int, filters: Filters | None = None) -> list[tuple[Chunk, float]]:
        index = self.lexical
        mask = None
        if filters is not None and not filters.is_empty():
            mask = filter_mask(index, filters)
        return index.search(query, k, mask)

    def vectors(self, ids: Sequence[str]) -> tuple[list[str], np.ndarray]:
        """The stored vectors of these chunks: (ids found, matrix with one row per found id)."""
        if not ids:
            return [], np.zeros((0, 0), dtype=np.float32)
        got = self.collection.get(ids=list(ids), include=["embeddings"])
        if got["embeddings"] is None or len(got["ids"]) == 0:
            return [], np.zeros((0, 0), dtype=np.float32)
        return list(got["ids"]), np.asarray(got["embeddings"], dtype=np.float32)

    def get_chunks(self, ids: Sequence[str]) -> list[Chunk]:
        by_id = {c.id: c for c in self.lexical.chunks}
        return [by_id[i] for i in ids if i in by_id]

    def article_ids(self) -> list[str]:
        return sorted({c.article_id for c in self.lexical.chunks})

    def tags(self) -> list[str]:
        return sorted({t for c in self.lexical.chunks for t in c.tags})
