"""The chat's API endpoints through gradio_client, against the real app on a loopback port (extractive backend)."""

from __future__ import annotations

import json
import threading

import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError

from hubchat.records import Records

QUESTION = "How often should I feed a sourdough starter?"


@pytest.fixture(scope="module")
def client(ui_server) -> Client:
    return Client(ui_server.url, verbose=False)


def test_only_the_documented_endpoints_are_public(client: Client):
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert sorted(endpoints) == ["/ask", "/feedback"]


def test_ask_returns_the_checked_answer_its_sources_and_details(client: Client, ui_settings):
    answer, sources_json, details_json = client.predict(QUESTION, "[]", "{}", api_name="/ask")
    sources, details = json.loads(sources_json), json.loads(details_json)

    assert "once every 24 hours [1]" in answer
    assert details["refused"] is False and details["backend"] == "extractive"
    cited = {n for s in details["sentences"] for n in s["citations"]}
    assert {s["number"] for s in sources} == cited  # the sources are exactly what the answer cites
    first = next(s for s in sources if s["number"] == 1)
    assert first["title"] == "Sourdough Starter Care: Feeding, Flour and Temperature"
    assert first["link"] == "https://aitoolshub.example/guides/sourdough-starter"
    assert first["tags"] == ["baking", "fermentation"] and first["date"] == "2024-03-01"
    support = next(p for s in details["sentences"] for p in s["supports"] if p["number"] == 1)
    # Span offsets index the article; the passage text starts at its own `start` in the same article.
    local = first["text"][support["span_start"] - first["start"] : support["span_end"] - first["start"]]
    assert local == support["span_text"] and "once every 24 hours" in local

    recorded = Records(ui_settings.ui.db_path).answer(details["answer_id"])
    assert recorded is not None and recorded.channel == "api" and recorded.question == QUESTION
    assert recorded.answer_text == answer


def test_ask_resolves_a_follow_up_with_the_history_and_applies_filters(client: Client):
    history = json.dumps([{"question": QUESTION, "answer": "Feed it once every 24 hours [1]."}])
    answer, _, details_json = client.predict("Which flour works best for it?", history, "{}", api_name="/ask")
    assert "sourdough" in json.loads(details_json)["standalone_question"].lower()
    assert "flour" in answer.lower()

    refused, sources_json, details_json = client.predict(QUESTION, "[]", json.dumps({"tags": ["gardening"]}), api_name="/ask")
    assert json.loads(details_json)["refused"] is True and json.loads(sources_json) == []
    dated, _, details_json = client.predict(QUESTION, "[]", json.dumps({"since": "2024-01-01", "until": "2024-12-31"}), api_name="/ask")
    assert json.loads(details_json)["refused"] is False and "24 hours" in dated


@pytest.mark.parametrize(
    ("question", "history", "filters", "message"),
    [
        ("   ", "[]", "{}", "Please type a question."),
        (QUESTION, "not json", "{}", "history must be a JSON list"),
        (QUESTION, "[]", '{"tags": "rag"}', "filters must be a JSON object"),
        (QUESTION, "[]", '{"since": "yesterday"}', "is not a date like 2025-01-31"),
    ],
)
def test_ask_reports_bad_input_with_a_clear_message(client: Client, question, history, filters, message):
    with pytest.raises(AppError, match=message):
        client.predict(question, history, filters, api_name="/ask")


def test_feedback_is_stored_for_an_answer(client: Client, ui_settings):
    _, _, details_json = client.predict(QUESTION, "[]", "{}", api_name="/ask")
    answer_id = json.loads(details_json)["answer_id"]
    assert client.predict(answer_id, False, "Too short.", api_name="/feedback") == "ok"
    feedback = Records(ui_settings.ui.db_path).answer(answer_id).feedback
    assert [(f.helpful, f.comment) for f in feedback] == [(False, "Too short.")]
    with pytest.raises(AppError, match="No answer with id"):
        client.predict("0" * 32, True, "", api_name="/feedback")


def test_concurrent_clients_all_get_answers(ui_server):
    results: list[str] = []
    errors: list[BaseException] = []

    def one() -> None:
        try:
            results.append(Client(ui_server.url, verbose=False).predict(QUESTION, "[]", "{}", api_name="/ask")[0])
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=one) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == [] and len(results) == 6
    assert len(set(results)) == 1  # the extractive backend is deterministic


def test_backend_down_comes_back_as_a_clear_error(down_server):
    client = Client(down_server.url, verbose=False)
    for _ in range(2):  # and the server keeps answering after a failure
        with pytest.raises(AppError, match=r"is not reachable \(connection refused\)"):
            client.predict(QUESTION, "[]", "{}", api_name="/ask")
