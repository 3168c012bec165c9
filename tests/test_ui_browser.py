"""The web UI in a real browser (Chromium via Playwright) against the real app on loopback, extractive backend.

Each test saves a full-page screenshot under test-artifacts/ (see conftest_ui.page).
"""

from __future__ import annotations

import csv
import io
import re

import pytest
from playwright.sync_api import Page, expect

from hubchat.records import Records

pytestmark = pytest.mark.browser

QUESTION_BOX = "#hc-question textarea"
BOT = '#hc-chat [data-testid="bot"]'
USER = '#hc-chat [data-testid="user"]'
CITE = 'a[href^="#cite-"]'
SCRIPT_TEXT = "<script>alert(1)</script>"
IMG_TEXT = "<img src=x onerror=alert(2)>"

# Records what the status line and the newest answer bubble showed, each time the page changed.
WATCH_JS = """() => {
  window.__seen = [];
  new MutationObserver(() => {
    const status = document.querySelector('#hc-status .hc-status-text');
    const bots = document.querySelectorAll('#hc-chat [data-testid="bot"]');
    const rec = {status: status ? status.innerText : '', bot: bots.length ? bots[bots.length - 1].innerText : ''};
    const prev = window.__seen[window.__seen.length - 1];
    if (!prev || prev.status !== rec.status || prev.bot !== rec.bot) { window.__seen.push(rec); }
  }).observe(document.body, {subtree: true, childList: true, characterData: true});
}"""


def open_chat(page: Page, url: str) -> None:
    page.goto(url)
    expect(page.locator(QUESTION_BOX)).to_be_visible()


def ask(page: Page, question: str, timeout_ms: float = 5_000) -> None:
    """Ask and wait until the answer is complete: one more bot message, and the status line idle again."""
    answers = page.locator(BOT).count()
    page.fill(QUESTION_BOX, question)
    page.click("#hc-ask")
    expect(page.locator(BOT)).to_have_count(answers + 1)
    expect(page.locator("#hc-status .hc-idle")).to_be_attached(timeout=timeout_ms)
    expect(page.locator(BOT).last).not_to_contain_text("▍")


@pytest.mark.server
def test_a_real_models_tokens_stream_into_the_chat(page: Page, local_model_server):
    open_chat(page, local_model_server.url)
    page.evaluate(WATCH_JS)
    ask(page, "How often should I feed a sourdough starter?", timeout_ms=60_000)  # a real model on shared cores

    final_text = page.locator(BOT).last.inner_text().strip()
    assert final_text
    growing = [s["bot"].replace("▍", "").strip() for s in page.evaluate("window.__seen") if "▍" in s["bot"]]
    growing = [text for text in dict.fromkeys(growing) if text]
    # SmolLM2's answer is poor but real: the bubble shows it growing, piece by piece, before the checked answer.
    assert len(growing) >= 3, growing
    assert all(len(a) <= len(b) for a, b in zip(growing, growing[1:])), growing


@pytest.mark.server
def test_the_passages_show_before_the_model_writes_a_word(page: Page, held_model_server):
    server, model = held_model_server
    open_chat(page, server.url)
    page.evaluate(WATCH_JS)
    page.fill(QUESTION_BOX, "How often should I feed a sourdough starter?")
    page.click("#hc-ask")

    # The request to the model is held: whatever the page shows now, the model has not written.
    assert model.held.wait(30), "the answer never asked the model"
    reading = page.locator("#hc-sources .hc-reading .hc-src")
    expect(reading.first).to_be_visible()
    expect(reading.locator(".hc-title").first).to_have_text("Sourdough Starter Care: Feeding, Flour and Temperature")
    expect(reading.locator(".hc-passage").first).not_to_be_empty()
    expect(page.locator("#hc-status .hc-status-text")).to_have_text(f"Reading {reading.count()} passage{'s' * (reading.count() != 1)}…")
    bubble = page.locator(BOT).last
    expect(bubble).to_have_text(re.compile(r"^\s*Reading \d+ passages?…\s*$"))  # the step, not answer text
    assert page.locator("#hc-sources mark.hc-span").count() == 0, "nothing is cited before the answer exists"

    model.gate.set()
    expect(page.locator("#hc-status .hc-idle")).to_be_attached(timeout=60_000)
    expect(bubble).not_to_contain_text("▍")
    seen = page.evaluate("window.__seen")
    first_token = next(i for i, s in enumerate(seen) if "▍" in s["bot"])
    assert any(s["status"].startswith("Reading ") for s in seen[:first_token]), seen
    # The finished answer's panel lists only what it cites, under its own record.
    expect(page.locator("#hc-sources .hc-reading")).to_have_count(0)


def test_answer_streams_and_a_citation_opens_its_highlighted_passage(page: Page, ui_server):
    open_chat(page, ui_server.url)
    page.evaluate(WATCH_JS)
    ask(page, "How often should I feed a sourdough starter?")

    answer = page.locator(BOT).last
    expect(answer).to_contain_text("once every 24 hours")
    seen = page.evaluate("window.__seen")
    statuses = [s["status"] for s in seen]
    assert "Searching the articles…" in statuses, statuses
    final_text = answer.inner_text().strip()
    partial = [s["bot"] for s in seen if s["bot"].strip() and s["bot"].strip() != final_text]
    assert partial, "the answer bubble never showed an intermediate state"

    # Only cited passages are listed, one card per distinct [n] of the answer.
    markers = answer.locator(CITE)
    numbers = sorted({m.inner_text().strip("[]") for m in markers.all()})
    cards = page.locator("#hc-sources .hc-latest .hc-src")
    assert sorted(c.locator(".hc-num").inner_text().strip("[]") for c in cards.all()) == numbers

    first = markers.first
    number = first.inner_text().strip("[]")
    first.click()
    card = page.locator("#hc-sources .hc-src.hc-active")
    expect(card).to_have_count(1)
    expect(card).to_have_attribute("open", "")
    expect(card.locator(".hc-num")).to_have_text(f"[{number}]")
    expect(card.locator(".hc-title")).to_have_text("Sourdough Starter Care: Feeding, Flour and Temperature")
    expect(card.locator(".hc-date")).to_have_text("2024-03-01")
    expect(card.locator(".hc-tag")).to_have_text(["baking", "fermentation"])
    expect(card.locator("a.hc-link")).to_have_attribute("href", "https://aitoolshub.example/guides/sourdough-starter")
    highlighted = card.locator("mark.hc-active")
    expect(highlighted.first).to_be_visible()
    assert "once every 24 hours" in " ".join(highlighted.all_inner_texts())
    assert page.dialogs == []


def test_follow_up_feedback_export_and_new_conversation(page: Page, ui_server, ui_settings):
    open_chat(page, ui_server.url)
    ask(page, "How often should I feed a sourdough starter?")
    ask(page, "Which flour works best for it?")
    expect(page.locator(BOT).last).to_contain_text("flour")
    expect(page.locator(USER)).to_have_count(2)

    # Rate the follow-up answer, with a comment.
    # Only answers carry rating buttons, so the last pair belongs to the last answer.
    page.locator('#hc-chat button[aria-label="Dislike"]').last.click()
    expect(page.locator("#hc-comment-row")).to_be_visible()
    page.fill("#hc-comment textarea", "It should say how much rye to use.")
    page.click("#hc-send-comment")
    expect(page.locator("#hc-comment-row")).to_be_hidden()
    records = Records(ui_settings.ui.db_path)
    rated = [r for r in records.answers("all") if r.question == "Which flour works best for it?" and r.feedback]
    assert rated and rated[0].feedback[-1].helpful is False
    assert rated[0].feedback[-1].comment == "It should say how much rye to use."
    assert "sourdough" in rated[0].standalone_question.lower()  # the follow-up was resolved with the history

    # Export: a Markdown file with both questions and their sources.
    with page.expect_download() as download:
        page.click("#hc-export")
    text = open(download.value.path(), encoding="utf-8").read()
    assert "## 1. How often should I feed a sourdough starter?" in text
    assert "## 2. Which flour works best for it?" in text
    assert "**Sources**" in text and "https://aitoolshub.example/guides/sourdough-starter" in text

    page.click("#hc-new")
    expect(page.locator(BOT)).to_have_count(0)
    expect(page.locator("#hc-sources .hc-empty")).to_be_visible()
    expect(page.get_by_text("How do Chain Lube and Hot Wax compare?")).to_be_visible()  # the examples are back
    assert page.dialogs == []


def test_example_question_and_filters(page: Page, ui_server):
    open_chat(page, ui_server.url)
    page.get_by_text("How do Chain Lube and Hot Wax compare?").click()
    expect(page.locator(BOT)).to_have_count(1)
    expect(page.locator("#hc-status .hc-idle")).to_be_attached()
    expect(page.locator(BOT).last.locator(CITE).first).to_be_visible()

    # A tag filter that excludes the only relevant article: the answer is a refusal with a visible note.
    page.get_by_text("Filters").click()
    page.locator("#hc-tags input").click()
    page.get_by_role("option", name="gardening").click()
    page.keyboard.press("Escape")
    ask(page, "How often should I feed a sourdough starter?")
    expect(page.locator(BOT).last).to_contain_text("The articles do not cover this question")

    # A malformed date is reported in the conversation, which stays usable.
    page.fill("#hc-since textarea, #hc-since input", "next tuesday")
    ask(page, "How often should I feed a sourdough starter?")
    expect(page.locator(BOT).last).to_contain_text("is not a date like 2025-01-31")
    expect(page.locator(QUESTION_BOX)).to_be_editable()


def test_script_in_a_question_and_in_an_article_renders_as_text(page: Page, ui_server):
    open_chat(page, ui_server.url)
    question = f"How should the test comment {SCRIPT_TEXT} appear on the page?"
    ask(page, question)

    expect(page.locator(USER).last).to_have_text(question)
    answer = page.locator(BOT).last
    expect(answer).to_contain_text(SCRIPT_TEXT)
    answer.locator(CITE).first.click()
    card = page.locator("#hc-sources .hc-src.hc-active")
    expect(card.locator(".hc-passage")).to_contain_text(SCRIPT_TEXT)
    expect(card.locator(".hc-passage")).to_contain_text(IMG_TEXT)
    expect(card.locator("mark.hc-active")).to_contain_text(SCRIPT_TEXT)
    # the passage is rendered Markdown: its section heading is a heading, not "## " text
    expect(card.locator(".hc-passage h2").first).to_be_visible()
    expect(card.locator(".hc-passage")).not_to_contain_text("## ")

    page.wait_for_timeout(300)  # a script or onerror handler would have fired by now
    assert page.dialogs == []
    for area in ("#hc-chat", "#hc-sources"):
        assert page.locator(f"{area} script").count() == 0
        assert page.locator(f"{area} img[src='x']").count() == 0


def _login(page: Page, url: str, user: str, password: str) -> None:
    page.goto(url + "review/")
    page.locator("input[type=text]").fill(user)
    page.locator("input[type=password]").fill(password)
    page.get_by_role("button", name="Login").click()


QUESTION_CELL = '#hc-answers [role="gridcell"][data-col="2"]'


def _open_answer(page: Page, question: str, records: Records) -> None:
    page.locator("#hc-which").get_by_label("All").check()
    # Wait for the "All" list to replace the default "Flagged" one, or the click could land on a row being replaced.
    newest = records.answers("all", limit=1)[0].id[:8]
    expect(page.locator('#hc-answers [data-testid="cell-0-0"]')).to_have_text(newest)
    row = page.locator(QUESTION_CELL, has_text=question).first
    row.click()
    expect(page.locator("#hc-review-answer .hc-question")).to_have_text(question)


def test_editor_flags_a_sentence_and_the_verdict_survives_a_reload(page: Page, ui_server, editor_login, ui_settings):
    from gradio_client import Client

    records = Records(ui_settings.ui.db_path)
    client = Client(ui_server.url, verbose=False)
    question = "How long does a worm bin take to make compost?"
    client.predict(question, "[]", "{}", api_name="/ask")
    script_question = f"Is {SCRIPT_TEXT} escaped as plain text on the page?"
    client.predict(script_question, "[]", "{}", api_name="/ask")

    _login(page, ui_server.url, editor_login[0], "wrong password")
    expect(page.get_by_text("Incorrect credentials")).to_be_visible()
    _login(page, ui_server.url, *editor_login)
    expect(page.locator("#hc-answers")).to_be_visible()

    _open_answer(page, script_question, records)  # the <script> question is listed and shown as text
    expect(page.locator("#hc-review-answer .hc-answer-text")).to_contain_text(SCRIPT_TEXT)
    assert page.locator("#hc-review-answer script, .hc-review-sentence script").count() == 0
    _open_answer(page, question, records)
    expect(page.locator("#hc-review-answer")).to_contain_text("three months")
    first = page.locator(".hc-review-sentence").first
    expect(first.locator("mark.hc-span").first).to_be_visible()
    expect(first.locator(".hc-check")).to_contain_text("score")
    page.locator("#hc-label-0").get_by_label("Unsupported").check()
    page.fill("#hc-note-0 textarea", "The article gives no time for worm bins.")
    page.click("#hc-save-0")
    expect(first.locator(".hc-current")).to_contain_text("Unsupported — The article gives no time for worm bins.")

    page.reload()
    expect(page.locator("#hc-answers")).to_be_visible()  # still logged in
    _open_answer(page, question, records)
    expect(page.locator("#hc-label-0").get_by_label("Unsupported")).to_be_checked()
    expect(page.locator("#hc-note-0 textarea")).to_have_value("The article gives no time for worm bins.")
    expect(page.locator(".hc-review-sentence").first.locator(".hc-current")).to_contain_text("Unsupported")

    # The flagged list now holds it, and the CSV export carries the verdict.
    page.locator("#hc-which").get_by_label("Flagged").check()
    expect(page.locator(QUESTION_CELL, has_text=question).first).to_be_visible()
    page.click("#hc-export-csv")
    link = page.locator("#hc-csv a").first
    expect(link).to_be_visible()
    with page.expect_download() as download:
        link.click()
    rows = list(csv.DictReader(io.StringIO(open(download.value.path(), encoding="utf-8").read())))
    mine = [r for r in rows if r["question"] == question]
    assert [(r["sentence_index"], r["editor_label"], r["editor"]) for r in mine] == [("0", "unsupported", editor_login[0])]
    assert page.dialogs == []


def test_backend_down_shows_what_to_do_and_the_chat_stays_usable(page: Page, down_server):
    open_chat(page, down_server.url)
    question = "How often should I feed a sourdough starter?"
    ask(page, question)
    failed = page.locator(BOT).last
    expect(failed).to_contain_text("The answer could not be made")
    expect(failed).to_contain_text("is not reachable (connection refused)")
    expect(failed).to_contain_text("Start the server or change chat.base_url")

    ask(page, "Which flour works best for a starter?")
    expect(page.locator(BOT)).to_have_count(2)
    expect(page.locator(BOT).last).to_contain_text("is not reachable (connection refused)")
    expect(page.locator(USER)).to_have_text([question, "Which flour works best for a starter?"])
    page.click("#hc-new")
    expect(page.locator(BOT)).to_have_count(0)
    expect(page.locator(QUESTION_BOX)).to_be_editable()


def test_review_page_without_login_configured_says_how_to_enable_it(page: Page, ui_runtime, monkeypatch):
    from hubchat.web.server import start

    settings = ui_runtime.settings
    monkeypatch.delenv(settings.ui.editor_user_env, raising=False)
    monkeypatch.delenv(settings.ui.editor_password_env, raising=False)
    server = start(ui_runtime, host="127.0.0.1", port=0)
    try:
        page.goto(server.url + "review/")
        expect(page.get_by_text("Editors’ review is not enabled")).to_be_visible()
        expect(page.locator(".hc-disabled")).to_contain_text(settings.ui.editor_password_env)
        assert page.locator("input[type=password]").count() == 0
    finally:
        server.close()
