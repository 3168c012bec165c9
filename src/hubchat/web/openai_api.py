"""hubchat as an OpenAI-compatible model: `GET /v1/models` and `POST /v1/chat/completions`, streamed or not.

Any OpenAI client (the `openai` SDK, LangChain's `ChatOpenAI`, chat frontends) can ask hubchat by pointing its
base URL at `http://HOST:PORT/v1` and asking for the model `hubchat`. The messages are the conversation: the last
user message is the question, earlier user/assistant pairs its history (system messages are ignored: hubchat's
own rules apply). The answer's text carries its `[n]` markers.

What an OpenAI response has no field for travels in `hubchat`, beside `choices`:

    {"answer_id", "text", "refused", "verdict", "notes", "standalone_question",
     "sources": [{"number", "title", "date", "tags", "link", "url", "section", "text", "start", "end",
                  "article_id", "chunk_id"}]}

`text` is the checked answer (what `choices[0].message.content` holds when not streamed). A stream sends the
model's words as it writes them, then a last chunk with `finish_reason: "stop"` and `hubchat`, whose `text` is
the checked answer: the checker may have removed a marker or a repeated sentence from what was streamed.
Optional request field `filters`: {"tags": [...], "since": "YYYY-MM-DD", "until": "YYYY-MM-DD"}.

The key: when the environment variable named by `ui.api_key_env` is set, every request needs
`Authorization: Bearer <key>`. Unset, the API is open only while the app listens on a loopback address; on any
other address every request is refused until a key is set. Errors come back in OpenAI's shape
(`{"error": {"message", "type", "code"}}`): 400 for a bad request or question, 401 for a missing or wrong key,
503 when the chat backend fails or every answer slot stays busy.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import asdict
from typing import Any, Literal

from fastapi import APIRouter, Body, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, ValidationError

from hubchat.errors import HubchatError, InputError
from hubchat.records import Records
from hubchat.types import Filters, Turn
from hubchat.web.answer_log import record_or_log
from hubchat.web.answer_slots import BUSY, AnswerSlots
from hubchat.web.chat import parse_filters

log = logging.getLogger(__name__)

MODEL_ID = "hubchat"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


class _Message(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):  # content parts: only the text ones carry a question
            return "".join(str(p.get("text", "")) for p in self.content if p.get("type") == "text")
        return self.content or ""


class _StreamOptions(BaseModel):
    model_config = ConfigDict(extra="ignore")

    include_usage: bool = False


class _FilterFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tags: list[str] = []
    since: str | None = None
    until: str | None = None


class ChatCompletionRequest(BaseModel):
    """The fields of an OpenAI chat completion request that hubchat reads; sampling options are accepted and
    ignored (the answer's sampling is the operator's configuration)."""

    model_config = ConfigDict(extra="ignore")

    model: str = MODEL_ID
    messages: list[_Message]
    stream: bool = False
    stream_options: _StreamOptions | None = None
    filters: _FilterFields | None = None


def conversation(messages: list[_Message]) -> tuple[str, list[Turn]]:
    """The question (the last user message) and the earlier turns, each a user message with the reply after it.

    Raises:
        InputError: there is no user message last.
    """
    spoken = [m for m in messages if m.role in ("user", "assistant")]
    if not spoken or spoken[-1].role != "user":
        raise InputError("The last message must be the user's question (role \"user\").")
    turns: list[Turn] = []
    pending: str | None = None
    for m in spoken[:-1]:
        if m.role == "user":
            pending = m.text()
        elif pending is not None:
            turns.append(Turn(pending, m.text()))
            pending = None
    return spoken[-1].text(), turns


def _error(status: int, message: str, kind: str, code: str | None = None) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": kind, "code": code}}, status_code=status)


def _hubchat_field(answer_id: str, result) -> dict:
    return {
        "answer_id": answer_id, "text": result.text, "refused": result.refused, "verdict": result.verdict,
        "notes": list(result.notes), "standalone_question": result.standalone_question,
        "sources": [asdict(s) for s in result.sources],
    }


def _usage(result) -> dict:
    prompt, completion = result.prompt_tokens or 0, result.completion_tokens or 0
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


class OpenAIApi:
    """The /v1 routes over the runtime's answerer; every answer is recorded (channel "openai") for the editors.

    Args:
        runtime: the hubchat Runtime.
        records: the records store.
        host: the address the app listens on; without a key the API answers only on a loopback one.
        slots: the answer slots shared with the app's other APIs (default: its own, ui.concurrency_limit of them).
    """

    def __init__(self, runtime, records: Records, host: str, slots: AnswerSlots | None = None):
        self.runtime = runtime
        self.records = records
        settings = runtime.settings.ui
        self.key_env = settings.api_key_env
        self.loopback = host in LOOPBACK_HOSTS
        self.slots = slots or AnswerSlots(settings.concurrency_limit)

    def router(self) -> APIRouter:
        router = APIRouter(prefix="/v1")

        @router.get("/models")
        def models(request: Request):
            if (denied := self._denied(request)) is not None:
                return denied
            return {"object": "list", "data": [{"id": MODEL_ID, "object": "model", "created": 0, "owned_by": "hubchat"}]}

        @router.post("/chat/completions")
        def chat_completions(request: Request, body: dict = Body(...)):
            if (denied := self._denied(request)) is not None:
                return denied
            try:
                ask = ChatCompletionRequest.model_validate(body)
                question, history = conversation(ask.messages)
                filters = self._filters(ask.filters)
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(p) for p in first["loc"])
                return _error(400, f"Invalid request: {where}: {first['msg']}.", "invalid_request_error")
            except InputError as exc:
                return _error(400, str(exc), "invalid_request_error")
            if ask.stream:  # it takes its slot when it starts, so a client gone before then holds none
                return StreamingResponse(
                    self._stream(question, history, filters, ask), media_type="text/event-stream"
                )
            if not self.slots.acquire():
                return _error(503, BUSY, "server_error", "busy")
            try:
                return self._complete(question, history, filters)
            finally:
                self.slots.release()

        return router

    # ---- requests --------------------------------------------------------------------------------------------

    def _denied(self, request):
        key = os.environ.get(self.key_env, "")
        if not key:
            if self.loopback:
                return None
            return _error(401, f"The API needs a key when the app listens beyond loopback: set {self.key_env} "
                          "in the app's environment, and send it as a Bearer token.", "invalid_request_error", "no_api_key")
        sent = request.headers.get("authorization", "")
        scheme, _, token = sent.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), key.encode()):
            return _error(401, "Incorrect API key: send the key of " + self.key_env + " as `Authorization: Bearer KEY`.",
                          "invalid_request_error", "invalid_api_key")
        return None

    @staticmethod
    def _filters(fields: _FilterFields | None) -> Filters:
        if fields is None:
            return Filters()
        return parse_filters(fields.tags, fields.since, fields.until)

    def _record(self, result) -> str:
        return record_or_log(self.records, result, "openai-api", "openai")

    def _complete(self, question: str, history: list[Turn], filters: Filters):
        try:
            result = self.runtime.answerer.answer(question, history, filters)
        except InputError as exc:
            return _error(400, str(exc), "invalid_request_error")
        except HubchatError as exc:
            log.warning("answer failed: %s", exc)
            return _error(503, str(exc), "server_error", "backend_unavailable")
        answer_id = self._record(result)
        return {
            "id": f"chatcmpl-{answer_id}", "object": "chat.completion", "created": int(time.time()), "model": MODEL_ID,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": result.text}, "finish_reason": "stop"}],
            "usage": _usage(result), "hubchat": _hubchat_field(answer_id, result),
        }

    def _stream(self, question: str, history: list[Turn], filters: Filters, ask: ChatCompletionRequest) -> Iterator[str]:
        created = int(time.time())
        stream_id = f"chatcmpl-{os.urandom(12).hex()}"

        def chunk(delta: dict, finish: str | None = None, **extra) -> str:
            body = {"id": stream_id, "object": "chat.completion.chunk", "created": created, "model": MODEL_ID,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}
            return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"

        if not self.slots.acquire():
            yield f"data: {json.dumps({'error': {'message': BUSY, 'type': 'server_error', 'code': 'busy'}})}\n\n"
            return
        try:
            yield chunk({"role": "assistant", "content": ""})
            result = None
            for event in self.runtime.answerer.stream(question, history, filters):
                if event.kind == "token":
                    yield chunk({"content": event.text})
                elif event.kind == "final":
                    result = event.result
            answer_id = self._record(result)
            yield chunk({}, "stop", hubchat=_hubchat_field(answer_id, result))
            if ask.stream_options is not None and ask.stream_options.include_usage:
                body = {"id": stream_id, "object": "chat.completion.chunk", "created": created, "model": MODEL_ID,
                        "choices": [], "usage": _usage(result)}
                yield f"data: {json.dumps(body)}\n\n"
            yield "data: [DONE]\n\n"
        except HubchatError as exc:
            # The status line is sent; OpenAI's clients raise on an error object in the stream.
            log.warning("answer failed: %s", exc)
            kind = "invalid_request_error" if isinstance(exc, InputError) else "server_error"
            yield f"data: {json.dumps({'error': {'message': str(exc), 'type': kind, 'code': None}})}\n\n"
        finally:
            self.slots.release()
