"""Editor-approved answers as regression cases: the gold set that grows from real use.

An answer is approved when it was not a refusal, an editor reviewed at least one of its sentences, and every
current verdict on its sentences is "supported". Its case is the question (as searched, with the reader's
filters) and the articles its approved sentences cited; asked again, the answer passes when it still cites
every one of those articles.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from hubchat.records import AnswerRecord
from hubchat.types import AnswerResult, Filters


@dataclass(frozen=True)
class RegressionCase:
    answer_id: str
    question: str
    filters: Filters
    articles: tuple[str, ...]  # sorted article ids the approved sentences cited


@dataclass(frozen=True)
class RegressionOutcome:
    case: RegressionCase
    passed: bool
    cited: tuple[str, ...]  # sorted article ids the new answer cites
    refused: bool
    error: str = ""

    @property
    def missing(self) -> tuple[str, ...]:
        return tuple(a for a in self.case.articles if a not in self.cited)


def is_approved(record: AnswerRecord) -> bool:
    return not record.refused and bool(record.reviews) and all(r.label == "supported" for r in record.reviews.values())


def regression_cases(records: Iterable[AnswerRecord]) -> tuple[RegressionCase, ...]:
    """One case per approved answer that cites something; the newest approval of a question wins."""
    cases: dict[tuple[str, Filters], RegressionCase] = {}
    for record in records:  # oldest first, so a later approval of the same question replaces an earlier one
        if not is_approved(record):
            continue
        by_number = {s.number: s.article_id for s in record.sources}
        articles = sorted({
            by_number[n] for s in record.sentences if s.index in record.reviews for n in s.citations if n in by_number
        })
        if articles:
            question = record.standalone_question or record.question
            filters = _filters(record.filters)
            cases[(question, filters)] = RegressionCase(record.id, question, filters, tuple(articles))
    return tuple(cases.values())


def outcome(case: RegressionCase, result: AnswerResult) -> RegressionOutcome:
    cited = tuple(sorted({s.article_id for s in result.sources}))
    passed = not result.refused and all(a in cited for a in case.articles)
    return RegressionOutcome(case, passed, cited, result.refused)


def pass_rate(outcomes: Sequence[RegressionOutcome]) -> float | None:
    return sum(o.passed for o in outcomes) / len(outcomes) if outcomes else None


def _filters(stored: dict) -> Filters:
    return Filters(
        tags=tuple(stored.get("tags") or ()), since=stored.get("since"), until=stored.get("until"),
        article_ids=tuple(stored.get("article_ids") or ()),
    )
