"""A full or read-only index folder during an ingest: a clear error naming the folder, and the index as it was
still serves. Real file systems: a tmpfs just bigger than the index (ENOSPC), or remounted read-only (EROFS), in
a child's private mount namespace (see tests/confined_index.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from hubchat.ingest.pipeline import ingest
from hubchat.sync.site import sync_site
from hubchat.sync.state import load_page_states, state_path
from tests.confined_index import QUESTION, ConfinedRun, confinement_problem, run_confined
from tests.helpers import (
    assert_index_matches_corpus,
    chroma_records,
    copy_real_articles,
    expected_chunk_ids,
    open_store,
    settings_for,
    write_config,
)
from tests.site_server import SiteServer, markdown_article_page

_PROBLEM = confinement_problem()
pytestmark = pytest.mark.skipif(_PROBLEM is not None, reason=str(_PROBLEM))


def _small_index_then_bigger_corpus(tmp_path: Path, embedder):
    """An index of 3 articles, then a corpus of 12 (what the ingest under test is asked to add)."""
    corpus, before = tmp_path / "corpus", tmp_path / "corpus-before"
    copy_real_articles(before, 3)
    settings = settings_for(tmp_path, before)
    ingest(settings, open_store(settings, embedder), embedder)
    copy_real_articles(corpus, 12)
    return write_config(tmp_path, corpus), settings, before


def _assert_a_starting_process_serves_or_says_why(fresh: dict, before: dict | None) -> None:
    """A process starting on the full folder serves consistently (the old index, when `before` is given), or, when
    Chroma holds writes it has no room to apply, says so plainly."""
    assert "crash" not in fresh, fresh["crash"]
    if "error" in fresh:
        assert fresh["error"].startswith("IndexStorageError") and "no space left" in fresh["error"], fresh
        return
    assert fresh["lexical_matches_chroma"], fresh
    if before is not None:
        assert fresh["count"] == before["count"] and fresh["lexical"] == before["lexical"], (fresh, before)


def _assert_old_index_serves(run: ConfinedRun, tmp_path: Path, before: Path, embedder):
    """Returns the settings of a copy of the folder the failure left (not over this process's open database)."""
    # the serving process answered alike before and after the failed ingest, lexical and vector agreeing
    assert run.report["after"] == run.report["before"], run.report
    assert run.report["after"]["dense"] and run.report["after"]["lexical"]
    # and the folder the failure left is exactly the old index: a process starting on it serves the same
    left = tmp_path / "left"
    shutil.copytree(run.after_dir, left / "index", symlinks=True)
    settings = settings_for(left, before)
    store = open_store(settings, embedder)
    assert store.generation == 0 and store.count() == run.report["before"]["count"]
    assert_index_matches_corpus(store, settings, before)
    assert [c.id for c, _ in store.lexical_search(QUESTION, 5)] == run.report["before"]["lexical"]
    return left


@pytest.mark.slow  # about 40 s each: embedding the bigger corpus, twice
@pytest.mark.parametrize("rebuild", [False, True], ids=["update", "rebuild"])
def test_a_full_index_folder_fails_the_ingest_plainly_and_the_old_index_serves(tmp_path: Path, embedder, rebuild: bool):
    config, settings, before = _small_index_then_bigger_corpus(tmp_path, embedder)
    run = run_confined(tmp_path, config, mode="full", rebuild=rebuild)

    assert run.cli_code == 2, run.cli_output
    assert "no space left" in run.cli_output and str(settings.index.dir) in run.cli_output, run.cli_output
    assert "Traceback" not in run.cli_output
    _assert_a_starting_process_serves_or_says_why(run.report["fresh"], run.report["before"])
    left = _assert_old_index_serves(run, tmp_path, before, embedder)

    # with room again, the same ingest completes on what the failure left
    final = settings_for(left, tmp_path / "corpus")
    store = open_store(final, embedder)
    ingest(final, store, embedder, rebuild=rebuild)
    assert_index_matches_corpus(store, final, tmp_path / "corpus")


def test_a_read_only_index_folder_fails_the_ingest_plainly_and_the_old_index_serves(tmp_path: Path, embedder):
    config, settings, before = _small_index_then_bigger_corpus(tmp_path, embedder)
    run = run_confined(tmp_path, config, mode="read-only", rebuild=False)

    assert run.cli_code == 2, run.cli_output
    assert "read-only" in run.cli_output and str(settings.index.dir) in run.cli_output, run.cli_output
    assert "Traceback" not in run.cli_output
    fresh = run.report["fresh"]  # embedded Chroma cannot open a read-only folder: said plainly to a starting process
    assert fresh.get("error", "").startswith("IndexStorageError") and "read-only" in fresh["error"], fresh
    _assert_old_index_serves(run, tmp_path, before, embedder)


@pytest.mark.slow  # about 60 s: embedding 30 articles, in small groups
def test_an_update_that_fills_the_disk_part_way_keeps_whole_articles_and_a_consistent_index(tmp_path: Path, embedder):
    # Small embedding batches: the update writes in several groups, and the disk fills after the first ones.
    corpus, before = tmp_path / "corpus", tmp_path / "corpus-before"
    copy_real_articles(before, 3)
    batches = "[embeddings]\nbatch_size = 2"
    settings = settings_for(tmp_path, before, batches)
    ingest(settings, open_store(settings, embedder), embedder)
    copy_real_articles(corpus, 30)
    run = run_confined(tmp_path, write_config(tmp_path, corpus, batches), mode="full", rebuild=False, slack_kb=400)

    assert run.cli_code == 2 and "no space left" in run.cli_output, run.cli_output
    assert run.report["after"] == run.report["before"], run.report  # the serving process answers as before
    _assert_a_starting_process_serves_or_says_why(run.report["fresh"], None)

    left = tmp_path / "left"
    shutil.copytree(run.after_dir, left / "index", symlinks=True)
    final = settings_for(left, corpus, batches)
    store = open_store(final, embedder)
    expected = expected_chunk_ids(final, store.embedding_name, corpus)
    stored = _stored(store)
    assert len(stored) > 3, "nothing was written before the disk filled: the test does not test a part-way failure"
    for article_id, ids in stored.items():
        assert ids == expected[article_id], f"{article_id} is stored in part"
    ingest(final, store, embedder)  # with room again, the update completes
    assert_index_matches_corpus(store, final, corpus)


def _stored(store) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for cid, meta in chroma_records(store):
        out.setdefault(meta["article_id"], set()).add(cid)
    return out


# ---- the site sync on a full disk --------------------------------------------------------------------------------

SYNC_TOML = """
[site]
sitemaps = ["{origin}/sitemap.xml"]
rate_per_s = 500
concurrency = 4
timeout_s = 5.0
retries = 1
backoff_s = 0.05
"""


@pytest.fixture
def site():
    server = SiteServer().start()
    yield server
    server.close()


def _publish(site: SiteServer, folder: Path, count: int) -> list[str]:
    """The first `count` real articles as the site's pages, all in its sitemap; returns their paths."""
    paths = []
    for source in copy_real_articles(folder, count):
        path, page = markdown_article_page(source)
        site.page(path, page)
        paths.append(path)
    site.sitemap("/sitemap.xml", paths)
    return paths


# (pages indexed before, pages listed now, free space left): 27 new pages fill the disk while their chunks are
# written to Chroma; one new page fits in Chroma (about 130 KB) but not in the lexical index's rewrite (about 600 KB).
FILLS = {"chroma-writes": (3, 30, 400), "lexical-save": (30, 31, 560)}


@pytest.mark.slow  # about 60 s each: embedding 30 pages, then again after the failure
@pytest.mark.parametrize("fills", list(FILLS))
def test_a_sync_that_fills_the_disk_fails_plainly_keeps_serving_and_the_next_sync_completes(tmp_path: Path, embedder, site: SiteServer, fills: str):
    before, now, slack_kb = FILLS[fills]
    empty = tmp_path / "corpus"
    empty.mkdir()
    extra = SYNC_TOML.format(origin=site.origin) + "\n[embeddings]\nbatch_size = 2"  # several writes: part-way fills
    _publish(site, tmp_path / "pages-before", before)
    settings = settings_for(tmp_path, empty, extra)
    first = sync_site(settings, open_store(settings, embedder), embedder)
    assert len(first.added) == before and not first.failed, first
    pages = _publish(site, tmp_path / "pages-now", now)

    run = run_confined(
        tmp_path, write_config(tmp_path, empty, extra), mode="full", rebuild=False, slack_kb=slack_kb, command="sync", background_sync=True
    )

    # `hubchat sync` says what is wrong, where, without a traceback
    assert run.cli_code == 2, run.cli_output
    assert "no space left" in run.cli_output and str(settings.index.dir) in run.cli_output, run.cli_output
    assert "Traceback" not in run.cli_output and "OSError" not in run.cli_output, run.cli_output
    # the serving process's own interval sync says the same in its log, and the process keeps answering
    background = run.report["background"]
    assert background["runs"] == 1, background
    failed = [r for r in background["logged"] if r["level"] == "ERROR"]
    assert len(failed) == 1 and "no space left" in failed[0]["message"] and not failed[0]["traceback"], background
    assert run.report["after"]["dense"] and run.report["after"]["lexical"], run.report
    _assert_a_starting_process_serves_or_says_why(run.report["fresh"], None)

    # what the failure left: whole pages only, a lexical index that is Chroma's, a sync state that claims nothing
    # the index does not hold
    left = tmp_path / "left"
    shutil.copytree(run.after_dir, left / "index", symlinks=True)
    final = settings_for(left, empty, extra)
    store = open_store(final, embedder)
    states = store.article_states()
    assert all(s.complete for s in states.values()), {k: (len(s.chunk_ids), s.expected_chunks) for k, s in states.items()}
    if fills == "lexical-save":  # the new page reached Chroma: what failed came after, the lexical index's save
        assert len(states) == now, f"the disk filled before the lexical save ({len(states)} of {now} pages in Chroma)"
    else:
        assert len(states) < now, "every page was written: the disk did not fill while writing to Chroma"
    assert sorted(store.lexical.ids) == sorted(store._get_all([])["ids"])
    for url, page in load_page_states(state_path(final)).items():
        held = states.get(page.article_id)
        assert held is not None and held.source_path == url, f"the sync state names {url}, which the index does not hold"

    # with room again, the next sync completes, and the one after it has nothing left to do
    done = sync_site(final, store, embedder)
    assert not done.failed, done.failed
    assert sorted(s.source_path for s in store.article_states().values()) == sorted(site.url(p) for p in pages)
    assert all(s.complete for s in store.article_states().values())
    assert sorted(store.lexical.ids) == sorted(store._get_all([])["ids"])
    again = sync_site(final, store, embedder)
    assert again.not_modified == len(pages) and again.chunks_written == 0 and not (again.added or again.updated or again.removed), again
