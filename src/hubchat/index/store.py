"""The chunk store: chunks with their vectors in Chroma, and the persisted lexical index kept consistent with them.

Chroma is the source of truth: the state of each article is read back from its chunk metadata (see
`hubchat.index.metadata`), and the lexical index is checked against Chroma's ids when it is loaded.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from hubchat.config import Settings
from hubchat.errors import IndexMismatchError
from hubchat.index.articles import ArticleState, ArticleVersion, states_from_records
from hubchat.index.chroma_client import chroma_errors, make_chroma_client, reload_embedded
from hubchat.index.chroma_embedding import as_chroma_embedding_function
from hubchat.index.embedder import Embedder
from hubchat.index.filters import chroma_where
from hubchat.index.generations import GenerationPointer, collection_for, lexical_dir_for, manifest_for
from hubchat.index.lexical import LexicalIndex, fingerprint
from hubchat.index.manifest import read_manifest, write_manifest
from hubchat.index.metadata import SCHEMA_VERSION, chunk_from_record, chunk_metadata
from hubchat.index.storage_errors import storage_problem
from hubchat.index.vector_matrix import VectorMatrix
from hubchat.types import Chunk, Filters

log = logging.getLogger(__name__)


def _over_chroma(method):
    """A store method whose Chroma server failures surface as BackendErrors (see chroma_errors)."""

    @functools.wraps(method)
    def wrapped(self, *args, **kwargs):
        with chroma_errors(self.settings):
            return method(self, *args, **kwargs)

    return wrapped

_GET_PAGE = 5000


class ChunkStore:
    """Chunks with their vectors in Chroma, and the lexical index kept consistent with them.

    Args:
        settings: where the index lives and which Chroma to use.
        embedder: the embedding model. Its name is recorded on a new collection (an index built with another model
            is refused), with its dimension when known; Chroma gets it as its embedding function, so Chroma never
            falls back to its own downloading default.
    """

    def __init__(self, settings: Settings, embedder: Embedder, *, generation: int | None = None, check_model: bool = True):
        """
        Args:
            generation: the generation to open (default: the live one); a rebuild opens the next one.
            check_model: refuse a collection built with another embedding model (a rebuild, which replaces it,
                opens the live one without this check).

        Raises:
            IndexMismatchError: the collection was built with another embedding model.
            BackendError: the Chroma server is not reachable.
        """
        self.settings = settings
        self.embedder = embedder
        self.embedding_name = embedder.name
        self.client = make_chroma_client(settings)
        self.pointer = GenerationPointer(self.client, settings.index.collection)
        with chroma_errors(settings):
            live = self.pointer.read()
        self.generation = live.generation if generation is None else generation
        self._seen = live
        self._checked_at = time.monotonic()
        self._refresh_lock = threading.Lock()
        self._matrix: tuple[LexicalIndex, VectorMatrix] | None = None
        self._matrix_lock = threading.Lock()
        self._tags: tuple[LexicalIndex, list[str]] | None = None
        self._write_check: Callable[[], None] | None = None  # see writes_checked
        self._open(check_model)

    def _open(self, check_model: bool = True) -> None:
        """Open this store's generation: its collection (created if new) and its lexical folder."""
        self.collection_name = collection_for(self.settings.index.collection, self.generation)
        self.lexical_dir = lexical_dir_for(self.settings.index.dir, self.generation)
        metadata = {"embedding_model": self.embedding_name, "hubchat_schema": SCHEMA_VERSION}
        if self.embedder.dimension:
            metadata["dimension"] = self.embedder.dimension
        with warnings.catch_warnings(), chroma_errors(self.settings):
            warnings.simplefilter("ignore", DeprecationWarning)
            self.collection = self.client.get_or_create_collection(
                name=self.collection_name,
                metadata=metadata,
                configuration={"hnsw": {"space": "cosine"}},
                embedding_function=as_chroma_embedding_function(self.embedder),
            )
        built_with = (self.collection.metadata or {}).get("embedding_model")
        if check_model and built_with and built_with != self.embedding_name:
            raise IndexMismatchError(
                f"The index in {self.location} was built with the embedding model {built_with!r}, but the config "
                f"uses {self.embedding_name!r}. Run `hubchat ingest --rebuild` to re-embed the corpus."
            )
        self._lexical: LexicalIndex | None = None

    @property
    def location(self) -> str:
        if self.settings.store.mode == "server":
            return f"chroma server {self.settings.store.host}:{self.settings.store.port}, collection {self.collection_name}"
        return f"{self.settings.index.dir} (collection {self.collection_name})"

    # ---- reading the state -------------------------------------------------------------------------------

    def count(self) -> int:
        with chroma_errors(self.settings):
            return self.collection.count()

    @_over_chroma
    def _get_all(self, include: list[str]) -> dict:
        ids: list[str] = []
        metas: list[dict] = []
        docs: list[str] = []
        vectors: list[np.ndarray] = []
        total = self.collection.count()
        for offset in range(0, total, _GET_PAGE):
            page = self.collection.get(include=include, limit=_GET_PAGE, offset=offset)
            ids += page["ids"]
            metas += page.get("metadatas") or [] if "metadatas" in include else []
            docs += page.get("documents") or [] if "documents" in include else []
            if "embeddings" in include and len(page["ids"]):
                vectors.append(np.asarray(page["embeddings"], dtype=np.float32))
        return {"ids": ids, "metadatas": metas, "documents": docs, "embeddings": vectors}

    def article_states(self) -> dict[str, ArticleState]:
        """Per article: which chunks the store holds and whether they form one complete version.

        Read from the ingest manifest while it matches Chroma's ids (see `hubchat.index.manifest`), otherwise
        from every chunk's metadata.
        """
        ids = self._get_all([])["ids"]
        cached = read_manifest(self.manifest_path, self.embedding_name, fingerprint(ids))
        if cached is not None:
            return cached
        data = self._get_all(["metadatas"])
        return states_from_records(zip(data["ids"], data["metadatas"]))

    @property
    def manifest_path(self) -> Path:
        return manifest_for(self.settings.index.dir, self.settings.index.collection, self.generation)

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
        write_manifest(path, states, self.embedding_name)
        return True

    def all_chunks(self) -> list[Chunk]:
        data = self._get_all(["metadatas", "documents"])
        chunks = [chunk_from_record(cid, doc, meta) for cid, doc, meta in zip(data["ids"], data["documents"], data["metadatas"])]
        return sorted(chunks, key=lambda c: (c.article_id, c.ordinal))

    # ---- writing -----------------------------------------------------------------------------------------

    @contextmanager
    def writes_checked(self, check: Callable[[], None]) -> Iterator[None]:
        """Call `check` right before every write to Chroma inside the block (chunks added or deleted, the
        generation pointer moved or cleared), in this store and in the staging store it makes: an ingest that
        lost the shared index's lease (`IngestLease.check`) raises there instead of writing."""
        previous, self._write_check = self._write_check, check
        try:
            yield
        finally:
            self._write_check = previous

    def _before_write(self) -> None:
        if self._write_check is not None:
            self._write_check()

    @_over_chroma
    def write_articles(self, versions: Sequence[ArticleVersion]) -> None:
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
            self._before_write()
            self.collection.upsert(
                ids=ids[i : i + step], documents=documents[i : i + step], embeddings=vectors[i : i + step], metadatas=metadatas[i : i + step]
            )
        article_ids = sorted({v.chunks[0].article_id for v in versions})
        where = {"article_id": article_ids[0]} if len(article_ids) == 1 else {"article_id": {"$in": article_ids}}
        keep = set(ids)
        stale = [cid for cid in self.collection.get(where=where, include=[])["ids"] if cid not in keep]
        if stale:
            self._before_write()
            self.collection.delete(ids=stale)

    def _max_batch(self) -> int:
        try:
            return max(1, int(self.client.get_max_batch_size()))
        except Exception:  # an older server without the endpoint: Chroma's smallest documented limit
            return 5000

    @_over_chroma
    def delete_article(self, article_id: str) -> None:
        self._before_write()
        self.collection.delete(where={"article_id": article_id})

    @_over_chroma
    def delete_chunks(self, ids: Sequence[str]) -> None:
        if ids:
            self._before_write()
            self.collection.delete(ids=list(ids))

    # ---- generations: rebuilding beside the live index, and noticing other processes' ingests ----------------

    def staging(self) -> ChunkStore:
        """An empty store for the next generation, beside the live one (what a killed rebuild left is dropped)."""
        following = self.generation + 1
        with chroma_errors(self.settings):
            self._before_write()
            self.pointer.clear(following, Path(self.settings.index.dir))
        staged = ChunkStore(self.settings, self.embedder, generation=following)
        staged._write_check = self._write_check  # the rebuild writes there under the same lease
        return staged

    def switch_to(self, staged: ChunkStore) -> None:
        """Make a complete `staged` generation the live one, for this store and (through the pointer) every
        process; generations before the one it replaces are dropped."""
        replaced = self.generation
        with chroma_errors(self.settings):
            self._before_write()
            self._seen = self.pointer.announce(staged.generation)
            self.generation = staged.generation
            self._open()
            self._lexical = staged._lexical
            self.pointer.drop_older_than(replaced, Path(self.settings.index.dir))

    def announce_change(self) -> None:
        """Tell the other processes this generation's content changed (they reload on their next check)."""
        with chroma_errors(self.settings):
            self._before_write()
            self._seen = self.pointer.announce(self.generation)

    def refresh(self, force: bool = False) -> bool:
        """Follow another process's ingest or rebuild: read the pointer (at most every `index.refresh_s`
        seconds unless forced) and, when it moved, reopen the live generation and reload the lexical index.

        Returns:
            Whether anything was reloaded.
        """
        now = time.monotonic()
        if not force and now - self._checked_at < self.settings.index.refresh_s:
            return False
        if not self._refresh_lock.acquire(blocking=force):
            return False  # another thread is checking right now
        try:
            self._checked_at = now
            with chroma_errors(self.settings):
                live = self.pointer.read()
            if live == self._seen:
                return False
            if live.generation == self.generation:
                self.client = reload_embedded(self.client, self.settings)
                self.pointer = GenerationPointer(self.client, self.settings.index.collection)
            self.generation = live.generation
            self._open()
            self._seen = live
            self.sync_lexical()
            log.info("index changed by another process: now generation %d", self.generation)
            return True
        finally:
            self._refresh_lock.release()

    # ---- the lexical index ---------------------------------------------------------------------------------

    def sync_lexical(self, force: bool = False, persist: bool = False) -> LexicalIndex:
        """Load the lexical index, rebuilding it from Chroma only when it does not match Chroma's chunks.

        Args:
            persist: raise when the rebuilt index cannot be saved (an ingest must leave it on disk). Otherwise a
                full or read-only index folder only costs the next process a rebuild: this one serves from memory.
        """
        current_ids = self._get_all([])["ids"]
        index = None if force else LexicalIndex.load(self.lexical_dir)
        if index is None or index.fingerprint != fingerprint(current_ids):
            log.info("building the lexical index from %d chunks", len(current_ids))
            index = LexicalIndex.build(self.all_chunks())
            try:
                index.save(self.lexical_dir)
            except OSError as exc:
                if persist or storage_problem(exc) is None:
                    raise
                log.warning("could not save the lexical index in %s (%s); serving it from memory", self.lexical_dir, exc)
        self._lexical = index
        return index

    @property
    def lexical(self) -> LexicalIndex:
        if self._lexical is None:
            self.sync_lexical()
        return self._lexical

    # ---- searching -----------------------------------------------------------------------------------------

    def vector_matrix(self, lexical: LexicalIndex) -> VectorMatrix:
        """Every chunk's vector, in `lexical`'s chunk order; read from Chroma once per lexical index."""
        with self._matrix_lock:  # one read of every vector, however many requests want it at once
            if self._matrix is None or self._matrix[0] is not lexical:
                data = self._get_all(["embeddings"])
                stored = np.concatenate(data["embeddings"]) if data["embeddings"] else np.zeros((0, 0), np.float32)
                self._matrix = (lexical, VectorMatrix(lexical.ids, data["ids"], stored))
            return self._matrix[1]

    def dense_search(self, vector: Sequence[float], k: int, filters: Filters | None = None) -> list[tuple[Chunk, float]]:
        """Top-k chunks by cosine similarity (higher is better).

        Filtered, with `index.exact_filtered_search`: exact, over the filtered chunks' vectors held in memory.
        """
        if filters is not None and not filters.is_empty() and self.settings.index.exact_filtered_search:
            lexical = self.lexical
            try:
                matrix = self.vector_matrix(lexical)
            except ValueError as exc:  # the lexical index lags Chroma (an ingest elsewhere): catch up, once
                log.warning("lexical index out of step with Chroma (%s): reloading it", exc)
                lexical = self.sync_lexical()
                matrix = self.vector_matrix(lexical)
            keep = lexical.filter_columns.mask(filters) > 0
            return [(lexical.chunks[i], score) for i, score in matrix.top(vector, keep, k)]
        n = self.count()
        if n == 0 or k <= 0:
            return []
        with chroma_errors(self.settings):
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
        """Top-k chunks by BM25 score (see `LexicalIndex.search`)."""
        return self.lexical.search(query, k, filters)

    def vectors(self, ids: Sequence[str]) -> tuple[list[str], np.ndarray]:
        """The stored vectors of these chunks: (ids found, matrix with one row per found id)."""
        if not ids:
            return [], np.zeros((0, 0), dtype=np.float32)
        return self._chroma_vectors(ids)

    def cosines(self, vector: Sequence[float], ids: Sequence[str], filters: Filters | None = None) -> dict[str, float]:
        """The cosine of `vector` to each of these chunks that the store holds.

        A filtered question, with `index.exact_filtered_search`, reads them from the vectors its dense search
        already holds in memory: a Chroma read of the lexical-only candidates cost 3-6 ms at 100k chunks. Any
        other question reads them from Chroma (it does not load the matrix for them).
        """
        if not ids:
            return {}
        if filters is not None and not filters.is_empty() and self.settings.index.exact_filtered_search:
            lexical = self.lexical
            try:
                matrix = self.vector_matrix(lexical)
            except ValueError:  # the lexical index lags Chroma: dense_search reloads it; Chroma has the vectors
                matrix = None
            if matrix is not None:
                found = [cid for cid in ids if cid in lexical.position]
                values = matrix.cosines([lexical.position[cid] for cid in found], vector)
                return dict(zip(found, values.tolist()))
        found, stored = self._chroma_vectors(ids)
        if not found:
            return {}
        stored = stored.astype(np.float64)
        query = np.asarray(vector, dtype=np.float64)
        norms = np.linalg.norm(stored, axis=1) * max(float(np.linalg.norm(query)), 1e-12)
        return dict(zip(found, (stored @ query / np.clip(norms, 1e-12, None)).tolist()))

    def _chroma_vectors(self, ids: Sequence[str]) -> tuple[list[str], np.ndarray]:
        with chroma_errors(self.settings):
            got = self.collection.get(ids=list(ids), include=["embeddings"])
        if got["embeddings"] is None or len(got["ids"]) == 0:
            return [], np.zeros((0, 0), dtype=np.float32)
        return list(got["ids"]), np.asarray(got["embeddings"], dtype=np.float32)

    def tags(self) -> list[str]:
        """Every tag of the indexed articles, sorted: as of the current lexical index (read again once it changed,
        so an ingest or sync since the last call shows)."""
        lexical = self.lexical
        cached = self._tags
        if cached is None or cached[0] is not lexical:
            cached = self._tags = (lexical, sorted({t for c in lexical.chunks for t in c.tags}))
        return list(cached[1])
