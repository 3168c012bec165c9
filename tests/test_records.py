"""hubchat.records: the store of answers, reader feedback and editor verdicts.

Every behaviour is checked on both backends: a real SQLite file, and a real PostgreSQL server the tests start
(tests/conftest_postgres.py). Then what only one backend has: SQLite's durability settings and the adoption of
files written before migrations existed; PostgreSQL's shared use by several processes and a server that is down.
"""

from __future__ import annotations

import csv
import io
import json
import os
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import traceback
from dataclasses import asdict, replace
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from hubchat.config import UISettings, load_settings
from hubchat.errors import BackendError, ConfigError
from hubchat.records import CSV_COLUMNS, Records, RecordsVersion, open_records
from hubchat.records.database import create_records_engine, parse_location, reading, writing
from hubchat.records.migrate import alembic_config, head_revisions
from hubchat.records.schema import metadata
from hubchat.types import (
    AnswerResult,
    CitationReport,
    Filters,
    SentenceCheck,
    Source,
    SpanSupport,
)
from hubchat.web.render import review_sentence_html
from tests.conftest_store import free_port

ARTICLE = "Intro line.\nFeed the starter once every 24 hours. Use rye flour for a lively culture."
CHUNK_START = 12  # the passage is ARTICLE[12:]


def _source(number: int = 1) -> Source:
    return Source(
        number=number, chunk_id=f"c{number}", article_id="/guides/sourdough", title="Sourdough <Care>", date="2024-03-01",
        url="/guides/sourdough", link="https://example.org/guides/sourdough", tags=("baking",), section="Feeding",
        text=ARTICLE[CHUNK_START:], start=CHUNK_START, end=len(ARTICLE),
    )


def _result(question: str = "How often to feed?", verdicts: tuple[str, ...] = ("supported",), refused: bool = False) -> AnswerResult:
    """An answer with one cited sentence per verdict, each supported by the same span of passage 1."""
    span_start = ARTICLE.index("Feed")
    span_end = ARTICLE.index("hours.") + len("hours.")
    sentences = []
    text = ""
    for i, verdict in enumerate(verdicts):
        sentence = f"Sentence {i} says feed daily [1]."
        support = SpanSupport(1, "c1", "/guides/sourdough", 0.9 if verdict == "supported" else 0.1, span_start, span_end, ARTICLE[span_start:span_end])
        sentences.append(SentenceCheck(i, sentence, len(text), len(text) + len(sentence), (1,), (support,), verdict, support.score))
        text += sentence + " "
    report = None if refused else CitationReport(text.strip(), tuple(sentences), (), (1,), "supported")
    return AnswerResult(
        question=question, standalone_question=question + " (standalone)", text="No answer." if refused else text.strip(),
        raw_text=text, refused=refused, verdict="refusal" if refused else "supported", report=report,
        passages=(_source(),), sources=() if refused else (_source(),), notes=(), timings={"total": 0.1},
        prompt_tokens=None, completion_tokens=None, backend="extractive", filters=Filters(tags=("baking",)),
    )


REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request, tmp_path) -> Path | str:
    """Where a new, empty store lives: an SQLite file (in a folder not made yet), or a database on the test server."""
    if request.param == "sqlite":
        return tmp_path / "nested" / "hubchat.sqlite"
    return request.getfixturevalue("postgres_url")


def test_an_answer_survives_reopening_with_sentences_sources_and_spans(db):
    answer_id = Records(db).record_answer(_result(), conversation_id="conv-1")

    record = Records(db).answer(answer_id)  # a new instance: only the file carries it over
    assert record.question == "How often to feed?" and record.standalone_question == "How often to feed? (standalone)"
    assert record.conversation_id == "conv-1" and record.channel == "chat" and record.backend == "extractive"
    assert record.filters["tags"] == ["baking"]
    assert record.sources == (_source(),)
    sentence = record.sentences[0]
    assert sentence.citations == (1,) and sentence.verdict == "supported"
    support = sentence.supports[0]
    assert ARTICLE[support.span_start : support.span_end] == "Feed the starter once every 24 hours."
    assert record.created_at.endswith("+00:00")


def test_a_citation_the_checker_wrote_is_shown_as_such_after_reopening(db):
    result = _result()
    moved = replace(result.report.sentences[0], attributed=True)
    answer_id = Records(db).record_answer(replace(result, report=replace(result.report, sentences=(moved,))))
    record = Records(db).answer(answer_id)
    assert record.sentences[0].attributed
    assert "cited by the checker, not the model" in review_sentence_html(record, record.sentences[0])

    model_cited = Records(db).answer(Records(db).record_answer(_result()))
    assert not model_cited.sentences[0].attributed
    assert "cited by the checker" not in review_sentence_html(model_cited, model_cited.sentences[0])


def test_pruned_markers_and_unmatched_figures_survive_reopening(db):
    result = _result()
    pruned = SpanSupport(2, "c2", "/guides/other", 0.12, 0, 5, "Other")
    sentence = result.report.sentences[0]
    marked = replace(sentence, pruned=(pruned,), unmatched=("$2 billion",))
    answer_id = Records(db).record_answer(replace(result, report=replace(result.report, sentences=(marked,))))

    record = Records(db).answer(answer_id)
    (stored,) = record.sentences
    assert stored.pruned == (pruned,) and stored.unmatched == ("$2 billion",)

    # The review page tells the editor what the checker removed and why the sentence failed.
    shown = review_sentence_html(record, replace(stored, unmatched=("<b>$2</b>",)))
    assert "[2]</span> removed by the checker" in shown and "0.12" in shown and "<q>Other</q>" in shown
    assert "Stated by no cited passage: <b>&lt;b&gt;$2&lt;/b&gt;</b>" in shown


def test_lists_newest_first_and_filters_flagged_and_unreviewed(db):
    records = Records(db)
    clean = records.record_answer(_result("clean"))
    checker = records.record_answer(_result("checker", ("supported", "unsupported")))
    reader = records.record_answer(_result("reader"))
    editor = records.record_answer(_result("editor"))
    refusal = records.record_answer(_result("refusal", refused=True))
    records.record_feedback(reader, helpful=False)
    records.record_feedback(clean, helpful=True)
    records.set_verdict(editor, 0, "wrong_citation", "cites the wrong article")

    assert [r.id for r in records.answers("all")] == [refusal, editor, reader, checker, clean]
    assert [r.id for r in records.answers("flagged")] == [editor, reader, checker]
    assert [r.id for r in records.answers("unreviewed")] == [refusal, reader, checker, clean]
    assert [r.id for r in records.answers("all", limit=2)] == [refusal, editor]

    records.set_verdict(editor, 0, "supported", "on second look it is fine")  # the latest verdict counts
    assert editor not in [r.id for r in records.answers("flagged")]
    with pytest.raises(ValueError, match="unknown filter"):
        records.answers("recent")


def test_verdicts_are_never_overwritten_and_the_latest_one_counts(db):
    records = Records(db)
    answer_id = records.record_answer(_result(verdicts=("supported", "weak")))
    records.set_verdict(answer_id, 1, "unsupported", "no such claim", editor="ana")
    records.set_verdict(answer_id, 1, "wrong_citation", "it is in another article", editor="ben")

    record = Records(db).answer(answer_id)
    assert record.reviews[1].label == "wrong_citation" and record.reviews[1].editor == "ben"
    assert 0 not in record.reviews
    assert [(r.label, r.editor) for r in records.review_history(answer_id)] == [("unsupported", "ana"), ("wrong_citation", "ben")]


def test_wrong_citations_are_the_current_verdicts_per_cited_passage_less_lifted_ones(db):
    records = Records(db)
    first = records.record_answer(_result("How often to feed?", verdicts=("supported", "weak")))
    second = records.record_answer(_result("When do I feed it?", verdicts=("supported",)))
    records.set_verdict(first, 0, "wrong_citation", editor="ana")
    records.set_verdict(first, 1, "wrong_citation", editor="ana")
    records.set_verdict(first, 1, "supported", editor="ben")  # the latest verdict counts
    records.set_verdict(second, 0, "unsupported", editor="ana")
    [wrong] = records.wrong_citations()
    assert (wrong.answer_id, wrong.sentence_index, wrong.chunk_id, wrong.article_id) == (first, 0, "c1", "/guides/sourdough")
    assert wrong.question == "How often to feed? (standalone)" and wrong.title == "Sourdough <Care>" and wrong.section == "Feeding"

    records.lift_demotion("c1", note="rewritten", editor="ana")
    assert records.wrong_citations() == [] and len(records.wrong_citations(include_lifted=True)) == 1
    assert records.demotion_lifts()["c1"].note == "rewritten"
    records.set_verdict(second, 0, "wrong_citation", editor="ana")  # saved after the lift: counts
    assert [w.answer_id for w in records.wrong_citations()] == [second]
    records.lift_demotion("c1", lifted=False, editor="ana")  # the lift withdrawn: every verdict counts again
    assert [w.answer_id for w in records.wrong_citations()] == [first, second]
    with pytest.raises(ValueError, match="chunk id"):
        records.lift_demotion(" ")


def test_a_lift_is_listed_until_withdrawn_and_its_history_stays(db):
    records = Records(db)
    answer_id = records.record_answer(_result("How often to feed?"))
    records.set_verdict(answer_id, 0, "wrong_citation", editor="ana")
    assert records.lifted_demotions() == []
    records.lift_demotion("c1", note="rewritten", editor="ana")
    records.lift_demotion("c9", note="another passage", editor="ben")
    assert [(lift.chunk_id, lift.note, lift.editor) for lift in Records(db).lifted_demotions()] == [
        ("c1", "rewritten", "ana"), ("c9", "another passage", "ben"),
    ]
    assert records.wrong_citations() == []

    withdrawn = records.lift_demotion("c1", lifted=False, note="the rewrite was reverted", editor="ben")
    assert [lift.chunk_id for lift in records.lifted_demotions()] == ["c9"]
    current = Records(db).demotion_lifts()["c1"]
    assert (current.lifted, current.note, current.editor) == (False, "the rewrite was reverted", "ben") == (
        withdrawn.lifted, withdrawn.note, withdrawn.editor)
    # The verdict saved before the (withdrawn) lift counts again.
    assert [(w.answer_id, w.chunk_id) for w in records.wrong_citations()] == [(answer_id, "c1")]
    with reading(records._engine) as conn:  # append-only: the lift and its withdrawal are both kept
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM demotion_lifts WHERE chunk_id = 'c1'").scalar() == 2


def _citing_two(question: str = "Which flour, and how often?") -> AnswerResult:
    """An answer whose one sentence cites passages [1] (chunk c1) and [2] (chunk c2, another article)."""
    first, second = _source(1), replace(_source(2), article_id="/guides/flour", title="Flour", url="/guides/flour")
    text = "Use rye flour and feed it daily [1][2]."
    supports = tuple(SpanSupport(s.number, s.chunk_id, s.article_id, 0.9, 12, 49, "Feed the starter once every 24 hours.") for s in (first, second))
    sentence = SentenceCheck(0, text, 0, len(text), (1, 2), supports, "supported", 0.9)
    base = _result(question)
    return replace(base, text=text, raw_text=text, report=CitationReport(text, (sentence,), (), (1, 2), "supported"),
                   passages=(first, second), sources=(first, second))


def test_a_wrong_citation_blames_only_the_cited_passages_it_names(db):
    records = Records(db)
    answer_id = records.record_answer(_citing_two())
    records.set_verdict(answer_id, 0, "wrong_citation", "the flour article says nothing of feeding", editor="ana", citations=[2])
    record = Records(db).answer(answer_id)
    assert record.reviews[0].citations == (2,) and record.reviews[0].blames((1, 2)) == (2,)
    assert [(w.chunk_id, w.article_id, w.title) for w in records.wrong_citations()] == [("c2", "/guides/flour", "Flour")]
    assert "Wrong citation</b> of <span class=\"hc-blamed\">[2]</span>" in review_sentence_html(record, record.sentences[0])
    [row] = csv.DictReader(io.StringIO(records.verdicts_csv()))
    assert (row["citations"], row["blamed_citations"]) == ("[1] [2]", "[2]")

    # Naming every cited passage is the same as naming none: all of them, stored as NULL like old verdicts.
    assert records.set_verdict(answer_id, 0, "wrong_citation", citations=[2, 1, 2]).citations is None
    assert [w.chunk_id for w in records.wrong_citations()] == ["c1", "c2"]
    records.set_verdict(answer_id, 0, "wrong_citation", citations=[1])
    assert [w.chunk_id for w in records.wrong_citations()] == ["c1"]
    # Another label blames nothing, and names nothing.
    records.set_verdict(answer_id, 0, "supported")
    assert records.wrong_citations() == [] and Records(db).answer(answer_id).reviews[0].blames((1, 2)) == ()
    [row] = csv.DictReader(io.StringIO(records.verdicts_csv()))
    assert row["blamed_citations"] == ""

    with pytest.raises(ValueError, match=r"does not cite \[3\]; it cites \[1\] \[2\]"):
        records.set_verdict(answer_id, 0, "wrong_citation", citations=[3])
    with pytest.raises(ValueError, match="at least one"):
        records.set_verdict(answer_id, 0, "wrong_citation", citations=[])
    with pytest.raises(ValueError, match="only a wrong_citation"):
        records.set_verdict(answer_id, 0, "unsupported", citations=[1])
    assert len(records.review_history(answer_id)) == 4  # the refused ones saved nothing


def test_the_version_moves_with_every_table_and_the_verdicts_version_only_with_verdicts_and_lifts(db):
    records = Records(db)
    empty = records.version()
    assert empty == RecordsVersion(0, 0, 0, 0, 0)
    answer_id = records.record_answer(_result())
    after_answer = records.version()
    assert after_answer.answers > 0 and records.verdicts_version() == (0, 0)
    records.record_feedback(answer_id, True)
    records.mark_article("/guides/sourdough", True)
    assert records.version().feedback > 0 and records.version().article_marks > 0
    records.set_verdict(answer_id, 0, "wrong_citation")
    records.lift_demotion("c1")
    version = records.version()
    assert records.verdicts_version() == (version.reviews, version.demotion_lifts) and min(version.__dict__.values()) > 0
    assert Records(db).version() == version  # another store on the same database agrees


def test_rejects_unknown_labels_answers_and_sentences(db):
    records = Records(db)
    answer_id = records.record_answer(_result())
    with pytest.raises(ValueError, match="unknown verdict"):
        records.set_verdict(answer_id, 0, "maybe")
    with pytest.raises(KeyError, match="no sentence 5"):
        records.set_verdict(answer_id, 5, "supported")
    with pytest.raises(KeyError, match="no answer"):
        records.set_verdict("f" * 32, 0, "supported")
    with pytest.raises(KeyError, match="no answer"):
        records.record_feedback("f" * 32, True)
    assert records.review_history(answer_id) == []


def test_feedback_with_a_comment_added_later(db):
    records = Records(db)
    answer_id = records.record_answer(_result())
    feedback_id = records.record_feedback(answer_id, helpful=True)
    records.set_feedback_comment(feedback_id, "  Clear and short.  ")
    assert [(f.helpful, f.comment) for f in records.answer(answer_id).feedback] == [(True, "Clear and short.")]


def test_find_answer_id_by_its_listed_prefix(db):
    records = Records(db)
    answer_id = records.record_answer(_result())
    assert records.find_answer_id(answer_id[:8]) == answer_id
    assert records.find_answer_id("zz") is None and records.find_answer_id("") is None
    assert records.find_answer_id("%") is None  # not a LIKE pattern that matches everything


def test_csv_export_has_the_current_verdict_per_reviewed_sentence(db, tmp_path):
    records = Records(db)
    first = records.record_answer(_result("=HYPERLINK(\"http://evil\") how often?", ("supported", "unsupported")))
    second = records.record_answer(_result("second"))
    records.set_verdict(first, 1, "supported", "draft")
    records.set_verdict(first, 1, "unsupported", "not in the article, \"really\"", editor="ana")
    records.set_verdict(second, 0, "supported", editor="ben")

    path = records.export_verdicts_csv(tmp_path / "verdicts.csv")
    rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))
    assert list(rows[0]) == list(CSV_COLUMNS)
    assert [(r["answer_id"], r["sentence_index"], r["editor_label"], r["editor"]) for r in rows] == [
        (second, "0", "supported", "ben"),
        (first, "1", "unsupported", "ana"),
    ]
    assert rows[1]["editor_note"] == 'not in the article, "really"'
    assert rows[1]["citations"] == "[1]" and rows[1]["checker_verdict"] == "unsupported" and rows[1]["checker_score"] == "0.100"
    assert rows[1]["question"].startswith("'=HYPERLINK")  # a spreadsheet must not run it as a formula


def test_concurrent_writers_lose_nothing(db):
    records = Records(db)
    answer_ids = [records.record_answer(_result(f"q{i}", ("supported",) * 5)) for i in range(4)]
    errors: list[BaseException] = []

    def editor(n: int) -> None:
        try:
            with Records(db) as mine:  # like separate requests: separate objects, separate connections
                for i in range(25):
                    mine.set_verdict(answer_ids[i % 4], i % 5, "unsupported", f"editor {n} verdict {i}", editor=f"e{n}")
                    mine.record_feedback(answer_ids[(i + n) % 4], helpful=bool(i % 2))
                    if i % 5 == 0:
                        mine.record_answer(_result(f"extra {n}-{i}"))
        except BaseException as exc:  # noqa: BLE001 - asserted below
            errors.append(exc)

    threads = [threading.Thread(target=editor, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert sum(len(records.review_history(a)) for a in answer_ids) == 8 * 25
    assert sum(len(r.feedback) for r in records.answers("all", limit=1000)) == 8 * 25
    assert len(records.answers("all", limit=1000)) == 4 + 8 * 5


def test_two_stores_on_one_database_see_each_others_writes(db):
    # Two app processes each open their own store; an editor's verdict saved through one is current in the other.
    with Records(db) as first, Records(db) as second:
        answer_id = first.record_answer(_result(verdicts=("supported", "weak")))
        second.set_verdict(answer_id, 1, "unsupported", "not in the article", editor="ana")
        assert first.answer(answer_id).reviews[1].label == "unsupported"
        first.set_verdict(answer_id, 1, "supported", "it is, in the second paragraph", editor="ben")
        assert second.answer(answer_id).reviews[1].editor == "ben"
        assert [r.id for r in second.answers("unreviewed")] == []


def test_processes_opening_a_new_database_together_migrate_it_once(db):
    script = "import sys; from hubchat.records import Records; Records(sys.argv[1]).answers()"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")])}
    procs = [
        subprocess.Popen([sys.executable, "-c", script, str(db)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    outcomes = [(p.wait(120), p.stderr.read()) for p in procs]
    for p in procs:
        p.stdout.close()
        p.stderr.close()
    assert outcomes == [(0, "")] * 4
    engine = create_records_engine(parse_location(db))
    try:
        with engine.connect() as conn:
            assert set(MigrationContext.configure(conn).get_current_heads()) == head_revisions()
    finally:
        engine.dispose()


def test_the_migrations_build_the_tables_the_store_queries_and_can_be_undone(db):
    Records(db).close()
    engine = create_records_engine(parse_location(db))
    try:
        with writing(engine) as conn:
            differences = compare_metadata(MigrationContext.configure(conn), metadata)
        assert differences == []
        with writing(engine) as conn:
            command.downgrade(alembic_config(conn), "base")
        assert set(inspect(engine).get_table_names()) == {"alembic_version"}
    finally:
        engine.dispose()
    records = Records(db)  # and up again
    assert records.answer(records.record_answer(_result())).question == "How often to feed?"


def test_verdicts_saved_before_migration_0006_blame_every_cited_passage_and_new_ones_name_theirs(db):
    """A store at revision 0005 holding a "wrong citation" on a sentence citing [1][2] is upgraded in place."""
    engine = create_records_engine(parse_location(db))
    try:
        with writing(engine) as conn:
            command.upgrade(alembic_config(conn), "0005")
        old = _citing_two("old question")
        sources = json.dumps([asdict(s) for s in old.sources])
        [sentence] = old.report.sentences
        supports = json.dumps([asdict(sp) for sp in sentence.supports])
        with writing(engine) as conn:
            conn.execute(text(
                "INSERT INTO answers (id, created_at, conversation_id, channel, question, standalone_question, answer_text, "
                "backend, verdict, refused, flagged, notes, filters, sources, timings) VALUES (:id, '2026-11-01T10:00:00.000+00:00', "
                "'conv', 'chat', 'old question', 'old question', :text, 'local', 'supported', :no, :no, '[]', '{}', :sources, '{}')"
            ), {"id": "a" * 32, "text": old.text, "no": False, "sources": sources})
            conn.execute(text(
                "INSERT INTO sentences (answer_id, idx, text, start_offset, end_offset, citations, verdict, score, supports) "
                "VALUES (:id, 0, :text, 0, 10, '[1, 2]', 'supported', 0.9, :supports)"
            ), {"id": "a" * 32, "text": sentence.text, "supports": supports})
            conn.execute(text(
                "INSERT INTO reviews (answer_id, sentence_idx, label, note, editor, created_at) "
                "VALUES (:id, 0, 'wrong_citation', 'before 0006', 'ana', '2026-11-01T11:00:00.000+00:00')"
            ), {"id": "a" * 32})
    finally:
        engine.dispose()

    records = Records(db)  # migrates to 0006
    review = records.answer("a" * 32).reviews[0]
    assert (review.note, review.citations, review.blames((1, 2))) == ("before 0006", None, (1, 2))
    assert [(w.answer_id, w.chunk_id) for w in records.wrong_citations()] == [("a" * 32, "c1"), ("a" * 32, "c2")]
    records.set_verdict("a" * 32, 0, "wrong_citation", "only the flour article", editor="ben", citations=[2])
    assert [w.chunk_id for w in Records(db).wrong_citations()] == ["c2"]
    with reading(records._engine) as conn:
        assert {row[0] for row in conn.exec_driver_sql("SELECT version_num FROM alembic_version")} == head_revisions() == {"0006"}
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM reviews WHERE citations IS NULL").scalar() == 1


# ---- SQLite ------------------------------------------------------------------------------------------------------

# The schema as the last release without migrations created it on every start (hubchat.web.records._SCHEMA).
RELEASED_SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
    id TEXT PRIMARY KEY,
    created_at TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    question TEXT NOT NULL,
    standalone_question TEXT NOT NULL,
    answer_text TEXT NOT NULL,
    backend TEXT NOT NULL,
    verdict TEXT NOT NULL,
    refused INTEGER NOT NULL,
    flagged INTEGER NOT NULL,
    notes TEXT NOT NULL,
    filters TEXT NOT NULL,
    sources TEXT NOT NULL,
    timings TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS answers_created ON answers (created_at);
CREATE TABLE IF NOT EXISTS sentences (
    answer_id TEXT NOT NULL REFERENCES answers (id),
    idx INTEGER NOT NULL,
    text TEXT NOT NULL,
    start_offset INTEGER NOT NULL,
    end_offset INTEGER NOT NULL,
    citations TEXT NOT NULL,
    verdict TEXT NOT NULL,
    score REAL NOT NULL,
    supports TEXT NOT NULL,
    pruned TEXT NOT NULL DEFAULT '[]',
    unmatched TEXT NOT NULL DEFAULT '[]',
    PRIMARY KEY (answer_id, idx)
);
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    answer_id TEXT NOT NULL REFERENCES answers (id),
    created_at TEXT NOT NULL,
    helpful INTEGER NOT NULL,
    comment TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS feedback_answer ON feedback (answer_id);
CREATE TABLE IF NOT EXISTS reviews (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    answer_id TEXT NOT NULL REFERENCES answers (id),
    sentence_idx INTEGER NOT NULL,
    label TEXT NOT NULL,
    note TEXT NOT NULL,
    editor TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS reviews_answer ON reviews (answer_id, sentence_idx);
"""
# The first release's sentences table had neither of the two columns added since.
FIRST_RELEASE_SCHEMA = RELEASED_SCHEMA.replace("    pruned TEXT NOT NULL DEFAULT '[]',\n", "").replace(
    "    unmatched TEXT NOT NULL DEFAULT '[]',\n", ""
)
OLD_ANSWERS = ("a" * 32, "b" * 32)  # recorded in this order, in the same millisecond


def _write_like_an_old_release(path: Path, schema: str) -> None:
    support = '[{"number": 1, "chunk_id": "c1", "article_id": "/guides/sourdough", "score": 0.9, "span_start": 12, "span_end": 49, "span_text": "Feed the starter once every 24 hours."}]'
    source = '[{"number": 1, "chunk_id": "c1", "article_id": "/guides/sourdough", "title": "Sourdough", "date": "2024-03-01", "url": "/guides/sourdough", "link": "https://example.org/guides/sourdough", "tags": ["baking"], "section": "Feeding", "text": "Feed the starter.", "start": 12, "end": 29}]'
    with sqlite3.connect(path) as conn:
        conn.executescript(schema)
        for n, answer_id in enumerate(OLD_ANSWERS):
            conn.execute(
                "INSERT INTO answers VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (answer_id, "2025-01-02T03:04:05.678+00:00", "conv", "chat", f"old question {n}", f"old question {n}",
                 "Feed it daily [1].", "local", "supported", 0, 0, "[]", '{"tags": ["baking"], "since": null, "until": null}',
                 source, '{"total": 1.5}'),
            )
            conn.execute(
                "INSERT INTO sentences (answer_id, idx, text, start_offset, end_offset, citations, verdict, score, supports) "
                "VALUES (?,?,?,?,?,?,?,?,?)",
                (answer_id, 0, "Feed it daily [1].", 0, 18, "[1]", "supported", 0.9, support),
            )
        conn.execute("INSERT INTO feedback (answer_id, created_at, helpful, comment) VALUES (?,?,?,?)",
                     (OLD_ANSWERS[0], "2025-01-02T04:00:00.000+00:00", 0, "too short"))
        for label in ("supported", "unsupported"):
            conn.execute(
                "INSERT INTO reviews (answer_id, sentence_idx, label, note, editor, created_at) VALUES (?,?,?,?,?,?)",
                (OLD_ANSWERS[0], 0, label, f"first {label}", "ana", "2025-01-02T05:00:00.000+00:00"),
            )
    conn.close()


@pytest.mark.parametrize("schema", [RELEASED_SCHEMA, FIRST_RELEASE_SCHEMA], ids=["last-release", "first-release"])
def test_a_database_written_before_migrations_is_adopted_with_every_row(tmp_path, schema):
    path = tmp_path / "hubchat.sqlite"
    _write_like_an_old_release(path, schema)
    older, newer = OLD_ANSWERS

    records = Records(path)
    assert [r.id for r in records.answers("all")] == [newer, older]  # the same millisecond: recording order decides
    old = records.answer(older)
    assert old.question == "old question 0" and old.sources[0].tags == ("baking",) and old.filters["tags"] == ["baking"]
    (sentence,) = old.sentences
    assert sentence.supports[0].span_text == "Feed the starter once every 24 hours." and sentence.pruned == () and sentence.unmatched == ()
    assert old.reviews[0].label == "unsupported" and [f.comment for f in old.feedback] == ["too short"]
    assert [r.id for r in records.answers("flagged")] == [older]

    fresh = records.record_answer(_result())
    records.set_verdict(newer, 0, "wrong_citation", editor="ben")
    assert [r.id for r in Records(path).answers("all")] == [fresh, newer, older]  # reopening changes nothing
    with sqlite3.connect(path) as conn:
        assert {row[0] for row in conn.execute("SELECT version_num FROM alembic_version")} == head_revisions()
        assert {"pruned", "unmatched", "seq"} <= {row[1] for row in conn.execute("PRAGMA table_info(sentences)")} | {
            row[1] for row in conn.execute("PRAGMA table_info(answers)")
        }
        assert conn.execute("SELECT COUNT(*) FROM reviews").fetchone()[0] == 3
    conn.close()


def test_sqlite_connections_are_durable_and_writers_take_the_lock_up_front(tmp_path):
    path = tmp_path / "hubchat.sqlite"
    engine = create_records_engine(parse_location(path))
    try:
        with reading(engine) as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"  # readers never block the writer
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL: a commit survives a power cut
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        other = sqlite3.connect(path, timeout=0, isolation_level=None)
        with writing(engine):
            # BEGIN IMMEDIATE: the write lock is held before the first statement, so a transaction that reads
            # and then writes (set_verdict) cannot be turned away half-way by another writer.
            with pytest.raises(sqlite3.OperationalError, match="database is locked"):
                other.execute("BEGIN IMMEDIATE")
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
        other.close()
    finally:
        engine.dispose()


def test_a_file_that_is_not_a_database_or_from_a_newer_hubchat_is_a_clear_error(tmp_path):
    not_a_database = tmp_path / "notes.sqlite"
    not_a_database.write_text("these are not the records " * 100)
    with pytest.raises(BackendError, match=r"the records file .*notes\.sqlite cannot be used: file is not a database"):
        Records(not_a_database)

    newer = tmp_path / "newer.sqlite"
    Records(newer).close()
    with sqlite3.connect(newer) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    conn.close()
    with pytest.raises(BackendError, match="at schema revision 9999, which this hubchat does not know .* upgrade this one"):
        Records(newer)


# ---- PostgreSQL --------------------------------------------------------------------------------------------------

PASSWORD = "s3cret-Pa55"


def test_a_server_that_is_down_is_a_clear_error_without_the_password():
    port = free_port()  # nothing listens there
    with pytest.raises(BackendError) as raised:
        Records(f"postgresql+psycopg://hubchat:{PASSWORD}@127.0.0.1:{port}/hubchat")
    message = str(raised.value)
    assert f"the records database postgresql+psycopg://hubchat:***@127.0.0.1:{port}/hubchat cannot be reached" in message
    assert "Start the PostgreSQL server or fix ui.records_url" in message
    assert PASSWORD not in "".join(traceback.format_exception(raised.value))  # the chained cause included


def test_a_server_that_never_answers_times_out_quickly():
    with socket.socket() as silent:  # accepts connections into its backlog and never says a word
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        started = time.monotonic()
        with pytest.raises(BackendError, match=f"127.0.0.1:{port}/hubchat cannot be reached"):
            Records(f"postgresql+psycopg://hubchat@127.0.0.1:{port}/hubchat", connect_timeout_s=2)
        assert time.monotonic() - started < 10


def test_the_settings_choose_the_database_and_hide_its_password(tmp_path, postgres_server, postgres_url):
    sqlite = open_records(UISettings(db_path=tmp_path / "records.sqlite"))
    assert sqlite.location == str(tmp_path / "records.sqlite") and (tmp_path / "records.sqlite").is_file()

    # The test server trusts loopback connections, so any password is accepted, and none may be shown.
    url = postgres_url.replace(f"//{postgres_server.user}@", f"//{postgres_server.user}:{PASSWORD}@")
    shared = open_records(UISettings(db_path=tmp_path / "unused.sqlite", records_url=url))
    shared.record_answer(_result())
    assert PASSWORD not in shared.location and PASSWORD not in repr(shared) and ":***@" in shared.location
    assert not (tmp_path / "unused.sqlite").exists()
    shared.close()


def test_a_records_url_that_is_not_a_url_is_refused_without_echoing_it(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HUBCHAT_UI__RECORDS_URL", f"hubchat:{PASSWORD}@db.internal/hubchat")
    with pytest.raises(ConfigError, match="ui.records_url must be an SQLAlchemy URL") as raised:
        load_settings()
    assert PASSWORD not in str(raised.value)
    with pytest.raises(ConfigError, match=r"the records database mysql://\.\.\. is not supported|not supported"):
        Records(f"mysql://hubchat:{PASSWORD}@127.0.0.1/hubchat")
