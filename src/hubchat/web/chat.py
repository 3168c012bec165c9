"""The reader chat's behaviour, apart from its layout: conversation state, answering into the page, the API
functions, filters from the form and example questions from the corpus. `hubchat.web.server` lays the page out.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, replace

import gradio as gr

from hubchat.checking.citations import strip_markers
from hubchat.errors import HubchatError, InputError
from hubchat.records import Records
from hubchat.types import Chunk, Filters, Turn
from hubchat.web import render as R
from hubchat.web.answer_log import record_or_log
from hubchat.web.exports import ExportFolder

log = logging.getLogger(__name__)

EXAMPLE_COUNT = 4
# The answering events (page and API) share one concurrency group, sized by ui.concurrency_limit.
ANSWER_CONCURRENCY_ID = "answer"
UNEXPECTED_ERROR = (
    "Something unexpected went wrong inside hubchat ({name}). Please try again; if it keeps happening, "
    "tell the site's team (the server log has the details)."
)


# ---- conversation state --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChatTurn:
    """One exchange: the answer (key = its record id) or the error that replaced it."""

    key: str
    question: str
    result: object | None = None  # AnswerResult
    error: str = ""


@dataclass(frozen=True)
class Conversation:
    """One reader's conversation (kept per browser session in a gr.State); `id` names it in the records."""

    id: str
    turns: tuple[ChatTurn, ...] = ()

    def history(self) -> tuple[Turn, ...]:
        """The answered turns, as the answerer's follow-up context."""
        return tuple(Turn(t.question, strip_markers(t.result.text)) for t in self.turns if t.result is not None)

    def messages(self) -> list[dict]:
        """The Chatbot value: exactly two messages per turn (the like event maps message index // 2 to a turn)."""
        out = []
        for t in self.turns:
            out.append({"role": "user", "content": R.md_text(t.question)})
            content = R.answer_markdown(t.key, t.result) if t.result is not None else R.error_markdown(t.error)
            out.append({"role": "assistant", "content": content})
        return out

    def views(self) -> list[R.TurnView]:
        return [R.TurnView(t.key, t.question, t.result) for t in self.turns if t.result is not None]


def new_conversation() -> Conversation:
    return Conversation(uuid.uuid4().hex)


def parse_filters(tags: Sequence[str] | None, since: str | None, until: str | None) -> Filters:
    """Filters from the form; a date that is not YYYY-MM-DD is an InputError naming the field."""
    dates = {}
    for name, value in (("From", since), ("To", until)):
        value = (value or "").strip()
        if value:
            try:
                dt.date.fromisoformat(value)
            except ValueError:
                raise InputError(f"The “{name}” date {value!r} is not a date like 2025-01-31; fix or clear it.") from None
        dates[name] = value or None
    if dates["From"] and dates["To"] and dates["From"] > dates["To"]:
        raise InputError("The “From” date is after the “To” date; no article can match. Fix one of them.")
    return Filters(tags=tuple(tags or ()), since=dates["From"], until=dates["To"])


# ---- example questions ---------------------------------------------------------------------------------------

_VS = re.compile(r"\s+vs\.?\s+", re.IGNORECASE)


def _question_for(title: str, headings: Sequence[str]) -> list[str]:
    """Questions a reader could ask that this article answers, from its title and headings."""
    out = []
    head, _, tail = title.partition(":")
    if _VS.search(head):
        names = [n.strip() for n in _VS.split(head) if n.strip()]
        # "A vs B for AI Clusters" asks how A and B compare for AI clusters, not about "B for AI Clusters".
        scoped = re.match(r"^(.+?)\s+((?:for|in|on)\s+.+)$", names[-1])
        suffix = ""
        if scoped:
            names[-1], suffix = scoped.group(1), " " + scoped.group(2)
        out.append(f"How do {', '.join(names[:-1])} and {names[-1]} compare{suffix}?")
    m = re.match(r"^(?:the best\s+)?(.+?)\s+alternatives\b|^alternatives to\s+(.+)$", head.strip(), re.IGNORECASE)
    if m:
        out.append(f"What are the alternatives to {(m.group(1) or m.group(2)).strip()}?")
    for heading in headings:
        m = re.match(r"^What (.+) is$", heading.strip())
        if m and len(m.group(1).split()) <= 4:
            out.append(f"What is {m.group(1)}?")
    if tail.strip().endswith("?") and not out:
        out.append(tail.strip())
    return out


def example_questions(chunks: Sequence[Chunk], limit: int = EXAMPLE_COUNT) -> list[str]:
    """Deterministic example questions built from the corpus: newest articles first, one question each."""
    articles: dict[str, tuple[str, str, list[str]]] = {}
    for c in sorted(chunks, key=lambda c: (c.article_id, c.ordinal)):
        date, title, headings = articles.setdefault(c.article_id, (c.date, c.title, []))
        headings.extend(h for h in c.heading_path if h not in headings)
    picked: list[str] = []
    for _article_id, (_date, title, headings) in sorted(articles.items(), key=lambda kv: (kv[1][0], kv[0]), reverse=True):
        candidates = [q for q in _question_for(title, headings) if q not in picked]
        if candidates:
            picked.append(candidates[0])
        if len(picked) == limit:
            break
    return picked


class IndexExamples:
    """The example questions of the index as it is now, for the chat page to offer on each load.

    Rebuilt only when the store's lexical index is a different object, which is exactly when the index changed:
    the store replaces it after a sync, a folder ingest or another process's ingest (followed through `refresh`,
    which compares the index fingerprint), and never otherwise. So a page load costs an identity check, not a
    pass over every chunk, and the examples never lag an ingest (as the tag list, `ChunkStore.tags`, does not).

    Args:
        store: the ChunkStore the chat answers from (read through its `lexical` property).
        limit: how many questions at most.
    """

    def __init__(self, store, limit: int = EXAMPLE_COUNT):
        self.store = store
        self.limit = limit
        self._cached: tuple[object, list[str]] | None = None

    def __call__(self) -> list[str]:
        lexical = self.store.lexical
        cached = self._cached
        if cached is None or cached[0] is not lexical:
            # One tuple assigned at once: concurrent page loads see the old pair or the new one, never a mix.
            cached = self._cached = (lexical, example_questions(lexical.chunks, self.limit))
        return list(cached[1])


# ---- the answering -------------------------------------------------------------------------------------------


def result_payload(answer_id: str, result) -> tuple[str, str, str]:
    """The /ask endpoint's three outputs (see the module docstring)."""
    sources = [asdict(s) for s in result.sources]
    sentences = []
    if result.report is not None and not result.refused:
        for s in result.report.sentences:
            sentences.append({
                "index": s.index, "text": s.text, "citations": list(s.citations), "verdict": s.verdict,
                "score": round(float(s.score), 4),
                "supports": [
                    {"number": p.number, "score": round(float(p.score), 4), "span_start": p.span_start,
                     "span_end": p.span_end, "span_text": p.span_text}
                    for p in s.supports
                ],
            })
    details = {
        "answer_id": answer_id, "refused": result.refused, "verdict": result.verdict, "notes": list(result.notes),
        "standalone_question": result.standalone_question, "backend": result.backend, "sentences": sentences,
    }
    return result.text, json.dumps(sources, ensure_ascii=False), json.dumps(details, ensure_ascii=False)


def _history_from_json(history: str) -> list[Turn]:
    try:
        items = json.loads(history or "[]")
        return [Turn(str(t["question"]), str(t["answer"])) for t in items]
    except (ValueError, TypeError, KeyError):
        raise InputError('history must be a JSON list like [{"question": "...", "answer": "..."}].') from None


def _filters_from_json(filters: str) -> Filters:
    try:
        data = json.loads(filters or "{}")
        if not isinstance(data, dict):
            raise TypeError
        tags = data.get("tags") or []
        if isinstance(tags, str) or not all(isinstance(t, str) for t in tags):
            raise TypeError
    except (ValueError, TypeError):
        raise InputError('filters must be a JSON object like {"tags": ["rag"], "since": "2025-01-01", "until": "2025-12-31"}.') from None
    return parse_filters(tags, data.get("since"), data.get("until"))


class ChatApp:
    """The reader chat's behaviour, separate from its layout so the API and the page share it.

    Args:
        runtime: the hubchat Runtime (answerer, store).
        records: where every answer and rating is stored.
    """

    def __init__(self, runtime, records: Records):
        self.runtime = runtime
        self.records = records
        self.exports = ExportFolder(runtime.settings.ui.export_max_age_s)

    def record(self, result, conversation_id: str, channel: str) -> str:
        return record_or_log(self.records, result, conversation_id, channel)

    def respond(self, question: str, conv: Conversation | None, tags, since, until) -> Iterator[tuple]:
        """Stream one answer into the page: (messages, status html, sources html | skip, conversation | skip, export | skip)."""
        conv = conv or new_conversation()
        base = conv.messages() + [{"role": "user", "content": R.md_text(question)}]
        status, partial = "Reading the question…", ""

        def frame(sources=None):
            return (base + [{"role": "assistant", "content": R.streaming_markdown(partial, status)}],
                    R.status_html(status), gr.skip() if sources is None else sources, gr.skip(), gr.skip())

        yield frame()
        try:
            filters = parse_filters(tags, since, until)
            result = None
            for event in self.runtime.answerer.stream(question, conv.history(), filters):
                if event.kind == "status":
                    status = event.text
                elif event.kind == "passages":
                    # Shown while the model is still reading them: the reader can start on the passages at once.
                    yield frame(R.sources_html(conv.views(), R.ReadingView(question, event.passages)))
                    continue
                elif event.kind == "token":
                    partial += event.text
                    status = "Writing the answer…"
                elif event.kind == "final":
                    result = event.result
                    continue  # the finished turn is rendered below, once it is recorded
                yield frame()
            turn = ChatTurn(self.record(result, conv.id, "chat"), question, result)
        except HubchatError as exc:
            log.warning("answer failed: %s", exc)
            turn = ChatTurn(uuid.uuid4().hex, question, None, str(exc))
        except Exception as exc:
            log.exception("unexpected error while answering")
            turn = ChatTurn(uuid.uuid4().hex, question, None, UNEXPECTED_ERROR.format(name=type(exc).__name__))
        conv = replace(conv, turns=conv.turns + (turn,))
        yield conv.messages(), R.status_html(""), R.sources_html(conv.views()), conv, self.export(conv)

    def export(self, conv: Conversation):
        """The download button, pointing at this conversation as a Markdown file."""
        markdown = R.conversation_markdown([(t.question, t.result, t.error) for t in conv.turns])
        path = self.exports.write(f"hubchat-conversation-{conv.id[:8]}.md", markdown)
        return gr.update(value=str(path), interactive=True)

    def ask_api(self, question: str, history: str = "[]", filters: str = "{}") -> tuple[str, str, str]:
        """Answer a question from the articles, with checked [n] citations.

        Args:
            question: the question.
            history: JSON list of earlier turns, [{"question": "...", "answer": "..."}], oldest first.
            filters: JSON object {"tags": [...], "since": "YYYY-MM-DD", "until": "YYYY-MM-DD"}, keys optional.

        Returns:
            The answer text, the cited sources as JSON, and the details (answer id, verdict, notes, sentences) as JSON.
        """
        try:
            result = self.runtime.answerer.answer(question, _history_from_json(history), _filters_from_json(filters))
        except HubchatError as exc:
            raise gr.Error(str(exc), print_exception=False) from None
        return result_payload(self.record(result, "api", "api"), result)

    def feedback_api(self, answer_id: str, helpful: bool, comment: str = "") -> str:
        """Record a reader's rating of an answer (answer_id from the details of /ask).

        Args:
            answer_id: the answer's id.
            helpful: True for helpful, False for not helpful.
            comment: optional free text.

        Returns:
            "ok".
        """
        try:
            self.records.record_feedback(answer_id, bool(helpful), comment or "")
        except KeyError:
            raise gr.Error(f"No answer with id {answer_id!r}.", print_exception=False) from None
        return "ok"
