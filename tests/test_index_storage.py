"""A full or read-only index folder during an ingest: a clear error naming the folder, and the index as it was
still serves. Real file systems: a tmpfs just bigger than the index (ENOSPC), or remounted read-only (EROFS), in
a child's private mount namespace (see tests/confined_index.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from hubchat.ingest.pipeline import ingest
from tests.confined_index import QUESTION, ConfinedRun, confinement_problem, run_confined
from tests.helpers import assert_index_matches_corpus, copy_real_articles, open_store, settings_for, write_config

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
    _assert_old_index_serves(run, tmp_path, before, embedder)
