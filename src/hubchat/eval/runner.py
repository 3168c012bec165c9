"""Ask every system every case, question by question, and keep one record per answer (or per failure).

Systems take turns on each question rather than running one after another, so a machine that slows down
half-way through (these machines are shared) slows them all alike and their ratios hold.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

from hubchat.errors import HubchatError
from hubchat.eval.answer_metrics import (
    CitationScores,
    CitedPassage,
    citation_scores,
    contains_answer,
    exact_match,
    key_fact_recall,
    token_f1,
)
from hubchat.eval.datasets import EvalCase
from hubchat.eval.systems import AnswerSystem, SystemAnswer
from hubchat.types import Turn

log = logging.getLogger(__name__)

ProgressFn = Callable[[int, int], None]
# A record keeps this much of each cited passage: enough for a person to see why it was or was not on point.
PASSAGE_PREVIEW = 300


@dataclass(frozen=True)
class AnswerScores:
    """Per-answer measures (see answer_metrics); None where the case has nothing to compare with."""

    exact_match: float | None
    f1: float | None
    contains_answer: bool | None
    key_fact_recall: float | None
    citations: CitationScores


@dataclass(frozen=True)
class Record:
    """One system's attempt at one case: the answer and its scores, or the error that stopped it."""

    system: str
    case: EvalCase
    answer: SystemAnswer | None
    scores: AnswerScores | None
    error: str = ""
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_json(cls, row: dict) -> Record:
        """A record read back from records.jsonl, with what the summary needs (a run stopped half-way can still
        be summarised); cited passages keep only their preview."""
        case = EvalCase(
            id=row["id"], question=row["question"], history=tuple(Turn(**t) for t in row.get("history") or ()),
            answers=tuple(row.get("reference_answers") or ()), expect_refusal=bool(row.get("expect_refusal")),
            relevance=dict.fromkeys(row.get("gold_articles") or (), 1), kind=row.get("kind") or "",
        )
        if "answer" not in row:
            return cls(row["system"], case, None, None, error=row.get("error", ""))

        def passages(items) -> tuple[CitedPassage, ...]:
            return tuple(CitedPassage(p["number"], p["article_id"], p.get("text", ""), p.get("section", "")) for p in items)

        answer = SystemAnswer(
            text=row["answer"], refused=row["refused"], cited=passages(row.get("cited") or ()),
            shown=passages(row.get("shown") or ()), verdict=row.get("verdict", ""),
            sentence_verdicts=tuple(row.get("sentence_verdicts") or ()), flagged=int(row.get("flagged_sentences") or 0),
            first_token_s=row.get("first_token_s"), total_s=float(row.get("total_s") or 0.0),
            prompt_tokens=row.get("prompt_tokens"), completion_tokens=row.get("completion_tokens"),
            standalone_question=row.get("standalone_question", ""), cached_prompt_tokens=row.get("cached_prompt_tokens"),
            quoted=bool(row.get("quoted")), stages=tuple((row.get("stages") or {}).items()),
        )
        raw = row.get("scores")
        scores = None
        if raw is not None:
            scores = AnswerScores(**{**raw, "citations": CitationScores(**raw["citations"])})
        return cls(row["system"], case, answer, scores, error=row.get("error", ""))

    def to_json(self) -> dict:
        case = self.case
        row = {
            "system": self.system,
            "id": case.id,
            "kind": case.kind,
            "question": case.question,
            "history": [asdict(t) for t in case.history],
            "expect_refusal": case.expect_refusal,
            "reference_answers": list(case.answers),
            "gold_articles": sorted(case.gold_articles),
            "error": self.error,
        }
        if self.answer is not None:
            a = self.answer
            row.update(
                answer=a.text,
                standalone_question=a.standalone_question,
                refused=a.refused,
                verdict=a.verdict,
                sentence_verdicts=list(a.sentence_verdicts),
                flagged_sentences=a.flagged,
                cited=[{"number": p.number, "article_id": p.article_id, "section": p.section, "text": p.text[:PASSAGE_PREVIEW]} for p in a.cited],
                shown=[{"number": p.number, "article_id": p.article_id} for p in a.shown],
                first_token_s=a.first_token_s,
                total_s=a.total_s,
                prompt_tokens=a.prompt_tokens,
                cached_prompt_tokens=a.cached_prompt_tokens,
                quoted=a.quoted,
                completion_tokens=a.completion_tokens,
                stages=dict(a.stages),
            )
        if self.scores is not None:
            row["scores"] = asdict(self.scores)
        return row


def score_answer(case: EvalCase, answer: SystemAnswer) -> AnswerScores:
    """The answer's measures. Where the case lists key facts (the gold set, whose reference answers are whole
    paragraphs), "contains the answer" means it contains every key fact."""
    answerable = bool(case.answers) and not case.expect_refusal
    facts = key_fact_recall(answer.text, case.key_facts) if not case.expect_refusal else None
    if not answerable:
        contained = None
    elif facts is not None:
        contained = facts == 1.0
    else:
        contained = contains_answer(answer.text, case.answers)
    return AnswerScores(
        exact_match=exact_match(answer.text, case.answers) if answerable else None,
        f1=token_f1(answer.text, case.answers) if answerable else None,
        contains_answer=contained,
        key_fact_recall=facts,
        citations=citation_scores(case, answer.cited),
    )


def run_case(system: AnswerSystem, case: EvalCase) -> Record:
    """One attempt; any failure becomes a recorded row (with its message), never the end of the run."""
    try:
        answer = system.answer(case)
    except HubchatError as exc:
        return Record(system.name, case, None, None, error=f"{type(exc).__name__}: {exc}")
    except Exception as exc:  # a bug or an unforeseen backend failure: recorded and logged, the run goes on
        log.exception("%s failed on %s", system.name, case.id)
        return Record(system.name, case, None, None, error=f"{type(exc).__name__}: {exc}")
    return Record(system.name, case, answer, score_answer(case, answer))


def run_systems(
    systems: Sequence[AnswerSystem],
    cases: Sequence[EvalCase],
    progress: ProgressFn | None = None,
    on_record: Callable[[Record], None] | None = None,
) -> list[Record]:
    """Every system on every case. `on_record` sees each record as it is made, so a long run that is stopped
    keeps what it measured."""
    records = []
    total = len(systems) * len(cases)
    for case in cases:
        for system in systems:
            records.append(run_case(system, case))
            if on_record:
                on_record(records[-1])
            if progress:
                progress(len(records), total)
    return records
