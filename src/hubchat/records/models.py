"""The frozen records the store returns, and the editors' verdict labels."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from hubchat.types import FLAGGED_VERDICTS, AnswerResult, SentenceCheck, Source

ReviewLabel = Literal["supported", "wrong_citation", "unsupported"]
REVIEW_LABELS: tuple[str, ...] = ("supported", "wrong_citation", "unsupported")
NEGATIVE_LABELS: tuple[str, ...] = ("wrong_citation", "unsupported")
ListFilter = Literal["all", "flagged", "unreviewed"]
# The conversation ids channels record when they know no reader's conversation (hubchat.web: /ask, /v1, widget).
SHARED_CONVERSATION_IDS = frozenset({"api", "openai-api", "widget"})


@dataclass(frozen=True)
class Review:
    """An editor's verdict on one sentence of an answer.

    Attributes:
        citations: for a "wrong citation", the marker numbers of the cited passages it blames (sorted); None:
            every passage the sentence cites (the default, and what verdicts saved before the choice existed mean).
    """

    answer_id: str
    sentence_index: int
    label: str
    note: str
    editor: str
    created_at: str
    citations: tuple[int, ...] | None = None

    def blames(self, cited: Sequence[int]) -> tuple[int, ...]:
        """The markers among a sentence's `cited` that this verdict says are wrong citations (none unless it is one)."""
        if self.label != "wrong_citation":
            return ()
        return tuple(n for n in dict.fromkeys(cited) if self.citations is None or n in self.citations)


@dataclass(frozen=True)
class Feedback:
    """A reader's rating of an answer."""

    id: int
    answer_id: str
    helpful: bool
    comment: str
    created_at: str


@dataclass(frozen=True)
class AnswerRecord:
    """One recorded answer, as the editors' review page shows it.

    Attributes:
        sources: the passages the answer cited (what its [n] markers point to).
        sentences: the checker's sentences with their citations, support spans (article offsets) and scores.
        reviews: the current editor verdict per sentence index.
        flagged: the citation checker flagged at least one sentence, or a marker was removed.
    """

    id: str
    created_at: str
    conversation_id: str
    channel: str
    question: str
    standalone_question: str
    answer_text: str
    backend: str
    verdict: str
    refused: bool
    flagged: bool

    @property
    def reader(self) -> str:
        if not self.conversation_id or self.conversation_id in SHARED_CONVERSATION_IDS:
            return f"answer:{self.answer_id}"
        return f"conversation:{self.conversation_id}"
    notes: tuple[str, ...]
    filters: dict
    sources: tuple[Source, ...]
    sentences: tuple[SentenceCheck, ...]
    reviews: dict[int, Review]
    feedback: tuple[Feedback, ...]

    def source(self, number: int) -> Source | None:
        return next((s for s in self.sources if s.number == number), None)


def is_flagged(result: AnswerResult) -> bool:
    """Whether the citation check found something an editor should look at."""
    report = result.report
    if report is None or result.refused:
        return False
    return bool(report.issues) or any(s.verdict in FLAGGED_VERDICTS for s in report.sentences)


@dataclass(frozen=True)
class AskedQuestion:
    """A reader's question that the articles did not answer well: refused, or answered with flagged sentences.

    Attributes:
        standalone_question: the question as searched (follow-ups rewritten to stand alone), what groups it.
        reader: who asked, as far as the records tell: the conversation, or the answer itself where the channel
            shares one conversation id among all its callers (the /ask and /v1 APIs, a widget without one).
    """

    answer_id: str
    created_at: str
    conversation_id: str
    channel: str
    question: str
    standalone_question: str
    refused: bool
    flagged: bool

    @property
    def reader(self) -> str:
        if not self.conversation_id or self.conversation_id in SHARED_CONVERSATION_IDS:
            return f"answer:{self.answer_id}"
        return f"conversation:{self.conversation_id}"


@dataclass(frozen=True)
class ArticleMark:
    """An editor's "needs update" mark on an article (needs_update False: the mark was cleared), with a note."""

    article_id: str
    needs_update: bool
    note: str
    editor: str
    created_at: str


@dataclass(frozen=True)
class WrongCitation:
    """A passage an editor's current verdict says a sentence cited wrongly, with the question it was cited for.

    A "wrong citation" verdict on a sentence citing several passages gives one of these per passage it blames: the
    passages the editor named (`Review.citations`), or every passage the sentence cites when none were named.

    Attributes:
        question: the question as searched (`standalone_question`), what a new question is compared with.
        created_at: when the verdict was saved (ISO 8601 UTC).
    """

    answer_id: str
    sentence_index: int
    chunk_id: str
    article_id: str
    title: str
    section: str
    question: str
    editor: str
    created_at: str


@dataclass(frozen=True)
class DemotionLift:
    """An editor's lift of a passage's demotion (lifted False: the lift was withdrawn), with a note.

    A lift sets aside the passage's "wrong citation" verdicts saved up to `created_at`; later ones count again.
    """

    chunk_id: str
    lifted: bool
    note: str
    editor: str
    created_at: str


@dataclass(frozen=True)
class RecordsVersion:
    """The newest row id of each table (the tables are append-only): equal versions, equal records.

    A feedback comment attached later changes no id; nothing computed from the version reads comments.
    """

    answers: int
    feedback: int
    reviews: int
    article_marks: int
    demotion_lifts: int
