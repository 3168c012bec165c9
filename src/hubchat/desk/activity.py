"""The desk's charts' figures: per day (UTC), questions asked, refusal and flagged rates, and reader rating."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from hubchat.records import AnswerRecord


@dataclass(frozen=True)
class DayActivity:
    """One day's answers. A rate is None on a day without what it divides by (no answers, no ratings)."""

    day: str  # YYYY-MM-DD, UTC
    questions: int
    refused: int
    flagged: int
    helpful: int
    not_helpful: int

    @property
    def refusal_rate(self) -> float | None:
        return self.refused / self.questions if self.questions else None

    @property
    def flagged_rate(self) -> float | None:
        """Flagged answers among those not refused (a refusal has no sentences to flag)."""
        answered = self.questions - self.refused
        return self.flagged / answered if answered else None

    @property
    def rating(self) -> float | None:
        """The share of reader ratings that said helpful."""
        rated = self.helpful + self.not_helpful
        return self.helpful / rated if rated else None


def daily_activity(records: Iterable[AnswerRecord]) -> tuple[DayActivity, ...]:
    """One entry per day that had answers, oldest first; ratings count on the day of the answer they rate."""
    days: dict[str, list[int]] = {}
    for record in records:
        counts = days.setdefault(record.created_at[:10], [0, 0, 0, 0, 0])
        counts[0] += 1
        counts[1] += record.refused
        counts[2] += record.flagged
        counts[3] += sum(f.helpful for f in record.feedback)
        counts[4] += sum(not f.helpful for f in record.feedback)
    return tuple(DayActivity(day, *days[day]) for day in sorted(days))
