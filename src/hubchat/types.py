"""Typed, frozen data objects passed between the pipeline stages.

corpus -> Article -> chunking -> Chunk -> index -> retrieval -> Passage / RetrievalResult -> generation -> answer
-> checking -> CitationReport -> AnswerResult -> web

Every stage may import this module; it imports nothing of hubchat.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal


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
        demoted: editors judged it wrongly cited for questions like this one, so `score` was lowered
            (hubchat.retrieval.demotion).
    """

    chunk: Chunk
    score: float
    dense_score: float | None = None
    lexical_score: float | None = None
    dense_rank: int | None = None
    lexical_rank: int | None = None
    demoted: bool = False


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
    site_pages: tuple[str, ...] = ()  # a rebuild's site articles, re-embedded from what the last sync read (also in added)


@dataclass(frozen=True)
class SyncSummary:
    """What one sync from the site did. Pages are named by the address they were listed under.

    Attributes:
        fetched: pages that answered with a body (200).
        not_modified: pages that answered 304 to a conditional request, or whose body had not changed.
        added, updated, removed: article ids written for the first time, rewritten, and deleted.
        failed: (address, reason) of pages (or sitemaps and feeds) that could not be fetched or read; a page
            that fails keeps its last good version, and a listing that fails keeps all the pages it listed.
        skipped: (address, reason) of pages deliberately not indexed (robots.txt, duplicates).
        requests: HTTP requests made, retries and robots.txt included.
    """

    fetched: int = 0
    not_modified: int = 0
    added: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    failed: tuple[tuple[str, str], ...] = ()
    skipped: tuple[tuple[str, str], ...] = ()
    requests: int = 0
    chunks_written: int = 0
    chunks_total: int = 0
    seconds: float = 0.0

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed)


# ---- retrieval -> answer ----

@dataclass(frozen=True)
class RetrievalResult:
    """What one retrieval returns.

    Attributes:
        query: what was searched (the standalone question).
        passages: fused, per-article-capped, best first, at most top_k.
        relevant: False when nothing clears the relevance floor: the answer is a refusal without calling a model.
        timings: seconds spent in each stage: embed, dense, lexical, fuse (including reading the cosines of
            lexical-only candidates for score fusion, and demoting wrongly cited passages), floor (the relevance
            check).
        best_dense_score: the highest cosine similarity among the dense candidates (None if there were none).
        lexical_coverage: the best share of the question's IDF mass found in one lexical candidate (0..1).
        corrections: (word as asked, word searched) for each misspelt word searched as the corpus spells it;
            `query` is the corrected text.
    """

    query: str
    passages: tuple[Passage, ...]
    relevant: bool
    timings: dict[str, float] = field(default_factory=dict)
    best_dense_score: float | None = None
    lexical_coverage: float = 0.0
    corrections: tuple[tuple[str, str], ...] = ()


# ---- checking ----

# "no_sentence": a marker in an answer with no words for it to cite from (an answer of markers only).
IssueKind = Literal["out_of_range", "malformed", "duplicate", "no_sentence"]
Verdict = Literal["supported", "weak", "unsupported", "uncited", "not_a_claim"]
# Sentence verdicts that call for a reader's care and an editor's look: the answer note, the review list and the
# sentence styling all use this one set.
FLAGGED_VERDICTS: frozenset[str] = frozenset({"unsupported", "weak", "uncited"})

@dataclass(frozen=True)
class CitationMarkerIssue:
    """A marker removed from the answer. `raw` is the whole bracket group, at `position` in the original answer."""

    kind: IssueKind
    raw: str
    position: int

@dataclass(frozen=True)
class SpanSupport:
    """How well passage `number` supports a sentence; span offsets index the article text."""

    number: int
    chunk_id: str
    article_id: str
    score: float
    span_start: int
    span_end: int
    span_text: str

@dataclass(frozen=True)
class SentenceCheck:
    """One sentence of the cleaned answer: `text == report.text[start:end]`, markers included."""

    index: int
    text: str
    start: int
    end: int
    citations: tuple[int, ...]
    supports: tuple[SpanSupport, ...]
    verdict: Verdict
    score: float
    # True when the model wrote no marker here and the checker added the citation (see attribution.py).
    attributed: bool = False
    # Markers the model wrote here that the checker removed, because other cited passages support the sentence
    # and these do not: each with its passage's best span and score, so editors can see what was dropped.
    pruned: tuple[SpanSupport, ...] = ()
    # Figures and names of the sentence (as written) that no passage it cites states: why it is unsupported.
    unmatched: tuple[str, ...] = ()

@dataclass(frozen=True)
class CitationReport:
    """The checked answer.

    Attributes:
        text: the cleaned answer (bad markers removed, duplicates collapsed, markers normalised to "[1][3]").
        cited_numbers: passages cited by a valid marker, in order of first use.
        verdict: "supported", "partially_supported", "unsupported", "refusal" or "no_citations".
    """

    text: str
    sentences: tuple[SentenceCheck, ...]
    issues: tuple[CitationMarkerIssue, ...]
    cited_numbers: tuple[int, ...]
    verdict: str


# ---- answer -> web ----

@dataclass(frozen=True)
class Source:
    """A passage as shown to the reader: what [number] points to."""

    number: int
    chunk_id: str
    article_id: str
    title: str
    date: str
    url: str
    link: str
    tags: tuple[str, ...]
    section: str
    text: str
    start: int
    end: int


@dataclass(frozen=True)
class AnswerResult:
    """Everything about one answer: the text, its checked citations, what was shown and what it cost.

    Attributes:
        condensed_by: who rewrote a follow-up into `standalone_question`: "model", "heuristic" (no model, or the
            model's rewrite was unusable), or "" when there was no conversation to resolve.
    """

    question: str
    standalone_question: str
    text: str
    raw_text: str
    refused: bool
    verdict: str
    report: CitationReport | None
    passages: tuple[Source, ...]
    sources: tuple[Source, ...]
    notes: tuple[str, ...]
    timings: dict[str, float]
    prompt_tokens: int | None
    completion_tokens: int | None
    backend: str
    filters: Filters = field(default_factory=Filters)
    condensed_by: Literal["", "model", "heuristic"] = ""
    cached_prompt_tokens: int | None = None
    quoted: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class AnswerEvent:
    """One step of a streamed answer.

    Kinds, in the order they come: "status" (a line saying what is happening), "passages" (the passages the answer
    will draw on, numbered as its [n] markers will cite them: `passages`; sent before the model writes, so a reader
    sees them at once), "token" (a piece of the answer text), and one "final" carrying the `result`.
    """

    kind: Literal["status", "passages", "token", "final"]
    text: str = ""
    result: AnswerResult | None = None
    passages: tuple[Source, ...] = ()
