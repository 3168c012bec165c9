"""hubchat as an OpenAI-compatible model at /v1, asked by the real `openai` client and LangChain's ChatOpenAI, on
the real app over a loopback port (extractive backend, so answers are deterministic)."""

from __future__ import annotations

import httpx
import openai
import pytest
from langchain_openai import ChatOpenAI

from hubchat.records import Records

QUESTION = "How often should I feed a sourdough starter?"
TITLE = "Sourdough Starter Care: Feeding, Flour and Temperature"


@pytest.fixture(autouse=True)
def no_key(monkeypatch):
    monkeypatch.delenv("HUBCHAT_API_KEY", raising=False)


@pytest.fixture
def client(ui_server) -> openai.OpenAI:
    with openai.OpenAI(base_url=ui_server.url + "v1", api_key="unused", max_retries=0, timeout=60) as c:
        yield c


def _ask(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


def test_it_lists_itself_as_the_model_hubchat(client):
    assert [m.id for m in client.models.list()] == ["hubchat"]


def test_a_completion_is_the_checked_answer_with_its_sources_and_is_recorded(client, ui_settings):
    reply = client.chat.completions.create(model="hubchat", messages=_ask(QUESTION))
    content = reply.choices[0].message.content
    assert "once every 24 hours [1]" in content and reply.choices[0].finish_reason == "stop"
    extra = reply.model_extra["hubchat"]
    assert extra["text"] == content and extra["refused"] is False
    assert extra["sources"][0]["title"] == TITLE and extra["sources"][0]["number"] == 1
    record = Records(ui_settings.ui.db_path).answer(extra["answer_id"])
    assert record.channel == "openai" and record.answer_text == content and reply.id == f"chatcmpl-{extra['answer_id']}"


def test_a_stream_sends_the_words_then_a_last_chunk_with_the_sources(client):
    chunks = list(client.chat.completions.create(model="hubchat", messages=_ask(QUESTION), stream=True,
                                                 stream_options={"include_usage": True}))
    words = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    finished = [c for c in chunks if c.choices and c.choices[0].finish_reason == "stop"]
    assert len(finished) == 1
    extra = finished[0].model_extra["hubchat"]
    assert words == extra["text"] and "once every 24 hours [1]" in words
    assert [s["title"] for s in extra["sources"]][:1] == [TITLE]
    assert chunks[-1].usage is not None and not chunks[-1].choices


def test_a_follow_up_is_read_against_the_conversation(client):
    messages = [
        {"role": "system", "content": "Answer in French."},  # hubchat's own rules apply
        {"role": "user", "content": QUESTION},
        {"role": "assistant", "content": "Feed it once every 24 hours [1]."},
        {"role": "user", "content": [{"type": "text", "text": "Which flour works best for it?"}]},
    ]
    reply = client.chat.completions.create(model="hubchat", messages=messages)
    assert "sourdough" in reply.model_extra["hubchat"]["standalone_question"].lower()
    assert "flour" in reply.choices[0].message.content.lower()


def test_a_question_the_articles_do_not_cover_is_refused_with_no_sources(client):
    reply = client.chat.completions.create(model="hubchat", messages=_ask(QUESTION), extra_body={"filters": {"tags": ["gardening"]}})
    extra = reply.model_extra["hubchat"]
    assert extra["refused"] is True and extra["sources"] == []
    assert reply.choices[0].message.content == extra["text"]


@pytest.mark.parametrize(
    ("messages", "extra", "message"),
    [
        (_ask("   "), {}, "Please type a question."),
        ([{"role": "assistant", "content": "Hello."}], {}, "The last message must be the user's question"),
        ([], {}, "The last message must be the user's question"),
        (_ask(QUESTION), {"filters": {"since": "yesterday"}}, "is not a date like 2025-01-31"),
        (_ask(QUESTION), {"filters": {"colour": "red"}}, "Invalid request: filters.colour"),
        ([{"role": "wizard", "content": "hi"}], {}, "Invalid request: messages.0.role"),
    ],
)
def test_bad_requests_get_a_400_that_says_what_is_wrong(client, messages, extra, message):
    with pytest.raises(openai.BadRequestError, match=message):
        client.chat.completions.create(model="hubchat", messages=messages, extra_body=extra)


def test_a_stream_that_fails_says_why_in_the_stream(client):
    with pytest.raises(openai.APIError, match="Please type a question."):
        list(client.chat.completions.create(model="hubchat", messages=_ask("  "), stream=True))


def test_langchain_chat_openai_works_against_it_plain_and_streamed(ui_server):
    model = ChatOpenAI(base_url=ui_server.url + "v1", api_key="unused", model="hubchat", max_retries=0, timeout=60)
    assert "once every 24 hours [1]" in model.invoke(QUESTION).content
    assert "once every 24 hours [1]" in "".join(c.content for c in model.stream(QUESTION))


def test_with_a_key_set_only_requests_that_send_it_are_answered(ui_server, monkeypatch):
    monkeypatch.setenv("HUBCHAT_API_KEY", "s3cret-key")
    for key in ("wrong", "unused"):
        with openai.OpenAI(base_url=ui_server.url + "v1", api_key=key, max_retries=0) as c:
            with pytest.raises(openai.AuthenticationError, match="Incorrect API key"):
                c.chat.completions.create(model="hubchat", messages=_ask(QUESTION))
    with openai.OpenAI(base_url=ui_server.url + "v1", api_key="s3cret-key", max_retries=0, timeout=60) as c:
        assert "24 hours" in c.chat.completions.create(model="hubchat", messages=_ask(QUESTION)).choices[0].message.content
    assert httpx.get(ui_server.url + "v1/models").status_code == 401


def test_beyond_loopback_without_a_key_every_request_is_refused(ui_runtime):
    from hubchat.web.server import start

    server = start(ui_runtime, host="0.0.0.0", port=0)
    try:
        response = httpx.post(server.url + "v1/chat/completions", json={"model": "hubchat", "messages": _ask(QUESTION)})
        assert response.status_code == 401
        assert "set HUBCHAT_API_KEY" in response.json()["error"]["message"]
        assert httpx.get(server.url + "v1/models").status_code == 401
    finally:
        server.close()


def test_the_backend_being_down_is_a_503_that_says_so(down_server):
    with openai.OpenAI(base_url=down_server.url + "v1", api_key="unused", max_retries=0, timeout=60) as c:
        with pytest.raises(openai.InternalServerError, match="not reachable"):
            c.chat.completions.create(model="hubchat", messages=_ask(QUESTION))
