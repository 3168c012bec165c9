"""Article health: citations, their failures by checker and editors, reader ratings and "needs update" marks,
counted from a real records store on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io

import pytest

from hubchat.desk.export import HEALTH_CSV_COLUMNS, health_csv
from hubchat.desk.health import article_health, filter_health, sort_health
from hubchat.records import Records
from hubchat.types import AnswerResult, CitationReport, Filters, SentenceCheck, Source

SOURDOUGH = ("/guides/sourdough-starter", "Sourdough Starter Care")
TIDES = ("/insights/tide-pools", "Tide Pools: Life Between the Tides")


@pytest.fixture(params=["sqlite", "postgresql"])
def records(request, tmp_path) -> Records:
    if request.param == "sqlite":
        return Records(tmp_path / "hubchat.sqlite")
    return Records(request.getfixturevalue("postgres_url"))


def _source(number: int, article: tuple[str, str]) -> Source:
    return Source(number=number, chunk_id=f"{article[0]}#{number}", article_id=article[0], title=article[1], date="2024-01-01",
                  url=article[0], link="", tags=(), section="", text="passage", start=0, end=7)


def _answer(sentences: list[tuple[tuple[int, ...], str]], sources: list[Source]) -> AnswerResult:
    """An answer with one sentence per (citations, checker verdict)."""
    checks, text = [], ""
    for i, (cites, verdict) in enumerate(sentences):
        line = f"Sentence {i} " + "".join(f"[{n}]" for n in cites) + "."
        checks.append(SentenceCheck(i, line, len(text), len(text) + len(line), cites, (), verdict, 0.5))
        text += line + " "
    report = CitationReport(text.strip(), tuple(checks), (), tuple(s.number for s in sources), "supported")
    return AnswerResult(
        question="q?", standalone_question="q?", text=text.strip(), raw_text=text, refused=False, verdict="supported",
        report=report, passages=tuple(sources), sources=tuple(sources), notes=(), timings={}, prompt_tokens=None,
        completion_tokens=None, backend="extractive", filters=Filters(),
    )


def _fill(records: Records) -> None:
    # Answer 1 cites both articles; the sourdough sentence cites two of its passages (one citation of it).
    a1 = records.record_answer(_answer([((1, 2), "supported"), ((3,), "weak")], [_source(1, SOURDOUGH), _source(2, SOURDOUGH), _source(3, TIDES)]))
    records.set_verdict(a1, 0, "supported")
    records.set_verdict(a1, 1, "supported")
    records.set_verdict(a1, 1, "wrong_citation", "the pools article says nothing of this")  # the latest counts
    records.record_feedback(a1, helpful=False)
    # Answer 2 cites sourdough twice; one sentence the checker flagged and an editor found unsupported.
    a2 = records.record_answer(_answer([((1,), "supported"), ((1,), "unsupported")], [_source(1, SOURDOUGH)]))
    records.set_verdict(a2, 1, "unsupported")
    records.record_feedback(a2, helpful=True)
    records.record_feedback(a2, helpful=True)


def test_each_article_counts_its_citations_failures_and_ratings(records):
    _fill(records)
    rows = {r.article_id: r for r in article_health(records.answers_since())}

    sourdough, tides = rows[SOURDOUGH[0]], rows[TIDES[0]]
    assert (sourdough.answers, sourdough.cited, sourdough.checker_flagged) == (2, 3, 1)
    assert (sourdough.supported, sourdough.wrong_citation, sourdough.unsupported) == (1, 0, 1)
    assert (sourdough.helpful, sourdough.not_helpful) == (2, 1)
    assert (tides.answers, tides.cited, tides.checker_flagged, tides.wrong_citation, tides.supported) == (1, 1, 1, 1, 0)
    assert (tides.helpful, tides.not_helpful) == (0, 1)
    assert sourdough.title == SOURDOUGH[1] and sourdough.url == SOURDOUGH[0]


def test_a_wrong_citation_naming_one_passage_counts_only_against_its_article(records):
    answer_id = records.record_answer(_answer([((1, 2), "weak")], [_source(1, SOURDOUGH), _source(2, TIDES)]))
    records.set_verdict(answer_id, 0, "wrong_citation", "the pools article is off topic", citations=[2])
    rows = {r.article_id: r for r in article_health(records.answers_since())}
    assert (rows[TIDES[0]].cited, rows[TIDES[0]].wrong_citation) == (1, 1)
    assert (rows[SOURDOUGH[0]].cited, rows[SOURDOUGH[0]].wrong_citation, rows[SOURDOUGH[0]].supported) == (1, 0, 0)
    records.set_verdict(answer_id, 0, "wrong_citation")  # naming none: both articles, as before the choice
    rows = {r.article_id: r for r in article_health(records.answers_since())}
    assert rows[TIDES[0]].wrong_citation == rows[SOURDOUGH[0]].wrong_citation == 1


def test_needs_update_marks_are_latest_wins_and_keep_their_history(records):
    _fill(records)
    records.mark_article(TIDES[0], True, "the crab species list is out of date", editor="ed")
    records.mark_article(SOURDOUGH[0], True, "winter temperatures", editor="ed")
    records.mark_article(SOURDOUGH[0], False, "rewritten in March", editor="kim")
    records.mark_article("/guides/never-cited", True, "readers ask for it")

    marks = records.article_marks()
    assert marks[SOURDOUGH[0]].needs_update is False and marks[SOURDOUGH[0]].note == "rewritten in March"
    rows = article_health(records.answers_since(), marks)
    marked = filter_health(rows, needs_update=True)
    assert {r.article_id for r in marked} == {TIDES[0], "/guides/never-cited"}
    assert next(r for r in marked if r.article_id == TIDES[0]).mark.editor == "ed"
    with pytest.raises(ValueError, match="article's id"):
        records.mark_article("  ", True)


def test_the_table_sorts_and_filters(records):
    _fill(records)
    rows = article_health(records.answers_since())
    assert [r.article_id for r in sort_health(rows, "cited")] == [SOURDOUGH[0], TIDES[0]]
    assert [r.article_id for r in sort_health(rows, "not_helpful")] == [SOURDOUGH[0], TIDES[0]]  # a tie: by title
    assert [r.title for r in sort_health(rows, "title")] == [SOURDOUGH[1], TIDES[1]]
    assert [r.article_id for r in filter_health(rows, "TIDE")] == [TIDES[0]]
    assert [r.article_id for r in filter_health(rows, failing=True)] == [r.article_id for r in rows]
    with pytest.raises(ValueError, match="unknown sort key"):
        sort_health(rows, "colour")


def test_refusals_count_for_no_article(records):
    refusal = _answer([], [])
    records.record_answer(AnswerResult(**{**refusal.__dict__, "refused": True, "report": None}))
    assert article_health(records.answers_since()) == ()


def test_health_exports_as_csv(records):
    _fill(records)
    records.mark_article(TIDES[0], True, "=cmd|' /C calc'!A0", editor="ed")
    rows = list(csv.DictReader(io.StringIO(health_csv(article_health(records.answers_since(), records.article_marks())))))
    assert tuple(rows[0]) == HEALTH_CSV_COLUMNS
    tides = next(r for r in rows if r["article_id"] == TIDES[0])
    assert (tides["needs_update"], tides["editor_wrong_citation"], tides["mark_note"][0]) == ("yes", "1", "'")
