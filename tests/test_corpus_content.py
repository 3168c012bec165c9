"""The site corpus meets the issue: enough well-formed Markdown articles, a few HTML renderings of some of them
whose extraction matches the Markdown without the site chrome, and an ingest that indexes each article once.

The ingest checks use the session's real index of corpus/ (tests/conftest_corpus.py).
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from pathlib import Path

import frontmatter
import lxml.html
import pytest

from hubchat.ingest.chunking import split_units
from hubchat.ingest.corpus import (
    list_source_files,
    parse_html,
    parse_markdown,
    read_source,
)
from hubchat.ingest.pipeline import ingest

CORPUS_DIR = Path(__file__).resolve().parent.parent / "corpus"
SOURCES = list_source_files(CORPUS_DIR)
MARKDOWN_FILES = [p for p in SOURCES if p.suffix.lower() in (".md", ".markdown")]
HTML_FILES = [p for p in SOURCES if p.suffix.lower() in (".html", ".htm")]

FRONT_MATTER_KEYS = {"title", "url", "date", "tags", "summary", "author"}
FIRST_DATE, LAST_DATE = dt.date(2024, 1, 1), dt.date(2026, 10, 31)
URL_PATH = re.compile(r"^/(guides|compare|alternatives|use-cases|insights)/[a-z0-9]+(?:-[a-z0-9]+)*$")
KEBAB_TAG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
# A word: letters or digits, possibly joined by an apostrophe, hyphen or dot ("70-billion-parameter", "llama.cpp").
WORD = re.compile(r"[^\W_]+(?:['’.-][^\W_]+)*")
LIST_ITEM = re.compile(r"^[ \t]*(?:[-*+]|\d{1,3}[.)])[ \t]+\S", re.MULTILINE)
TAKEAWAYS = "Key takeaways"

# Site chrome of the HTML pages that must never reach article text.
CHROME_STRINGS = (
    "Latest articles",
    "Get the weekly briefing",
    "once a week. No spam",
    "Subscribe",
    "Email address",
    "All rights reserved",
    "AI Tools Hub.",
    "Skip to content",
    "Search articles",
    "Privacy policy",
    "Terms of use",
)
NAV_LABELS = ("Home", "Guides", "Comparisons", "Alternatives", "Use cases", "Insights", "Topics", "About", "Contact", "RSS")
# Everything on an HTML page outside the article itself.
CHROME_XPATH = "//header[contains(@class,'site-header')] | //nav | //aside | //footer | //a[contains(@class,'skip-link')]"
MIN_JACCARD = 0.9


def _ids(paths):
    return [p.relative_to(CORPUS_DIR).as_posix() for p in paths]


def _markdown(path: Path):
    return parse_markdown(read_source(path, CORPUS_DIR, 2_000_000))


def _html(path: Path):
    return parse_html(read_source(path, CORPUS_DIR, 2_000_000))


def _body_headings(body: str, level: int) -> list[str]:
    return re.findall(rf"^{'#' * level}[ \t]+(.+?)[ \t]*$", body, re.MULTILINE)


def _words(text: str) -> set[str]:
    return {w.lower() for w in WORD.findall(text)}


# ---- the Markdown articles -------------------------------------------------------------------------------------


def test_the_corpus_has_at_least_40_markdown_articles():
    assert len(MARKDOWN_FILES) >= 40, [p.name for p in MARKDOWN_FILES]


@pytest.mark.parametrize("path", MARKDOWN_FILES, ids=_ids(MARKDOWN_FILES))
def test_front_matter_has_title_url_date_tags_summary_and_author(path: Path):
    meta = frontmatter.load(path).metadata
    assert set(meta) == FRONT_MATTER_KEYS
    for key in ("title", "summary", "author"):
        assert isinstance(meta[key], str) and meta[key].strip(), key
    assert URL_PATH.match(meta["url"]), meta["url"]
    # YAML reads an unquoted ISO date as a date; a quoted or malformed one stays a string and fails here.
    assert type(meta["date"]) is dt.date, meta["date"]
    assert FIRST_DATE <= meta["date"] <= LAST_DATE
    assert isinstance(meta["tags"], list) and 2 <= len(meta["tags"]) <= 5, meta["tags"]
    assert all(isinstance(t, str) and KEBAB_TAG.match(t) for t in meta["tags"]), meta["tags"]


def test_article_urls_are_unique():
    urls = Counter(frontmatter.load(p).metadata.get("url") for p in MARKDOWN_FILES)
    assert [u for u, n in urls.items() if n > 1] == []


def test_tags_are_shared_across_articles():
    tags = Counter(t for p in MARKDOWN_FILES for t in frontmatter.load(p).metadata.get("tags", []))
    shared = [t for t, n in tags.items() if n > 1]
    assert len(shared) >= 10, tags


@pytest.mark.parametrize("path", MARKDOWN_FILES, ids=_ids(MARKDOWN_FILES))
def test_body_is_500_to_1200_words(path: Path):
    words = len(WORD.findall(frontmatter.load(path).content))
    assert 500 <= words <= 1200, words


@pytest.mark.parametrize("path", MARKDOWN_FILES, ids=_ids(MARKDOWN_FILES))
def test_body_has_an_intro_headings_a_list_and_key_takeaways_last(path: Path):
    body = frontmatter.load(path).content
    assert _body_headings(body, 1) == [], "the title must not be repeated as an H1"
    assert not body.lstrip().startswith("#"), "an intro paragraph comes before the first heading"
    sections = _body_headings(body, 2)
    assert sections and sections[-1] == TAKEAWAYS, sections
    assert 3 <= len(sections) - 1 <= 7, sections
    assert LIST_ITEM.search(body), "at least one bulleted or numbered list"
    takeaways = body.split(f"## {TAKEAWAYS}", 1)[1]
    bullets = re.findall(r"^[ \t]*[-*+][ \t]+\S", takeaways, re.MULTILINE)
    assert 3 <= len(bullets) <= 5, takeaways


@pytest.mark.parametrize("path", MARKDOWN_FILES, ids=_ids(MARKDOWN_FILES))
def test_the_chunker_sees_the_same_headings(path: Path):
    article = _markdown(path)
    seen = {u.heading_path[-1] for u in split_units(article.text) if u.kind == "heading"}
    body = frontmatter.load(path).content
    assert set(_body_headings(body, 2) + _body_headings(body, 3)) == seen


# ---- the HTML renderings ---------------------------------------------------------------------------------------


def _canonical(path: Path) -> str:
    links = lxml.html.fromstring(path.read_text(encoding="utf-8")).xpath("//link[@rel='canonical']/@href")
    assert len(links) == 1, links
    return links[0]


def test_three_to_five_html_pages_each_a_rendering_of_a_markdown_article():
    assert 3 <= len(HTML_FILES) <= 5, _ids(HTML_FILES)
    markdown_urls = {frontmatter.load(p).metadata["url"] for p in MARKDOWN_FILES}
    for path in HTML_FILES:
        canonical = _canonical(path)
        assert canonical in markdown_urls, (path.name, canonical)
        assert _html(path).id == canonical


def _markdown_twin(html_path: Path):
    canonical = _canonical(html_path)
    twins = [p for p in MARKDOWN_FILES if frontmatter.load(p).metadata["url"] == canonical]
    assert len(twins) == 1, (html_path.name, twins)
    return _markdown(twins[0])


@pytest.mark.parametrize("path", HTML_FILES, ids=_ids(HTML_FILES))
def test_html_extraction_has_the_markdown_articles_words(path: Path):
    extracted, markdown = _words(_html(path).text), _words(_markdown_twin(path).text)
    jaccard = len(extracted & markdown) / len(extracted | markdown)
    assert jaccard >= MIN_JACCARD, (jaccard, sorted(extracted - markdown)[:30], sorted(markdown - extracted)[:30])


@pytest.mark.parametrize("path", HTML_FILES, ids=_ids(HTML_FILES))
def test_html_extraction_drops_the_site_chrome(path: Path):
    article = _html(path)
    markdown = _markdown_twin(path).text
    text = article.text
    for chrome in CHROME_STRINGS:
        assert chrome.lower() not in text.lower(), chrome
    lines = {re.sub(r"^[-*+#\s]+", "", line).strip() for line in text.splitlines()}
    assert not lines & set(NAV_LABELS), lines & set(NAV_LABELS)
    # Every text fragment of the page's header, navigation, sidebar and footer, unless the article says it too.
    tree = lxml.html.fromstring(path.read_text(encoding="utf-8"))
    fragments = {" ".join(t.split()) for el in tree.xpath(CHROME_XPATH) for t in el.itertext()}
    leaked = [f for f in fragments if len(f) > 2 and f in text and f not in markdown]
    assert leaked == []


# ---- ingesting the corpus --------------------------------------------------------------------------------------


def test_ingest_indexes_every_markdown_article_exactly_once(corpus_index):
    summary = corpus_index.summary
    expected = sorted(frontmatter.load(p).metadata["url"] for p in MARKDOWN_FILES)
    assert list(summary.added) == expected
    assert summary.updated == () and summary.deleted == ()
    states = corpus_index.runtime.store.article_states()
    assert sorted(states) == expected
    assert all(s.complete and s.source_path.endswith(".md") for s in states.values())


def test_ingest_lists_each_html_page_as_a_duplicate(corpus_index):
    skipped = dict(corpus_index.summary.skipped)
    assert sorted(skipped) == _ids(HTML_FILES)
    for path in HTML_FILES:
        assert skipped[path.relative_to(CORPUS_DIR).as_posix()].startswith(f"duplicate of article {_canonical(path)} ")


def test_no_chunk_id_or_article_ordinal_repeats(corpus_index):
    chunks = corpus_index.runtime.store.all_chunks()
    assert len(chunks) == corpus_index.summary.chunks_total
    ids = Counter(c.id for c in chunks)
    assert [i for i, n in ids.items() if n > 1] == []
    positions = Counter((c.article_id, c.ordinal) for c in chunks)
    assert [p for p, n in positions.items() if n > 1] == []
    by_article: dict[str, list[int]] = {}
    for c in chunks:
        by_article.setdefault(c.article_id, []).append(c.ordinal)
    assert all(sorted(o) == list(range(len(o))) for o in by_article.values())


def test_chunks_are_spans_of_the_markdown_text(corpus_index):
    texts = {a.id: a.text for a in map(_markdown, MARKDOWN_FILES)}
    for chunk in corpus_index.runtime.store.all_chunks():
        assert chunk.text == texts[chunk.article_id][chunk.start:chunk.end], chunk.id


def test_ingesting_again_changes_nothing(corpus_index):
    again = ingest(corpus_index.settings, corpus_index.runtime.store, corpus_index.runtime.embeddings)
    assert (again.added, again.updated, again.deleted, again.chunks_written) == ((), (), (), 0)
    assert again.unchanged == len(MARKDOWN_FILES)
    assert again.chunks_total == corpus_index.summary.chunks_total
    assert again.skipped == corpus_index.summary.skipped
