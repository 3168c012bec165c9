"""The desk's figures, cached on the records' version: a reload with nothing new re-embeds and re-clusters
nothing, and any new record shows. A real records store (SQLite and the test PostgreSQL server), the real MiniLM
embedder (counted through a wrapper) and the real index of the UI test corpus."""

from __future__ import annotations

import pytest

from hubchat.desk.figures import DeskCache
from hubchat.desk.gaps import find_gaps
from hubchat.records import Records
from tests.helpers import CountingEmbedder
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
