"""The chat widget for the site's article pages: a small page of our own at `/widget/`, framed by the site.

A site puts one tag on its article pages:

    <script src="https://CHAT-HOST/widget/embed.js" async></script>

`embed.js` adds a button that opens `/widget/?page=<the article's address>` in a frame. The widget asks about that
article by default (retrieval filtered to it) and widens to all the articles on request, or by itself when the
page is not an indexed article (and says so). Answers stream in with the same checked [n] citations and source
cards as the main chat, and are recorded with channel "widget".

Its API, for the page and for a site's own scripts (CORS allowed for `ui.embed_origins` only):

    POST /widget/api/ask {"question", "history": [{"question", "answer"}], "page": URL, "scope": "article" | "site",
                          "conversation_id": hex}
        -> application/x-ndjson, one event a line, in this order:
           {"type": "status", "text"}  (any number)
           {"type": "passages", "html"}  the passages the answer will draw on, before the model writes
           {"type": "token", "text"}  the model's words as it writes them
           {"type": "final", "answer_id", "text", "refused", "verdict", "scope", "answer_html", "sources_html"}
           or, instead of "final", {"type": "error", "message"}
        A malformed request is a 400 {"detail": message}.
    POST /widget/api/feedback {"answer_id", "helpful": bool} -> {"ok": true}; 404 for an unknown answer.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from importlib import resources
from string import Template
from typing import Literal

from fastapi import Body, FastAPI, Query
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hubchat.errors import HubchatError
from hubchat.records import Records
from hubchat.types import Filters, Turn
from hubchat.web import assets as A
from hubchat.web import widget_render as W
from hubchat.web.answer_log import record_or_log
from hubchat.web.answer_slots import BUSY, AnswerSlots
from hubchat.web.article_scope import ArticleDirectory, ArticleRef
from hubchat.web.render import esc

log = logging.getLogger(__name__)

UNEXPECTED = "Something went wrong on the server ({name}); the error is logged."
# The page runs nothing but its own two scripts and talks only to its own origin; who may frame it is the
# frame policy's job (hubchat.web.frame_policy), so it is not repeated here.
PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
    "base-uri 'none'; form-action 'none'"
)
MAX_HISTORY = 8


def _file(name: str) -> str:
    return (resources.files("hubchat.web") / "widget_files" / name).read_text(encoding="utf-8")


class _Turn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str = Field(max_length=20_000)
    answer: str = Field(max_length=20_000)


class WidgetAsk(BaseModel):
    """A question from the widget."""

    model_config = ConfigDict(extra="forbid")

    question: str
    history: list[_Turn] = Field(default=[], max_length=MAX_HISTORY)
    page: str = Field(default="", max_length=2_000)
    scope: Literal["article", "site"] = "article"
    conversation_id: str = Field(default="", pattern=r"^[0-9a-f]{0,32}$")


class WidgetFeedback(BaseModel):
    model_config = ConfigDict(extra="forbid")

    answer_id: str = Field(pattern=r"^[0-9a-f]{1,64}$")
    helpful: bool


def _line(event: dict) -> str:
    return json.dumps(event, ensure_ascii=False) + "\n"


def _bad_request(exc: ValidationError) -> JSONResponse:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "body"
    return JSONResponse({"detail": f"Invalid request: {where}: {first['msg']}."}, status_code=400)


class Widget:
    """The /widget app over the runtime's answerer.

    Args:
        runtime: the hubchat Runtime.
        records: where answers and feedback are recorded.
        slots: the answer slots this app shares with the other APIs (ui.concurrency_limit).
    """

    def __init__(self, runtime, records: Records, slots: AnswerSlots):
        self.runtime = runtime
        self.records = records
        self.slots = slots
        self.origins = tuple(runtime.settings.ui.embed_origins)
        self._directory: tuple[object, ArticleDirectory] | None = None
        self._page = Template(_file("page.html"))
        self._css = A.SOURCE_CARD_CSS + _file("widget.css")
        self._scripts = {"widget.js": _file("widget.js"), "embed.js": _file("embed.js"), "citations.js": A.CITATION_SCRIPT}

    def article(self, page_url: str) -> ArticleRef | None:
        lexical = self.runtime.store.lexical
        if self._directory is None or self._directory[0] is not lexical:  # the index changed: read it again
            self._directory = (lexical, ArticleDirectory(lexical.chunks))
        return self._directory[1].find(page_url)

    def app(self) -> FastAPI:
        app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
        app.add_middleware(
            CORSMiddleware, allow_origins=list(self.origins), allow_methods=["GET", "POST"], allow_headers=["content-type"]
        )

        @app.get("/", response_class=HTMLResponse)
        def page(page: str = Query(default="", max_length=2_000)):
            found = self.article(page)
            html = self._page.substitute(
                page_url=esc(page), article_title=esc(found.title if found else ""), article_found="1" if found else "0"
            )
            return HTMLResponse(html, headers={"Content-Security-Policy": PAGE_CSP, "Cache-Control": "no-store"})

        @app.get("/widget.css")
        def css():
            return Response(self._css, media_type="text/css", headers={"Cache-Control": "max-age=300"})

        @app.get("/{name}.js")
        def script(name: str):
            body = self._scripts.get(f"{name}.js")
            if body is None:
                return Response(status_code=404)
            return Response(body, media_type="text/javascript", headers={"Cache-Control": "max-age=300"})

        @app.post("/api/ask")
        def ask(body: dict = Body(...)):
            try:
                request = WidgetAsk.model_validate(body)
            except ValidationError as exc:
                return _bad_request(exc)
            if not request.question.strip():
                return JSONResponse({"detail": "The question is empty: type a question first."}, status_code=400)
            found = self.article(request.page)
            scope = "article" if request.scope == "article" and found else "site"
            filters = Filters(article_ids=(found.article_id,)) if scope == "article" else Filters()
            history = [Turn(t.question, t.answer) for t in request.history]
            return StreamingResponse(
                self._events(request, history, filters, scope), media_type="application/x-ndjson",
                headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
            )

        @app.post("/api/feedback")
        def feedback(body: dict = Body(...)):
            try:
                rating = WidgetFeedback.model_validate(body)
            except ValidationError as exc:
                return _bad_request(exc)
            try:
                self.records.record_feedback(rating.answer_id, rating.helpful)
            except KeyError:
                return JSONResponse({"detail": "No such answer."}, status_code=404)
            return {"ok": True}

        return app

    def _events(self, request: WidgetAsk, history: list[Turn], filters: Filters, scope: str) -> Iterator[str]:
        if not self.slots.acquire():
            yield _line({"type": "error", "message": BUSY})
            return
        try:
            result = None
            for event in self.runtime.answerer.stream(request.question, history, filters):
                if event.kind == "status":
                    yield _line({"type": "status", "text": event.text})
                elif event.kind == "passages":
                    yield _line({"type": "passages", "html": W.reading_html(event.passages)})
                elif event.kind == "token":
                    yield _line({"type": "token", "text": event.text})
                elif event.kind == "final":
                    result = event.result
            answer_id = record_or_log(self.records, result, request.conversation_id or "widget", "widget")
            yield _line({
                "type": "final", "answer_id": answer_id, "text": result.text, "refused": result.refused,
                "verdict": result.verdict, "scope": scope,
                "answer_html": W.answer_html(answer_id, result), "sources_html": W.sources_html(answer_id, result),
            })
        except HubchatError as exc:
            log.warning("widget answer failed: %s", exc)
            yield _line({"type": "error", "message": str(exc)})
        except Exception as exc:
            log.exception("unexpected error while answering in the widget")
            yield _line({"type": "error", "message": UNEXPECTED.format(name=type(exc).__name__)})
        finally:
            self.slots.release()
