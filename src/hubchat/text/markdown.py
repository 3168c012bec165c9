"""Leaf blocks of a Markdown text with exact character offsets, read from markdown-it-py's token stream.

markdown-it (CommonMark plus GFM tables) tells each block token which source lines it came from (`token.map`);
a block's offsets are those lines' characters without the whitespace around them, so `text[block.start:block.end]`
is the block as written, its markers included. Only leaf blocks are returned, in reading order; containers
(lists, block quotes) show only through their leaves. Every non-blank line belongs to exactly one block: lines
that markdown-it turns into no leaf (a thematic break, a link reference definition, a lone `>`) become paragraphs,
so a caller that covers every block covers all the text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Literal

BlockKind = Literal["heading", "paragraph", "list_item", "table", "code"]

_LINE_BREAK = re.compile(r"\r\n?|\n")  # what markdown-it's normalisation treats as a line break
_NON_SPACE = re.compile(r"\S")
_HASHES = re.compile(r"#+")
_CONTAINER_PREFIX = re.compile(r"[ \t>]*")  # indentation and block-quote markers in front of a list marker

# Token types that are leaf blocks, and the kind each becomes.
_LEAVES: dict[str, BlockKind] = {
    "heading_open": "heading",
    "paragraph_open": "paragraph",
    "table_open": "table",
    "fence": "code",
    "code_block": "code",
    # A thematic break has no words, but as a paragraph its line stays covered (inside a list item too).
    "hr": "paragraph",
}


@dataclass(frozen=True)
class Block:
    """One leaf block: `text[start:end]` as written, trimmed.

    Attributes:
        kind: "heading", "paragraph", "list_item" (the item's first block, its marker included; later blocks of
            the item and nested items are blocks of their own), "table" or "code" (fenced, closed or not, or
            indented).
        body_start, body_end: the block's own words: a heading's text without its `#` marks (or setext
            underline), a list item's text after its marker; the whole block for the other kinds.
        level: a heading's level, 1 to 6; 0 for the other kinds.
        rows: a table's header and body rows as (start, end), trimmed; the delimiter row is not one.
        quoted: the block is inside a block quote (its `>` markers are then part of its lines).
        underlined: a setext heading (text over a line of `=` or `-`) rather than one starting with `#`.
    """

    kind: BlockKind
    start: int
    end: int
    body_start: int
    body_end: int
    level: int = 0
    rows: tuple[tuple[int, int], ...] = ()
    quoted: bool = False
    underlined: bool = False


@lru_cache(maxsize=1)
def _parser():
    from markdown_it import MarkdownIt

    # Only the block structure is needed: inline parsing (emphasis, links) would cost time and change no offset.
    # Raw HTML and link reference definitions are plain text here: nothing renders them, an HTML block would
    # swallow the Markdown after it up to the next blank line, and a definition would vanish from the blocks.
    return MarkdownIt("commonmark").enable("table").disable(["inline", "html_block", "reference"])


class _Lines:
    """Where each source line starts and ends (line break excluded), to turn `token.map` into offsets."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.starts = [0]
        self.ends: list[int] = []
        for m in _LINE_BREAK.finditer(text):
            self.ends.append(m.start())
            self.starts.append(m.end())
        self.ends.append(len(text))

    def __len__(self) -> int:
        return len(self.starts)

    def span(self, first: int, stop: int) -> tuple[int, int]:
        """Offsets of lines [first, stop) without the whitespace around them; (s, s) when they are blank."""
        return _trim(self.text, self.starts[first], self.ends[min(stop, len(self)) - 1])

    def is_blank(self, line: int) -> bool:
        return _NON_SPACE.search(self.text, self.starts[line], self.ends[line]) is None


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    m = _NON_SPACE.search(text, start, end)
    if m is None:
        return start, start
    return m.start(), m.start() + len(text[m.start() : end].rstrip())


def read_blocks(text: str) -> list[Block]:
    """The leaf blocks of a Markdown text, in reading order, with exact offsets (see the module docstring)."""
    if not text.strip():
        return []
    lines = _Lines(text)
    tokens = _parser().parse(text)
    blocks: list[Block] = []
    covered = bytearray(len(lines))
    # Open list items, innermost last: [token, still waiting for its first block].
    items: list[list] = []
    quotes = 0
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok.type == "list_item_open":
            items.append([tok, True])
        elif tok.type == "list_item_close":
            items.pop()
        elif tok.type == "blockquote_open":
            quotes += 1
        elif tok.type == "blockquote_close":
            quotes -= 1
        elif tok.type in _LEAVES and tok.map:
            first, stop = tok.map
            if tok.type == "heading_open":
                block = _heading(lines, tok, tokens[i + 1].content)
            elif tok.type == "table_open":
                block, stop, i = _table(lines, tokens, i)
            else:
                start, end = lines.span(first, stop)
                block = Block(_LEAVES[tok.type], start, end, start, end)
            if items and items[-1][1]:
                # "- - x" opens two items on one line: the outermost marker starts the block, as it is written.
                k = len(items) - 1
                while k > 0 and items[k - 1][1]:
                    k -= 1
                for item in items[k:]:
                    item[1] = False
                block = _list_item(lines, items[k][0], block)
                first = min(first, items[k][0].map[0])
            blocks.append(replace(block, quoted=True) if quotes else block)
            covered[first:stop] = b"\x01" * (min(stop, len(lines)) - first)
        i += 1
    blocks.extend(_uncovered(lines, covered))
    blocks.sort(key=lambda b: b.start)
    return blocks


def _heading(lines: _Lines, tok, content: str) -> Block:
    first, stop = tok.map
    start, end = lines.span(first, stop)
    level = int(tok.tag[1:])
    underlined = not tok.markup.startswith("#")
    if not underlined:
        # ATX: the text sits after the opening hashes; markdown-it has already dropped a closing sequence.
        hashes = _HASHES.search(lines.text, start, end)
        after = hashes.end() if hashes else start
        at = lines.text.find(content, after, end) if content else -1
        body = (at, at + len(content)) if at >= 0 else (end, end)
    else:
        # Setext: every line but the underline.
        body = lines.span(first, stop - 1)
    return Block("heading", start, end, body[0], body[1], level=level, underlined=underlined)


def _table(lines: _Lines, tokens: list, i: int) -> tuple[Block, int, int]:
    """The table, its end line, and the index of its closing token.

    GFM lets a table run on to the next blank line, so a line of text written right under a table would be its
    last row; here the table ends at its last line with a pipe, and what follows is a paragraph, as it reads.
    """
    first = tokens[i].map[0]
    stop = first + 2  # the header and the delimiter row
    rows = []
    while tokens[i].type != "table_close":
        if tokens[i].type == "tr_open" and tokens[i].map:
            row_first, row_stop = tokens[i].map
            if row_first >= stop and "|" not in lines.text[lines.starts[row_first] : lines.ends[row_first]]:
                break
            rows.append(lines.span(row_first, row_stop))
            stop = max(stop, row_stop)
        i += 1
    while tokens[i].type != "table_close":
        i += 1
    start, end = lines.span(first, stop)
    return Block("table", start, end, start, end, rows=tuple(rows)), stop, i


def _list_item(lines: _Lines, item, inner: Block) -> Block:
    """The item's first block, widened to start on the item's first line (a quote's `>` included, like other blocks)."""
    text = lines.text
    line = item.map[0]
    start = _trim(text, lines.starts[line], lines.ends[line])[0]
    marker = item.info + item.markup  # "-", "*", "+", or an ordered item's number and "." or ")"
    at = _CONTAINER_PREFIX.match(text, lines.starts[line], lines.ends[line]).end()
    after = at + len(marker) if text.startswith(marker, at) else start
    end = max(inner.end, after)
    body = _NON_SPACE.search(text, after, end)
    return Block("list_item", start, end, body.start() if body else end, end)


def _uncovered(lines: _Lines, covered: bytearray) -> list[Block]:
    """Runs of non-blank lines that no leaf token claimed, as paragraphs."""
    blocks = []
    run_start = None
    for line in range(len(lines) + 1):
        claimed = line == len(lines) or covered[line] or lines.is_blank(line)
        if claimed and run_start is not None:
            start, end = lines.span(run_start, line)
            blocks.append(Block("paragraph", start, end, start, end))
            run_start = None
        elif not claimed and run_start is None:
            run_start = line
    return blocks
