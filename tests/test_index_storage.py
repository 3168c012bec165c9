"""A full or read-only index folder during an ingest: a clear error naming the folder, and the index as it was
still serves. Real file systems: a tmpfs just bigger than the index (ENOSPC), or remounted read-only (EROFS), in
a child's private mount namespace (see tests/confined_index.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from hubchat.ingest.pipeline import ingest
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
