"""The desk's figures, cached on the records' and the index's versions: a reload with nothing new re-embeds and
re-clusters nothing, any new record shows, and an ingest changing the articles refreshes the gaps' closest
articles. A real records store (SQLite and the test PostgreSQL server), the real MiniLM embedder (counted through a
wrapper) and the real index of the UI test corpus (a copy of it, ingested here and by a child process, for the
last test)."""

from __future__ import annotations

import shutil

import pytest

from hubchat.config import load_settings
from hubchat.desk.figures import DeskCache
from hubchat.desk.gaps import find_gaps
from hubchat.records import Records
from tests.conftest_ui import UI_CORPUS
from tests.helpers import CountingEmbedder, write_config
from tests.ingest_child import run_ingest_child
from tests.test_desk_gaps import ASKED, _answer, _ask_all


@pytest.fixture(params=["sqlite", "postgresql"])
def records(request, tmp_path) -> Records:
    if request.param == "sqlite":
        return Records(tmp_path / "hubchat.sqlite")
    return Records(request.getfixturevalue("postgres_url"))


def test_a_second_load_with_no_new_records_embeds_nothing_and_returns_the_same_figures(records, ui_runtime):
    _ask_all(records)
    embedder = CountingEmbedder(ui_runtime.embeddings)
    cache = DeskCache(records, embedder.embed_array, ui_runtime.store.dense_search)
    first = cache.figures()
    assert embedder.texts == len(ASKED)
    assert [g.asked for g in first.gaps] == [4, 2, 1]
    assert first.gaps == find_gaps(records.unanswered_questions(), ui_runtime.embeddings.embed_array, ui_runtime.store.dense_search)

    again = cache.figures()
    assert again is first and embedder.texts == len(ASKED)


def test_a_new_record_changes_the_figures_and_only_new_answers_re_embed(records, ui_runtime):
    _ask_all(records)
    embedder = CountingEmbedder(ui_runtime.embeddings)
    cache = DeskCache(records, embedder.embed_array, ui_runtime.store.dense_search)
    first = cache.figures()
    embedded = embedder.texts

    # A mark, a rating and a verdict change the tables, not the questions: no embedding.
    answer_id = records.answers("all", limit=1)[0].id
    records.mark_article("/guides/sourdough-starter", True, "freezing is missing")
    records.record_feedback(answer_id, False)
    marked = cache.figures()
    assert marked is not first and marked.gaps is first.gaps and embedder.texts == embedded
    assert any(r.needs_update for r in marked.health) and not any(r.needs_update for r in first.health)
    assert sum(d.not_helpful for d in marked.activity) == sum(d.not_helpful for d in first.activity) + 1

    # A new unanswered question is a new gap: embedded and clustered again.
    records.record_answer(_answer("Which bus goes to the stadium on match days?", True), conversation_id="r8")
    grown = cache.figures()
    assert embedder.texts > embedded
    assert sum(g.asked for g in grown.gaps) == len(ASKED) + 1
    assert grown.version.answers > first.version.answers
    assert sum(d.questions for d in grown.activity) == sum(d.questions for d in first.activity) + 1


CACTUS_QUESTIONS = (
    "How do I repot a cactus without getting pricked by its spines?",
    "What soil mix should a repotted cactus get?",
)
CACTUS_TITLE = "Repotting a Cactus Without Getting Pricked"
CACTUS_ARTICLE = f"""---
title: "{CACTUS_TITLE}"
url: /guides/repotting-cactus
date: 2024-05-02
tags: [gardening]
summary: "Gloves, folded newspaper and a gritty soil mix for moving a cactus to a bigger pot."
---

Repot a cactus in spring, when it starts to grow again, and only when its roots fill the pot.

## Handling the spines

Wrap the cactus in a band of folded newspaper or wear thick leather gloves, and lift it out of the old pot by
the band. Tongs from the kitchen work for small plants.

## The soil mix

A cactus wants a gritty, fast-draining mix: one part potting soil to one part coarse sand or pumice. Wait a week
before watering a repotted cactus, so broken roots can heal.
"""


def _cactus_group(figures):
    return next(g for g in figures.gaps if CACTUS_QUESTIONS[0] in g.typical)


def test_an_article_added_by_an_ingest_is_a_closest_article_without_new_answers(tmp_path):
    """Another process's ingest (`hubchat ingest` in a terminal) adds an article; the desk's cache, with no new
    record, searches the gaps' closest articles again (without embedding a question) and shows it. This
    process's own ingest removing it (the serve watcher's path) is followed too."""
    from hubchat.runtime import Runtime
    from hubchat.web.desk import index_version_of

    corpus = tmp_path / "corpus"
    shutil.copytree(UI_CORPUS, corpus)
    config = write_config(tmp_path, corpus, '[chat]\nbackend = "extractive"')
    runtime = Runtime(load_settings(config, index={"refresh_s": 0}, ui={"db_path": str(tmp_path / "hubchat.sqlite")}))
    assert len(runtime.ingest().added) == 5
    records = runtime.records
    for n, question in enumerate(CACTUS_QUESTIONS):
        records.record_answer(_answer(question, refused=True), conversation_id=f"r{n}")
    embedder = CountingEmbedder(runtime.embeddings)
    cache = DeskCache(records, embedder.embed_array, runtime.store.dense_search, index_version_of(runtime.store))
    before = cache.figures()
    assert _cactus_group(before).asked == 2
    assert CACTUS_TITLE not in [a.title for a in _cactus_group(before).closest]
    embedded = embedder.texts

    (corpus / "repotting-cactus.md").write_text(CACTUS_ARTICLE, encoding="utf-8")
    run_ingest_child(config)
    added = cache.figures()
    assert added.version == before.version and added.index_version != before.index_version
    assert _cactus_group(added).closest[0].title == CACTUS_TITLE
    assert embedder.texts == embedded  # the questions were not embedded again, only searched
    assert added.gaps == find_gaps(records.unanswered_questions(), runtime.embeddings.embed_array, runtime.store.dense_search)
    assert added.health is before.health  # nothing else was recomputed
    assert cache.figures() is added  # and nothing changed since

    (corpus / "repotting-cactus.md").unlink()
    assert runtime.ingest().deleted
    removed = cache.figures()
    assert CACTUS_TITLE not in [a.title for a in _cactus_group(removed).closest] and embedder.texts == embedded
