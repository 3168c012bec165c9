"""The corpus reader turns Markdown, HTML and text files into clean articles and reports every file it cannot use."""

from __future__ import annotations

import hashlib
import textwrap
from pathlib import Path

import pytest

from hubchat.ingest.corpus import read_corpus
from tests.helpers import REAL_ARTICLES, html_page, write_article

BODY = """
Vector search finds passages by meaning rather than by shared words.

## How it works

Each passage becomes a vector, and a query is answered by its nearest neighbours.
"""

SITE_CHROME = [
    "AI Tools Hub logo",
    "Skip to content",
    "Search articles",
    "Comparisons",  # main navigation
    "Use cases",
    "Home",  # breadcrumbs
    "Latest articles",
    "Why GPU rental prices keep falling",  # an entry of the latest-articles list
    "Topics",  # the tag cloud
    "export-controls",
    "Get the weekly briefing",  # newsletter box
    "you@example.com",
    "All rights reserved",  # footer
    "Privacy policy",
    "Terms of use",
]


def read(folder: Path, max_bytes: int = 2_000_000):
    articles, skipped = read_corpus(folder, max_bytes)
    return {a.source_path: a for a in articles}, {s.rel_path: s.reason for s in skipped}


def test_front_matter_fields_are_read(tmp_path: Path):
    path = write_article(
        tmp_path,
        "vector-search.md",
        BODY,
        title="Vector Search Explained",
        url="/guides/vector-search",
        date="2025-06-12",
        tags=("Vector-Databases", "rag"),
        summary="What vector search is.",
        author="Ingrid Solberg",
    )
    articles, skipped = read(tmp_path)
    assert skipped == {}
    article = articles["vector-search.md"]
    assert article.id == "/guides/vector-search"
    assert article.url == "/guides/vector-search"
    assert article.title == "Vector Search Explained"
    assert article.date == "2025-06-12"
    assert article.tags == ("vector-databases", "rag")
    assert article.summary == "What vector search is."
    assert article.author == "Ingrid Solberg"
    assert article.format == "markdown"
    assert article.source_hash == hashlib.sha256(path.read_bytes()).hexdigest()
    # The body only: no front matter, exactly the Markdown text.
    assert article.text.startswith("Vector search finds passages by meaning")
    assert "## How it works" in article.text
    assert "title:" not in article.text and "---" not in article.text


def test_an_article_without_url_is_identified_by_its_relative_path(tmp_path: Path):
    write_article(tmp_path, "guides/deep/no-url.md", BODY, title="No Url Here", url=None)
    articles, _ = read(tmp_path)
    article = articles["guides/deep/no-url.md"]
    assert article.id == "guides/deep/no-url.md"
    assert article.url == ""


def test_a_title_heading_repeated_in_the_body_is_dropped(tmp_path: Path):
    write_article(tmp_path, "a.md", "# Vector Search Explained\n\n" + textwrap.dedent(BODY), title="Vector Search Explained", url="/a")
    article = read(tmp_path)[0]["a.md"]
    assert article.text.startswith("Vector search finds passages")


def test_plain_text_articles_are_read_with_their_first_line_as_title(tmp_path: Path):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "gpu-notes.txt").write_text("GPU buying notes\n\nRent for bursts, buy for steady load.\n", encoding="utf-8")
    article = read(tmp_path)[0]["notes/gpu-notes.txt"]
    assert (article.id, article.title, article.format) == ("notes/gpu-notes.txt", "GPU buying notes", "text")


def test_html_keeps_the_article_and_drops_the_site_chrome(tmp_path: Path):
    (tmp_path / "page.html").write_text(html_page(), encoding="utf-8")
    articles, skipped = read(tmp_path)
    assert skipped == {}
    article = articles["page.html"]
    assert article.format == "html"
    assert article.id == article.url == "/alternatives/pinecone-alternatives-small-teams"
    assert article.title == "Pinecone Alternatives for Small Teams"
    assert article.date == "2025-03-14"
    assert article.tags == ("vector-databases", "rag", "open-source")
    assert article.author == "Maya Lindqvist"
    assert article.summary.startswith("Open-source vector databases")
    text = article.text
    for kept in [
        "Pinecone made managed vector search easy",
        "## Why look beyond Pinecone",
        "The main reason is cost predictability.",
        "### Qdrant",
        "Filtering on any payload field.",
        "Python and Rust",  # the table
        "## Key takeaways",
        "Move to a server when several services share the index.",
    ]:
        assert kept in text, kept
    for chrome in SITE_CHROME:
        assert chrome not in text, f"site chrome {chrome!r} leaked into the article text"
    assert not text.startswith("# "), "the page title must not be repeated as body text"


def test_a_real_site_page_loses_its_chrome_too():
    pages = sorted((REAL_ARTICLES.parent / "html").glob("*.html"))
    if not pages:
        pytest.fail("corpus/html has no pages: the HTML part of the corpus is missing")
    for page in pages:
        articles, skipped = read_corpus(page.parent)
        by_path = {a.source_path: a for a in articles}
        assert page.name in by_path, skipped
        text = by_path[page.name].text
        for chrome in ("Latest articles", "All rights reserved", "Skip to content", "Get the weekly briefing"):
            assert chrome not in text, f"{page.name}: {chrome!r}"
        assert "## Key takeaways" in text, page.name


def test_html_with_the_canonical_url_of_a_markdown_article_is_indexed_once(tmp_path: Path):
    url = "/alternatives/pinecone-alternatives-small-teams"
    write_article(tmp_path, "md/pinecone.md", BODY, title="Pinecone Alternatives for Small Teams", url=url)
    (tmp_path / "html").mkdir()
    (tmp_path / "html" / "pinecone.html").write_text(html_page(url), encoding="utf-8")
    articles, skipped = read(tmp_path)
    assert list(articles) == ["md/pinecone.md"]
    assert articles["md/pinecone.md"].format == "markdown"
    assert set(skipped) == {"html/pinecone.html"}
    assert "duplicate" in skipped["html/pinecone.html"] and "md/pinecone.md" in skipped["html/pinecone.html"]


def test_an_absolute_canonical_link_names_the_same_article_as_the_site_path(tmp_path: Path):
    url = "/alternatives/pinecone-alternatives-small-teams"
    write_article(tmp_path, "pinecone.md", BODY, title="Pinecone Alternatives", url=url)
    (tmp_path / "pinecone.html").write_text(html_page(f"https://aitoolshub.example{url}/"), encoding="utf-8")
    articles, skipped = read(tmp_path)
    assert list(articles) == ["pinecone.md"]
    assert "duplicate" in skipped["pinecone.html"]


def test_each_unusable_file_is_skipped_with_one_reason_and_the_rest_is_read(tmp_path: Path):
    write_article(tmp_path, "good-one.md", BODY, title="Good One", url="/guides/good-one")
    write_article(tmp_path, "good-two.md", BODY, title="Good Two", url="/guides/good-two")
    (tmp_path / "image.md").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00" * 4)
    (tmp_path / "latin1.md").write_bytes("---\ntitle: Caf\u00e9\n---\n\nCaf\u00e9 au lait.\n".encode("latin-1"))
    (tmp_path / "empty.md").write_bytes(b"")
    (tmp_path / "blank.txt").write_text("  \n\n \t\n", encoding="utf-8")
    (tmp_path / "bad-yaml.md").write_text('---\ntitle: "unclosed\nurl: [x\n---\n\nSome body.\n', encoding="utf-8")
    (tmp_path / "list-yaml.md").write_text("---\n- a\n- b\n---\n\nSome body.\n", encoding="utf-8")
    (tmp_path / "never-closed.md").write_text("---\ntitle: T\nurl: /x\n\nThe body, but the front matter never ends.\n", encoding="utf-8")
    (tmp_path / "bad-date.md").write_text("---\ntitle: T\ndate: someday\n---\n\nSome body.\n", encoding="utf-8")
    (tmp_path / "only-meta.md").write_text("---\ntitle: Only metadata\n---\n", encoding="utf-8")
    (tmp_path / "huge.md").write_text("word " * 2000, encoding="utf-8")
    (tmp_path / "ignored.pdf").write_bytes(b"%PDF-1.7")  # not a corpus format: not even listed
    (tmp_path / ".hidden.md").write_text("hidden", encoding="utf-8")

    articles, skipped = read(tmp_path, max_bytes=5_000)

    assert set(articles) == {"good-one.md", "good-two.md"}
    assert set(skipped) == {
        "image.md", "latin1.md", "empty.md", "blank.txt", "bad-yaml.md", "list-yaml.md", "never-closed.md",
        "bad-date.md", "only-meta.md", "huge.md",
    }
    expected_words = {
        "image.md": "binary",
        "latin1.md": "not UTF-8",
        "empty.md": "empty",
        "blank.txt": "empty",
        "bad-yaml.md": "malformed front matter",
        "list-yaml.md": "malformed front matter",
        "never-closed.md": "malformed front matter",
        "bad-date.md": "date",
        "only-meta.md": "no article text",
        "huge.md": "too large",
    }
    for path, words in expected_words.items():
        reason = skipped[path]
        assert words in reason, (path, reason)
        assert "\n" not in reason and len(reason) < 200, (path, reason)
    assert "corpus.max_file_bytes" in skipped["huge.md"]


def test_crlf_line_endings_give_the_same_text(tmp_path: Path):
    unix = write_article(tmp_path / "a", "x.md", BODY, title="X", url="/x")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "x.md").write_bytes(unix.read_bytes().replace(b"\n", b"\r\n"))
    assert read(tmp_path / "a")[0]["x.md"].text == read(tmp_path / "b")[0]["x.md"].text


def test_the_real_corpus_reads_without_skips_and_with_complete_front_matter():
    articles, skipped = read_corpus(REAL_ARTICLES)
    assert skipped == []
    assert len(articles) >= 30
    assert len({a.id for a in articles}) == len(articles)
    for article in articles:
        assert article.url.startswith("/") and article.id == article.url, article.source_path
        assert article.title and article.date and article.summary and article.author, article.source_path
        assert 2 <= len(article.tags) <= 5, article.source_path
        assert not article.text.startswith("---"), article.source_path


def test_nothing_outside_the_corpus_folder_is_read_through_a_link(tmp_path: Path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    outside = tmp_path / "secrets"
    outside.mkdir()
    (outside / "passwd.txt").write_text("root:x:0:0:the secret line\n", encoding="utf-8")
    write_article(outside, "elsewhere.md", BODY, title="Elsewhere", url="/elsewhere")
    write_article(corpus, "real.md", BODY, title="Real", url="/guides/real")
    (corpus / "passwd.txt").symlink_to(outside / "passwd.txt")
    (corpus / "elsewhere.md").symlink_to(outside / "elsewhere.md")
    (corpus / "inside-link.md").symlink_to(corpus / "real.md")  # a link within the folder is fine
    (corpus / "linked-folder").symlink_to(outside, target_is_directory=True)

    articles, skipped = read(corpus)

    assert "passwd.txt" in skipped and "elsewhere.md" in skipped
    assert all("outside the corpus folder" in skipped[p] for p in ("passwd.txt", "elsewhere.md"))
    assert not any("secret" in a.text for a in read_corpus(corpus)[0])
    assert not any(p.startswith("linked-folder") for p in list(articles) + list(skipped))
