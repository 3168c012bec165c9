"""Split an article's cleaned text into structure-aware chunks with exact character spans.

Sections follow the Markdown headings; inside a section the units are sentences of paragraphs, list items,
and whole tables or code blocks. Units are packed into chunks of about `target_tokens` (never more than
`max_tokens` unless one sentence alone is longer), with `overlap_tokens` of whole trailing sentences repeated
at the start of the next chunk. A chunk never starts or ends mid-sentence, and its text is exactly
`article.text[chunk.start:chunk.end]`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from hubchat.config import ChunkingSettings
from hubchat.types import Article, Chunk

TokenCounter = Callable[[list[str]], list[int]]

_HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t]*#*[ \t]*$")
_LIST_ITEM = re.compile(r"^[ \t]*(?:[-*+]|\d{1,3}[.)])[ \t]+")
_FENCE = re.compile(r"^[ \t]*(```|~~~)")


@dataclass(frozen=True)
class _Unit:
    start: int
    end: int
    kind: str  # "heading", "sentence", "item", "block"
    heading_path: tuple[str, ...]


@lru_cache(maxsize=1)
def _segmenter():
    import pysbd

    return pysbd.Segmenter(language="en", clean=False)


def _sentences(text: str, offset: int) -> list[tuple[int, int]]:
    """Sentence spans of one paragraph, located in the original text so offsets are exact."""
    spans = []
    cursor = 0
    for sentence in _segmenter().segment(text):
        piece = sentence.strip()
        if not piece:
            continue
        found = text.find(piece, cursor)
        if found < 0:  # the segmenter changed the text; fall back to the whole remainder as one unit
            rest = text[cursor:].strip()
            if rest:
                start = text.find(rest, cursor)
                spans.append((offset + start, offset + start + len(rest)))
            return spans
        spans.append((offset + found, offset + found + len(piece)))
        cursor = found + len(piece)
    return spans


def _blocks(text: str) -> list[tuple[int, int]]:
    """Paragraph-level blocks (separated by blank lines), keeping fenced code together."""
    blocks: list[tuple[int, int]] = []
    pos = 0
    start = None
    in_fence = False
    for line in text.splitlines(keepends=True):
        stripped = line.strip()
        if _FENCE.match(line):
            in_fence = not in_fence
        if not stripped and not in_fence:
            if start is not None:
                blocks.append((start, pos))
                start = None
        elif not in_fence and _HEADING.match(line.rstrip("\n")):
            # A heading is a block of its own even when text follows it on the next line.
            if start is not None:
                blocks.append((start, pos))
            blocks.append((pos, pos + len(line)))
            start = None
        elif start is None:
            start = pos
        pos += len(line)
    if start is not None:
        blocks.append((start, pos))
    return [(s, s + len(text[s:e].rstrip())) for s, e in blocks if text[s:e].strip()]


def split_units(text: str) -> list[_Unit]:
    """Headings, sentences, list items and tables of an article, each with its heading path."""
    units: list[_Unit] = []
    path: list[tuple[int, str]] = []  # (level, heading text)
    for start, end in _blocks(text):
        block = text[start:end]
        first_line = block.split("\n", 1)[0]
        heading = _HEADING.match(first_line)
        if heading and "\n" not in block.strip("\n"):
            level = len(heading.group(1))
            path = [(lvl, h) for lvl, h in path if lvl < level] + [(level, heading.group(2).strip())]
            units.append(_Unit(start, end, "heading", tuple(h for _, h in path)))
            continue
        current = tuple(h for _, h in path)
        lines = block.split("\n")
        if _FENCE.match(first_line) or all(line.lstrip().startswith("|") for line in lines if line.strip()):
            units.append(_Unit(start, end, "block", current))
        elif _LIST_ITEM.match(first_line):
            item_start = start
            pos = start
            for i, line in enumerate(lines):
                if i > 0 and _LIST_ITEM.match(line):
                    units.append(_Unit(item_start, pos - 1, "item", current))
                    item_start = pos
                pos += len(line) + 1
            units.append(_Unit(item_start, end, "item", current))
        else:
            for s, e in _sentences(block, start):
                units.append(_Unit(s, e, "sentence", current))
    return units


def chunk_id(article_id: str, content_hash: str, ordinal: int) -> str:
    """Stable per article version: a changed article gets new ids, so old and new never collide mid-update."""
    key = hashlib.sha1(article_id.encode("utf-8")).hexdigest()[:16]
    return f"{key}-{content_hash[:12]}-{ordinal:04d}"


def _default_counter(texts: list[str]) -> list[int]:
    from hubchat.index.tokens import count_tokens_batch

    return count_tokens_batch(texts)


def chunk_article(
    article: Article, settings: ChunkingSettings, count_tokens: TokenCounter | None = None, version_key: str | None = None
) -> list[Chunk]:
    """Chunks of one article, in reading order.

    Args:
        article: the article; chunk spans index into article.text.
        settings: target, maximum and overlap sizes in tokens of the embedding model's tokenizer.
        count_tokens: counts tokens of many texts at once (default: the MiniLM tokenizer).
        version_key: identifies this version of the article in chunk ids (default: the file's hash).

    Returns:
        The chunks; each chunk's text equals article.text[start:end].
    """
    units = split_units(article.text)
    if not units:
        return []
    counter = count_tokens or _default_counter
    sizes = counter([article.text[u.start:u.end] for u in units])
    groups: list[list[int]] = []
    current: list[int] = []
    current_tokens = 0
    for i, unit in enumerate(units):
        size = sizes[i]
        starts_section = unit.kind == "heading"
        full = current_tokens + size > settings.target_tokens
        # A new section starts a new chunk once the current one has some substance; tiny sections merge forward.
        if current and ((starts_section and current_tokens >= settings.target_tokens // 2) or full):
            # Headings at the end of a chunk belong to the text below them: move them to the next chunk.
            headings: list[int] = []
            while current and units[current[-1]].kind == "heading":
                headings.insert(0, current.pop())
            if current:
                groups.append(current)
            if headings or starts_section:
                current, current_tokens = headings, sum(sizes[j] for j in headings)
            else:
                current, current_tokens = _overlap(current, units, sizes, settings.overlap_tokens)
                # Never let overlap plus the next unit exceed the hard maximum.
                while current and current_tokens + size > settings.max_tokens:
                    current_tokens -= sizes[current.pop(0)]
        current.append(i)
        current_tokens += size
    if current and not (groups and set(current) <= set(groups[-1])):
        groups.append(current)

    chunks = []
    for ordinal, group in enumerate(groups):
        first, last = units[group[0]], units[group[-1]]
        content_units = [units[j] for j in group if units[j].kind != "heading"]
        path = (content_units[0] if content_units else first).heading_path
        chunks.append(
            Chunk(
                id=chunk_id(article.id, version_key or article.source_hash, ordinal),
                article_id=article.id,
                ordinal=ordinal,
                text=article.text[first.start:last.end],
                start=first.start,
                end=last.end,
                title=article.title,
                heading_path=path,
                url=article.url,
                date=article.date,
                tags=article.tags,
            )
        )
    return chunks


def _overlap(group: Sequence[int], units: Sequence[_Unit], sizes: Sequence[int], budget: int) -> tuple[list[int], int]:
    """Trailing whole sentences of the previous chunk, up to the overlap budget."""
    carried: list[int] = []
    total = 0
    for j in reversed(group[1:]):
        if units[j].kind not in ("sentence", "item") or total + sizes[j] > budget:
            break
        carried.insert(0, j)
        total += sizes[j]
    return carried, total


def embedding_text(chunk: Chunk) -> str:
    """What the embedder sees: the title and heading path give a passage its context."""
    context = " > ".join((chunk.title, *chunk.heading_path))
    return f"{context}\n{chunk.text}"
