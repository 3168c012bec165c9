"""A serving app picks up new articles without a restart: from the site on its sync interval, and from the corpus
folder through its watcher, while it keeps answering.

The app is the real one (`hubchat.web.server.start`, asked over HTTP through its OpenAI-compatible API) with the
deterministic extractive chat backend, started with the same background updates as `hubchat serve`; the site is a
real loopback HTTP server; the index is embedded Chroma with the packaged embedder.
"""

from __future__ import annotations

import logging
import textwrap
import time
from pathlib import Path

import httpx
import pytest

from hubchat.runtime import Runtime
from hubchat.sync.background import BackgroundUpdates, is_article_file, is_watched_change
from hubchat.web.server import start
from tests.helpers import SAMPLES, settings_for, write_article, write_samples
from tests.site_server import PageMeta, SiteServer, article_page

# Well within the "answerable within a minute".
DEADLINE_S = 60
LANCEDB = "/guides/lancedb-on-a-laptop"


def page(path: str, title: str, body: str) -> str:
    return article_page(PageMeta(title=title, canonical=path, tags=("vector-databases",), date="2025-07-01"), textwrap.dedent(body))


@pytest.fixture(scope="module")
def site():
    server = SiteServer().start()
    server.robots()
    sample = SAMPLES[2]
    server.page(sample.url, page(sample.url, sample.title, sample.body))
    server.sitemap("/sitemap.xml", [sample.url])
    yield server
    server.close()


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, site: SiteServer, embedder):
    """The app serving a folder of the sample articles and the site, with serve's background updates running."""
    root = tmp_path_factory.mktemp("serving")
    corpus = root / "corpus"
    write_samples(corpus, SAMPLES[:2])
    settings = settings_for(
        root,
        corpus,
        f'[chat]\nbackend = "extractive"\n\n[ui]\ndb_path = "{root / "hubchat.sqlite"}"\n\n'
        f'[site]\nsitemaps = ["{site.url("/sitemap.xml")}"]\ninterval_s = 0.5\nrate_per_s = 100\n',
    )
    runtime = Runtime(settings)
    runtime.__dict__["embeddings"] = embedder  # the session's loaded model, not a second copy
    runtime.ingest()
    server = start(runtime, host="127.0.0.1", port=0)
    updates = runtime.background_updates().start()
    yield server, updates, corpus
    updates.stop()
    server.close()


def cited_urls(base_url: str, question: str) -> list[str]:
    response = httpx.post(
        base_url + "v1/chat/completions",
        json={"model": "hubchat", "messages": [{"role": "user", "content": question}]},
        timeout=60,
    )
    response.raise_for_status()
    return [s["url"] for s in response.json()["hubchat"]["sources"]]


def wait_until_cited(base_url: str, question: str, url: str) -> float:
    started = time.monotonic()
    while url not in cited_urls(base_url, question):
        assert time.monotonic() - started < DEADLINE_S, f"{url} was not cited within {DEADLINE_S} s"
        time.sleep(0.5)
    return time.monotonic() - started


def test_the_serving_app_answers_from_a_page_added_to_the_site_without_a_restart(app, site: SiteServer):
    server, updates, _ = app
    question = "Which file format does LanceDB keep its vectors in on a laptop?"
    assert LANCEDB not in cited_urls(server.url, question)

    site.page(LANCEDB, page(LANCEDB, "LanceDB on a Laptop", """
        LanceDB keeps its vectors in the Lance columnar file format on local disk, so a laptop can hold
        millions of embeddings without a server process.

        ## Versioned tables

        Every write to a LanceDB table creates a new version of the Lance files, so an index can be rolled back.
        """))
    site.sitemap("/sitemap.xml", [SAMPLES[2].url, LANCEDB])

    wait_until_cited(server.url, question, LANCEDB)
    assert SAMPLES[0].url in cited_urls(server.url, "Why does an embedded database need no server or port?"), "the folder's articles stay"


def test_the_serving_app_answers_from_a_file_added_to_the_corpus_folder_without_a_restart(app):
    server, updates, corpus = app
    assert updates.watching.wait(10)
    question = "How many litres of coolant does the immersion tank hold?"
    (corpus / "guides").mkdir(exist_ok=True)
    (corpus / "guides" / "immersion-cooling.md").write_text(
        "---\ntitle: Immersion Cooling for GPU Racks\nurl: /guides/immersion-cooling\ndate: 2025-08-01\ntags: [gpus]\n---\n\n"
        "The immersion tank holds 800 litres of dielectric coolant and takes eight GPU servers. Heat leaves the\n"
        "tank through a plate exchanger to the building's water loop.\n",
        encoding="utf-8",
    )
    wait_until_cited(server.url, question, "/guides/immersion-cooling")

    sample = SAMPLES[1]
    write_article(corpus, f"{sample.slug}.md", sample.body + "\n\nWhisper's turbo model transcribes a one-hour call in four minutes.\n",
                  title=sample.title, url=sample.url, tags=sample.tags)
    wait_until_cited(server.url, "How long does the Whisper turbo model take for a one-hour call?", sample.url)
    assert SAMPLES[2].url in cited_urls(server.url, "Why do GPU rental prices keep falling?"), "the site's pages stay"


@pytest.mark.browser
def test_the_chat_pages_tag_filter_offers_a_tag_that_a_background_sync_added(app, site: SiteServer, page):
    from playwright.sync_api import expect

    server, _, _ = app
    tag = "local-first-inference"

    question = "How do Llamafile and Ollama compare for Offline Laptops?"  # the new page's example question

    def offered_tags() -> list[str]:
        """The tag filter's choices, as a reader opening the chat page now sees them."""
        page.goto(server.url)
        expect(page.locator("#hc-chat")).to_be_visible()
        page.get_by_text("Filters").click()
        page.locator("#hc-tags input").click()
        expect(page.get_by_role("option", name="rag")).to_be_visible()
        return page.get_by_role("option").all_inner_texts()

    assert tag not in offered_tags()
    assert page.get_by_text(question).count() == 0
    path = "/guides/llamafile-offline"
    title = "Llamafile vs Ollama for Offline Laptops"  # the newest article, so its question leads the examples
    site.page(path, article_page(PageMeta(title=title, canonical=path, tags=(tag,), date="2025-09-01"), textwrap.dedent("""
        A llamafile bundles the model weights and the runtime into one executable, so a laptop answers questions
        with no network and no install step.
        """)))
    site.sitemap("/sitemap.xml", [SAMPLES[2].url, LANCEDB, path])
    wait_until_cited(server.url, "What does a llamafile bundle into one executable?", path)

    assert tag in offered_tags(), "the tag list follows the index, without a restart"
    expect(page.get_by_text(question)).to_be_visible()  # the example questions too


def test_the_chat_pages_example_questions_follow_a_folder_ingest_and_are_built_once_per_index(
    tmp_path: Path, embedder, monkeypatch: pytest.MonkeyPatch
):
    from hubchat.web import chat
    from hubchat.web.chat_page import index_choices

    builds = []
    real = chat.example_questions
    monkeypatch.setattr(chat, "example_questions", lambda chunks, limit: builds.append(len(chunks)) or real(chunks, limit))
    corpus = tmp_path / "corpus"
    write_samples(corpus, SAMPLES[:2])
    runtime = Runtime(settings_for(tmp_path, corpus, '[chat]\nbackend = "extractive"\n'))
    runtime.__dict__["embeddings"] = embedder
    runtime.ingest()
    examples = chat.IndexExamples(runtime.store)
    before = index_choices(runtime, examples)[1]
    assert index_choices(runtime, examples)[1] == before and len(builds) == 1, "a page load rebuilds nothing"

    write_article(corpus, "ollama-vs-llamacpp.md", """
        Ollama wraps llama.cpp in a server with a model library; llama.cpp itself is a library and a command line.
        """, title="Ollama vs llama.cpp for Laptops", url="/guides/ollama-vs-llamacpp", date="2025-10-01", tags=("local-llm",))
    runtime.ingest()
    tags, after = index_choices(runtime, examples)
    new = "How do Ollama and llama.cpp compare for Laptops?"
    assert new not in before and after[0] == new, "the newest article's question leads, without a restart"
    assert "local-llm" in tags
    assert index_choices(runtime, examples)[1] == after and len(builds) == 2, "rebuilt once for the changed index"


class _Failing:
    """An updater whose every run fails, as a broken store or network would make it."""

    def __init__(self) -> None:
        self.calls = 0

    def ingest(self):
        raise AssertionError("not watching a folder")

    def sync(self):
        self.calls += 1
        raise RuntimeError("the Chroma folder is on a disk that went away")


def test_a_failing_background_sync_is_logged_and_retried_never_raised(caplog: pytest.LogCaptureFixture):
    failing = _Failing()
    with caplog.at_level(logging.ERROR, logger="hubchat.sync.background"):
        updates = BackgroundUpdates(failing, corpus_dir=None, interval_s=0.05).start()
        deadline = time.monotonic() + 10
        while failing.calls < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        updates.stop()
    assert failing.calls >= 3, "the sync kept running after a failure"
    assert "site sync failed; the chat keeps serving the index as it was" in caplog.text
    assert "disk that went away" in caplog.text


def test_a_watcher_of_a_missing_folder_logs_and_leaves_serving_alone(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    with caplog.at_level(logging.ERROR, logger="hubchat.sync.background"):
        updates = BackgroundUpdates(_Failing(), corpus_dir=tmp_path / "missing", interval_s=0).start()
        assert updates.watching.wait(10)
        updates.stop()
    assert "stopped watching the corpus folder" in caplog.text


def test_the_watcher_reacts_to_article_files_only_even_in_a_hidden_parent_folder(tmp_path: Path):
    root = tmp_path / ".config" / "corpus"
    assert is_article_file(root / "guides" / "new.md", root)
    assert is_article_file(root / "page.HTML", root)
    assert not is_article_file(root / ".drafts" / "new.md", root)
    assert not is_article_file(root / ".new.md.swp", root)
    assert not is_article_file(root / "new.md~", root)
    assert not is_article_file(root / "notes.docx", root)


def test_a_new_folder_is_a_change_worth_an_ingest_as_its_first_file_may_come_before_its_watch(tmp_path: Path):
    root = tmp_path / "corpus"
    (root / "guides").mkdir(parents=True)
    (root / ".drafts").mkdir()
    assert is_watched_change(root / "guides", root)
    assert not is_watched_change(root / ".drafts", root)
    assert not is_watched_change(root, root), "the corpus folder itself changes with every file in it"
    assert not is_watched_change(tmp_path, root)
