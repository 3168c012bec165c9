"""The chat widget on a site's article page, in a real browser (Chromium via Playwright), and both chats on a phone.

The "site" is a second loopback server (another origin) serving an article page that carries the one `<script>`
tag a site adds. The app lists that origin in `ui.embed_origins`; `localhost` on the same port is another origin,
not listed, and must not be able to frame the widget. Screenshots of each viewport are saved under test-artifacts/.
"""

from __future__ import annotations

import re
from http.server import BaseHTTPRequestHandler

import pytest
from playwright.sync_api import Page, expect

from hubchat.records import Records
from tests.conftest_ui import ARTIFACTS
from tests.loopback_http import LoopbackServer

pytestmark = pytest.mark.browser

COMPOSTING_TITLE = "Alternatives to Peat: Composting in a Small Apartment"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1400, "height": 900}
FRAME = "iframe.hubchat-frame"

class _SitePages(BaseHTTPRequestHandler):
    """An article page of the site with the widget's tag, and a page that frames the app's chat and widget."""

    def do_GET(self):  # noqa: N802 - the http.server API
        app = self.owner.app_url
        if self.path.startswith("/guides/apartment-composting"):
            body = (
                "<!doctype html><html><head><meta charset='utf-8'><meta name='viewport' content='width=device-width'>"
                "<link rel='canonical' href='https://aitoolshub.example/guides/apartment-composting'>"
                f"<title>{COMPOSTING_TITLE}</title></head><body><article><h1>{COMPOSTING_TITLE}</h1>"
                "<p>You do not need a garden to turn kitchen scraps into compost.</p></article>"
                f"<script src='{app}widget/embed.js' async></script></body></html>"
            )
        elif self.path == "/frames":
            body = (
                "<!doctype html><html><body>"
                f"<iframe id='chat' src='{app}'></iframe>"
                f"<iframe id='widget' src='{app}widget/?page=https://aitoolshub.example/guides/apartment-composting'></iframe>"
                "</body></html>"
            )
        else:
            self.send_error(404)
            return
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


class SiteServer(LoopbackServer):
    app_url = ""

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture(scope="module")
def site_and_app(ui_runtime, tmp_path_factory: pytest.TempPathFactory):
    """(site, app, records): the site's server, the app that lets the site (and only it) embed the widget, and
    the app's records."""
    from hubchat.runtime import Runtime
    from hubchat.web.server import start

    site = SiteServer(_SitePages).start()
    db_path = tmp_path_factory.mktemp("widget") / "hubchat.sqlite"
    settings = ui_runtime.settings.model_copy(
        update={"ui": ui_runtime.settings.ui.model_copy(
            update={"embed_origins": (site.origin,), "db_path": db_path}
        )}
    )
    app = start(Runtime(settings), host="127.0.0.1", port=0)
    site.app_url = app.url
    yield site, app, Records(db_path)
    app.close()
    site.close()


def viewport_page(browser, viewport: dict):
    context = browser.new_context(viewport=viewport, is_mobile=viewport is PHONE, has_touch=viewport is PHONE)
    page = context.new_page()
    page.set_default_timeout(20_000)
    return page


def screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=False)


def no_horizontal_overflow(frame) -> bool:
    return frame.evaluate("() => document.documentElement.scrollWidth <= document.documentElement.clientWidth + 1")


def open_widget(page: Page, site: SiteServer):
    page.goto(site.origin + "/guides/apartment-composting")
    page.click("button.hubchat-launcher")
    expect(page.locator(FRAME)).to_be_visible()
    return page.frame_locator(FRAME)


def ask_in_widget(widget, question: str) -> None:
    widget.locator("#hcw-question").fill(question)
    widget.locator("#hcw-question").press("Enter")


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone-390", "desktop-1400"])
def test_an_article_page_on_another_site_embeds_the_widget_and_gets_a_cited_answer_about_it(
    browser, site_and_app, viewport
):
    site, _, records = site_and_app
    page = viewport_page(browser, viewport)
    try:
        widget = open_widget(page, site)
        expect(widget.locator("#hcw-scope")).to_contain_text(COMPOSTING_TITLE)
        frame = next(f for f in page.frames if "/widget/" in f.url)
        ask_in_widget(widget, "How long does a worm bin take to make compost?")
        answer = widget.locator(".hcw-a[data-answer-id]").last
        expect(answer).to_contain_text("three months")

        # Every card is the page's own article, and a marker opens its passage with the supporting span lit.
        expect(answer.locator(".hc-src .hc-title")).to_have_text([COMPOSTING_TITLE] * answer.locator(".hc-src").count())
        answer.locator("a.hcw-cite").first.click()
        expect(answer.locator("details.hc-src.hc-active")).to_have_attribute("open", "")
        expect(answer.locator("mark.hc-span.hc-active").first).to_be_visible()

        # It fits: the panel takes the whole phone screen, and neither page scrolls sideways.
        panel = page.locator(".hubchat-panel").bounding_box()
        if viewport is PHONE:
            assert panel["width"] == pytest.approx(PHONE["width"], abs=1) and panel["x"] == pytest.approx(0, abs=1)
        else:
            assert panel["width"] <= 420 and panel["x"] > DESKTOP["width"] / 2
        assert no_horizontal_overflow(page) and no_horizontal_overflow(frame)
        send = widget.locator("#hcw-send").bounding_box()
        assert send["x"] + send["width"] <= viewport["width"] + 1, "the send button is on screen"
        screenshot(page, f"widget-{viewport['width']}")
        record = records.answer(answer.get_attribute("data-answer-id"))
        assert record.channel == "widget"
    finally:
        page.context.close()


def test_a_question_the_article_does_not_answer_can_be_asked_of_the_whole_site(browser, site_and_app):
    site, _, _ = site_and_app
    page = viewport_page(browser, DESKTOP)
    try:
        widget = open_widget(page, site)
        ask_in_widget(widget, "Does hot wax keep a bicycle chain cleaner than wet lube?")
        refused = widget.locator(".hcw-a[data-answer-id]").last
        expect(refused).to_contain_text("don't cover")
        refused.get_by_role("button", name=re.compile("Ask all the site")).click()
        wide = widget.locator(".hcw-a[data-answer-id]").nth(1)
        expect(wide.locator(".hc-src .hc-title").first).to_have_text("Chain Lube vs Hot Wax: Keeping a Bicycle Drivetrain Clean")
    finally:
        page.context.close()


def test_only_the_listed_site_can_frame_the_widget_and_no_site_the_chat(browser, site_and_app):
    site, _, _ = site_and_app
    page = viewport_page(browser, DESKTOP)
    try:
        page.goto(site.origin + "/frames")
        listed = page.frame_locator("#widget")
        expect(listed.locator("#hcw-form")).to_be_visible()  # the listed site may frame the widget...
        chat = page.locator("#chat").element_handle().content_frame()
        assert chat.url.startswith("chrome-error:"), f"...but not the chat: it loaded {chat.url}"

        page.goto(f"http://localhost:{site.port}/frames")  # another origin, not listed
        page.wait_for_load_state("load")
        for name in ("#chat", "#widget"):
            framed = page.locator(name).element_handle().content_frame()
            assert framed.url.startswith("chrome-error:"), f"{name} loaded {framed.url} in a site that is not listed"
    finally:
        page.context.close()


@pytest.mark.server
def test_the_widget_shows_the_passages_before_the_model_writes_a_word(page: Page, held_model_server):
    server, model = held_model_server
    page.goto(server.url + "widget/?page=https://aitoolshub.example/guides/sourdough-starter")
    page.fill("#hcw-question", "How often should I feed a sourdough starter?")
    page.press("#hcw-question", "Enter")

    # The request to the model is held: whatever the widget shows now, the model has not written.
    assert model.held.wait(30), "the answer never asked the model"
    reading = page.locator(".hcw-reading .hc-src")
    expect(reading.first).to_be_visible()
    expect(reading.locator(".hc-title").first).to_have_text("Sourdough Starter Care: Feeding, Flour and Temperature")
    expect(page.locator("#hcw-status")).to_have_text(re.compile(r"^Reading \d+ passages?…$"))
    assert page.locator(".hcw-a[data-answer-id]").count() == 0 and page.locator("mark.hc-span").count() == 0

    model.gate.set()
    expect(page.locator(".hcw-a[data-answer-id]")).to_have_count(1, timeout=60_000)
    expect(page.locator(".hcw-reading")).to_have_count(0)


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone-390", "desktop-1400"])
def test_the_main_chat_works_on_a_phone_and_a_desktop(browser, ui_server, viewport):
    page = viewport_page(browser, viewport)
    try:
        page.goto(ui_server.url)
        box = page.locator("#hc-question textarea")
        expect(box).to_be_visible()
        box.fill("How long does a worm bin take to make compost?")
        box.press("Enter")
        bot = page.locator('#hc-chat [data-testid="bot"]').last
        expect(bot).to_contain_text("three months")
        assert no_horizontal_overflow(page), "the page does not scroll sideways"
        for selector in ("#hc-question textarea", "#hc-ask"):
            where = page.locator(selector).bounding_box()
            assert where["x"] >= 0 and where["x"] + where["width"] <= viewport["width"] + 1, selector
        screenshot(page, f"chat-{viewport['width']}")
    finally:
        page.context.close()
