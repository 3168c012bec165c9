"""The web app: the reader chat at `/`, the editors' review at `/review/`, the widget at `/widget/`, one FastAPI app.

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

The OpenAI-compatible API (`/v1/models`, `/v1/chat/completions`) is described in `hubchat.web.openai_api`, the
chat widget for article pages (`/widget/`, `/widget/embed.js`, `/widget/api/ask`) in `hubchat.web.widget`. No
page may be framed by another site except the widget's, by the origins in `ui.embed_origins`.

Every answer, from the page or the API, is recorded for the editors' review (`hubchat.records`: the SQLite file
`ui.db_path`, or the database `ui.records_url` names).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import gradio as gr

from hubchat.errors import HubchatError
from hubchat.records import Records
from hubchat.web import assets as A
from hubchat.web.answer_slots import AnswerSlots
from hubchat.web.chat_page import build_chat
from hubchat.web.frame_policy import FramePolicy
from hubchat.web.login_throttle import LoginThrottle, throttle_logins
from hubchat.web.openai_api import OpenAIApi
from hubchat.web.widget import Widget

# ---- the server ----------------------------------------------------------------------------------------------


def build_app(runtime, records: Records | None = None, host: str | None = None):
    """The FastAPI app: the chat at /, the review at /review/, the OpenAI-compatible API at /v1. Builds (and warms)
    the runtime's components. `host`: the address it will listen on (default ui.host), which decides whether the
    API may go without a key."""
    import fastapi

    from hubchat.web.review import build_review

    settings = runtime.settings.ui
    records = records or runtime.records  # the one store the retriever's demotions read too
    runtime.answerer  # noqa: B018 - load models and indexes now, not in the first reader's request
    if runtime.settings.index.exact_filtered_search:  # filtered questions (the widget's every one) search these
        runtime.store.vector_matrix(runtime.store.lexical)
    else:
        runtime.store.lexical  # noqa: B018
    chat = build_chat(runtime, records)
    chat.queue(default_concurrency_limit=settings.concurrency_limit, max_size=settings.max_queue)
    review, auth = build_review(runtime.settings, records, runtime)
    review.queue(default_concurrency_limit=4, max_size=settings.max_queue)

    # The /v1 API and the widget share the answer slots (the Gradio queue keeps its own, of the same size).
    slots = AnswerSlots(settings.concurrency_limit)
    app = fastapi.FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    # Both before the mount at "/", which would shadow them.
    app.include_router(OpenAIApi(runtime, records, host or settings.host, slots).router())
    app.mount("/widget", Widget(runtime, records, slots).app())
    common = dict(theme=A.theme(), css=A.CSS, footer_links=["api"], run_history=False, ssr_mode=False, mcp_server=False)

    @app.get("/review", include_in_schema=False)
    def _review_slash():
        return fastapi.responses.RedirectResponse("review/")  # relative: still right behind a path prefix

    @app.get("/widget", include_in_schema=False)
    def _widget_slash(request: fastapi.Request):
        query = f"?{request.url.query}" if request.url.query else ""
        return fastapi.responses.RedirectResponse(f"widget/{query}")

    # The review is mounted first: a mount at "/" would otherwise swallow /review/.
    if auth:
        throttle = LoginThrottle(settings.login_max_failures, settings.login_lockout_s)
        throttle_logins(app, throttle, frozenset({"/review/login", "/review/login/"}))
    app = gr.mount_gradio_app(app, review, path="/review", auth=auth, auth_message=A.LOGIN_MESSAGE_HTML if auth else None, **common)
    app = gr.mount_gradio_app(app, chat, path="/", head=A.CITATION_JS, **common)
    app.add_middleware(FramePolicy, embed_origins=settings.embed_origins)
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
    config = uvicorn.Config(build_app(runtime, host=host), host=host, port=port, log_level="warning", timeout_graceful_shutdown=5)
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
