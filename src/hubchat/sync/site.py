"""One sync from the site: list the pages, fetch them (conditionally), and bring the index up to date.

Incremental like the folder ingest: an unchanged page costs one conditional request and no embedding, a changed
page replaces its chunks, a page gone from its listing (or answering 404 or 410) is removed, and a page that
fails keeps its last good version. Site pages are keyed by their address (their `source_path`), so the folder
ingest and the sync never remove each other's articles.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

from hubchat.config import Settings
from hubchat.errors import InputError
from hubchat.index.articles import ArticleState
from hubchat.index.embedder import Embedder
from hubchat.index.storage_errors import index_storage_errors, storage_problem
from hubchat.index.store import ChunkStore
from hubchat.ingest.corpus import SourceFile, UnreadableFile, parse_html
from hubchat.ingest.pipeline import ProgressFn, after_storage_failure, embed_and_write, ingest_lock, version_key, written_to
from hubchat.sync.fetch import Fetched, Fetcher, Validators
from hubchat.sync.listing import list_sources
from hubchat.sync.state import PageState, load_page_states, save_page_states, state_path
from hubchat.types import Article, SyncSummary

log = logging.getLogger(__name__)

HTML_TYPES = ("text/html", "application/xhtml+xml")

# Said after a full or read-only disk stopped a sync: the sync state is saved last, so it never claims what the
# index lacks, and the next sync fetches in full whatever this one did not finish.
KEPT_AFTER_STORAGE_FAILURE = (
    "The index keeps what it held before (with any whole pages written before the failure) and the sync state its "
    "last good one; processes already serving keep answering, and the next sync, once there is room, completes this one."
)


@dataclass(frozen=True)
class _Page:
    """A listed page after fetching: its new article, or what became of it."""

    url: str
    source: str
    fetched: Fetched
    article: Article | None = None  # parsed from a new or changed body
    unchanged: bool = False
    reread: Article | None = None  # an unchanged body's article, read for a state kept without it (format 1, a lost file)
    failure: str = ""


def sync_site(settings: Settings, store: ChunkStore, embeddings: Embedder, *, progress: ProgressFn | None = None) -> SyncSummary:
    """Bring the store's site pages up to date with the configured sitemaps, feeds and addresses.

    Args:
        settings: `site` says what to fetch and how politely; chunking and embedding as for the folder.
        store: where the chunks go (the live generation); its lexical index is refreshed at the end.
        embeddings: the embedder the store was built with.
        progress: called as progress(stage, done, total) with stage "list" (sitemaps and feeds), "fetch"
            (pages), then "chunk" and "embed" as in the folder ingest.

    Raises:
        InputError: no site source is configured.
        IngestBusyError: another ingest or sync holds this index's lock; nothing was fetched or changed.
        IngestLeaseLostError: (`server` mode) this sync stalled past its lease and another took the index over;
            it stopped before its next write.
        IndexStorageError: the index folder (or the Chroma server's) is full or read-only; the index keeps serving
            consistently and the next sync with room completes this one.
    """
    if not settings.site.configured:
        raise InputError(
            "No site to sync from: set site.sitemaps, site.feeds or site.urls in the config "
            "(see \"Pointing hubchat at a site\" in the README)."
        )
    started = time.perf_counter()
    report = progress or (lambda stage, done, total: None)
    embedded = Path(settings.index.dir) if settings.store.mode == "embedded" else None
    with (
        index_storage_errors(written_to(settings), KEPT_AFTER_STORAGE_FAILURE, embedded),
        ingest_lock(settings) as still_held,
        store.writes_checked(still_held),
        Fetcher(settings.site) as fetcher,
    ):
        try:
            return _sync(settings, store, embeddings, fetcher, report, started)
        except Exception as exc:
            if storage_problem(exc) is not None:  # whole pages may be in Chroma: serve them, lexical index and all
                after_storage_failure(settings, store, store, rebuild=False)
            raise


def _sync(settings: Settings, store: ChunkStore, embeddings: Embedder, fetcher: Fetcher, report: ProgressFn, started: float) -> SyncSummary:
    # A serving process's store may not have noticed another process's rebuild yet: write into the live generation.
    store.refresh(force=True)
    states = store.article_states()
    path = state_path(settings)
    known = load_page_states(path)
    listings = list_sources(fetcher, settings.site, lambda done, total: report("list", done, total))
    failed: list[tuple[str, str]] = [(x.source, x.failure) for x in listings if x.failure]
    skipped: list[tuple[str, str]] = []
    # A listing that could not be read protects every page it listed last time: they keep their versions.
    unread = {x.source for x in listings if x.failure}
    protected = {url for url, p in known.items() if p.source in unread}
    listed: dict[str, str] = {}  # url -> source, in listing order; the first source listing a page owns it
    for x in listings:
        for url in x.pages:
            listed.setdefault(url, x.source)
    protected -= set(listed)

    def held(url: str) -> PageState | None:
        """The page's state when the store holds the complete article it was built into (else fetch in full)."""
        page = known.get(url)
        state = states.get(page.article_id) if page else None
        if page is None or state is None or state.source_path != url or not state.complete:
            return None
        return page if state.version_key == version_key(page.sha256, settings, embeddings.name) else None

    pages = _fetch_all(fetcher, listed, held, settings, report)
    gone_urls = {p.url for p in pages if p.fetched.outcome == "gone"}
    refused = {p.url for p in pages if p.fetched.outcome == "refused"}
    skipped += [(p.url, p.fetched.reason) for p in pages if p.fetched.outcome == "refused"]
    failed += [(p.url, p.failure) for p in pages if p.failure]

    dropped = gone_urls | refused
    writes, duplicates = _choose_writes([p for p in pages if p.article is not None], states, set(listed) - dropped)
    skipped += duplicates
    keep_urls = (set(listed) | protected) - dropped
    removed = _to_remove(states, writes, keep_urls)
    for article_id in removed:
        store.delete_article(article_id)

    added, updated, written, new_states = embed_and_write(list(writes.values()), states, settings, store, embeddings, report)
    changed = bool(added or updated or removed)
    # Saved, as by the folder ingest: a sync that cannot leave the lexical index on disk says so (IndexStorageError)
    # rather than report success and leave every process starting after it to rebuild the index from Chroma.
    store.sync_lexical(force=changed, persist=True)
    final: dict[str, ArticleState] = {k: s for k, s in states.items() if k not in removed}
    final.update(new_states)
    store.save_manifest(list(final.values()))
    if changed:
        store.announce_change()

    save_page_states(path, _next_states(known, pages, new_states, protected, keep_urls))
    summary = SyncSummary(
        fetched=sum(p.fetched.outcome == "ok" for p in pages),
        not_modified=sum(p.unchanged for p in pages),
        added=tuple(sorted(added)),
        updated=tuple(sorted(updated)),
        removed=tuple(removed),
        failed=tuple(failed),
        skipped=tuple(sorted(skipped)),
        requests=fetcher.requests,
        chunks_written=written,
        chunks_total=store.count(),
        seconds=time.perf_counter() - started,
    )
    log.info(
        "site sync: %d fetched, %d not modified, %d added, %d updated, %d removed, %d failed in %.1f s",
        summary.fetched, summary.not_modified, len(summary.added), len(summary.updated), len(summary.removed),
        len(summary.failed), summary.seconds,
    )
    return summary


def _choose_writes(
    pages: list[_Page], states: dict[str, ArticleState], live_urls: set[str]
) -> tuple[dict[str, Article], list[tuple[str, str]]]:
    """The new article versions to write, by id, and the pages skipped because another source holds their article.

    The folder's copy of an article wins over a page's; between two pages, the one that already holds it (while
    still listed and not gone), then the one at the address its canonical link names, then the first in order.
    """
    writes: dict[str, Article] = {}
    skipped: list[tuple[str, str]] = []
    for p in sorted(pages, key=lambda p: (not _at_canonical(p), p.url)):
        art = p.article
        holder = states.get(art.id)
        if art.id in writes:
            skipped.append((p.url, f"the same article as {writes[art.id].source_path} ({art.id}), which is indexed"))
        elif holder is not None and not holder.from_site:
            skipped.append((p.url, f"the same article as the corpus folder's {holder.source_path} ({art.id}), which is indexed"))
        elif holder is not None and holder.source_path != p.url and holder.source_path in live_urls:
            skipped.append((p.url, f"the same article as {holder.source_path} ({art.id}), which is indexed"))
        else:
            writes[art.id] = art
    return writes, skipped


def _at_canonical(page: _Page) -> bool:
    """Whether the page was listed at the address its canonical link names (a path, or a full address)."""
    canonical = page.article.url
    path = urlsplit(page.url).path.rstrip("/") or "/"
    return page.url == canonical or (canonical.startswith("/") and path == (canonical.rstrip("/") or "/"))


def _to_remove(states: dict[str, ArticleState], writes: dict[str, Article], keep_urls: set[str]) -> list[str]:
    """Site articles to delete: their page left every listing, is gone or refused, or now reads as another article."""
    now_reads_as = {a.source_path: a.id for a in writes.values()}
    return sorted(
        s.article_id
        for s in states.values()
        if s.from_site
        and s.article_id not in writes
        and (s.source_path not in keep_urls or now_reads_as.get(s.source_path, s.article_id) != s.article_id)
    )


def _fetch_all(fetcher: Fetcher, listed: dict[str, str], held, settings: Settings, report: ProgressFn) -> list[_Page]:
    """Fetch every listed page, `site.concurrency` at a time, in listing order in the result."""
    results: dict[str, _Page] = {}
    with ThreadPoolExecutor(max_workers=settings.site.concurrency, thread_name_prefix="hubchat-fetch") as pool:
        futures = {}
        for url, source in listed.items():
            page = held(url)
            # A state saved without its article asks for the body once (unchanged, it is read, not embedded).
            validators = Validators(page.etag, page.last_modified) if page and page.has_article else None
            futures[pool.submit(fetcher.fetch, url, validators)] = (url, source, page)
        for done, future in enumerate(as_completed(futures), 1):
            url, source, page = futures[future]
            results[url] = _read(url, source, future.result(), page)
            report("fetch", done, len(futures))
    return [results[url] for url in listed]


def _read(url: str, source: str, got: Fetched, page: PageState | None) -> _Page:
    """What a fetched page means for the index: unchanged, a new article, gone, or a failure (with the reason)."""
    if got.outcome == "not_modified":
        if page is None:
            return _Page(url, source, got, failure="answered 304 Not Modified to a request that was not conditional")
        return _Page(url, source, got, unchanged=True)
    if got.outcome in ("gone", "refused"):
        return _Page(url, source, got)
    if got.outcome == "failed":
        return _Page(url, source, got, failure=got.reason)
    body, got = got.body, dataclasses.replace(got, body=b"")  # only the article is kept, not a thousand pages' bytes
    sha = hashlib.sha256(body).hexdigest()
    unchanged = page is not None and page.sha256 == sha
    if unchanged and page.has_article:
        return _Page(url, source, got, unchanged=True)
    kind = got.content_type.split(";", 1)[0].strip().lower()
    if kind and kind not in HTML_TYPES:
        return _Page(url, source, got, failure=f"not an HTML page (Content-Type {kind})")
    try:
        article = page_article(url, got, body, sha)
    except UnreadableFile as exc:
        return _Page(url, source, got, failure=str(exc))
    return _Page(url, source, got, unchanged=True, reread=article) if unchanged else _Page(url, source, got, article=article)


def page_article(url: str, got: Fetched, body: bytes, sha256: str) -> Article:
    """The article of a fetched page, read by the same reader as the corpus folder's HTML pages.

    Its id is its canonical link's site path (as for a local page), else the address the page was fetched from;
    its `source_path` is the listed address, which marks it as the sync's.
    """
    final = got.final_url or url
    local = SourceFile(path=PurePosixPath(urlsplit(final).path or "/"), rel_path=final, sha256=sha256, data=body)
    article = parse_html(local)
    address = article.url or final
    return dataclasses.replace(article, id=address, url=address, source_path=url)


def _next_states(
    known: dict[str, PageState], pages: list[_Page], new_states: dict[str, ArticleState], protected: set[str], keep_urls: set[str]
) -> list[PageState]:
    """The page states to save: new validators for pages read now, the old state for pages that failed or whose
    listing failed, nothing for pages that left the index."""
    by_url = {s.source_path: s.article_id for s in new_states.values()}
    out = [known[url] for url in protected if url in known]
    for p in pages:
        if p.url not in keep_urls:
            continue
        old = known.get(p.url)
        if p.article is not None and p.url in by_url:
            v = p.fetched.validators
            out.append(PageState(p.url, p.source, p.article.id, p.article.source_hash, v.etag, v.last_modified, p.article))
        elif p.unchanged and old is not None:
            v = p.fetched.validators
            kept = old if p.reread is None else dataclasses.replace(old, article=p.reread, article_file=None)
            out.append(dataclasses.replace(
                kept, source=p.source, etag=v.etag or old.etag, last_modified=v.last_modified or old.last_modified,
            ))
        elif old is not None:
            out.append(old)  # failed (or skipped as a duplicate): the last good state stands
    return out
