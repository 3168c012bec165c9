"""Typed, frozen data objects passed between the pipeline stages.

corpus -> Article -> chunking -> Chunk -> store -> retrieval -> Passage -> answer -> Answer
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Article:
    """One article read from the corpus, with its cleaned text.

    Attributes:
        id: the article's url path if the front matter gives one, else its path relative to the corpus root.
        text: the cleaned article text; chunk spans index into it.
        source_path: the file it came from, relative to the corpus root (posix form).
        source_hash: sha256 of the file's raw bytes, used to skip unchanged files without parsing them.
        format: "markdown", "html" or "text".
    """

    id: str
    title: str
    text: str
    source_path: str
    source_hash: str
    format: str
    url: str = ""
    date: str = ""
    tags: tuple[str, ...] = ()
    summary: str = ""
    author: str = ""


@dataclass(frozen=True)
class Chunk:
    """A passage of one article: a contiguous span of its cleaned text.

    Attributes:
        id: stable id: derived from the article id, the article's content hash and the chunk's ordinal.
        start, end: character offsets in the article's cleaned text; text == article.text[start:end].
        heading_path: the headings above this chunk, outermost first.
    """

    id: str
    article_id: str
    ordinal: int
    text: str
    start: int
    end: int
    title: str
    heading_path: tuple[str, ...] = ()
    url: str = ""
    date: str = ""
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk with the scores that ranked it.

    Attributes:
        score: the fused score used for ranking (higher is better).
        dense_score: cosine similarity of query and chunk (None if the dense retriever did not return it).
        lexical_score: BM25 score (None if the lexical retriever did not return it).
    """

    chunk: Chunk
    score: float
    dense_score: float | None = None
    lexical_score: float | None = None
    dense_rank: int | None = None
    lexical_rank: int | None = None


@dataclass(frozen=True)
class Filters:
    """Metadata filters applied in both retrievers.

    Attributes:
        tags: keep chunks of articles carrying any of these tags.
        since, until: ISO dates (inclusive) bounding the article date.
        article_ids: keep chunks of these articles only.
    """

    tags: tuple[str, ...] = ()
    since: str | None = None
    until: str | None = None
    article_ids: tuple[str, ...] = ()

    def is_empty(self) -> bool:
        return not (self.tags or self.since or self.until or self.article_ids)


@dataclass(frozen=True)
class Turn:
    """One earlier exchange of a conversation, used to resolve follow-up questions."""

    question: str
    answer: str


@dataclass(frozen=True)
class IngestSummary:
    """What one ingest run did."""

    added: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    deleted: tuple[str, ...] = ()
    unchanged: int = 0
    skipped: tuple[tuple[str, str], ...] = ()  # (path, reason)
    chunks_written: int = 0
    chunks_total: int = 0
    seconds: float = 0.0
    extra: dict = field(default_factory=dict)
