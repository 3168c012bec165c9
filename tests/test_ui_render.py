"""hubchat.web.render and the pure parts of hubchat.web.server: escaping, citation links, highlights, export, examples."""

from __future__ import annotations

import html
import re

import pytest

from hubchat.errors import InputError
from hubchat.types import (
    AnswerResult,
    Chunk,
    CitationReport,
    Filters,
    SentenceCheck,
    Source,
    SpanSupport,
)
from hubchat.web.chat import example_questions, parse_filters
from hubchat.web.passage_html import passage_html
from hubchat.web.render import (
    ReadingView,
    TurnView,
    answer_markdown,
    conversation_markdown,
    md_text,
    safe_link,
    source_card_html,
    sources_html,
)

ARTICLE = "Title line.\nFeed the starter <b>daily</b>. Rye flour helps."
START = 12


def _source(number=1, link="https://example.org/a") -> Source:
    return Source(number, "c1", "a", "A <i>title</i>", "2024-01-02", "/a", link, ("baking", "x<y"), "Feeding", ARTICLE[START:], START, len(ARTICLE))


def _result() -> AnswerResult:
    text = "Feed it daily [1]. Unsupported claim here."
    span = (ARTICLE.index("Feed"), ARTICLE.index("</b>.") + 5)
    s0 = SentenceCheck(0, "Feed it daily [1].", 0, 18, (1,), (SpanSupport(1, "c1", "a", 0.9, *span, ARTICLE[span[0]:span[1]]),), "supported", 0.9)
    s1 = SentenceCheck(1, "Unsupported claim here.", 19, 42, (), (), "uncited", 0.0)
    report = CitationReport(text, (s0, s1), (), (1,), "partially_supported")
    return AnswerResult("q", "q", text, text, False, "partially_supported", report, (_source(),), (_source(),),
                        ("The citation check flagged 1 of 2 sentences; treat them with care.",), {}, None, None, "extractive", Filters())


def test_md_text_leaves_no_markup_or_markdown_syntax():
    nasty = "<script>alert(1)</script> **bold** [link](http://x) ![img](y) `code` $$x$$ ~~s~~ a@b.c www.x.org\n# h\n1. item\n- item\n> quote"
    out = md_text(nasty)
    assert not re.search(r"[<>\[\]*`$~!#]", out.replace("&#", "")), out
    assert "://" not in out and "www." not in out
    assert html.unescape(out) == nasty  # a browser shows exactly the original characters


def test_answer_markdown_links_each_marker_to_its_sentence_and_passage():
    out = answer_markdown("k1", _result())
    assert '[&#91;1&#93;](#cite-k1-0-1 "Source 1: A &lt;i&gt;title&lt;/i&gt;")' in out
    assert "Unsupported claim here&#46;" not in out and "Unsupported claim here. ⚠︎" in out
    assert out.endswith("> ⚠️ *The citation check flagged 1 of 2 sentences; treat them with care.*")


def test_highlights_split_overlapping_spans_and_escape_the_text():
    text = "abc <b> def"
    out = passage_html(text, [(0, 5, 0), (4, 11, 2)])
    assert out == '<p><mark class="hc-span" data-s="0">abc </mark><mark class="hc-span" data-s="0 2">&lt;</mark><mark class="hc-span" data-s="2">b&gt; def</mark></p>'
    assert passage_html("\n\n  x y  \n", [(4, 5, 1)]) == '<p><mark class="hc-span" data-s="1">x</mark> y</p>'


def test_a_passage_renders_its_markdown_with_raw_html_and_links_off():
    text = "## Memory\n\nThe **MI300X** has 192 GB.\n\n- one\n- two\n\n| GPU | GB |\n|---|---|\n| H100 | 80 |\n\n<img src=x onerror=alert(1)> ![i](http://e/x.png) [l](javascript:alert(1))"
    out = passage_html(text, [])
    assert "<h2>Memory</h2>" in out and "<strong>MI300X</strong>" in out
    assert "<li>one</li>" in out and "<td>H100</td>" in out
    assert "&lt;img src=x onerror=alert(1)&gt;" in out
    assert "<img" not in out and "<a " not in out and "href" not in out


def test_highlights_survive_the_markdown_and_never_span_two_blocks_or_cells():
    text = "## Memory\n\nThe MI300X has 192 GB.\n\n- one item\n\n| a | b |\n|---|---|\n| 1 | 2 |"
    out = passage_html(text, [(0, len(text), 3)])
    assert '<h2><mark class="hc-span" data-s="3">Memory</mark></h2>' in out
    assert '<li><mark class="hc-span" data-s="3">one item</mark></li>' in out
    assert '<td><mark class="hc-span" data-s="3"> 1 </mark></td>' in out
    assert out.count("<mark") == out.count("</mark>") == 7  # heading, paragraph, item, four cells
    partial = passage_html(text, [(text.index("192"), text.index("one") + 3, 0)])
    assert '<p>The MI300X has <mark class="hc-span" data-s="0">192 GB.</mark></p>' in partial
    assert '<li><mark class="hc-span" data-s="0">one</mark> item</li>' in partial


def test_source_card_shows_metadata_escaped_and_the_span_in_place():
    result = _result()
    card = source_card_html("k1", result.sources[0], result.report.sentences)
    assert 'id="src-k1-1"' in card and "A &lt;i&gt;title&lt;/i&gt;" in card and "x&lt;y" in card
    assert '<mark class="hc-span" data-s="0">Feed the starter &lt;b&gt;daily&lt;/b&gt;.</mark> Rye flour helps.' in card
    assert 'href="https://example.org/a"' in card
    bad = source_card_html("k1", _source(link="javascript:alert(1)"), ())
    assert "href=" not in bad and "javascript:alert(1)" in bad
    assert safe_link(" HTTPS://x.org ") == "HTTPS://x.org" and safe_link("data:text/html,x") is None


def test_sources_panel_lists_only_cited_passages_newest_answer_first():
    result = _result()
    panel = sources_html([TurnView("old", "first?", result), TurnView("new", "second <q>?", result)])
    assert panel.index('id="grp-new"') < panel.index('id="grp-old"')
    assert panel.count('class="hc-src"') == 2 and "second &lt;q&gt;?" in panel
    assert "hc-empty" in sources_html([])


def test_the_passages_of_an_answer_being_written_come_first_unhighlighted():
    passages = (_source(1), _source(2, link="javascript:alert(1)"))
    panel = sources_html([TurnView("old", "first?", _result())], ReadingView("next <q>?", passages))
    assert panel.index('id="grp-reading"') < panel.index('id="grp-old"')
    assert 'class="hc-group hc-older" id="grp-old"' in panel, "the earlier answer's sources fold away"
    reading = panel[panel.index('id="grp-reading"') : panel.index('id="grp-old"')]
    assert reading.count('class="hc-src"') == 2 and "next &lt;q&gt;?" in reading
    assert "<mark" not in reading, "no sentence cites them yet"
    assert 'href="javascript' not in panel, "an unsafe link is shown as text, never a link"
    assert "hc-empty" not in sources_html([], ReadingView("q", passages))


def test_conversation_export_has_questions_answers_and_sources():
    md = conversation_markdown([("q one", _result(), ""), ("q two", None, "The backend is down.")])
    assert "## 1. q one" in md and "Feed it daily [1]." in md
    assert "- [1] A <i>title</i> (2024-01-02, baking, x<y) — https://example.org/a" in md
    assert "  - > Feed the starter <b>daily</b>." in md
    assert "## 2. q two" in md and "*No answer: The backend is down.*" in md


def _chunk(article: str, title: str, date: str, headings=()) -> Chunk:
    return Chunk(f"{article}-0", article, 0, "text", 0, 4, title, tuple(headings), f"/{article}", date)


def test_example_questions_are_deterministic_and_newest_first():
    chunks = [
        _chunk("a", "Chroma vs Pinecone vs pgvector: Which One?", "2024-01-01"),
        _chunk("b", "The Best Midjourney Alternatives", "2025-02-01"),
        _chunk("c", "Prompt Injection", "2025-03-01", ["What prompt injection is"]),
        _chunk("d", "Choosing a Laptop: What Should You Buy?", "2023-01-01"),
        _chunk("e", "Release notes", "2026-01-01"),
    ]
    expected = [
        "What is prompt injection?",
        "What are the alternatives to Midjourney?",
        "How do Chroma, Pinecone and pgvector compare?",
        "What Should You Buy?",
    ]
    assert example_questions(chunks) == expected
    assert example_questions(list(reversed(chunks))) == expected
    assert example_questions(chunks, limit=1) == expected[:1]


def test_parse_filters_checks_dates():
    assert parse_filters(["rag"], " 2024-01-01 ", "") == Filters(tags=("rag",), since="2024-01-01", until=None)
    with pytest.raises(InputError, match="is not a date like 2025-01-31"):
        parse_filters([], "2024-13-01", "")
    with pytest.raises(InputError, match="after the “To” date"):
        parse_filters([], "2025-01-02", "2025-01-01")
