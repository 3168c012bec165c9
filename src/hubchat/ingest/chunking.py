"""Split an article's cleaned text into structure-aware chunks with exact character spans.

Sections follow the Markdown headings; inside a section the units are sentences of paragraphs, list items,
and whole tables or code blocks. Units are packed into chunks of about `target_tokens` (never more than
`max_tokens` unless one sentence alone is longer), with `overlap_tokens` of whole trailing sentences repeated
at the start of the next chunk. A chunk never starts or ends mid-sentence, and its text is exactly
`article.text[chunk.start:chunk.end]`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from hubchat.config import ChunkingSettings
from hubchat.text.markdown import Block, read_blocks
from hubchat.text.sentences import sentence_spans
from hubchat.types import Article, Chunk

TokenCounter = Callable[[list[str]], list[int]]


@dataclass(frozen=True)
class _Unit:
    start: int
    end: int
    kind: str  # "heading", "sentence", "item", "block"
    heading_path: tuple[str, ...]


def split_units(text: str) -> list[_Unit]:
    """Headings, sentences, list items and tables of an article, each with its heading path."""
    units: list[_Unit] = []
    path: list[tuple[int, str]] = []  # (level, heading text)
    for block in read_blocks(text):
        if _is_section(block):
            level = block.level
            path = [(lvl, h) for lvl, h in path if lvl < level] + [(level, text[block.body_start : block.body_end])]
            units.append(_Unit(block.start, block.end, "heading", tuple(h for _, h in path)))
            continue
        current = tuple(h for _, h in path)
        if block.kind in ("code", "table") or (block.kind == "paragraph" and _pipe_rows(text[block.start : block.end])):
            units.append(_Unit(block.start, block.end, "block", current))
        elif block.kind == "list_item":
            units.append(_Unit(block.start, block.end, "item", current))
        else:
            # Line breaks end sentences here: a chunk may then start at any line of a paragraph.
            units.extend(_Unit(s, e, "sentence", current) for s, e in sentence_spans(text, block.start, block.end))
    return units


def _is_section(block: Block) -> bool:
    """Whether a block opens a section. Not a heading without text, nor one quoted from elsewhere, nor an underlined
    one: "a sentence\n---" is more often a sentence over a rule than a heading, so underlines stay lines of text."""
    return block.kind == "heading" and block.body_end > block.body_start and not block.quoted and not block.underlined


def _pipe_rows(block: str) -> bool:
    """Lines that all start with a pipe read as a table even without the delimiter row GFM asks for: keep them whole."""
    return all(line.lstrip().startswith("|") for line in block.split("\n") if line.strip())


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
