"""The editors' desk in a real browser, on a records store filled by a scripted session through the real app:
questions asked over /ask (some refused, some answered with a sentence the checker flags), ratings over
/feedback, editors' verdicts saved through Records, a "needs update" mark, and a demotion lift saved and withdrawn
on the page.
The desk must show what the records hold.

The extractive backend quotes its passages, so the checker never flags its answers. For the flagged questions
the app's generator is the extractive one with an invented claim added, as a model that makes something up
would write it; the app's real checker flags it and the app records it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from hubchat.desk.activity import daily_activity
from hubchat.desk.agreement import agreement, reviewed_pairs
from hubchat.desk.gaps import find_gaps
from hubchat.desk.health import article_health
from hubchat.records import Records
from tests.conftest_ui import ARTIFACTS, ui_test_settings
from tests.test_ui_browser import _login, _open_answer

pytestmark = pytest.mark.browser

REFUSED = [
    "How much is a season ticket for the football club?",
    "What does a football club season ticket cost?",
    "What temperature kills a sourdough starter in an oven at 250 degrees?",
]
ANSWERED = [
    "How often should I feed my sourdough starter?",
    "Which flour should I feed a starter and how warm should it be?",
    "What lives in tide pools?",
    "Is hot wax better than chain lube?",
    "Which flour should a starter be fed, and how warm should it be kept?",
]
# Editors judge every sentence of these "wrong citation": two similar questions, so their passage is demoted.
JUDGED_WRONG = (ANSWERED[1], ANSWERED[4])
# Answered with an invented sentence the passages do not support: the checker flags these answers.
FLAGGED = {
    "How do I keep a worm bin in a small flat?": "Every flat in Europe has kept a worm bin since 1850 [1].",
    "How do I show user comments safely on a web page?": "Browsers have escaped every comment by law since 1994 [1].",
}

# Asked after the desk is checked (so its figures stay as above): an invented sentence citing two passages, neither
# supporting it, so the checker keeps both markers; the editor's "wrong citation" names one of them.
TWO_CITED = ("How warm should a sourdough starter be kept, and which flour suits it?",
             "Every baker in Europe has kept a starter at 40 degrees since 1850 [1][2].")


class _Inventing:
    """The app's extractive generator, adding an invented claim to the answers of FLAGGED questions."""

    def __init__(self, inner):
        self.inner = inner
        self.label = inner.label

    def prepare(self):
        return self.inner.prepare()

    def rewrite(self, question, history):
        return self.inner.rewrite(question, history)

    def stream(self, question, passages, usage):
        yield from self.inner.stream(question, passages, usage)
        if question in FLAGGED:
            yield " " + FLAGGED[question]
        if question == TWO_CITED[0]:
            yield " " + TWO_CITED[1]


@pytest.fixture(scope="module")
def desk_server(tmp_path_factory, editor_login):
    from hubchat.runtime import Runtime
    from hubchat.web.server import start

    runtime = Runtime(ui_test_settings(tmp_path_factory.mktemp("desk")))
    runtime.ingest()
    runtime.__dict__["generator"] = _Inventing(runtime.generator)  # before the answerer is built on it
    server = start(runtime, host="127.0.0.1", port=0)
    yield server, runtime
    server.close()


def _session(url: str, records: Records) -> dict[str, str]:
    """Readers ask and rate through the app's API; an editor reviews every answered sentence."""
    from gradio_client import Client

    client = Client(url, verbose=False)
    ids = {}
    for question in REFUSED + ANSWERED + list(FLAGGED):
        _, _, details = client.predict(question, "[]", "{}", api_name="/ask")
        ids[question] = json.loads(details)["answer_id"]
    for question, helpful in [(ANSWERED[0], True), (ANSWERED[1], False), (ANSWERED[2], True), (REFUSED[0], False)]:
        assert client.predict(ids[question], helpful, "", api_name="/feedback") == "ok"
    for question in ANSWERED:
        record = records.answer(ids[question])
        for sentence in record.sentences:
            label = "wrong_citation" if question in JUDGED_WRONG else "supported"
            records.set_verdict(record.id, sentence.index, label, editor="script")
    return ids


def test_the_desk_shows_gaps_health_agreement_and_charts_from_the_records(page: Page, desk_server, editor_login):
    server, runtime = desk_server
    records = Records(runtime.settings.ui.db_path)
    ids = _session(server.url, records)
    assert all(records.answer(ids[q]).refused for q in REFUSED)
    assert not any(records.answer(ids[q]).flagged for q in REFUSED + ANSWERED)
    flagged = [records.answer(ids[q]) for q in FLAGGED]
    assert all(r.flagged and not r.refused for r in flagged)
    assert all(any(s.verdict == "unsupported" for s in r.sentences) for r in flagged)

    _login(page, server.url, *editor_login)
    expect(page.locator("#hc-answers")).to_be_visible()
    page.get_by_role("tab", name="Desk").click()

    # Content gaps: the two football questions are one topic, asked by two readers (each /ask call is one).
    groups = find_gaps(records.unanswered_questions(), runtime.embeddings.embed_array, runtime.store.dense_search)
    shown = page.locator("#hc-desk-gaps .hc-gap")
    expect(shown).to_have_count(len(groups))
    football = next(g for g in groups if REFUSED[0] in g.typical)
    assert (football.asked, football.readers, football.refused) == (2, 2, 2)
    first = shown.nth(football.rank - 1)
    expect(first).to_contain_text("asked 2 times by 2 readers")
    for question in football.typical:
        expect(first.locator(".hc-typical")).to_contain_text(question)
    expect(first.locator(".hc-closest")).to_contain_text("none close")
    oven = next(g for g in groups if REFUSED[2] in g.typical)
    expect(shown.nth(oven.rank - 1).locator(".hc-closest")).to_contain_text("Sourdough Starter Care")

    # The flagged questions are gaps too, counted as flagged.
    for question in FLAGGED:
        group = next(g for g in groups if question in g.typical)
        assert group.flagged == 1
        expect(shown.nth(group.rank - 1).locator(".hc-gap-head")).to_contain_text("0 refused, 1 flagged")

    # Article health: each article's row holds its counts from the records, sorted by failed citations.
    rows = article_health(records.answers_since())
    health = {h.title: h for h in rows}
    sourdough = health["Sourdough Starter Care: Feeding, Flour and Temperature"]
    assert sourdough.answers == 3 and sourdough.wrong_citation >= 2 and (sourdough.helpful, sourdough.not_helpful) == (1, 1)
    assert rows[0] == sourdough  # the most wrong citations
    def cells(h):
        return [h.title, h.answers, h.cited, h.checker_flagged, h.wrong_citation, h.unsupported, h.helpful, h.not_helpful]
    for row, h in enumerate(rows):
        for col, value in enumerate(cells(h)):
            expect(page.locator(f'#hc-health [data-testid="cell-{row}-{col}"]')).to_have_text(str(value))
    expect(page.locator(f'#hc-health [data-testid="cell-{len(rows)}-0"]')).not_to_be_attached()
    # The articles the invented sentences cited show them as checker-flagged citations.
    flagged_articles = {s.article_id for r in flagged for s in r.sources if any(
        s.number in c.citations and c.verdict == "unsupported" for c in r.sentences)}
    assert flagged_articles and all(h.checker_flagged > 0 for h in rows if h.article_id in flagged_articles)
    assert sum(h.checker_flagged for h in rows) >= len(FLAGGED)
    # Filtered by title, one row is left.
    page.fill("#hc-health-find textarea", "tide")
    page.locator("#hc-health-find textarea").press("Enter")
    expect(page.locator('#hc-health [data-testid="cell-0-0"]')).to_have_text("Tide Pools: Life Between the Tides")
    expect(page.locator('#hc-health [data-testid="cell-1-0"]')).not_to_be_attached()

    # A needs-update mark saved on the page lands in the records and in the table.
    page.locator("#hc-mark-article input").click()
    page.get_by_role("option", name=re.compile("Tide Pools")).click()
    page.fill("#hc-mark-note textarea", "Add the 2025 crab survey")
    page.click("#hc-mark-save")
    expect(page.locator('#hc-health [data-testid="cell-0-8"]')).to_have_text("yes: Add the 2025 crab survey")
    mark = records.article_marks()["/insights/tide-pools"]
    assert (mark.needs_update, mark.note, mark.editor) == (True, "Add the 2025 crab survey", editor_login[0])

    # The checker against editors: every answered sentence was reviewed.
    result = agreement(reviewed_pairs(records.answers_since()))
    assert result.pairs > 0 and result.precision < 1.0
    expect(page.locator("#hc-precision")).to_have_text(f"precision {result.precision:.2f}")
    expect(page.locator("#hc-recall")).to_have_text(f"recall {result.recall:.2f}")
    expect(page.locator('#hc-desk-agreement td[data-cell="supported:wrong_citation"]')).to_have_text(
        str(result.confusion[("supported", "wrong_citation")])
    )

    # The charts plot today's figures: 10 questions, 3 refused, 2 flagged (of 7 answered), 2 of 4 ratings helpful.
    [today] = daily_activity(records.answers_since())
    assert (today.questions, today.refused, today.flagged, today.helpful, today.not_helpful) == (10, 3, 2, 2, 2)
    for key, value in [("questions", 10.0), ("refusals", 3 / 10), ("flagged", 2 / 7), ("rating", 0.5)]:
        point = page.locator(f"#hc-chart-{key} circle")
        expect(point).to_have_count(1)
        assert float(point.get_attribute("data-value")) == pytest.approx(value, abs=1e-4)
        assert point.get_attribute("data-day") == today.day

    # The passage judged wrong for both similar questions is listed as demoted; lifting it on the page records
    # the lift, and the list empties.
    [demotion] = runtime.demoter.active()
    judged = {s.chunk_id for q in JUDGED_WRONG for s in records.answer(ids[q]).sources}
    assert demotion.chunk_id in judged and set(demotion.questions) == set(JUDGED_WRONG)
    listed = page.locator("#hc-desk-demotions .hc-demotion")
    expect(listed).to_have_count(1)
    expect(listed).to_have_attribute("data-chunk", demotion.chunk_id)
    for question in JUDGED_WRONG:
        expect(listed).to_contain_text(question)
    page.locator("#hc-lift-chunk input").click()
    page.get_by_role("option", name=re.compile(re.escape(demotion.chunk_id))).click()
    page.fill("#hc-lift-note textarea", "The flour section was rewritten")
    page.click("#hc-lift")
    expect(page.locator("#hc-desk-demotions")).to_contain_text("No passage is demoted")
    lift = records.demotion_lifts()[demotion.chunk_id]
    assert (lift.lifted, lift.note, lift.editor) == (True, "The flour section was rewritten", editor_login[0])
    assert runtime.demoter.active() == ()
    # The lifted passage is listed with the verdicts it sets aside; withdrawing the lift on the page demotes it
    # again (no new verdict needed) and empties the list.
    lifted = page.locator("#hc-desk-lifted .hc-lifted")
    expect(lifted).to_have_count(1)
    expect(lifted).to_have_attribute("data-chunk", demotion.chunk_id)
    expect(lifted).to_contain_text("The flour section was rewritten")
    expect(lifted).to_contain_text(f"sets aside the verdicts of {len(JUDGED_WRONG)} answers")
    page.locator("#hc-unlift-chunk input").click()
    page.locator("#hc-unlift-chunk").get_by_role("option", name=re.compile(re.escape(demotion.chunk_id))).click()
    page.fill("#hc-unlift-note textarea", "The rewrite kept the wrong flour advice")
    page.click("#hc-unlift")
    expect(page.locator("#hc-desk-lifted")).to_contain_text("No demotion is lifted")
    expect(listed).to_have_count(1)
    expect(listed).to_have_attribute("data-chunk", demotion.chunk_id)
    withdrawn = records.demotion_lifts()[demotion.chunk_id]
    assert (withdrawn.lifted, withdrawn.note, withdrawn.editor) == (False, "The rewrite kept the wrong flour advice", editor_login[0])
    assert records.lifted_demotions() == []
    assert [d.chunk_id for d in runtime.demoter.active()] == [demotion.chunk_id]

    # The gaps download carries the same groups.
    page.click("#hc-gaps-json")
    with page.expect_download() as download:
        page.locator("#hc-gaps-download a").click()
    exported = json.loads(Path(download.value.path()).read_text(encoding="utf-8"))
    assert [g["typical_questions"] for g in exported] == [list(g.typical) for g in groups]

    # Into test-artifacts/, never over the committed docs/editors-desk.png (a run must leave the tree clean); copy it
    # there by hand when the desk's look changes.
    ARTIFACTS.mkdir(exist_ok=True)
    page.locator("#hc-tab-desk").screenshot(path=str(ARTIFACTS / "editors-desk.png"))
    assert (ARTIFACTS / "editors-desk.png").stat().st_size < 300_000

    # On the Answers tab, a "wrong citation" on the invented sentence citing [1][2] names only [2]: the records
    # blame that passage alone (what the demoter reads), and the page says which one was blamed.
    from gradio_client import Client

    _, _, details = Client(server.url, verbose=False).predict(TWO_CITED[0], "[]", "{}", api_name="/ask")
    worm_question = TWO_CITED[0]
    worm = records.answer(json.loads(details)["answer_id"])
    [invented] = [s for s in worm.sentences if len(set(s.citations)) > 1]
    assert invented.citations == (1, 2) and invented.verdict == "unsupported"
    page.get_by_role("tab", name="Answers").click()
    _open_answer(page, worm_question, records)
    blame = page.locator(f"#hc-blame-{invented.index}")
    for number in (1, 2):
        expect(blame.locator("label", has_text=f"[{number}] {worm.source(number).title}")).to_be_visible()
        expect(blame.locator(f'input[name="{number}"]')).to_be_checked()  # all by default, as before the choice
    blame.locator('input[name="1"]').uncheck()
    page.locator(f"#hc-label-{invented.index}").get_by_label("Wrong citation").check()
    page.fill(f"#hc-note-{invented.index} textarea", "The second article is about bins in houses")
    page.click(f"#hc-save-{invented.index}")
    expect(page.locator(f"#sentence-{invented.index} .hc-current")).to_contain_text("Wrong citation of [2]")
    review = records.answer(worm.id).reviews[invented.index]
    assert (review.label, review.citations, review.editor) == ("wrong_citation", (2,), editor_login[0])
    blamed = [(w.answer_id, w.chunk_id) for w in records.wrong_citations() if w.answer_id == worm.id]
    assert blamed == [(worm.id, worm.source(2).chunk_id)] and worm.source(1).chunk_id != worm.source(2).chunk_id
    assert page.dialogs == []
