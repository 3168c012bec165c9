"""The shared text utilities: sentence spans and Markdown blocks, both with exact offsets."""

from __future__ import annotations

import pytest

from hubchat.text.markdown import Block, read_blocks
from hubchat.text.sentences import sentence_spans


def spans(text: str, **kwargs) -> list[str]:
    return [text[s:e] for s, e in sentence_spans(text, **kwargs)]


def blocks(text: str) -> list[tuple[str, str]]:
    """(kind, block text) of each block, after checking the offsets every block must satisfy."""
    out = []
    for b in read_blocks(text):
        whole = text[b.start : b.end]
        assert whole and whole == whole.strip(), b
        assert b.start <= b.body_start <= b.body_end <= b.end, b
        out.append((b.kind, whole))
    return out


def only(text: str, kind: str) -> Block:
    (block,) = [b for b in read_blocks(text) if b.kind == kind]
    return block


# ---- sentences --------------------------------------------------------------------------------------------------


def test_sentence_offsets_index_the_text_exactly():
    text = "  Weaviate is written in Go. Dr. Smith said so!  Why does it matter?  "
    assert spans(text) == ["Weaviate is written in Go.", "Dr. Smith said so!", "Why does it matter?"]


def test_a_window_gives_offsets_in_the_whole_text():
    text = "Intro. First one. Second one. Outro."
    start = text.index("First")
    end = text.index(" Outro")
    found = sentence_spans(text, start, end)
    assert [text[s:e] for s, e in found] == ["First one.", "Second one."]
    assert found[0][0] == start


def test_line_breaks_end_sentences_unless_lines_are_joined():
    text = "A sentence wrapped\nover two lines. Another."
    assert spans(text) == ["A sentence wrapped", "over two lines.", "Another."]
    assert spans(text, join_lines=True) == ["A sentence wrapped\nover two lines.", "Another."]


def test_joined_lines_keep_offsets_with_crlf():
    text = "Wrapped\r\nline. Next."
    assert spans(text, join_lines=True) == ["Wrapped\r\nline.", "Next."]


@pytest.mark.parametrize("text", ["", "   ", "\n\n"])
def test_no_sentences_in_empty_text(text):
    assert sentence_spans(text) == []


# ---- Markdown blocks --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "  ", "\n\n  \n"])
def test_no_blocks_in_empty_text(text):
    assert read_blocks(text) == []


def test_headings_have_levels_and_their_text_without_hashes():
    text = "# One\n\n## Two ##\n\n###### Six\n\n## C#\n\n####### not a heading"
    heads = [b for b in read_blocks(text) if b.kind == "heading"]
    assert [(b.level, text[b.start : b.end], text[b.body_start : b.body_end]) for b in heads] == [
        (1, "# One", "One"),
        (2, "## Two ##", "Two"),
        (6, "###### Six", "Six"),
        (2, "## C#", "C#"),
    ]
    assert blocks(text)[-1] == ("paragraph", "####### not a heading")


def test_text_right_under_a_heading_is_a_paragraph_of_its_own():
    assert blocks("## Setup\nRun the installer.\nThen reboot.") == [
        ("heading", "## Setup"),
        ("paragraph", "Run the installer.\nThen reboot."),
    ]


def test_an_empty_heading_has_an_empty_body():
    head = only("Text.\n\n#\n\nMore.", "heading")
    assert head.body_start == head.body_end


def test_an_underlined_heading_is_marked():
    text = "Title\n=====\n\n# Hashed"
    first, second = [b for b in read_blocks(text) if b.kind == "heading"]
    assert (first.underlined, text[first.body_start : first.body_end], first.level) == (True, "Title", 1)
    assert not second.underlined


def test_list_items_include_their_marker_and_continuation_lines():
    text = "Lead-in:\n- First item\n  continues here.\n- Second, lazy\ncontinuation.\n\n1. Ordered\n2) Paren"
    assert blocks(text) == [
        ("paragraph", "Lead-in:"),
        ("list_item", "- First item\n  continues here."),
        ("list_item", "- Second, lazy\ncontinuation."),
        ("list_item", "1. Ordered"),
        ("list_item", "2) Paren"),
    ]
    items = [b for b in read_blocks(text) if b.kind == "list_item"]
    assert [text[b.body_start : b.body_end] for b in items] == [
        "First item\n  continues here.",
        "Second, lazy\ncontinuation.",
        "Ordered",
        "Paren",
    ]


def test_nested_items_and_later_paragraphs_of_an_item_are_blocks_of_their_own():
    text = "- Parent\n  - Child\n    - Grandchild\n- Loose\n\n  Second paragraph of the item."
    assert blocks(text) == [
        ("list_item", "- Parent"),
        ("list_item", "- Child"),
        ("list_item", "- Grandchild"),
        ("list_item", "- Loose"),
        ("paragraph", "Second paragraph of the item."),
    ]


def test_two_markers_on_one_line_make_one_item():
    text = "- - x"
    item = only(text, "list_item")
    assert (text[item.start : item.end], text[item.body_start : item.body_end]) == ("- - x", "- x")


def test_a_table_is_one_block_with_its_rows_but_not_the_delimiter():
    text = "Before.\n\n| Tool | Use |\n|:---|---:|\n| Chroma | local |\n| Pinecone | managed |\n\nAfter."
    table = only(text, "table")
    assert text[table.start : table.end] == "| Tool | Use |\n|:---|---:|\n| Chroma | local |\n| Pinecone | managed |"
    assert [text[s:e] for s, e in table.rows] == ["| Tool | Use |", "| Chroma | local |", "| Pinecone | managed |"]


def test_a_table_without_leading_pipes_is_a_table():
    text = "Tool | Use\n--- | ---\nChroma | local"
    table = only(text, "table")
    assert [text[s:e] for s, e in table.rows] == ["Tool | Use", "Chroma | local"]


def test_a_line_without_a_pipe_right_under_a_table_is_a_paragraph():
    # GFM would make it a last row; it reads as text after the table.
    assert blocks("| a | b |\n|---|---|\n| 1 | 2 |\nSource: the vendor.") == [
        ("table", "| a | b |\n|---|---|\n| 1 | 2 |"),
        ("paragraph", "Source: the vendor."),
    ]


def test_pipe_lines_without_a_delimiter_row_are_a_paragraph():
    assert blocks("| just a note |\n| another |") == [("paragraph", "| just a note |\n| another |")]


def test_a_fenced_code_block_is_one_block_blank_lines_and_headings_included():
    text = "Intro.\n\n```python\nx = 1\n\n# not a heading\n```\nAfter the fence."
    assert blocks(text) == [
        ("paragraph", "Intro."),
        ("code", "```python\nx = 1\n\n# not a heading\n```"),
        ("paragraph", "After the fence."),
    ]


def test_a_fence_closes_only_with_its_own_marker():
    assert blocks("```\na\n~~~\nb\n```") == [("code", "```\na\n~~~\nb\n```")]


def test_an_unclosed_fence_runs_to_the_end():
    text = "Intro.\n\n~~~\ncode\n\n## not a heading\n\nmore code\n"
    assert blocks(text) == [("paragraph", "Intro."), ("code", "~~~\ncode\n\n## not a heading\n\nmore code")]


def test_indented_code_is_code():
    assert blocks("Text.\n\n    x = 1\n    y = 2") == [("paragraph", "Text."), ("code", "x = 1\n    y = 2")]


def test_blocks_inside_a_quote_are_marked_and_include_the_markers():
    text = "> ## Quoted\n> Said elsewhere.\n\nOwn words."
    found = read_blocks(text)
    assert [(b.kind, text[b.start : b.end], b.quoted) for b in found] == [
        ("heading", "> ## Quoted", True),
        ("paragraph", "> Said elsewhere.", True),
        ("paragraph", "Own words.", False),
    ]
    assert text[found[0].body_start : found[0].body_end] == "Quoted"


def test_every_non_blank_line_is_in_a_block():
    # Thematic breaks, reference definitions, raw HTML and a quote's blank line make no leaf token of their own.
    text = "Text.\n\n---\n\n[1]: https://example.com\n\n<div>\nhtml\n</div>\n## Heading after HTML\n\n> a\n>\n> b"
    assert blocks(text) == [
        ("paragraph", "Text."),
        ("paragraph", "---"),
        ("paragraph", "[1]: https://example.com"),
        ("paragraph", "<div>\nhtml\n</div>"),
        ("heading", "## Heading after HTML"),
        ("paragraph", "> a"),
        ("paragraph", ">"),
        ("paragraph", "> b"),
    ]


def test_blocks_are_in_reading_order_and_cover_all_text():
    text = "# T\nIntro.\n- a\n  - b\n\n| x | y |\n|---|---|\n| 1 | 2 |\n\n```\ncode\n```\n* * *\n> q\nlazy"
    found = read_blocks(text)
    assert [b.start for b in found] == sorted(b.start for b in found)
    assert all(a.end <= b.start for a, b in zip(found, found[1:]))
    covered = set()
    for b in found:
        covered.update(range(b.start, b.end))
    assert all(ch.isspace() for i, ch in enumerate(text) if i not in covered)


def test_crlf_offsets_are_exact():
    lf = "# Title\n\nFirst line\nsecond line.\n\n- item\n"
    crlf = lf.replace("\n", "\r\n")
    assert blocks(crlf) == [("heading", "# Title"), ("paragraph", "First line\r\nsecond line."), ("list_item", "- item")]
    assert [(k, t.replace("\r", "")) for k, t in blocks(crlf)] == blocks(lf)


def test_lf_only_input_has_no_stray_carriage_returns():
    text = "Para one.\n\n- item one\n- item two\n"
    assert all("\r" not in t for _, t in blocks(text))
    assert blocks(text) == [("paragraph", "Para one."), ("list_item", "- item one"), ("list_item", "- item two")]


def test_control_characters_do_not_crash_the_sentence_splitter():
    # Found by tests/test_properties.py: pysbd parsed "\x1f1" as a list number and raised.
    text = "0\x1f1. First point. Then\x0bmore."
    spans = sentence_spans(text)
    assert spans and all(text[s:e].strip() for s, e in spans)
