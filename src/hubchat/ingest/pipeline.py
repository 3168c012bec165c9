"""Incremental ingestion: corpus files -> articles -> chunks -> vectors -> store, then the lexical index.

An article is re-embedded only when its file's bytes or the chunking settings changed. Unchanged files are
recognised from their hash without being parsed. The store is written in whole articles whose chunks carry their
version and chunk count, so a run killed at any point leaves a usable index that the next run completes.
Articles synced from the site (`hubchat.sync`, through `embed_and_write`) share the index; the folder ingest
never updates or removes them, except that a folder file holding the same article id replaces the page's copy.
A rebuild re-embeds them too, from the articles the sync kept (`site_articles`), so they never leave the index.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hubchat.config import Settings
from hubchat.errors import IngestBusyError, InputError
from hubchat.index.articles import ArticleState, ArticleVersion
from hubchat.index.embedder import Embedder
from hubchat.index.storage_errors import index_storage_errors, storage_problem
from hubchat.index.store import ChunkStore
from hubchat.ingest.chunking import chunk_article, embedding_text
from hubchat.ingest.corpus import (
    Skipped,
    UnreadableFile,
    format_of,
    iter_sources,
    parse_source,
    source_rank,
)
from hubchat.types import Article, Chunk, IngestSummary

# Bump when chunking or metadata logic changes in a way that should re-embed every article.
PIPELINE_VERSION = 2
# Embedder batches per embedding call. The embedder sorts a call's texts by length so each batch pads little;
# estimated from the token lengths of 1,900 chunks, calls of 64 texts cost 22% more than one sorted pass over
# all, 256 texts 5%, 512 texts 2.4%. Larger calls also mean fewer, larger Chroma writes; a crash loses at most
# one call's work.
GROUP_BATCHES = 16

ProgressFn = Callable[[str, int, int], None]

log = logging.getLogger(__name__)


def version_key(source_hash: str, settings: Settings, embedding_name: str) -> str:
    """Identifies one version of an article's chunks: file bytes + chunking settings + embedding model and length."""
    recipe = json.dumps(
        {
            "v": PIPELINE_VERSION,
            "chunking": settings.chunking.model_dump(),
            "embedding": embedding_name,
            "embedding_max_tokens": settings.embeddings.max_tokens,
        },
        sort_keys=True,
    )
    return hashlib.sha256(f"{source_hash}\n{recipe}".encode()).hexdigest()[:16]


@dataclass(frozen=True)
class _Candidate:
    article_id: str
    source_path: str
    format: str
    article: Article | None  # None: unchanged, nothing to do


def ingest(
    settings: Settings,
    store: ChunkStore,
    embeddings: Embedder,
    *,
    corpus_dir: Path | None = None,
    rebuild: bool = False,
    site_articles: Callable[[], Sequence[Article]] | None = None,
    progress: ProgressFn | None = None,
) -> IngestSummary:
    """Bring the store up to date with the corpus folder.

    Args:
        settings: chunking sizes and file limits.
        store: where chunks go; its lexical index is refreshed at the end.
        embeddings: the embedder the store was built with (its `name` goes into every version key).
        corpus_dir: the folder to read (default: settings.corpus.path).
        rebuild: embed everything again into a new generation beside the live index, then switch to it (serving
            processes keep answering from the old one until then).
        site_articles: for a rebuild, the site pages' articles as the last sync read them (called under the
            ingest lock, so no sync changes them meanwhile); those the live index holds are re-embedded into the
            new generation, unless a folder file now holds the same article.
        progress: called as progress(stage, done, total) with stage "scan" (files), "chunk" (articles) and
            "embed" (chunks embedded and written; reported once every article is chunked and the total is known).

    Returns:
        The summary: articles added, updated, deleted, unchanged, skipped (with reasons), chunk counts, seconds.

    Raises:
        InputError: the corpus folder does not exist.
        IngestBusyError: another ingest holds this index's lock; nothing was changed.
        IngestLeaseLostError: (`server` mode) this ingest stalled past its lease and another took the index over;
            it stopped before its next write (what it wrote before is whole articles).
        IndexStorageError: the index folder (or the Chroma server's) is full or read-only; the live index keeps
            serving (a rebuild leaves it untouched; an update keeps the whole articles it wrote before the failure).
    """
    started = time.perf_counter()
    root = Path(corpus_dir or settings.corpus.path)
    if not root.is_dir():
        raise InputError(f"corpus folder not found: {root}")
    kept = (
        "The live index was not changed and keeps serving."
        if rebuild
        else "The index keeps what it held before (with any whole articles written before the failure); processes "
        "already serving keep answering, one starting may not until there is room again."
    )
    embedded = Path(settings.index.dir) if settings.store.mode == "embedded" else None
    with (
        index_storage_errors(written_to(settings), kept, embedded),
        ingest_lock(settings) as still_held,
        store.writes_checked(still_held),
    ):
        if not rebuild:
            # A long-lived (serving) process's store may not have noticed another process's rebuild yet.
            store.refresh(force=True)
        carried = site_articles if rebuild and site_articles is not None else (lambda: ())
        return _ingest(settings, store, embeddings, root, rebuild, carried, progress or (lambda stage, done, total: None), started)


@contextmanager
def ingest_lock(settings: Settings) -> Iterator[Callable[[], None]]:
    """Hold the index's ingest lock: a lock file in `index.dir` (released by the OS if the process dies) and, with
    `store.mode = "server"`, the shared collection's lease in the Chroma server too, since processes on other
    machines share the collection but not the folder (see `hubchat.index.ingest_lease`).

    Yields:
        A check to make right before each write to the index (`ChunkStore.writes_checked`): with the server's
        lease, it raises IngestLeaseLostError once another process has taken the lease over; the file lock
        cannot be lost while this process lives, so in embedded mode it does nothing.

    Raises:
        IngestBusyError: another process (or command) is ingesting into the same index right now.
    """
    from filelock import FileLock, Timeout

    folder = Path(settings.index.dir)
    folder.mkdir(parents=True, exist_ok=True)
    lock = FileLock(folder / "ingest.lock")
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise IngestBusyError(
            f"Another ingest is updating the index in {folder} right now; this one changed nothing. Run it again "
            "once that one has finished (the index keeps serving meanwhile)."
        ) from None
    try:
        if settings.store.mode == "server":
            with _server_lease(settings) as still_held:
                yield still_held
        else:
            yield _held
    finally:
        lock.release()


def _held() -> None:
    """The file lock's check: held for as long as this process lives."""


@contextmanager
def _server_lease(settings: Settings) -> Iterator[Callable[[], None]]:
    from hubchat.index.chroma_client import chroma_errors, make_chroma_client
    from hubchat.index.ingest_lease import IngestLease, owner_description

    where = f"{settings.store.host}:{settings.store.port}"
    with chroma_errors(settings):
        lease = IngestLease(
            make_chroma_client(settings), settings.index.collection, settings.store.lease_s, owner_description(str(settings.index.dir)), where
        )
        lease.acquire()
    try:
        yield lease.check
    finally:
        with chroma_errors(settings):
            lease.release()
        if lease.lost:
            log.warning("this ingest outlived its lease on %s while another took over; run the ingest again", where)


def written_to(settings: Settings) -> str:
    """Where an ingest or sync writes, as its storage errors name it."""
    folder = str(settings.index.dir)
    if settings.store.mode == "server":
        return f"{folder} or on the Chroma server at {settings.store.host}:{settings.store.port}"
    return folder


def _ingest(
    settings: Settings,
    live: ChunkStore,
    embeddings: Embedder,
    root: Path,
    rebuild: bool,
    site_articles: Callable[[], Sequence[Article]],
    report: ProgressFn,
    started: float,
) -> IngestSummary:
    # A rebuild fills the next generation beside the live one, which keeps serving until the switch at the end.
    store = live.staging() if rebuild else live
    try:
        return _update(settings, live, store, embeddings, root, rebuild, site_articles, report, started)
    except Exception as exc:
        if storage_problem(exc) is not None:
            after_storage_failure(settings, live, store, rebuild)
        raise


def after_storage_failure(settings: Settings, live: ChunkStore, store: ChunkStore, rebuild: bool) -> None:
    """Leave the live index serving consistently after the disk filled up or went read-only (best effort: the
    disk that refused the ingest (or sync) may refuse these writes too, and the user is told about it either way)."""
    try:
        if rebuild:  # give the half-built generation's space back; the live one was never touched
            live.pointer.clear(store.generation, Path(settings.index.dir))
        else:  # whole articles may have been written before the failure: the lexical index follows Chroma
            live.sync_lexical()
            # Other processes are told to reload too, but not through an embedded Chroma: there the announcement
            # is a write to the very folder that refused the ingest, which fails, or (seen on a full tmpfs) leaves
            # Chroma waiting without end, so the command never says what happened. They reload on the next ingest.
            if settings.store.mode != "embedded":
                live.announce_change()
    except Exception as exc:
        log.warning("could not tidy up after the failed ingest (%s); the next ingest does", exc)


def _update(
    settings: Settings,
    live: ChunkStore,
    store: ChunkStore,
    embeddings: Embedder,
    root: Path,
    rebuild: bool,
    site_articles: Callable[[], Sequence[Article]],
    report: ProgressFn,
    started: float,
) -> IngestSummary:
    states = store.article_states()
    # Pages synced from the site share the index but are the sync's to update and remove, never the folder's.
    site_pages = {k: s for k, s in states.items() if s.from_site}
    folder_states = {k: s for k, s in states.items() if not s.from_site}
    candidates, skipped = _scan(root, settings, embeddings.name, folder_states, report)
    chosen, duplicates = _choose(candidates)
    unchanged = [c for c in chosen.values() if c.article is None]
    deleted = _remove_gone(store, folder_states, chosen, unchanged)
    to_write = [c.article for c in chosen.values() if c.article is not None]
    carried = _site_pages_to_carry(live, site_articles(), chosen) if rebuild else []
    to_write += carried
    added, updated, written, new_states = embed_and_write(to_write, states, settings, store, embeddings, report)

    store.sync_lexical(force=bool(deleted or added or updated or rebuild), persist=True)
    # What the store now holds, so the next run need not read every chunk's metadata back (checked against
    # Chroma's ids before it is saved, and again before it is used).
    final = dict(site_pages)  # a folder article with a site page's id replaces it (new_states below)
    final.update({c.article_id: dataclasses.replace(states[c.article_id], stale_ids=()) for c in unchanged})
    final.update(new_states)
    store.save_manifest(list(final.values()))
    if rebuild:
        live.switch_to(store)
    elif deleted or added or updated:
        live.announce_change()
    return IngestSummary(
        added=tuple(sorted(added)),
        updated=tuple(sorted(updated)),
        deleted=tuple(deleted),
        unchanged=len(unchanged),
        skipped=tuple(sorted((s.rel_path, s.reason) for s in skipped + duplicates)),
        chunks_written=written,
        chunks_total=store.count(),
        seconds=time.perf_counter() - started,
        site_pages=tuple(sorted(a.id for a in carried)),
    )


def _site_pages_to_carry(live: ChunkStore, articles: Sequence[Article], chosen: dict[str, _Candidate]) -> list[Article]:
    """The site articles a rebuild re-embeds: those the live generation holds from the same page (the sync's view
    of what is indexed), except where a folder file holds the article now (the folder's copy wins, as in a sync)."""
    held = {k: s.source_path for k, s in live.article_states().items() if s.from_site}
    return [a for a in articles if held.get(a.id) == a.source_path and a.id not in chosen]


def _scan(
    root: Path, settings: Settings, embedding_name: str, states: dict[str, ArticleState], report: ProgressFn
) -> tuple[list[_Candidate], list[Skipped]]:
    """Every corpus file as a candidate article (parsed only when its version is not already stored), and the
    files that cannot be used."""
    # A full set of current chunks counts as done even beside another version's leftovers (a run killed between
    # writing the new version and deleting the old one): the leftovers are deleted later, nothing is re-embedded.
    complete = {(s.source_path, s.version_key): s.article_id for s in states.values() if len(s.chunk_ids) == s.expected_chunks}
    candidates: list[_Candidate] = []
    skipped: list[Skipped] = []
    sources = list(iter_sources(root, settings.corpus.max_file_bytes))
    for i, (_, item) in enumerate(sources, 1):
        report("scan", i, len(sources))
        if isinstance(item, Skipped):
            skipped.append(item)
            continue
        known = complete.get((item.rel_path, version_key(item.sha256, settings, embedding_name)))
        if known is not None:
            candidates.append(_Candidate(known, item.rel_path, format_of(item.rel_path), None))
            continue
        try:
            article = parse_source(item)
        except UnreadableFile as exc:
            skipped.append(Skipped(item.rel_path, str(exc)))
            continue
        candidates.append(_Candidate(article.id, item.rel_path, article.format, article))
    return candidates, skipped


def _choose(candidates: list[_Candidate]) -> tuple[dict[str, _Candidate], list[Skipped]]:
    """One file per article id (the preferred format), and the other files reported as duplicates."""
    chosen: dict[str, _Candidate] = {}
    for cand in candidates:
        best = chosen.get(cand.article_id)
        if best is None or source_rank(cand.format, cand.source_path) < source_rank(best.format, best.source_path):
            chosen[cand.article_id] = cand
    duplicates = [
        Skipped(c.source_path, f"duplicate of article {c.article_id} (indexed from {chosen[c.article_id].source_path})")
        for c in candidates
        if chosen[c.article_id] is not c
    ]
    return chosen, duplicates


def _remove_gone(
    store: ChunkStore, states: dict[str, ArticleState], chosen: dict[str, _Candidate], unchanged: list[_Candidate]
) -> list[str]:
    """Delete articles no longer in the corpus, and leftovers of interrupted updates; returns the deleted ids."""
    deleted = sorted(set(states) - set(chosen))
    for article_id in deleted:
        store.delete_article(article_id)
    for cand in unchanged:
        if states[cand.article_id].stale_ids:
            store.delete_chunks(states[cand.article_id].stale_ids)
    return deleted


def _embed(embeddings: Embedder, texts: list[str]) -> np.ndarray:
    return embeddings.embed_array(texts)


def embed_and_write(
    articles: list[Article],
    states: dict[str, ArticleState],
    settings: Settings,
    store: ChunkStore,
    embeddings: Embedder,
    report: ProgressFn,
) -> tuple[list[str], list[str], int, dict[str, ArticleState]]:
    """Chunk the articles, embed their chunks in groups, and write articles as soon as all their chunks have vectors.

    Returns:
        (added ids, updated ids (those already in `states`), chunks written, the new state of each written article).

    Embedding runs in a worker thread (onnxruntime releases the GIL), so chunking and Chroma writes overlap with it
    instead of adding to it. Groups are a fixed number of embedder batches taken across article boundaries, so
    every batch is full and the embedder's length sorting has enough texts to keep padding low.
    """
    added: list[str] = []
    updated: list[str] = []
    new_states: dict[str, ArticleState] = {}
    name = embeddings.name
    group_size = embeddings.batch_size * GROUP_BATCHES
    pending: list[_Pending] = []
    texts: list[tuple[int, int, str]] = []  # (index in pending, chunk ordinal, embedding text), in reading order
    in_flight: deque[tuple[Future, list[tuple[int, int]]]] = deque()
    submitted = written = done = 0
    total: int | None = None  # known once every article is chunked

    def submit(pool: ThreadPoolExecutor, final: bool) -> None:
        nonlocal submitted
        while len(texts) - submitted >= group_size or (final and submitted < len(texts)):
            part = texts[submitted : submitted + group_size]
            submitted += len(part)
            in_flight.append((pool.submit(_embed, embeddings, [t for _, _, t in part]), [(p, c) for p, c, _ in part]))

    def collect(wait: bool) -> None:
        """Take finished groups in order and write every article whose chunks are all embedded."""
        nonlocal written, done
        while in_flight and (wait or in_flight[0][0].done()):
            future, slots = in_flight.popleft()
            vectors = future.result()
            for (p, c), vector in zip(slots, vectors):
                pending[p].vectors[c] = vector
                pending[p].missing -= 1
            ready = []
            while written + len(ready) < len(pending) and pending[written + len(ready)].missing == 0:
                ready.append(pending[written + len(ready)])
            if not ready:
                continue
            store.write_articles(
                [ArticleVersion(tuple(i.chunks), np.stack(i.vectors), i.article.source_path, i.key) for i in ready]
            )
            for item in ready:
                (updated if item.article.id in states else added).append(item.article.id)
                ids = tuple(c.id for c in item.chunks)
                new_states[item.article.id] = ArticleState(item.article.id, item.article.source_path, item.key, len(ids), ids, ())
                item.vectors = None  # written: free the memory
                done += len(item.chunks)
            written += len(ready)
            if total is not None:
                report("embed", done, total)

    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hubchat-embed")
    try:
        for i, article in enumerate(articles, 1):
            key = version_key(article.source_hash, settings, name)
            chunks = chunk_article(article, settings.chunking, version_key=key)
            report("chunk", i, len(articles))
            if not chunks:
                continue
            p = len(pending)
            pending.append(_Pending(article, chunks, key, [None] * len(chunks), len(chunks)))
            texts.extend((p, c, embedding_text(chunk)) for c, chunk in enumerate(chunks))
            submit(pool, final=False)
            collect(wait=False)
        total = len(texts)
        report("embed", done, total)
        submit(pool, final=True)
        collect(wait=True)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return added, updated, len(texts), new_states


@dataclass
class _Pending:
    """An article waiting for the vectors of its chunks."""

    article: Article
    chunks: list[Chunk]
    key: str
    vectors: list  # one vector per chunk, None until its group comes back
    missing: int
