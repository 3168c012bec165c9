"""The web app: the reader chat at `/` and the editors' review at `/review/`, one FastAPI app on loopback.

`launch(runtime)` serves it (blocking); `start(runtime)` serves it from a background thread (tests, benchmarks).
It binds to `ui.host` (127.0.0.1 unless configured otherwise). Answering runs on the Gradio queue: at most
`ui.concurrency_limit` answers at once (the chat and the API share that limit), at most `ui.max_queue` waiting.

API endpoints of the chat (gradio_client: `Client("http://127.0.0.1:7860/")`):

    /ask(question: str, history: str = "[]", filters: str = "{}") -> (answer: str, sources: str, details: str)
        question: the question (at most retrieval.max_question_chars characters).
        history: JSON list of the earlier turns of the conversation, oldest first:
            [{"question": "...", "answer": "..."}, ...]; follow-up questions are resolved against it.
        filters: JSON object, every key optional: {"tags": ["rag", ...], "since": "YYYY-MM-DD", "until": "YYYY-MM-DD"}.
        Returns three strings:
            answer: the checked answer, with [n] citation markers (or the refusal when the articles do not cover it);
            sources: JSON list of the cited passages, each {"number", "title", "date", "tags", "link", "url",
                "section", "text", "start", "end", "article_id", "chunk_id"} (start/end: the passage's place in
                its article's text);
            details: JSON object {"answer_id", "refused", "verdict", "notes", "standalone_question", "backend",
                "sentences": [{"index", "text", "citations", "verdict", "score",
                "supports": [{"number", "score", "span_start", "span_end", "span_text"}]}]}
                (span offsets index the article's text).
        A bad question or a failing chat backend comes back as an error whose message says what to do
        (gradio_client raises `AppError` with it).
        Example: `Client(url).predict("What is RAG?", "[]", "{}", api_name="/ask")`

    /feedback(answer_id: str, helpful: bool, comment: str = "") -> str
        Records a reader's rating of an answer returned by /ask (answer_id from its details). Returns "ok".

Every answer, from the page or the API, is recorded in the SQLite file `ui.db_path` for the editors' review.
"""

from __future__ import annotations

import json
import logging
import re
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import gradio as gr

from hubchat import ui_render as R
from hubchat.citations import strip_markers
from hubchat.errors import HubchatError, InputError
from hubchat.records import Records
from hubchat.schema import Chunk, Filters, Turn

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
    import datetime as dt

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
        out.append(f"How do {', '.join(names[:-1])} and {names[-1]} compare?")
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
    for article_id, (date, title, headings) in sorted(articles.items(), key=lambda kv: (kv[1][0], kv[0]), reverse=True):
        candidates = [q for q in _question_for(title, headings) if q not in picked]
        if candidates:
            picked.append(candidates[0])
        if len(picked) == limit:
            break
    return picked


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
        self.export_dir = Path(tempfile.mkdtemp(prefix="hubchat-exports-"))

    def record(self, result, conversation_id: str, channel: str) -> str:
        try:
            return self.records.record_answer(result, conversation_id=conversation_id, channel=channel)
        except Exception:  # the reader still gets the answer; the log says the record is missing
            log.exception("could not record an answer in %s", self.records.path)
            return uuid.uuid4().hex

    def respond(self, question: str, conv: Conversation | None, tags, since, until) -> Iterator[tuple]:
        """Stream one answer into the page: (messages, status html, sources html | skip, conversation | skip, export | skip)."""
        conv = conv or new_conversation()
        base = conv.messages() + [{"role": "user", "content": R.md_text(question)}]
        status, partial = "Reading the question…", ""

        def frame():
            return (base + [{"role": "assistant", "content": R.streaming_markdown(partial, status)}],
                    R.status_html(status), gr.skip(), gr.skip(), gr.skip())

        yield frame()
        try:
            filters = parse_filters(tags, since, until)
            result = None
            for event in self.runtime.answerer.stream(question, conv.history(), filters):
                if event.kind == "status":
                    status = event.text
                elif event.kind == "token":
                    partial += event.text
                    status = "Writing the answer…"
                elif event.kind == "final":
                    result = event.result
                    status = "Checking the citations…"
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
        path = self.export_dir / f"hubchat-conversation-{conv.id[:8]}.md"
        path.write_text(R.conversation_markdown([(t.question, t.result, t.error) for t in conv.turns]), encoding="utf-8")
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


# ---- the chat page -------------------------------------------------------------------------------------------


def build_chat(runtime, records: Records) -> gr.Blocks:
    """The reader chat page and its API endpoints."""
    app = ChatApp(runtime, records)
    settings = runtime.settings.ui
    chunks = runtime.store.lexical.chunks
    examples = example_questions(chunks)
    tags = runtime.store.tags()

    with gr.Blocks(title="hubchat", analytics_enabled=False) as chat:
        conv = gr.State(None)  # a Conversation, created by the first answer (a callable default would be a public API)
        pending = gr.State("")
        feedback_id = gr.State(None)
        gr.HTML(R.CHAT_HEADER_HTML, elem_id="hc-header", js_on_load=None)
        with gr.Row(equal_height=False, elem_id="hc-main"):
            with gr.Column(scale=3, min_width=360):
                chatbot = gr.Chatbot(
                    elem_id="hc-chat",
                    label="Conversation",
                    show_label=False,
                    height=560,
                    sanitize_html=True,
                    render_markdown=True,
                    latex_delimiters=[],
                    allow_tags=False,
                    feedback_options=("Like", "Dislike"),
                    buttons=["copy"],
                    layout="bubble",
                    placeholder=R.CHAT_PLACEHOLDER_MD,
                    examples=[{"text": q} for q in examples] or None,
                )
                status = gr.HTML(R.status_html(""), elem_id="hc-status", js_on_load=None)
                with gr.Row(elem_id="hc-ask-row"):
                    question = gr.Textbox(
                        show_label=False, placeholder="Ask a question about the articles…", lines=1, max_lines=6,
                        scale=6, elem_id="hc-question", autofocus=True,
                    )
                    ask = gr.Button("Ask", variant="primary", scale=1, min_width=90, elem_id="hc-ask")
                with gr.Row(visible=False, elem_id="hc-comment-row") as comment_row:
                    comment = gr.Textbox(show_label=False, placeholder="Thanks! Anything to add? (optional)", scale=6, elem_id="hc-comment")
                    send_comment = gr.Button("Send", scale=1, min_width=90, elem_id="hc-send-comment")
                with gr.Row(elem_id="hc-tools"):
                    new_conv = gr.Button("New conversation", size="sm", elem_id="hc-new")
                    export = gr.DownloadButton("Export as Markdown", size="sm", interactive=False, elem_id="hc-export")
                with gr.Accordion("Filters", open=False, elem_id="hc-filters"):
                    tag_filter = gr.Dropdown(tags, multiselect=True, label="Only articles tagged", elem_id="hc-tags")
                    with gr.Row():
                        since = gr.Textbox(label="From (date)", placeholder="YYYY-MM-DD", elem_id="hc-since")
                        until = gr.Textbox(label="To (date)", placeholder="YYYY-MM-DD", elem_id="hc-until")
            with gr.Column(scale=2, min_width=320):
                sources = gr.HTML(R.sources_html([]), elem_id="hc-sources", js_on_load=None)

        def accept(text: str, c: Conversation | None):
            c = c or new_conversation()
            text = (text or "").strip()
            if not text:
                raise gr.Error("Please type a question first.", duration=5, print_exception=False)
            waiting = c.messages() + [
                {"role": "user", "content": R.md_text(text)},
                {"role": "assistant", "content": R.streaming_markdown("", "Waiting for a free slot…")},
            ]
            return waiting, R.status_html("Waiting for a free slot…"), "", text, gr.update(visible=False)

        def accept_example(c: Conversation | None, evt: gr.SelectData):
            return accept((evt.value or {}).get("text", ""), c)

        accept_outputs = [chatbot, status, question, pending, comment_row]
        respond_kwargs = dict(
            fn=app.respond,
            inputs=[pending, conv, tag_filter, since, until],
            outputs=[chatbot, status, sources, conv, export],
            concurrency_limit=settings.concurrency_limit,
            concurrency_id=ANSWER_CONCURRENCY_ID,
            show_progress="hidden",
            api_visibility="private",
        )
        quick = dict(concurrency_limit=None, show_progress="hidden", api_visibility="private")
        for trigger in (question.submit, ask.click):
            trigger(accept, [question, conv], accept_outputs, **quick).success(**respond_kwargs)
        chatbot.example_select(accept_example, [conv], accept_outputs, **quick).success(**respond_kwargs)

        def start_over():
            return (None, [], R.sources_html([]), R.status_html(""), gr.update(value=None, interactive=False),
                    gr.update(visible=False), "", None)

        reset_outputs = [conv, chatbot, sources, status, export, comment_row, comment, feedback_id]
        new_conv.click(start_over, None, reset_outputs, **quick)
        chatbot.clear(start_over, None, reset_outputs, **quick)  # the Chatbot's own trash button

        def rate(c: Conversation | None, data: gr.LikeData):
            c = c or new_conversation()
            index = data.index if isinstance(data.index, int) else data.index[0]
            turn = c.turns[index // 2] if 0 <= index // 2 < len(c.turns) else None
            if turn is None or turn.result is None:
                gr.Info("Only answers can be rated.")
                return None, gr.update(visible=False)
            helpful = data.liked is True or data.liked == "Like"
            fid = records.record_feedback(turn.key, helpful)
            gr.Info("Thanks for the feedback!")
            return fid, gr.update(visible=True)

        chatbot.like(rate, [conv], [feedback_id, comment_row], **quick)

        def add_comment(fid, text):
            if fid is not None and (text or "").strip():
                records.set_feedback_comment(fid, text)
                gr.Info("Comment saved. Thank you!")
            return "", gr.update(visible=False)

        for trigger in (send_comment.click, comment.submit):
            trigger(add_comment, [feedback_id, comment], [comment, comment_row], **quick)

        gr.api(app.ask_api, api_name="ask", concurrency_limit=settings.concurrency_limit, concurrency_id=ANSWER_CONCURRENCY_ID)
        gr.api(app.feedback_api, api_name="feedback", concurrency_limit=None)
    return chat


# ---- the server ----------------------------------------------------------------------------------------------


def build_app(runtime, records: Records | None = None):
    """The FastAPI app: the chat at /, the review at /review/. Builds (and warms) the runtime's components."""
    import fastapi

    from hubchat.ui_review import build_review

    settings = runtime.settings.ui
    records = records or Records(settings.db_path)
    runtime.answerer  # noqa: B018 - load models and indexes now, not in the first reader's request
    runtime.store.lexical  # noqa: B018
    chat = build_chat(runtime, records)
    chat.queue(default_concurrency_limit=settings.concurrency_limit, max_size=settings.max_queue)
    review, auth = build_review(runtime.settings, records)
    review.queue(default_concurrency_limit=4, max_size=settings.max_queue)

    app = fastapi.FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    common = dict(theme=R.theme(), css=R.CSS, footer_links=["api"], run_history=False, ssr_mode=False, mcp_server=False)

    @app.get("/review", include_in_schema=False)
    def _review_slash():
        return fastapi.responses.RedirectResponse("/review/")

    # The review is mounted first: a mount at "/" would otherwise swallow /review/.
    app = gr.mount_gradio_app(app, review, path="/review", auth=auth, auth_message=R.LOGIN_MESSAGE_HTML if auth else None, **common)
    app = gr.mount_gradio_app(app, chat, path="/", head=R.CITATION_JS, **common)
    return app


@dataclass
class RunningServer:
    """A server started by `start`: `url` ends with "/"; `close()` stops it."""

    url: str
    server: object
    thread: threading.Thread

    def close(self, timeout: float = 10) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)


def _uvicorn_server(runtime, host: str | None, port: int | None):
    import uvicorn

    settings = runtime.settings.ui
    host = host or settings.host
    port = settings.port if port is None else port
    config = uvicorn.Config(build_app(runtime), host=host, port=port, log_level="warning", timeout_graceful_shutdown=5)
    return uvicorn.Server(config), host, port


def _bound_url(server, host: str, port: int) -> str:
    if port == 0 and server.servers:
        port = server.servers[0].sockets[0].getsockname()[1]
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
    return f"http://{shown}:{port}/"


def start(runtime, host: str | None = None, port: int | None = None, timeout: float = 60) -> RunningServer:
    """Serve the app from a background thread and return once it accepts connections (port 0: any free port)."""
    server, host, port = _uvicorn_server(runtime, host, port)
    thread = threading.Thread(target=server.run, name="hubchat-ui", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive():
            raise HubchatError(f"The web server could not start on {host}:{port} (is the port in use?).")
        if time.monotonic() > deadline:
            server.should_exit = True
            raise HubchatError(f"The web server did not start on {host}:{port} within {timeout:.0f} s.")
        time.sleep(0.05)
    return RunningServer(_bound_url(server, host, port), server, thread)


def launch(runtime, host: str | None = None, port: int | None = None) -> None:
    """Serve the chat until interrupted (Ctrl-C). Defaults: ui.host and ui.port from the settings."""
    server, host, port = _uvicorn_server(runtime, host, port)
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
    print(f"hubchat is serving the chat on http://{shown}:{port}/ (editors' review: http://{shown}:{port}/review/)", flush=True)
    server.run()
    if not server.started:
        raise HubchatError(f"The web server could not start on {host}:{port} (is the port in use? try --port).")
