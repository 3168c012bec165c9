"""The desk's figures computed once per state of the records and the index, so a reload with nothing new costs
one small query and a look at the index's version.

`DeskFigures` holds everything the desk shows; `DeskCache.figures()` asks the records for their version (the
newest id of each table) and the index for its own, and recomputes only what depends on a part that changed:
the content gaps' groups (embedding and clustering every unanswered question, the costly part) only when answers
were added; their closest articles when answers were added or the index changed (an ingest or sync adding,
changing or removing articles: one search per group, no embedding); the tables and charts when any record was
added. Nothing else invalidates the cache: the records are append-only, so equal versions are equal records (a
reader's comment attached later is the one update, and no figure reads comments).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass, replace

from hubchat.desk.activity import DayActivity, daily_activity
from hubchat.desk.agreement import Agreement, WeeklyAgreement, agreement, reviewed_pairs, weekly_agreement
from hubchat.desk.gaps import DenseSearch, Embed, GapGroup, find_gaps, with_closest
from hubchat.desk.health import ArticleHealth, article_health
from hubchat.records import Records, RecordsVersion


@dataclass(frozen=True)
class DeskFigures:
    """What the desk shows, as of the records' `version` and the index's `index_version` (health: every article,
    sorted by failed citations)."""

    version: RecordsVersion
    index_version: Hashable
    gaps: tuple[GapGroup, ...]
    health: tuple[ArticleHealth, ...]
    activity: tuple[DayActivity, ...]
    agreement: Agreement
    weekly: tuple[WeeklyAgreement, ...]


class DeskCache:
    """The latest `DeskFigures`, recomputed when the records' or the index's version moves (see the module docstring).

    Safe to share between the page's request threads: one computes while the others wait for its result.

    Args:
        records: the store.
        embed, search: as `find_gaps` takes them (the runtime's embedder and dense search).
        index_version: () -> a value that changes whenever the articles `search` finds may have (the web stage
            passes the index's generation and chunk fingerprint); None: the closest articles follow only the
            questions.
    """

    def __init__(self, records: Records, embed: Embed, search: DenseSearch | None, index_version: Callable[[], Hashable] | None = None):
        self.records = records
        self.embed = embed
        self.search = search
        self.index_version = index_version
        self._figures: DeskFigures | None = None
        self._lock = threading.Lock()

    def figures(self) -> DeskFigures:
        with self._lock:
            # The versions are read before the rows: rows added in between show now and recompute once more later.
            version = self.records.version()
            index_version = self.index_version() if self.index_version is not None else None
            cached = self._figures
            if cached is not None and cached.version == version and cached.index_version == index_version:
                return cached
            if cached is None or cached.version.answers != version.answers:
                gaps = find_gaps(self.records.unanswered_questions(), self.embed, self.search)
            elif cached.index_version != index_version:
                gaps = with_closest(cached.gaps, self.search)  # the same questions, against the articles as they are now
            else:
                gaps = cached.gaps  # verdicts, ratings and marks change no question asked
            if cached is not None and cached.version == version:
                # Only the index moved: the tables and charts come from the records alone.
                self._figures = replace(cached, index_version=index_version, gaps=gaps)
                return self._figures
            answers = self.records.answers_since()
            pairs = reviewed_pairs(answers)
            self._figures = DeskFigures(
                version=version, index_version=index_version, gaps=gaps,
                health=article_health(answers, self.records.article_marks()), activity=daily_activity(answers),
                agreement=agreement(pairs), weekly=weekly_agreement(pairs),
            )
            return self._figures
