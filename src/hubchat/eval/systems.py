"""The systems an evaluation compares: hubchat's answer chain (hybrid, BM25-only, dense-only retrieval) and
baselines, each answering one case at a time behind one interface.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from hubchat.answer.chain import Answerer
from hubchat.eval.answer_metrics import CitedPassage, normalize_answer, without_markers
from hubchat.eval.datasets import EvalCase
from hubchat.types import FLAGGED_VERDICTS, AnswerResult, Source

# Phrases with which a chat model declines, for answers that are not the chain's own refusal sentence (the
# baseline's "I don't know", or a local model's own wording). Matched on the normalised answer.
_DECLINES = re.compile(
    r"\b(i (do not|dont|don t) know|(do|does|did) not (contain|provide|mention|include|say|specify|state|cover)"
    r"|(no|not enough|insufficient) information|(cannot|can not|unable to) (answer|determine|find)"
    r"|not (mentioned|specified|provided|stated|covered) in|there is no mention)\b"
)


def looks_like_refusal(text: str, refusal: str) -> bool:
    """Whether an answer declines: it is (or begins with) the chain's refusal, or a short answer that says it
    cannot answer. A long answer that merely notes one missing detail is not a refusal."""
    answer = normalize_answer(without_markers(text))
    if not answer:
        return True
    own = normalize_answer(refusal)
    if own and answer.startswith(own):
        return True
    return len(answer.split()) <= 30 and bool(_DECLINES.search(answer))


@dataclass(frozen=True)
class SystemAnswer:
    """One system's answer to one case, with what the measures need.

    Attributes:
        cited: the passages the answer cites (what a reader can open), in citation order.
        shown: every passage the system put in front of its generator.
        sentence_verdicts: the citation checker's verdict per answer sentence.
        flagged: sentences whose verdict is one editors are asked to look at (FLAGGED_VERDICTS).
        first_token_s: seconds until the first piece of the answer (the refusal, for one given without a model).
        quoted: the model refused and the chain quoted the passages instead.
        stages: seconds per stage of hubchat's chain (condense, retrieve, excerpts, first_token, ...), in order, so
            a first token can be taken apart; empty for systems without stages.
    """

    text: str
    refused: bool
    cited: tuple[CitedPassage, ...]
    shown: tuple[CitedPassage, ...]
    verdict: str
    sentence_verdicts: tuple[str, ...]
    flagged: int
    first_token_s: float | None
    total_s: float
    prompt_tokens: int | None
    completion_tokens: int | None
    standalone_question: str = ""
    cached_prompt_tokens: int | None = None
    quoted: bool = False
    stages: tuple[tuple[str, float], ...] = ()


class AnswerSystem(Protocol):
    """Something that answers evaluation cases."""

    @property
    def name(self) -> str: ...

    def answer(self, case: EvalCase) -> SystemAnswer: ...


def cited_passage(source: Source) -> CitedPassage:
    return CitedPassage(source.number, source.article_id, source.text, source.section)


def _verdicts(result: AnswerResult) -> tuple[str, ...]:
    return tuple(s.verdict for s in result.report.sentences) if result.report else ()


class HubchatSystem:
    """hubchat's own chain, exactly as the app runs it: condense, retrieve, floor, generate, check.

    Args:
        name: the row label ("hubchat", "hubchat-bm25", ...).
        answerer: the chain, built on the retrieval variant to measure.
    """

    def __init__(self, name: str, answerer: Answerer):
        self._name = name
        self.answerer = answerer

    @property
    def name(self) -> str:
        return self._name

    def answer(self, case: EvalCase) -> SystemAnswer:
        started = time.perf_counter()
        first: float | None = None
        result: AnswerResult | None = None
        for event in self.answerer.stream(case.question, case.history):
            if event.kind == "token" and first is None:
                first = time.perf_counter() - started
            elif event.kind == "final":
                result = event.result
        if result is None:
            raise RuntimeError("the answer stream ended without a result")
        total = time.perf_counter() - started
        verdicts = _verdicts(result)
        refusal = self.answerer.prompts.refusal
        return SystemAnswer(
            text=result.text,
            refused=result.refused or looks_like_refusal(result.text, refusal),
            cited=tuple(cited_passage(s) for s in result.sources),
            shown=tuple(cited_passage(s) for s in result.passages),
            verdict=result.verdict,
            sentence_verdicts=verdicts,
            flagged=sum(v in FLAGGED_VERDICTS for v in verdicts),
            first_token_s=first,
            total_s=total,
            prompt_tokens=result.prompt_tokens,
            completion_tokens=result.completion_tokens,
            standalone_question=result.standalone_question,
            cached_prompt_tokens=result.cached_prompt_tokens,
            quoted=result.quoted,
            stages=tuple(result.timings.items()),
        )


def cited_numbers(text: str, count: int) -> list[int]:
    """The passage numbers an answer's [n] markers name, in order of first use, within 1..count."""
    numbers: list[int] = []
    for group in re.findall(r"\[(\d+(?:\s*[,;]\s*\d+)*)\]", text):
        for raw in re.split(r"\s*[,;]\s*", group):
            n = int(raw)
            if 1 <= n <= count and n not in numbers:
                numbers.append(n)
    return numbers


def numbered(passages: Sequence[CitedPassage], numbers: Sequence[int]) -> tuple[CitedPassage, ...]:
    return tuple(passages[n - 1] for n in numbers)
