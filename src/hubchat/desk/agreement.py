"""The checker measured by people: how far the citation checker's "supported" agrees with editors' verdicts.

Every sentence an editor reviewed and the checker judged as a claim is one pair (checker verdict, editor
label). "Supported" is the positive class on both sides: precision is the share of the checker's "supported"
that editors also found supported, recall the share of editors' "supported" that the checker found. Weeks are
the ISO weeks of the answers (when the checker judged them), so a change to the checker shows up in the week it
shipped.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from hubchat.records import REVIEW_LABELS, AnswerRecord

CHECKER_VERDICTS: tuple[str, ...] = ("supported", "weak", "unsupported", "uncited")


@dataclass(frozen=True)
class Agreement:
    """Checker against editors over some reviewed sentences.

    Attributes:
        confusion: (checker verdict, editor label) -> sentences; every pair of CHECKER_VERDICTS x REVIEW_LABELS.
        precision, recall: of the checker's "supported"; None when undefined (nothing in the denominator).
    """

    pairs: int
    confusion: dict[tuple[str, str], int]
    precision: float | None
    recall: float | None

    @property
    def agreed(self) -> int:
        """Pairs where both say supported, or both say not supported."""
        return sum(n for (checker, editor), n in self.confusion.items() if (checker == "supported") == (editor == "supported"))


@dataclass(frozen=True)
class WeeklyAgreement:
    week: str  # ISO week, e.g. 2026-W49
    agreement: Agreement


def reviewed_pairs(records: Iterable[AnswerRecord]) -> list[tuple[str, str, str]]:
    """(answer time, checker verdict, editor label) for every reviewed claim, in the records' order."""
    pairs = []
    for record in records:
        for sentence in record.sentences:
            review = record.reviews.get(sentence.index)
            if review is not None and sentence.verdict in CHECKER_VERDICTS:
                pairs.append((record.created_at, sentence.verdict, review.label))
    return pairs


def agreement(pairs: Sequence[tuple[str, str, str]]) -> Agreement:
    """The confusion table and precision / recall of "supported" over (time, checker, editor) pairs."""
    counts = Counter((checker, editor) for _, checker, editor in pairs)
    confusion = {(c, e): counts[(c, e)] for c in CHECKER_VERDICTS for e in REVIEW_LABELS}
    both = confusion[("supported", "supported")]
    checker_yes = sum(confusion[("supported", e)] for e in REVIEW_LABELS)
    editor_yes = sum(confusion[(c, "supported")] for c in CHECKER_VERDICTS)
    return Agreement(
        pairs=len(pairs), confusion=confusion,
        precision=both / checker_yes if checker_yes else None, recall=both / editor_yes if editor_yes else None,
    )


def weekly_agreement(pairs: Sequence[tuple[str, str, str]]) -> tuple[WeeklyAgreement, ...]:
    """Agreement per ISO week of the answers, oldest week first (weeks without reviews are left out)."""
    weeks: dict[str, list[tuple[str, str, str]]] = {}
    for pair in pairs:
        weeks.setdefault(iso_week(pair[0]), []).append(pair)
    return tuple(WeeklyAgreement(week, agreement(weeks[week])) for week in sorted(weeks))


def iso_week(iso_time: str) -> str:
    year, week, _ = dt.datetime.fromisoformat(iso_time).isocalendar()
    return f"{year}-W{week:02d}"
