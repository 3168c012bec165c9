"""Content gaps: readers' refused and flagged questions, grouped into topics with the articles closest to them.

The questions are stored in a real records store (an SQLite file and a database on the test PostgreSQL server),
embedded with the app's own MiniLM and searched against the real index of the UI test corpus.
"""

from __future__ import annotations

import csv
import io
import json
import time

import pytest

from hubchat.desk.export import GAP_CSV_COLUMNS, gaps_csv, gaps_json
from hubchat.desk.gaps import find_gaps
from hubchat.records import Records
from hubchat.types import AnswerResult, CitationReport, Filters, SentenceCheck

# (conversation, question, refused) in the order readers asked them.
ASKED = [
    ("r1", "Can I freeze my sourdough starter before a holiday?", True),
    ("r2", "How do I freeze a sourdough starter?", True),
    ("r3", "Is it OK to put sourdough starter in the freezer?", False),
    ("r1", "Can I freeze my sourdough starter before a holiday?", True),
    ("r4", "What do crabs in tide pools eat?", True),
    ("r5", "Which crabs live in rock pools and what do they eat?", False),
    ("r6", "How much does a season ticket for the football club cost?", True),
]


@pytest.fixture(params=["sqlite", "postgresql"])
def records(request, tmp_path) -> Records:
    if request.param == "sqlite":
        return Records(tmp_path / "hubchat.sqlite")
    return Records(request.getfixturevalue("postgres_url"))


def _answer(question: str, refused: bool) -> AnswerResult:
    """A refusal, or an answer whose one sentence the checker found unsupported (a flagged answer)."""
    text = "The articles do not say." if refused else "Freeze it in a jar [1]."
    sentence = SentenceCheck(0, text, 0, len(text), (1,), (), "unsupported", 0.1)
    report = None if refused else CitationReport(text, (sentence,), (), (1,), "unsupported")
    return AnswerResult(
        question=question, standalone_question=question, text=text, raw_text=text, refused=refused,
        verdict="refusal" if refused else "unsupported", report=report, passages=(), sources=(), notes=(),
        timings={}, prompt_tokens=None, completion_tokens=None, backend="extractive", filters=Filters(),
    )


def _ask_all(records: Records) -> None:
    for conversation, question, refused in ASKED:
        records.record_answer(_answer(question, refused), conversation_id=conversation)
        time.sleep(0.002)  # distinct milliseconds, so "newest" is unambiguous
    fine = _answer("How often should I feed my starter?", refused=False)
    # An answer the checker passed is no gap, however similar its question.
    supported = CitationReport(fine.text, (), (), (1,), "supported")
    records.record_answer(AnswerResult(**{**fine.__dict__, "report": supported, "verdict": "supported"}), conversation_id="r7")


def test_unanswered_questions_are_grouped_by_topic_and_ranked_by_readers(records, ui_runtime):
    _ask_all(records)
    asked = records.unanswered_questions()
    assert [q.question for q in asked] == [q for _, q, _ in ASKED]

    groups = find_gaps(asked, ui_runtime.embeddings.embed_array, ui_runtime.store.dense_search)

    assert [g.rank for g in groups] == [1, 2, 3]
    freezing, crabs, football = groups
    assert {q.question for q in freezing.questions} == {q for _, q, _ in ASKED[:4]}
    assert (freezing.asked, freezing.readers, freezing.refused, freezing.flagged) == (4, 3, 3, 1)
    assert {q.question for q in crabs.questions} == {ASKED[4][1], ASKED[5][1]}
    assert (crabs.asked, crabs.readers) == (2, 2)
    assert [q.question for q in football.questions] == [ASKED[6][1]]
    # Labels: the most typical questions, each once although one was asked twice.
    assert len(freezing.typical) == 3 and len(set(freezing.typical)) == 3
    assert freezing.last_asked == asked[3].created_at and freezing.first_asked == asked[0].created_at
    # The closest articles are the ones an editor would extend.
    assert freezing.closest[0].article_id.endswith("sourdough-starter")
    assert freezing.closest[0].title.startswith("Sourdough Starter Care")
    assert crabs.closest[0].article_id.endswith("tide-pools")
    assert all(a.similarity > b.similarity for a, b in zip(freezing.closest, freezing.closest[1:]))
    assert football.closest == ()  # no article is about football: a subject for a new one


def test_the_same_records_always_give_the_same_groups(records, embedder):
    _ask_all(records)
    asked = records.unanswered_questions()
    first = find_gaps(asked, embedder.embed_array)
    again = find_gaps(list(reversed(asked)), embedder.embed_array)
    assert [(g.typical, g.asked) for g in first] == [(g.typical, g.asked) for g in again]
    assert all(g.closest == () for g in first)  # without a search, no articles


def test_equal_counts_rank_the_more_recent_group_first(records, embedder):
    records.record_answer(_answer("How much does a season ticket for the football club cost?", True), conversation_id="a")
    time.sleep(0.002)
    records.record_answer(_answer("Do tide pool crabs eat seaweed?", True), conversation_id="b")
    groups = find_gaps(records.unanswered_questions(), embedder.embed_array)
    assert [g.typical[0] for g in groups] == ["Do tide pool crabs eat seaweed?", "How much does a season ticket for the football club cost?"]


def test_since_keeps_only_recent_questions(records):
    records.record_answer(_answer("An old question?", True))
    time.sleep(0.01)
    cut = records.unanswered_questions()[0].created_at[:-1] + "9"  # just after the first one's millisecond
    time.sleep(0.01)
    records.record_answer(_answer("A new question?", True))
    assert [q.question for q in records.unanswered_questions(since=cut)] == ["A new question?"]


def test_api_questions_count_one_reader_each(records, embedder):
    for _ in range(2):  # /ask records every caller under one conversation id: each answer is its own reader
        records.record_answer(_answer("How much does a football season ticket cost?", True), conversation_id="api", channel="api")
    [group] = find_gaps(records.unanswered_questions(), embedder.embed_array)
    assert (group.asked, group.readers) == (2, 2)


def test_no_questions_no_groups(records, embedder):
    assert find_gaps(records.unanswered_questions(), embedder.embed_array) == ()


def test_gaps_export_as_csv_and_json_with_every_question(records, ui_runtime):
    _ask_all(records)
    records.record_answer(_answer("=HYPERLINK(\"http://evil\")", True), conversation_id="r9")
    groups = find_gaps(records.unanswered_questions(), ui_runtime.embeddings.embed_array, ui_runtime.store.dense_search)

    rows = list(csv.DictReader(io.StringIO(gaps_csv(groups))))
    assert tuple(rows[0].keys()) == GAP_CSV_COLUMNS
    assert [int(r["rank"]) for r in rows] == [g.rank for g in groups]
    assert rows[0]["asked"] == "4" and "Sourdough Starter Care" in rows[0]["closest_articles"]
    assert all(not r["questions"].startswith("=") for r in rows)  # no formula runs in a spreadsheet

    data = json.loads(gaps_json(groups))
    assert [g["rank"] for g in data] == [g.rank for g in groups]
    assert sum(len(g["questions"]) for g in data) == len(ASKED) + 1
    assert data[0]["closest_articles"][0]["url"] == "/guides/sourdough-starter"
