"""hubchat.web.records: the SQLite store of answers, reader feedback and editor verdicts (real SQLite files)."""

from __future__ import annotations

import csv
import io
import sqlite3
import threading
from dataclasses import replace

import pytest

from hubchat.types import (
    AnswerResult,
    CitationReport,
    Filters,
    SentenceCheck,
    Source,
    SpanSupport,
)
from hubchat.web.records import CSV_COLUMNS, Records
from hubchat.web.render import review_sentence_html

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


@pytest.fixture
def db(tmp_path):
    return tmp_path / "nested" / "hubchat.sqlite"


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


def test_a_database_from_before_pruned_markers_opens_and_keeps_its_answers(db):
    answer_id = Records(db).record_answer(_result())
    with sqlite3.connect(db) as conn:  # the sentences table as the first release wrote it
        conn.execute("ALTER TABLE sentences DROP COLUMN pruned")
        conn.execute("ALTER TABLE sentences DROP COLUMN unmatched")

    records = Records(db)
    (old,) = records.answer(answer_id).sentences
    assert old.pruned == () and old.unmatched == () and old.verdict == "supported"
    assert records.answer(records.record_answer(_result())).sentences[0].citations == (1,)


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
            mine = Records(db)  # like separate requests: separate objects, separate connections
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
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
