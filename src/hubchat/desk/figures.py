"""The desk's figures computed once per state of the records, so a reload with nothing new costs one small query.

`DeskFigures` holds everything the desk shows; `DeskCache.figures()` asks the records for their version (the
newest id of each table) and recomputes only what depends on a part that changed: the content gaps (embedding
and clustering every unanswered question, the costly part) only when answers were added, the tables and charts
when anything was. Nothing else invalidates the cache: the records are append-only, so equal versions are equal
records (a reader's comment attached later is the one update, and no figure reads comments).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from hubchat.desk.activity import DayActivity, daily_activity
from hubchat.desk.agreement import Agreement, WeeklyAgreement, agreement, reviewed_pairs, weekly_agreement
from hubchat.desk.gaps import DenseSearch, Embed, GapGroup, find_gaps
from hubchat.desk.health import ArticleHealth, article_health
from hubchat.records import Records, RecordsVersion


@dataclass(frozen=True)
class DeskFigures:
    """What the desk shows, as of `version` (health: every article, sorted by failed citations)."""

    version: RecordsVersion
    gaps: tuple[GapGroup, ...]
    health: tuple[ArticleHealth, ...]
    activity: tuple[DayActivity, ...]
    agreement: Agreement
    weekly: tuple[WeeklyAgreement, ...]


class DeskCache:
    """The latest `DeskFigures`, recomputed when the records' version moves (see the module docstring).

    Safe to share between the page's request threads: one computes while the others wait for its result.

    Args:
        records: the store.
        embed, search: as `find_gaps` takes them (the runtime's embedder and dense search).
    """

    def __init__(self, records: Records, embed: Embed, search: DenseSearch | None):
        self.records = records
        self.embed = embed
        self.search = search
        self._figures: DeskFigures | None = None
        self._lock = threading.Lock()

    def figures(self) -> DeskFigures:
        with self._lock:
            # The version is read before the rows: rows added in between show now and recompute once more later.
            version = self.records.version()
            cached = self._figures
            if cached is not None and cached.version == version:
                return cached
            if cached is not None and cached.version.answers == version.answers:
                gaps = cached.gaps  # verdicts, ratings and marks change no question asked
            else:
                gaps = find_gaps(self.records.unanswered_questions(), self.embed, self.search)
            answers = self.records.answers_since()
            pairs = reviewed_pairs(answers)
            self._figures = DeskFigures(
                version=version, gaps=gaps, health=article_health(answers, self.records.article_marks()),
                activity=daily_activity(answers), agreement=agreement(pairs), weekly=weekly_agreement(pairs),
            )
            return self._figures
