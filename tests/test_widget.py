"""The chat widget's page and API over HTTP, against the real app on loopback (extractive backend, real index).

What a site's article page relies on: the widget names the article it was opened on and answers from that article
only, widening to all the articles when asked; answers stream as events with the passages before the words;
every answer is recorded; bad requests get a clear 400; and only the configured sites may frame or call it.
"""

from __future__ import annotations

import json

import httpx
import pytest

from hubchat.records import Records

COMPOSTING_PAGE = "https://aitoolshub.example/guides/apartment-composting/"
COMPOSTING_TITLE = "Alternatives to Peat: Composting in a Small Apartment"
CHAIN_QUESTION = "Does hot wax keep a bicycle chain cleaner than wet lube?"


def ask(url: str, **body) -> list[dict]:
    with httpx.stream("POST", url + "widget/api/ask", json=body, timeout=60) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("application/x-ndjson")
        return [json.loads(line) for line in response.iter_lines() if line.strip()]


def final(events: list[dict]) -> dict:
    assert events[-1]["type"] == "final", events[-1]
    return events[-1]


def cited_titles(event: dict) -> set[str]:
    return {title for title in _card_titles(event["sources_html"])}


def _card_titles(html: str) -> list[str]:
    marker = '<span class="hc-title">'
    return [part.split("</span>", 1)[0] for part in html.split(marker)[1:]]


def test_the_page_names_the_article_it_was_opened_on(ui_server):
    page = httpx.get(ui_server.url + "widget/", params={"page": COMPOSTING_PAGE})
    assert page.status_code == 200
    assert 'data-article-found="1"' in page.text
    assert f'data-article-title="{COMPOSTING_TITLE}"' in page.text
    elsewhere = httpx.get(ui_server.url + "widget/", params={"page": "https://aitoolshub.example/about"})
    assert 'data-article-found="0"' in elsewhere.text


def test_the_page_runs_only_its_own_scripts(ui_server):
    page = httpx.get(ui_server.url + "widget/", params={"page": '"><script>alert(1)</script>'})
    assert "<script>alert(1)" not in page.text  # the address is escaped into an attribute
    policies = page.headers.get_list("content-security-policy")
    assert any("script-src 'self'" in p and "default-src 'none'" in p for p in policies), policies
    for name in ("widget.js", "embed.js", "citations.js"):
        script = httpx.get(ui_server.url + "widget/" + name)
        assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript"), name
    assert httpx.get(ui_server.url + "widget/other.js").status_code == 404


def test_an_answer_streams_passages_first_and_cites_only_the_scoped_article(ui_server, ui_settings):
    events = ask(ui_server.url, question="How long does a worm bin take to make compost?", page=COMPOSTING_PAGE)
    kinds = [e["type"] for e in events]
    assert kinds.index("passages") < kinds.index("token") < kinds.index("final"), kinds
    done = final(events)
    assert not done["refused"] and done["scope"] == "article"
    assert 'class="hcw-cite"' in done["answer_html"]
    assert cited_titles(done) == {COMPOSTING_TITLE}
    record = Records(ui_settings.ui.db_path).answer(done["answer_id"])
    assert record is not None and record.channel == "widget"
    assert record.filters["article_ids"], "the record keeps the article scope the answer was made under"


def test_the_article_scope_widens_to_the_whole_site_on_request(ui_server):
    scoped = final(ask(ui_server.url, question=CHAIN_QUESTION, page=COMPOSTING_PAGE, scope="article"))
    assert scoped["refused"], "the composting article says nothing about chains"
    wide = final(ask(ui_server.url, question=CHAIN_QUESTION, page=COMPOSTING_PAGE, scope="site"))
    assert not wide["refused"] and wide["scope"] == "site"
    assert cited_titles(wide) == {"Chain Lube vs Hot Wax: Keeping a Bicycle Drivetrain Clean"}


def test_a_page_that_is_not_an_article_asks_the_whole_site(ui_server):
    done = final(ask(ui_server.url, question=CHAIN_QUESTION, page="https://aitoolshub.example/about", scope="article"))
    assert done["scope"] == "site" and not done["refused"]


def test_a_follow_up_is_resolved_against_the_history(ui_server, ui_settings):
    first = final(ask(ui_server.url, question="How does a bokashi bucket work?", page=COMPOSTING_PAGE))
    history = [{"question": "How does a bokashi bucket work?", "answer": first["text"]}]
    follow = final(ask(ui_server.url, question="Can it take cooked food?", history=history, page=COMPOSTING_PAGE))
    assert not follow["refused"]
    assert cited_titles(follow) == {COMPOSTING_TITLE}
    record = Records(ui_settings.ui.db_path).answer(follow["answer_id"])
    assert "bokashi" in record.standalone_question.lower(), "the follow-up was read with its history"


@pytest.mark.parametrize(
    "body, says",
    [
        ({"question": "   "}, "empty"),
        ({"question": "hi", "scope": "everywhere"}, "scope"),
        ({"question": "hi", "history": [{"question": "q", "answer": "a"}] * 9}, "history"),
        ({"question": "hi", "conversation_id": "not hex!"}, "conversation_id"),
        ({"question": "hi", "unexpected": 1}, "unexpected"),
        ({"question": "x" * 100_000}, "long"),
    ],
)
def test_a_bad_request_gets_a_clear_error(ui_server, body, says):
    response = httpx.post(ui_server.url + "widget/api/ask", json=body, timeout=60)
    if response.status_code == 200:  # caught by the answerer once the stream started: an error event
        events = [json.loads(line) for line in response.text.splitlines() if line.strip()]
        assert events[-1]["type"] == "error" and says in events[-1]["message"].lower(), events
    else:
        assert response.status_code == 400
        assert says in response.json()["detail"].lower(), response.json()


def test_a_backend_that_is_down_is_an_error_event_saying_what_to_do(down_server):
    events = ask(down_server.url, question="How long does a worm bin take to make compost?", page=COMPOSTING_PAGE)
    assert events[-1]["type"] == "error"
    assert "127.0.0.1" in events[-1]["message"] or "start" in events[-1]["message"].lower(), events[-1]


def test_reader_feedback_is_recorded_and_an_unknown_answer_is_refused(ui_server, ui_settings):
    done = final(ask(ui_server.url, question="How does a bokashi bucket work?", page=COMPOSTING_PAGE))
    assert httpx.post(ui_server.url + "widget/api/feedback", json={"answer_id": done["answer_id"], "helpful": False}).json() == {"ok": True}
    record = Records(ui_settings.ui.db_path).answer(done["answer_id"])
    assert [f.helpful for f in record.feedback] == [False]
    assert httpx.post(ui_server.url + "widget/api/feedback", json={"answer_id": "ab" * 16, "helpful": True}).status_code == 404


def test_no_page_but_the_widget_may_be_framed_and_the_widget_only_by_its_own_origin(ui_server):
    for path in ("", "review/"):
        response = httpx.get(ui_server.url + path, follow_redirects=True)
        assert "frame-ancestors 'self'" in response.headers.get_list("content-security-policy"), path
        assert response.headers["x-frame-options"] == "SAMEORIGIN", path
    widget = httpx.get(ui_server.url + "widget/")
    # ui_server lists no embedding origins: only the app itself may frame the widget.
    assert "frame-ancestors 'self'" in widget.headers.get_list("content-security-policy")


def test_no_other_site_may_call_the_widget_api_from_its_scripts_by_default(ui_server):
    preflight = httpx.options(
        ui_server.url + "widget/api/ask",
        headers={"Origin": "https://elsewhere.example", "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "content-type"},
    )
    assert "access-control-allow-origin" not in preflight.headers
