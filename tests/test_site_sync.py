"""Sync from the site keeps the index equal to what the site lists, politely and incrementally.

Everything is real: a threaded HTTP site on loopback (tests/site_server.py) serving the corpus's HTML pages and
Markdown articles rendered as pages, a sitemap index, sitemaps, an RSS feed and robots.txt; httpx fetching them;
the packaged MiniLM embedder; embedded Chroma and the BM25 index in a temporary folder. Between syncs the site
changes the way real sites do: pages are edited, added, dropped from the sitemap, answer 404/410, fail with 500,
hang, grow too big, or redirect in a loop.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import os
import re
import shutil
import textwrap
from pathlib import Path

import pytest

from hubchat.config import Settings
from hubchat.errors import ConfigError, IngestBusyError
from hubchat.index.chroma_client import make_chroma_client
from hubchat.index.generations import GenerationPointer, collection_for
from hubchat.index.store import ChunkStore
from hubchat.ingest.corpus import parse_html, read_source
from hubchat.ingest.pipeline import ingest, ingest_lock
from hubchat.runtime import Runtime
from hubchat.sync import state as sync_state
from hubchat.sync.site import sync_site
from hubchat.sync.state import articles_dir, load_page_states, save_page_states, state_path
from tests.conftest_store import ChromaServer
from tests.helpers import PROJECT, SAMPLES, CountingEmbedder, chroma_records, settings_for, write_article
from tests.site_server import PageMeta, SiteServer, article_page

HTML_PAGES = {
    "/guides/eu-ai-act-guide": PROJECT / "corpus" / "html" / "eu-ai-act-guide.html",
    "/compare/nvidia-vs-amd-data-center-gpus": PROJECT / "corpus" / "html" / "nvidia-vs-amd-data-center-gpus.html",
}
CHROMA, WHISPER, GPU = (s.url for s in SAMPLES)
DRAFT = "/private/draft-article"
# The site's lists: a sitemap index of two sitemaps, and a feed.
GUIDES = ["/guides/eu-ai-act-guide", CHROMA, DRAFT]
MORE = ["/compare/nvidia-vs-amd-data-center-gpus", WHISPER]
FEED = [GPU]
ALL_PAGES = sorted([*GUIDES, *MORE, *FEED])
INDEXED = sorted(set(ALL_PAGES) - {DRAFT})
WHISPER_DATE = "Fri, 14 Mar 2025 09:00:00 GMT"

SITE_TOML = """
[site]
sitemaps = ["{origin}/sitemap-index.xml"]
feeds = ["{origin}/rss.xml"]
rate_per_s = 500
concurrency = 4
timeout_s = 1.0
retries = 1
backoff_s = 0.05
max_page_bytes = 200000
"""


def sample_page(sample, extra: str = "") -> str:
    meta = PageMeta(title=sample.title, canonical=sample.url, tags=sample.tags, summary=f"About {sample.title}.")
    return article_page(meta, textwrap.dedent(sample.body) + extra)


def new_page(path: str, title: str, body: str) -> str:
    return article_page(PageMeta(title=title, canonical=path, tags=("vector-databases",), date="2025-07-01"), textwrap.dedent(body))


@pytest.fixture
def site():
    server = SiteServer().start()
    for path, file in HTML_PAGES.items():
        server.page(path, file.read_bytes())
    for sample in SAMPLES:
        server.page(sample.url, sample_page(sample), etag=sample.url != WHISPER, last_modified=WHISPER_DATE if sample.url == WHISPER else "")
    server.page(DRAFT, new_page(DRAFT, "An unpublished draft", "Drafts must never reach the index: robots.txt disallows them."))
    server.robots("/private/")
    server.sitemap("/sitemap-guides.xml", GUIDES)
    server.sitemap("/sitemap-more.xml", MORE)
    server.sitemap_index("/sitemap-index.xml", ["/sitemap-guides.xml", "/sitemap-more.xml"])
    server.rss("/rss.xml", FEED)
    yield server
    server.close()


@pytest.fixture
def settings(tmp_path: Path, site: SiteServer) -> Settings:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    return settings_for(tmp_path, corpus, SITE_TOML.format(origin=site.origin))


@pytest.fixture
def counting(embedder) -> CountingEmbedder:
    return CountingEmbedder(embedder)


@pytest.fixture
def store(settings: Settings, counting: CountingEmbedder) -> ChunkStore:
    return ChunkStore(settings, counting)


def articles_in(store: ChunkStore) -> dict[str, dict]:
    """Article id -> the metadata of its first chunk."""
    out: dict[str, dict] = {}
    for _, meta in sorted(chroma_records(store), key=lambda r: r[1]["ordinal"]):
        out.setdefault(meta["article_id"], meta)
    return out


def chunk_ids(store: ChunkStore, article_id: str) -> set[str]:
    return {cid for cid, meta in chroma_records(store) if meta["article_id"] == article_id}


def test_a_first_sync_indexes_every_listed_page_through_the_folders_html_reader(site: SiteServer, settings: Settings, store, counting):
    summary = sync_site(settings, store, counting)

    assert summary.added == tuple(INDEXED)
    assert summary.fetched == len(INDEXED) and summary.failed == ()
    assert summary.skipped == ((site.url(DRAFT), f"robots.txt of {site.origin} disallows it for {settings.site.user_agent!r}"),)
    assert site.requests_to(DRAFT) == [], "a page robots.txt disallows is never requested"
    assert all(s.user_agent.startswith("hubchat/") for s in site.seen)
    # robots.txt, the sitemap index, its two sitemaps, the feed, and each allowed page once.
    assert summary.requests == len(site.seen) == 1 + 3 + 1 + len(INDEXED)
    assert counting.texts == summary.chunks_written == store.count() > 0

    stored = articles_in(store)
    assert sorted(stored) == INDEXED
    local = parse_html(read_source(HTML_PAGES["/guides/eu-ai-act-guide"], PROJECT, 10**7))
    meta = stored["/guides/eu-ai-act-guide"]
    assert (meta["title"], meta["url"], meta["date"]) == (local.title, local.url, local.date)
    assert meta["source_path"] == site.url("/guides/eu-ai-act-guide"), "site pages are keyed by their address"
    page_text = " ".join(text for text in store.collection.get(where={"article_id": "/guides/eu-ai-act-guide"})["documents"])
    assert "risk" in page_text.lower()
    everything = " ".join(store.collection.get()["documents"])
    for chrome in ("Get the weekly briefing", "Subscribe", "All rights reserved", "Search articles", "Latest articles"):
        assert chrome not in everything, f"site chrome {chrome!r} was indexed"
    assert store.lexical_search("Whisper transcript speaker turns", 3)[0][0].article_id == WHISPER


def test_a_sync_of_an_unchanged_site_costs_one_conditional_request_per_page_and_no_embedding(site: SiteServer, settings: Settings, store, counting):
    sync_site(settings, store, counting)
    before = {cid for cid, _ in chroma_records(store)}
    site.clear_seen()
    counting.texts = 0

    summary = sync_site(settings, store, counting)

    assert (summary.not_modified, summary.fetched, summary.added, summary.updated, summary.removed) == (len(INDEXED), 0, (), (), ())
    assert counting.texts == 0 and summary.chunks_written == 0
    assert summary.requests == len(site.seen) == 1 + 3 + 1 + len(INDEXED)
    for path in INDEXED:
        (request,) = site.requests_to(path)
        assert request.status == 304
        if path == WHISPER:  # the page without an ETag is asked with its Last-Modified date
            assert (request.if_none_match, request.if_modified_since) == ("", WHISPER_DATE)
        else:
            assert request.if_none_match.startswith('"')
    assert {cid for cid, _ in chroma_records(store)} == before


def test_edits_additions_and_deletions_on_the_site_reach_the_index(site: SiteServer, settings: Settings, store, counting):
    sync_site(settings, store, counting)
    old_chroma = chunk_ids(store, CHROMA)
    site.page(CHROMA, sample_page(SAMPLES[0], "\n\n## Full-text search\n\nChroma now ships a sparse keyword index beside the vectors.\n"))
    added = "/guides/qdrant-payload-filters"
    site.page(added, new_page(added, "Qdrant Payload Filters", "Qdrant filters on payload fields such as tenant ids during the vector search itself."))
    site.sitemap("/sitemap-more.xml", ["/compare/nvidia-vs-amd-data-center-gpus", added])  # the Whisper page leaves the sitemap
    site.page("/compare/nvidia-vs-amd-data-center-gpus", b"", status=410)
    site.page(GPU, b"", status=404)  # still in the feed, but gone
    counting.texts = 0

    summary = sync_site(settings, store, counting)

    assert summary.added == (added,)
    assert summary.updated == (CHROMA,)
    assert summary.removed == tuple(sorted([WHISPER, GPU, "/compare/nvidia-vs-amd-data-center-gpus"]))
    assert summary.failed == ()
    assert sorted(articles_in(store)) == sorted(["/guides/eu-ai-act-guide", CHROMA, added])
    assert not chunk_ids(store, CHROMA) & old_chroma, "the edited page's old chunks were replaced"
    assert counting.texts == summary.chunks_written == len(chunk_ids(store, CHROMA)) + len(chunk_ids(store, added))
    assert store.lexical_search("sparse keyword index beside the vectors", 1)[0][0].article_id == CHROMA
    assert store.lexical_search("tenant ids payload fields", 1)[0][0].article_id == added
    assert set(load_page_states(state_path(settings))) == {site.url(p) for p in ["/guides/eu-ai-act-guide", CHROMA, added]}


def test_a_page_that_fails_keeps_its_last_good_version_and_is_reported(site: SiteServer, settings: Settings, store, counting):
    sync_site(settings, store, counting)
    before = {cid for cid, _ in chroma_records(store)}
    huge = b"<html><body><article><p>" + b"Too long to read. " * 20_000 + b"</p></article></body></html>"
    site.page("/guides/eu-ai-act-guide", b"", status=500)
    site.page(CHROMA, sample_page(SAMPLES[0], "\n\nAn edit nobody will see."), delay_s=1.6)
    site.page("/compare/nvidia-vs-amd-data-center-gpus", huge, declare_length=False)
    site.page(WHISPER, huge)
    site.page("/guides/loop", b"", location="/guides/loop")
    site.sitemap("/sitemap-more.xml", [*MORE, "/guides/loop"])
    site.clear_seen()

    summary = sync_site(settings, store, counting)

    reasons = dict(summary.failed)
    assert set(reasons) == {site.url(p) for p in ["/guides/eu-ai-act-guide", CHROMA, "/compare/nvidia-vs-amd-data-center-gpus", WHISPER, "/guides/loop"]}
    assert reasons[site.url("/guides/eu-ai-act-guide")] == "HTTP 500 (after 2 tries)"
    assert len(site.requests_to("/guides/eu-ai-act-guide")) == 2, "a 5xx answer is retried site.retries times"
    assert reasons[site.url(CHROMA)].startswith("timed out")
    assert reasons[site.url("/compare/nvidia-vs-amd-data-center-gpus")].startswith("too large")
    assert reasons[site.url(WHISPER)].startswith("too large")
    assert reasons[site.url("/guides/loop")].startswith("a redirect loop")
    assert summary.removed == () and summary.added == () and summary.updated == ()
    assert {cid for cid, _ in chroma_records(store)} == before, "every failed page kept its last good version"

    # Once the page answers again, its kept validators still save the download and the embedding.
    site.page("/guides/eu-ai-act-guide", HTML_PAGES["/guides/eu-ai-act-guide"].read_bytes())
    counting.texts = 0
    again = sync_site(settings, store, counting)
    assert site.requests_to("/guides/eu-ai-act-guide")[-1].status == 304
    assert site.url("/guides/eu-ai-act-guide") not in dict(again.failed) and counting.texts == 0


def test_a_listing_that_cannot_be_read_removes_nothing(site: SiteServer, settings: Settings, store, counting):
    sync_site(settings, store, counting)
    before = {cid for cid, _ in chroma_records(store)}
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
        '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url><loc>&lol3;</loc></url></urlset>'
    )
    site.page("/sitemap-more.xml", bomb, content_type="application/xml")
    site.page("/rss.xml", b"", status=500)

    summary = sync_site(settings, store, counting)

    reasons = dict(summary.failed)
    assert "sitemap-more.xml" in reasons[site.url("/sitemap-index.xml")] and "DTD" in reasons[site.url("/sitemap-index.xml")]
    assert reasons[site.url("/rss.xml")] == "HTTP 500 (after 2 tries)"
    assert summary.removed == ()
    assert {cid for cid, _ in chroma_records(store)} == before
    assert set(load_page_states(state_path(settings))) == {site.url(p) for p in INDEXED}


def test_the_folder_and_the_site_feed_one_index_without_removing_each_others_articles(site: SiteServer, settings: Settings, store, counting):
    folder = Path(settings.corpus.path)
    sample = SAMPLES[0]  # the folder holds the Chroma article too: the folder's copy wins
    write_article(folder, "chroma.md", sample.body, title=sample.title, url=sample.url, tags=sample.tags)
    write_article(folder, "local-only.md", "Only the folder has this article about embedding caches.", title="Embedding Caches", url="/guides/embedding-caches")
    ingest(settings, store, counting)

    synced = sync_site(settings, store, counting)
    assert CHROMA not in synced.added
    assert synced.skipped[0] == (site.url(CHROMA), f"the same article as the corpus folder's chroma.md ({CHROMA}), which is indexed")
    assert articles_in(store)[CHROMA]["source_path"] == "chroma.md"

    again = ingest(settings, store, counting)
    assert again.deleted == () and again.unchanged == 2
    assert sorted(articles_in(store)) == sorted({*INDEXED, "/guides/embedding-caches"})

    (folder / "chroma.md").unlink()
    assert ingest(settings, store, counting).deleted == (CHROMA,)
    assert sync_site(settings, store, counting).added == (CHROMA,), "with the folder's copy gone, the site's is indexed"
    assert articles_in(store)[CHROMA]["source_path"] == site.url(CHROMA)
    assert sync_site(settings, store, counting).removed == ()
    assert "/guides/embedding-caches" in articles_in(store)


def rebuilding_runtime(settings: Settings, counting: CountingEmbedder) -> Runtime:
    runtime = Runtime(settings)
    runtime.__dict__["embeddings"] = counting  # the session's loaded model, counted
    return runtime


def test_a_rebuild_keeps_the_sites_pages_without_the_network_and_the_next_sync_is_a_no_change_sync(site: SiteServer, settings: Settings, counting):
    write_article(Path(settings.corpus.path), "local-only.md", "Only the folder has this article about embedding caches.", title="Embedding Caches", url="/guides/embedding-caches")
    runtime = rebuilding_runtime(settings, counting)
    runtime.ingest()
    runtime.sync()
    generation = runtime.store.generation
    site.clear_seen()
    counting.texts = 0

    rebuilt = runtime.ingest(rebuild=True)

    assert site.seen == [], "a rebuild re-embeds the site's pages from the sync state, without asking the site"
    assert runtime.store.generation == generation + 1
    assert rebuilt.site_pages == tuple(INDEXED)
    assert sorted(rebuilt.added) == sorted({*INDEXED, "/guides/embedding-caches"})
    assert counting.texts == rebuilt.chunks_written == runtime.store.count()
    # Another process opening the index sees the new generation with the site's pages in it.
    reopened = ChunkStore(settings, counting)
    assert reopened.generation == generation + 1
    assert sorted(articles_in(reopened)) == sorted({*INDEXED, "/guides/embedding-caches"})
    assert articles_in(reopened)[WHISPER]["source_path"] == site.url(WHISPER), "still the sync's page, keyed by its address"
    hits = runtime.retriever.retrieve("How do I split a Whisper transcript by speaker turns?").passages
    assert hits and hits[0].chunk.article_id == WHISPER

    counting.texts = 0
    again = runtime.sync()
    assert (again.not_modified, again.fetched, again.added, again.updated, again.removed) == (len(INDEXED), 0, (), (), ())
    assert counting.texts == 0 and again.chunks_written == 0
    assert all(site.requests_to(p)[-1].status == 304 for p in INDEXED), "the kept validators describe the new generation"


def test_a_sync_state_saved_without_articles_is_completed_by_one_download_and_no_embedding(site: SiteServer, settings: Settings, counting):
    runtime = rebuilding_runtime(settings, counting)
    runtime.sync()
    path = state_path(settings)
    saved = json.loads(path.read_text(encoding="utf-8"))
    for p in saved["pages"]:
        del p["article_file"]
    path.write_text(json.dumps({**saved, "format": 1}), encoding="utf-8")  # as the sync before articles were kept wrote it
    shutil.rmtree(articles_dir(path))
    site.clear_seen()
    counting.texts = 0

    upgraded = runtime.sync()

    assert counting.texts == 0 and (upgraded.added, upgraded.updated, upgraded.removed) == ((), (), ())
    assert all(site.requests_to(p)[-1].status == 200 for p in INDEXED), "each page's body was asked for once"
    assert all(page.has_article for page in load_page_states(path).values())
    assert runtime.ingest(rebuild=True).site_pages == tuple(INDEXED)


def test_a_rebuild_indexes_the_folders_copy_of_an_article_the_site_also_has(site: SiteServer, settings: Settings, counting):
    runtime = rebuilding_runtime(settings, counting)
    runtime.sync()
    sample = SAMPLES[0]
    write_article(Path(settings.corpus.path), "chroma.md", sample.body, title=sample.title, url=sample.url, tags=sample.tags)

    rebuilt = runtime.ingest(rebuild=True)

    assert CHROMA not in rebuilt.site_pages and rebuilt.site_pages == tuple(p for p in INDEXED if p != CHROMA)
    assert articles_in(runtime.store)[CHROMA]["source_path"] == "chroma.md"
    assert sorted(articles_in(runtime.store)) == INDEXED
    again = runtime.sync()
    assert (site.url(CHROMA), f"the same article as the corpus folder's chroma.md ({CHROMA}), which is indexed") in again.skipped
    assert (again.added, again.updated, again.removed) == ((), (), ())


@pytest.mark.server
def test_a_sync_into_a_chroma_server_adds_replaces_and_removes_chunks_there(site: SiteServer, tmp_path: Path, chroma_server: ChromaServer, counting):
    settings = settings_for(
        tmp_path, tmp_path / "corpus",
        SITE_TOML.format(origin=site.origin) + f'\n[store]\nmode = "server"\nhost = "{chroma_server.host}"\nport = {chroma_server.port}\ntimeout_s = 10\n',
        index={"collection": "site-sync-server"},
    )
    (tmp_path / "corpus").mkdir()
    runtime = rebuilding_runtime(settings, counting)

    def on_server() -> dict[str, set[str]]:
        """Article id -> chunk ids, read by a client of its own from the server's live collection."""
        client = make_chroma_client(settings)
        live = GenerationPointer(client, settings.index.collection).read().generation
        got = client.get_collection(collection_for(settings.index.collection, live)).get(include=["metadatas"])
        out: dict[str, set[str]] = {}
        for cid, meta in zip(got["ids"], got["metadatas"]):
            out.setdefault(meta["article_id"], set()).add(cid)
        return out

    first = runtime.sync()
    assert first.added == tuple(INDEXED) and first.failed == ()
    assert sorted(on_server()) == INDEXED
    assert not (Path(settings.index.dir) / "chroma").exists(), "the chunks live in the server, not in a local folder"
    old_chroma = on_server()[CHROMA]

    site.page(CHROMA, sample_page(SAMPLES[0], "\n\n## Full-text search\n\nChroma now ships a sparse keyword index beside the vectors.\n"))
    added = "/guides/qdrant-payload-filters"
    site.page(added, new_page(added, "Qdrant Payload Filters", "Qdrant filters on payload fields such as tenant ids during the vector search itself."))
    site.sitemap("/sitemap-more.xml", ["/compare/nvidia-vs-amd-data-center-gpus", added])  # the Whisper page leaves the sitemap
    second = runtime.sync()

    assert (second.added, second.updated, second.removed) == ((added,), (CHROMA,), (WHISPER,))
    chunks = on_server()
    assert sorted(chunks) == sorted(set(INDEXED) - {WHISPER} | {added})
    assert chunks[CHROMA] and not chunks[CHROMA] & old_chroma, "the edited page's chunks were replaced on the server"
    assert second.chunks_total == sum(len(ids) for ids in chunks.values())
    assert runtime.store.lexical_search("tenant ids payload fields", 1)[0][0].article_id == added

    counting.texts = 0
    rebuilt = runtime.ingest(rebuild=True)  # a rebuild on the server keeps the pages as well
    assert rebuilt.site_pages == tuple(sorted(chunks)) and sorted(on_server()) == sorted(chunks)
    again = runtime.sync()
    assert (again.not_modified, again.added, again.updated, again.removed) == (len(chunks), (), (), ())


def test_two_addresses_of_one_article_index_it_once_and_a_new_canonical_link_moves_it(site: SiteServer, settings: Settings, store, counting):
    eu_page = HTML_PAGES["/guides/eu-ai-act-guide"].read_bytes()
    site.page("/amp/eu-ai-act-guide", eu_page)  # the same page under a second address, with the same canonical link
    site.rss("/rss.xml", [*FEED, "/amp/eu-ai-act-guide"])

    first = sync_site(settings, store, counting)
    assert (site.url("/amp/eu-ai-act-guide"), f"the same article as {site.url('/guides/eu-ai-act-guide')} (/guides/eu-ai-act-guide), which is indexed") in first.skipped
    assert articles_in(store)["/guides/eu-ai-act-guide"]["source_path"] == site.url("/guides/eu-ai-act-guide")

    site.page("/guides/eu-ai-act-guide", eu_page.replace(b'href="/guides/eu-ai-act-guide"', b'href="/guides/eu-ai-act"'))
    second = sync_site(settings, store, counting)
    assert "/guides/eu-ai-act" in second.added and "/guides/eu-ai-act-guide" in second.removed
    assert "/guides/eu-ai-act-guide" not in articles_in(store)


def test_a_redirect_into_a_path_robots_txt_disallows_is_not_followed_and_is_skipped_with_the_reason(site: SiteServer, settings: Settings, store, counting):
    moved, old_address, new_address = "/guides/moved-draft", "/old/qdrant", "/guides/qdrant-payload-filters"
    site.page(moved, b"", location=DRAFT)
    site.page(old_address, b"", location=new_address)  # an allowed redirect is still followed
    site.page(new_address, new_page(new_address, "Qdrant Payload Filters", "Qdrant filters on payload fields such as tenant ids."))
    site.sitemap("/sitemap-more.xml", [*MORE, moved, old_address])
    disallowed = f"robots.txt of {site.origin} disallows it for {settings.site.user_agent!r}"

    first = sync_site(settings, store, counting)

    assert (site.url(moved), f"it redirects to {site.url(DRAFT)}, and {disallowed}") in first.skipped
    assert site.requests_to(DRAFT) == [], "the disallowed target of a redirect is never requested"
    assert DRAFT not in articles_in(store) and first.failed == ()
    assert new_address in first.added and articles_in(store)[new_address]["source_path"] == site.url(old_address)
    assert len(site.requests_to(moved)) == 1 and len(site.requests_to(old_address)) == 1

    # An indexed page that starts redirecting into a disallowed path leaves the index.
    site.page(WHISPER, b"", location="/private/whisper-notes")
    second = sync_site(settings, store, counting)
    assert second.removed == (WHISPER,) and WHISPER not in articles_in(store)
    assert (site.url(WHISPER), f"it redirects to {site.url('/private/whisper-notes')}, and {disallowed}") in second.skipped
    assert site.requests_to("/private/whisper-notes") == []


def test_a_crawl_delay_in_robots_txt_slows_the_sync_down(site: SiteServer, tmp_path: Path, counting):
    # urllib.robotparser reads whole seconds only.
    site.page("/robots.txt", "User-agent: hubchat\nCrawl-delay: 1\nDisallow: /private/\n", content_type="text/plain")
    settings = settings_for(tmp_path, tmp_path, f'[site]\nurls = ["{site.url(CHROMA)}", "{site.url(WHISPER)}"]\nrate_per_s = 500\n')
    summary = sync_site(settings, ChunkStore(settings, counting), counting)
    assert summary.requests == 3 and summary.added == tuple(sorted([CHROMA, WHISPER]))
    arrivals = [s.at for s in site.seen]
    gaps = [later - earlier for earlier, later in zip(arrivals, arrivals[1:])]
    assert len(gaps) == 2 and min(gaps) >= 0.95, f"requests one second apart, not at site.rate_per_s = 500: {gaps}"


def test_a_sync_waits_for_no_one_while_another_ingest_holds_the_index(settings: Settings, store, counting, site: SiteServer):
    with ingest_lock(settings), pytest.raises(IngestBusyError):
        sync_site(settings, store, counting)
    assert site.seen == [], "nothing is fetched while another ingest holds the lock"


def test_listings_read_atom_feeds_gzipped_sitemaps_and_relative_links(site: SiteServer, tmp_path: Path):
    import gzip

    from hubchat.sync.fetch import Fetcher
    from hubchat.sync.listing import list_sources

    atom = (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title>AI Tools Hub</title>'
        f'<id>{site.origin}/</id><updated>2025-07-01T00:00:00Z</updated>'
        f'<entry><title>Chroma</title><id>chroma</id><updated>2025-07-01T00:00:00Z</updated><link href="{site.url(CHROMA)}"/></entry>'
        f'<entry><title>Whisper</title><id>whisper</id><updated>2025-07-01T00:00:00Z</updated><link href="{WHISPER}#notes"/></entry>'
        "</feed>"
    )
    site.page("/atom.xml", atom, content_type="application/atom+xml")
    site.sitemap("/plain.xml", [GPU])
    site.page("/sitemap.xml.gz", gzip.compress(site.routes["/plain.xml"].body), content_type="application/gzip")
    settings = settings_for(tmp_path, tmp_path, f'[site]\nsitemaps = ["{site.url("/sitemap.xml.gz")}"]\nfeeds = ["{site.url("/atom.xml")}"]\nrate_per_s = 500\n')

    with Fetcher(settings.site) as fetcher:
        listings = list_sources(fetcher, settings.site, lambda done, total: None)

    assert [(x.source, x.pages, x.failure) for x in listings] == [
        (site.url("/sitemap.xml.gz"), (site.url(GPU),), ""),
        (site.url("/atom.xml"), (site.url(CHROMA), site.url(WHISPER)), ""),
    ]


def test_site_addresses_must_be_http(tmp_path: Path):
    with pytest.raises(ConfigError, match=r"site.*ftp://example.com/sitemap.xml.*http\(s\)"):
        settings_for(tmp_path, tmp_path, '[site]\nsitemaps = ["ftp://example.com/sitemap.xml"]')


def test_the_default_configuration_fetches_nothing():
    from hubchat.config import load_settings

    assert not load_settings(PROJECT / "hubchat.toml").site.configured


def test_the_sync_state_is_written_atomically_beside_the_index(site: SiteServer, settings: Settings, store, counting):
    sync_site(settings, store, counting)
    path = state_path(settings)
    assert path.parent == Path(settings.index.dir)
    assert not path.with_name(path.name + ".tmp").exists()
    pages = load_page_states(path)
    whisper = pages[site.url(WHISPER)]
    assert (whisper.article_id, whisper.etag, whisper.last_modified) == (WHISPER, "", WHISPER_DATE)
    assert re.fullmatch(r'"[0-9a-f]{16}"', pages[site.url(CHROMA)].etag)


def kept(path: Path) -> dict[str, tuple]:
    """Per page address, everything its saved state says, its article read from wherever the format keeps it."""
    return {
        url: (p.source, p.article_id, p.sha256, p.etag, p.last_modified, p.read_article())
        for url, p in load_page_states(path).items()
    }


def _format_2(path: Path) -> None:
    """Rewrite a saved state as format 2 wrote it (state.py at ca624b1): every article inline, no folder."""
    saved = json.loads(path.read_text(encoding="utf-8"))
    for p in saved["pages"]:
        name = p.pop("article_file")
        p["article"] = json.loads(gzip.decompress((articles_dir(path) / name).read_bytes())) if name else None
    path.write_text(json.dumps({**saved, "format": 2}, ensure_ascii=False, indent=0), encoding="utf-8")
    shutil.rmtree(articles_dir(path))


def test_the_sync_state_keeps_each_article_once_compressed_and_a_no_change_sync_writes_no_article(
    site: SiteServer, settings: Settings, store, counting
):
    sync_site(settings, store, counting)
    path = state_path(settings)
    folder = articles_dir(path)
    files = {f.name: f.stat() for f in folder.iterdir()}
    saved = json.loads(path.read_text(encoding="utf-8"))
    assert saved["format"] == 3 and len(files) == len(INDEXED) == len(saved["pages"])
    assert {p["article_file"] for p in saved["pages"]} == set(files)
    assert '"text"' not in path.read_text(encoding="utf-8"), "the state file itself holds no article text"
    pages = load_page_states(path)
    assert all(p.article is None and p.has_article for p in pages.values()), "loading reads no article text"
    whisper = pages[site.url(WHISPER)].read_article()
    assert whisper is not None and "speaker" in whisper.text and whisper.source_path == site.url(WHISPER)

    again = sync_site(settings, ChunkStore(settings, counting), counting)
    assert again.not_modified == len(INDEXED)
    assert {f.name: (f.stat().st_ino, f.stat().st_mtime_ns) for f in folder.iterdir()} == {
        n: (st.st_ino, st.st_mtime_ns) for n, st in files.items()
    }, "unchanged articles are not written again"
    assert load_page_states(path) == pages

    site.page(WHISPER, sample_page(SAMPLES[1], "\n\nDiarisation labels each turn with its speaker.\n"))
    edited = sync_site(settings, ChunkStore(settings, counting), counting)
    assert edited.updated == (WHISPER,)
    now = {f.name for f in folder.iterdir()}
    assert len(now) == len(INDEXED) and len(now - set(files)) == 1, "the edited page's new file replaced its old one"
    assert "Diarisation" in load_page_states(path)[site.url(WHISPER)].read_article().text


class _Killed(BaseException):
    """The process dying mid-save (a BaseException, as KeyboardInterrupt and SystemExit are: no handler catches it)."""


@pytest.mark.parametrize("fail_at", ["an article file", "the state file"])
def test_a_save_interrupted_at_any_write_leaves_the_last_state_whole(
    site: SiteServer, settings: Settings, store, counting, monkeypatch: pytest.MonkeyPatch, fail_at: str
):
    sync_site(settings, store, counting)
    path = state_path(settings)
    before = kept(path)
    edited = {
        url: dataclasses.replace(p, etag='"edited"', article=dataclasses.replace(p.read_article(), text=p.read_article().text + " Edited."))
        for url, p in load_page_states(path).items()
    }
    real_replace = os.replace

    def crash(src, dst):  # the process dies at this rename: nothing after it happens
        if (Path(dst) == path) == (fail_at == "the state file"):
            raise _Killed(dst)
        real_replace(src, dst)

    monkeypatch.setattr(sync_state.os, "replace", crash)
    with pytest.raises(_Killed):
        save_page_states(path, edited.values())
    monkeypatch.setattr(sync_state.os, "replace", real_replace)

    assert kept(path) == before, "the old state, every article of it readable"
    save_page_states(path, edited.values())
    assert kept(path) == {u: (p.source, p.article_id, p.sha256, p.etag, p.last_modified, p.article) for u, p in edited.items()}
    named = {p["article_file"] for p in json.loads(path.read_text(encoding="utf-8"))["pages"]}
    assert {f.name for f in articles_dir(path).iterdir()} == named, "what the killed save left is cleared by the next"


def test_a_format_2_state_is_read_and_rewritten_as_format_3_and_a_rebuild_keeps_the_site_pages(
    site: SiteServer, settings: Settings, counting
):
    runtime = rebuilding_runtime(settings, counting)
    runtime.sync()
    path = state_path(settings)
    pages = kept(path)
    _format_2(path)
    assert all(p.article is not None for p in load_page_states(path).values()), "inline, as format 2 keeps them"
    assert kept(path) == pages, "format 2 reads as the same states, articles and all"
    site.clear_seen()
    counting.texts = 0

    again = runtime.sync()

    assert again.not_modified == len(INDEXED) and counting.texts == 0, "still a no-change sync: nothing downloaded or embedded"
    assert all(site.requests_to(p)[-1].status == 304 for p in INDEXED)
    assert json.loads(path.read_text(encoding="utf-8"))["format"] == 3 and kept(path) == pages
    _format_2(path)  # a rebuild straight after the upgrade, before any sync rewrote the file
    assert runtime.ingest(rebuild=True).site_pages == tuple(INDEXED)
    assert sorted(articles_in(runtime.store)) == INDEXED


def test_a_missing_article_file_costs_its_page_one_full_request_and_no_embedding(site: SiteServer, settings: Settings, store, counting):
    sync_site(settings, store, counting)
    path = state_path(settings)
    lost = next(p for p in load_page_states(path).values() if p.url == site.url(CHROMA))
    name = next(p["article_file"] for p in json.loads(path.read_text(encoding="utf-8"))["pages"] if p["url"] == lost.url)
    (articles_dir(path) / name).unlink()
    assert not load_page_states(path)[lost.url].has_article
    site.clear_seen()
    counting.texts = 0

    again = sync_site(settings, ChunkStore(settings, counting), counting)

    assert (again.added, again.updated, again.removed, counting.texts) == ((), (), (), 0)
    assert site.requests_to(CHROMA)[-1].status == 200, "its body was asked for once, to read its article again"
    assert load_page_states(path)[lost.url] == lost


def test_hubchat_sync_prints_a_summary_and_fails_when_a_page_failed(site: SiteServer, settings: Settings):
    from typer.testing import CliRunner

    from hubchat.cli import app

    config = str(settings.config_file)
    first = CliRunner().invoke(app, ["sync", "--config", config])
    assert first.exit_code == 0, first.output
    assert "Sync summary" in first.output and f"skipped {site.url(DRAFT)}: robots.txt" in " ".join(first.output.split())
    site.page(CHROMA, b"", status=503)
    second = CliRunner().invoke(app, ["sync", "--config", config])
    assert second.exit_code == 1, second.output
    flat = " ".join(second.output.split())
    assert re.search(r"not modified\W+4\b", flat) and f"failed {site.url(CHROMA)}: HTTP 503 (after 2 tries)" in flat


def test_hubchat_sync_without_a_site_says_what_to_configure(tmp_path: Path):
    from typer.testing import CliRunner

    from hubchat.cli import app

    result = CliRunner().invoke(app, ["sync", "--config", str(settings_for(tmp_path, tmp_path).config_file)])
    assert result.exit_code == 2
    assert "No site to sync from: set site.sitemaps, site.feeds or site.urls" in " ".join(result.output.split())
