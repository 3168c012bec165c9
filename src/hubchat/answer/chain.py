"""The answer chain: question -> standalone question -> passages -> excerpts -> streamed answer -> checked citations.

The model reads excerpts (the passages' sentences that bear on the question, under `retrieval.prompt_token_budget`);
the reader's sources and the checker use the whole passages, so citations and highlights point into the articles.
When the model refuses a question retrieval is confident about (`retrieval.quote_when_refused`), the reader gets the
passages' closest sentences, quoted and labelled as such, rather than a bare refusal.

`Answerer.stream` yields events as the answer forms (status lines, tokens) and ends with one `final` event
carrying the typed `AnswerResult`. When retrieval finds nothing relevant, the refusal is returned without
asking the generator. Whatever writes the answer (a chat model, or the extractive composer) is a `Generator`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from hubchat.answer.excerpts import select_excerpts
from hubchat.answer.extractive import ExtractiveGenerator
from hubchat.answer.notes import answer_notes
from hubchat.answer.questions import clean_question, search_text
from hubchat.checking.attribution import attribute_citations
from hubchat.checking.citations import check_citations
from hubchat.checking.repeats import drop_repeated_sentences, is_looping
from hubchat.config import Settings
from hubchat.generation.generator import Generator, Usage
from hubchat.generation.prompts import Prompts
from hubchat.retrieval.condense import condense_heuristic, keep_context
from hubchat.retrieval.hybrid import HybridRetriever
from hubchat.types import (
    AnswerEvent,
    AnswerResult,
    CitationReport,
    Filters,
    Passage,
    Source,
    Turn,
)

# Follow-up rewriting sees only the last turns: enough to resolve "it" or "that one", small enough to keep the
# local model's prefill quick.
HISTORY_TURNS = 3
# A loop can only have closed once a sentence or line ends; checking then keeps the check off most tokens.
_LOOP_CHECK_AFTER = re.compile(r"[.!?\n\]]")


def without_stray_refusal(answer: str, refusal: str) -> str:
    """An answer that cites passages, minus a refusal sentence tacked on to it.

    Small models sometimes answer, then add the refusal line as well; shown together they contradict each other.
    An answer that is only the refusal is returned as it is.
    """
    phrase = refusal.strip()
    if not phrase or phrase not in answer:
        return answer
    rest = " ".join(answer.replace(phrase, " ").split())
    return rest if re.search(r"\[\d+\]", rest) else answer


def source_of(number: int, passage: Passage, site_url: str) -> Source:
    """A passage as the reader sees it: what its [number] opens, with a link on the site."""
    c = passage.chunk
    link = site_url.rstrip("/") + c.url if c.url.startswith("/") else c.url
    return Source(
        number=number, chunk_id=c.id, article_id=c.article_id, title=c.title, date=c.date, url=c.url, link=link,
        tags=c.tags, section=" > ".join(c.heading_path), text=c.text, start=c.start, end=c.end,
    )


@dataclass
class _Run:
    """What one answer has gathered so far, on its way to the AnswerResult."""

    question: str
    filters: Filters
    started: float
    standalone: str = ""
    condensed_by: str = ""
    shown: tuple[Source, ...] = ()
    timings: dict[str, float] = field(default_factory=dict)
    usage: Usage = field(default_factory=Usage)
    quoted: bool = False  # the model refused and the answer quotes the passages instead
    looped: bool = False  # the model began writing the same thing over and over, and was stopped
    repeats: int = 0  # sentences the model wrote a second time, dropped from the answer
    corrections: tuple[tuple[str, str], ...] = ()  # misspelt words searched as the corpus spells them

    def lap(self, name: str, since: float | None = None) -> None:
        self.timings[name] = time.perf_counter() - (self.started if since is None else since)


class Answerer:
    """Answers questions from the retrieved passages.

    Args:
        settings: question limits and the site url for links.
        retriever: the hybrid retriever over the index.
        generator: writes the answer and rewrites follow-ups (a chat model, or the extractive composer).
        embed: texts -> unit vectors, for the citation checker's semantic support score (cached by the caller).
        prompts: the templates; the chain itself uses only the refusal.
    """

    def __init__(
        self,
        settings: Settings,
        retriever: HybridRetriever,
        generator: Generator,
        embed: Callable[[list[str]], np.ndarray],
        prompts: Prompts,
    ):
        self.settings = settings
        self.retriever = retriever
        self.generator = generator
        self.embed = embed
        self.prompts = prompts

    def standalone_question(self, question: str, history: Sequence[Turn]) -> tuple[str, str]:
        """The question rewritten to stand alone using the conversation so far, and who rewrote it
        ("model", "heuristic", or "" without a conversation)."""
        turns = list(history)[-HISTORY_TURNS:]
        if not turns:
            return question, ""
        rewritten = self.generator.rewrite(question, turns)
        if rewritten is not None:
            return keep_context(rewritten, question, turns), "model"
        return condense_heuristic(question, turns), "heuristic"

    def stream(self, question: str, history: Sequence[Turn] = (), filters: Filters | None = None) -> Iterator[AnswerEvent]:
        """Answer a question, yielding status and token events, then the final result.

        Raises:
            InputError: the question is empty or too long.
            BackendError: the chat backend is down, slow or refused (the message says what to do).
        """
        run = _Run(clean_question(question, self.settings.retrieval.max_question_chars), filters or Filters(), time.perf_counter())
        search_text(run.question)  # a message of nothing but markup is refused before any work
        if history:
            yield AnswerEvent("status", "Reading the conversation…")
        standalone, run.condensed_by = self.standalone_question(run.question, history)
        run.standalone = search_text(standalone)
        run.lap("condense")
        yield AnswerEvent("status", "Searching the articles…")
        retrieved = self.retriever.retrieve(run.standalone, run.filters)
        run.timings["retrieve"] = sum(retrieved.timings.values())
        if retrieved.corrections:  # the question as searched is the one the passages answer, typos and all fixed
            run.standalone, run.corrections = retrieved.query, retrieved.corrections
        if not retrieved.relevant or not retrieved.passages:
            run.shown = tuple(source_of(i, p, self.settings.corpus.site_url) for i, p in enumerate(retrieved.passages, 1))
            refusal = self.prompts.refusal
            yield AnswerEvent("token", refusal)
            yield AnswerEvent("final", result=self._result(run, refusal, None))
            return
        t = time.perf_counter()
        excerpts = select_excerpts(run.standalone, retrieved.passages, self.settings.retrieval.prompt_token_budget, self.embed)
        run.lap("excerpts", t)
        passages = [e.passage for e in excerpts]
        run.shown = tuple(source_of(i, p, self.settings.corpus.site_url) for i, p in enumerate(passages, 1))

        yield AnswerEvent("passages", passages=run.shown)
        # The model reads (prefills) them before its first word; on a small CPU that takes seconds.
        yield AnswerEvent("status", f"Reading {len(passages)} passage{'s' if len(passages) != 1 else ''}…")
        pieces: list[str] = []
        tokens = self.generator.stream(run.standalone, [e.as_passage() for e in excerpts], run.usage)
        try:
            for piece in tokens:
                if "first_token" not in run.timings:
                    run.lap("first_token")
                pieces.append(piece)
                yield AnswerEvent("token", piece)
                if _LOOP_CHECK_AFTER.search(piece) and is_looping("".join(pieces)):
                    run.looped = True  # the rest would be more of the same, up to max_tokens
                    break
        finally:
            tokens.close()  # a stopped stream closes its request, so the server stops generating
        raw = "".join(pieces).strip()
        run.timings["generate"] = (
            time.perf_counter() - run.started - run.timings["retrieve"] - run.timings["condense"] - run.timings["excerpts"]
        )
        unrepeated, run.repeats = drop_repeated_sentences(raw)
        report = self.check(unrepeated, passages, run.standalone)
        if report.verdict == "refusal" and (retrieved.best_dense_score or 0.0) >= self.settings.retrieval.quote_when_refused:
            report = self._quoted(run, passages) or report
        yield AnswerEvent("final", result=self._result(run, raw, report))

    def _quoted(self, run: _Run, passages: Sequence[Passage]) -> CitationReport | None:
        """The passages' best sentences, checked, for a question retrieval is confident about but the model refused;
        None when they hold nothing that bears on it."""
        quote = "".join(ExtractiveGenerator(self.prompts.refusal, self.embed).stream(run.standalone, passages, Usage()))
        report = self.check(quote, passages, run.standalone)
        if report.verdict == "refusal":
            return None
        run.quoted = True
        return report

    def check(self, raw: str, passages: Sequence[Passage], question: str = "") -> CitationReport:
        """The checked answer: bad markers removed, every sentence scored, supported uncited facts cited."""
        refusal = self.prompts.refusal
        report = check_citations(
            without_stray_refusal(raw, refusal), passages, embed=self.embed, refusal_text=refusal, question=question
        )
        return attribute_citations(report, passages, embed=self.embed, refusal_text=refusal, question=question)

    def answer(self, question: str, history: Sequence[Turn] = (), filters: Filters | None = None) -> AnswerResult:
        """The final result of `stream`, for callers that do not need tokens as they come."""
        for event in self.stream(question, history, filters):
            if event.kind == "final" and event.result is not None:
                return event.result
        raise RuntimeError("the answer stream ended without a result")  # a bug, not a user error

    def _result(self, run: _Run, raw: str, report: CitationReport | None) -> AnswerResult:
        run.lap("total")
        refused = report is None or report.verdict == "refusal"
        return AnswerResult(
            question=run.question,
            standalone_question=run.standalone,
            text=self.prompts.refusal if refused or report is None else report.text,
            raw_text=raw,
            refused=refused,
            verdict=report.verdict if report is not None else "refusal",
            report=report,
            passages=run.shown,
            sources=() if refused or report is None else tuple(run.shown[n - 1] for n in report.cited_numbers),
            notes=answer_notes(
                report, refused, run.quoted, looped=run.looped, repeats=run.repeats, corrections=run.corrections
            ),
            timings={k: round(v, 4) for k, v in run.timings.items()},
            prompt_tokens=run.usage.prompt_tokens,
            completion_tokens=run.usage.completion_tokens,
            cached_prompt_tokens=run.usage.cached_prompt_tokens,
            backend=self.generator.label,
            filters=run.filters,
            condensed_by=run.condensed_by,
            quoted=run.quoted,
        )
