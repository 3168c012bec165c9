"""A source card's passage as rendered Markdown (headings, lists, emphasis, tables, code), raw HTML off, with the
supporting spans still highlighted.

The highlights are computed on the passage's raw text, so they are put into the Markdown source as private-use
characters before rendering and become `<mark>` elements after it: markdown-it treats them as ordinary letters.
A highlight never crosses a line (it is closed and reopened at each line break, so no mark spans two blocks) and
starts after a line's block syntax (`## `, `- `, `1. `, `> `), which it would otherwise break.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

_OPEN, _ID_END, _CLOSE = "\ue000", "\ue001", "\ue002"
_PRIVATE = re.compile("[\ue000-\ue002]")
_MARK = re.compile(f"{_OPEN}(\\d+){_ID_END}")
_BLOCK_SYNTAX = re.compile(r"[ \t]*(?:(?:#{1,6}|[-*+]|\d{1,9}[.)]|>)[ \t]+|>)*")
# Lines that are pure syntax, which a mark would turn into text: table delimiter rows, setext underlines and
# thematic breaks, code fences.
_SYNTAX_LINE = re.compile(r"[ \t]*(?:\|?[ \t]*:?-+:?[ \t]*(?:\|[ \t]*:?-+:?[ \t]*)*\|?|(?:[-=*_][ \t]*)+|(?:```|~~~).*)[ \t]*")


@lru_cache(maxsize=1)
def _renderer():
    from markdown_it import MarkdownIt

    # CommonMark with GFM tables; raw HTML is shown as text. Links and images are off: article links are stripped
    # at ingest, and a card must never load anything from elsewhere.
    return MarkdownIt("commonmark", {"html": False}).enable("table").disable(["image", "link", "autolink"])


def _marked_source(text: str, ranges: Sequence[tuple[int, int, int]]) -> tuple[str, list[str]]:
    """The text with mark placeholders inserted, and each mark's data-s value by its number."""
    cuts = sorted({0, len(text), *(r[0] for r in ranges), *(r[1] for r in ranges)})
    labels: list[str] = []
    out: list[str] = []
    for a, b in zip(cuts, cuts[1:]):
        covering = sorted({s for start, end, s in ranges if start <= a and b <= end})
        if not covering:
            out.append(text[a:b])
            continue
        position = a
        for line in re.split(r"(\n)", text[a:b]):
            if line == "\n" or not line.strip() or _SYNTAX_LINE.fullmatch(line):
                out.append(line)
                position += len(line)
                continue
            skip = 0
            at_line_start = position == 0 or text[position - 1] == "\n"
            if at_line_start:
                skip = _BLOCK_SYNTAX.match(line).end()
            labels.append(" ".join(map(str, covering)))
            opening = f"{_OPEN}{len(labels) - 1}{_ID_END}"
            if line.lstrip().startswith("|"):
                # A table row: each cell is marked on its own, so no mark spans two cells.
                out.append("|".join(f"{opening}{cell}{_CLOSE}" if cell.strip() else cell for cell in line.split("|")))
            else:
                out.append(f"{line[:skip]}{opening}{line[skip:]}{_CLOSE}")
            position += len(line)
    return "".join(out), labels


def passage_html(text: str, ranges: Sequence[tuple[int, int, int]]) -> str:
    """`text` (Markdown) rendered safely, with each span of `ranges` ((start, end, sentence index), offsets into
    `text`) inside `<mark class="hc-span" data-s="sentence indices">`."""
    lead = len(text) - len(text.lstrip())
    # Private-use characters in an article would be read as marks: they become spaces (same length, same offsets).
    text = _PRIVATE.sub(" ", text.strip())
    ranges = [(max(0, a - lead), min(len(text), b - lead), s) for a, b, s in ranges]
    source, labels = _marked_source(text, [r for r in ranges if r[1] > r[0]])
    html = _renderer().render(source)
    html = _MARK.sub(lambda m: f'<mark class="hc-span" data-s="{labels[int(m.group(1))]}">', html)
    return html.replace(_CLOSE, "</mark>").strip()
