"""The prompt chain: question -> standalone question -> passages -> streamed answer -> checked citations.

`Answerer.stream` yields events as the answer forms (status lines, tokens) and ends with one `final` event
carrying the typed `AnswerResult`. When retrieval finds nothing relevant, the refusal is returned without
calling a model. The `extractive` backend composes the answer from the passages' best sentences instead.
"""

from __future__ import annotations

import logging
import re
import time
import unicodedata
from collections.abc import Iterator, Sequence

import numpy as np

from hubchat.checking.attribution import attribute_uncited
from hubchat.checking.citations import best_supporting_span, check_citations
from hubchat.config import Settings
from hubchat.errors import InputError
from hubchat.generation.backends import backend_errors, backend_label, build_chat_model
from hubchat.generation.prompts import Prompts, load_prompts
from hubchat.retrieval.condense import condense_heuristic
from hubchat.retrieval.hybrid import HybridRetriever
from hubchat.types import (
    FLAGGED_VERDICTS,
    AnswerEvent,
    AnswerResult,
    Filters,
    Passage,
    RetrievalResult,
    Source,
    Turn,
)

log = logging.getLogger(__name__)

# Follow-up rewriting sees only the last turns, and each earlier answer cut short: enough to resolve
# "it" or "that one", small enough to keep the local model's prefill quick.
HISTORY_TURNS = 3
HISTORY_ANSWER_CHARS = 400
EXTRACTIVE_SENTENCES = 3
# An extractive sentence must support the question at least this well relative to the best one found,
# so a weakly related article does not contribute a sentence just for being in the top passages.
EXTRACTIVE_RELATIVE_FLOOR = 0.6
EMBED_CACHE_SIZE = 20_000


def clean_question(question: str, max_chars: int) -> str:
    """Reject unusable questions with a clear message; strip control characters."""
    if question is None:
        raise InputError("Please type a question.")
    text = "".join(ch for ch in str(question) if ch in "\n\t" or unicodedata.category(ch)[0] != "C").strip()
    if not text:
        raise InputError("Please type a question.")
    if len(text) > max_chars:
        raise InputError(f"The question is {len(text):,} characters long; the limit is {max_chars:,}. Please shorten it.")
    return text


def plain_sentence(span: str) -> str:
    """A passage span as one plain sentence: no heading lines, list bullets or Markdown emphasis."""
    lines = [line for line in span.splitlines() if line.strip() and not line.lstrip().startswith(("#", "|"))]
    text = " ".join(" ".join(lines).split())
    text = re.sub(r"(\*\*|__|`)", "", text).lstrip("-*+> ").strip()
    text = re.sub(r"^\d{1,3}[.)]\s+", "", text)
    if not text:
        return ""
    return text if text[-1] in ".!?" else text + "."


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


class Answerer:
    """Answers questions from the retrieved passages with the configured chat backend.

    Args:
        settings: chat backend, retrieval sizes and site url.
        retriever: the hybrid retriever over the store.
        embeddings: used by the citation checker to score support semantically.
        prompts: templates (default: loaded from prompts/).
    """

    def __init__(self, settings: Settings, retriever: HybridRetriever, embeddings, prompts: Prompts | None = None):
        self.settings = settings
        self.retriever = retriever
        self.embeddings = embeddings
        self.prompts = prompts or load_prompts()
        self._chat_model = None
        self._vectors: dict[str, np.ndarray] = {}
        self.backend = backend_label(settings.chat)

    @property
    def chat_model(self):
        """Built on first use: the local backend starts its server only when a question needs it."""
        if self._chat_model is None and self.settings.chat.backend != "extractive":
            self._chat_model = build_chat_model(self.settings.chat)
        return self._chat_model

    def _embed(self, texts: list[str]):
        """Embeddings of short texts, cached: passage sentences recur across answers and checks."""
        missing = [t for t in dict.fromkeys(texts) if t not in self._vectors]
        if missing:
            if len(self._vectors) + len(missing) > EMBED_CACHE_SIZE:
                self._vectors.clear()
            for text, vector in zip(missing, self.embeddings.embed_array(missing)):
                self._vectors[text] = vector
        return np.stack([self._vectors[t] for t in texts]) if texts else np.zeros((0, 0), dtype=np.float32)

    # ---- steps ---------------------------------------------------------------------------------------------

    def standalone_question(self, question: str, history: Sequence[Turn]) -> str:
        """The question rewritten to stand alone, using the conversation so far."""
        turns = list(history)[-HISTORY_TURNS:]
        if not turns:
            return question
        if self.settings.chat.backend == "extractive":
            return condense_heuristic(question, turns)
        from langchain_core.prompts import PromptTemplate

        transcript = "\n".join(f"User: {t.question}\nAssistant: {t.answer[:HISTORY_ANSWER_CHARS]}" for t in turns)
        chain = PromptTemplate.from_template(self.prompts.condense) | self.chat_model.bind(max_tokens=80)
        with backend_errors(self.settings.chat):
            message = chain.invoke({"history": transcript, "question": question})
        rewritten = str(message.content).strip().strip('"').splitlines()[0].strip() if str(message.content).strip() else ""
        # A model that answers instead of rewriting produces something long; the heuristic is the sane choice then.
        if not rewritten or len(rewritten) > 3 * len(question) + 200:
            return condense_heuristic(question, turns)
        return rewritten

    def format_passages(self, passages: Sequence[Passage]) -> str:
        blocks = []
        for number, p in enumerate(passages, 1):
            # A passage must not be able to close its own delimiter and speak outside it.
            text = re.sub(r"</?\s*passage[^>]*>", "", p.chunk.text, flags=re.IGNORECASE)
            blocks.append(
                self.prompts.passage.format(
                    number=number,
                    title=p.chunk.title.replace('"', "'"),
                    date=p.chunk.date,
                    section=" > ".join(p.chunk.heading_path).replace('"', "'"),
                    text=text,
                )
            )
        return "\n\n".join(blocks)

    def _source(self, number: int, p: Passage) -> Source:
        c = p.chunk
        link = self.settings.corpus.site_url.rstrip("/") + c.url if c.url.startswith("/") else c.url
        return Source(
            number=number, chunk_id=c.id, article_id=c.article_id, title=c.title, date=c.date, url=c.url, link=link,
            tags=c.tags, section=" > ".join(c.heading_path), text=c.text, start=c.start, end=c.end,
        )

    # ---- the chain -----------------------------------------------------------------------------------------

    def stream(self, question: str, history: Sequence[Turn] = (), filters: Filters | None = None) -> Iterator[AnswerEvent]:
        """Answer a question, yielding status and token events, then the final result.

        Raises:
            InputError: the question is empty or too long.
            BackendError: the chat backend is down, slow or refused (the message says what to do).
        """
        started = time.perf_counter()
        filters = filters or Filters()
        question = clean_question(question, self.settings.retrieval.max_question_chars)
        timings: dict[str, float] = {}
        if history:
            yield AnswerEvent("status", "Reading the conversation…")
        standalone = self.standalone_question(question, history)
        timings["condense"] = time.perf_counter() - started
        yield AnswerEvent("status", "Searching the articles…")
        retrieved: RetrievalResult = self.retriever.retrieve(standalone, filters)
        timings["retrieve"] = sum(retrieved.timings.values())
        passages = list(retrieved.passages)
        shown = tuple(self._source(i, p) for i, p in enumerate(passages, 1))
        if not retrieved.relevant or not passages:
            timings["total"] = time.perf_counter() - started
            refusal = self.prompts.refusal
            yield AnswerEvent("token", refusal)
            yield AnswerEvent("final", result=self._result(question, standalone, refusal, refusal, None, shown, timings, None, None, filters))
            return

        usage: dict[str, int] = {}
        raw_parts: list[str] = []
        yield AnswerEvent("status", f"Found {len(passages)} passages; writing the answer…")
        if self.settings.chat.backend == "extractive":
            for piece in self._extractive(standalone, passages):
                if "first_token" not in timings:
                    timings["first_token"] = time.perf_counter() - started
                raw_parts.append(piece)
                yield AnswerEvent("token", piece)
        else:
            for piece in self._generate(standalone, passages, usage):
                if "first_token" not in timings:
                    timings["first_token"] = time.perf_counter() - started
                raw_parts.append(piece)
                yield AnswerEvent("token", piece)
        raw = "".join(raw_parts).strip()
        checked = without_stray_refusal(raw, self.prompts.refusal)
        timings["generate"] = time.perf_counter() - started - timings.get("retrieve", 0) - timings["condense"]
        report = check_citations(checked, passages, embed=self._embed, refusal_text=self.prompts.refusal)
        report = attribute_uncited(report, passages, embed=self._embed, refusal_text=self.prompts.refusal)
        timings["total"] = time.perf_counter() - started
        yield AnswerEvent(
            "final",
            result=self._result(question, standalone, raw, report.text, report, shown, timings, usage.get("input_tokens"), usage.get("output_tokens"), filters),
        )

    def answer(self, question: str, history: Sequence[Turn] = (), filters: Filters | None = None) -> AnswerResult:
        """The final result of `stream`, for callers that do not need tokens as they come."""
        for event in self.stream(question, history, filters):
            if event.kind == "final":
                return event.result
        raise RuntimeError("the answer stream ended without a result")  # a bug, not a user error

    def _generate(self, question: str, passages: Sequence[Passage], usage: dict[str, int]) -> Iterator[str]:
        from langchain_core.prompts import ChatPromptTemplate

        system = self.prompts.system.replace("{refusal}", self.prompts.refusal)
        prompt = ChatPromptTemplate.from_messages([("system", "{system}"), ("human", self.prompts.answer)])
        chain = prompt | self.chat_model
        with backend_errors(self.settings.chat):
            for chunk in chain.stream({"system": system, "passages": self.format_passages(passages), "question": question, "refusal": self.prompts.refusal}):
                meta = getattr(chunk, "usage_metadata", None)
                if meta:
                    usage.update({k: v for k, v in meta.items() if isinstance(v, int)})
                if chunk.content:
                    yield str(chunk.content)

    def _extractive(self, question: str, passages: Sequence[Passage]) -> Iterator[str]:
        """The best-supporting sentence of the top passages (one per article), each cited.

        Sentences that support the question much less than the best one are left out, so an unrelated
        article in the top passages does not contribute.
        """
        candidates = []
        for number, passage in enumerate(passages, 1):
            _, _, span, score = best_supporting_span(question, passage, embed=self._embed)
            sentence = plain_sentence(span)
            if sentence and score > 0:
                candidates.append((number, passage.chunk.article_id, sentence, score))
        if not candidates:
            yield self.prompts.refusal
            return
        best = max(score for *_, score in candidates)
        used_articles: set[str] = set()
        picked = 0
        for number, article_id, sentence, score in candidates:
            if article_id in used_articles or score < EXTRACTIVE_RELATIVE_FLOOR * best:
                continue
            used_articles.add(article_id)
            yield ("" if picked == 0 else " ") + f"{sentence[:-1]} [{number}]{sentence[-1]}"
            picked += 1
            if picked == EXTRACTIVE_SENTENCES:
                break

    def _result(self, question, standalone, raw, text, report, shown, timings, prompt_tokens, completion_tokens, filters) -> AnswerResult:
        refused = report is None or report.verdict == "refusal"
        cited = tuple(shown[n - 1] for n in report.cited_numbers) if report is not None and not refused else ()
        notes: list[str] = []
        if refused:
            notes.append("The articles do not cover this question, so no answer was made up.")
        elif report is not None:
            flagged = [s for s in report.sentences if s.verdict in FLAGGED_VERDICTS]
            if flagged:
                notes.append(f"The citation check flagged {len(flagged)} of {len(report.sentences)} sentences; treat them with care.")
            added = sum(s.attributed for s in report.sentences)
            if added:
                notes.append(f"{added} citation(s) were added by the checker where the model wrote none.")
            if report.issues:
                notes.append(f"{len(report.issues)} citation marker(s) pointing at nothing were removed.")
        return AnswerResult(
            question=question,
            standalone_question=standalone,
            text=text if not refused else self.prompts.refusal,
            raw_text=raw,
            refused=refused,
            verdict=report.verdict if report is not None else "refusal",
            report=report,
            passages=shown,
            sources=cited,
            notes=tuple(notes),
            timings={k: round(v, 4) for k, v in timings.items()},
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            backend=self.backend,
            filters=filters,
        )
