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

import threading
import time
from dataclasses import dataclass

import gradio as gr

from hubchat.errors import HubchatError
from hubchat.web import assets as A
from hubchat.web import render as R
from hubchat.web.chat import (
    ANSWER_CONCURRENCY_ID,
    ChatApp,
    Conversation,
    example_questions,
    new_conversation,
)
from hubchat.web.records import Records

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
        gr.HTML(A.CHAT_HEADER_HTML, elem_id="hc-header", js_on_load=None)
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
                    # Gradio's copy button copies the escaped Markdown source; selecting the text copies it cleanly.
                    buttons=[],
                    layout="bubble",
                    placeholder=A.CHAT_PLACEHOLDER_MD,
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

    from hubchat.web.review import build_review

    settings = runtime.settings.ui
    records = records or Records(settings.db_path)
    runtime.answerer  # noqa: B018 - load models and indexes now, not in the first reader's request
    runtime.store.lexical  # noqa: B018
    chat = build_chat(runtime, records)
    chat.queue(default_concurrency_limit=settings.concurrency_limit, max_size=settings.max_queue)
    review, auth = build_review(runtime.settings, records)
    review.queue(default_concurrency_limit=4, max_size=settings.max_queue)

    app = fastapi.FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    common = dict(theme=A.theme(), css=A.CSS, footer_links=["api"], run_history=False, ssr_mode=False, mcp_server=False)

    @app.get("/review", include_in_schema=False)
    def _review_slash():
        return fastapi.responses.RedirectResponse("review/")  # relative: still right behind a path prefix

    # The review is mounted first: a mount at "/" would otherwise swallow /review/.
    app = gr.mount_gradio_app(app, review, path="/review", auth=auth, auth_message=A.LOGIN_MESSAGE_HTML if auth else None, **common)
    app = gr.mount_gradio_app(app, chat, path="/", head=A.CITATION_JS, **common)
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
