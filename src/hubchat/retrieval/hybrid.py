"""Hybrid retrieval: dense and BM25 candidates, fused (see `hubchat.retrieval.fusion`), capped per article, and
the relevance floor that decides whether a question is answerable from the corpus at all.

The floor has two halves: the best cosine of a dense candidate (RetrievalSettings.min_dense_score), and the
lexical coverage (RetrievalSettings.min_lexical_coverage), the share of the question's IDF mass one passage
contains. Query terms the corpus never uses count in the total, so a question about something absent stays
weak. Both are calibrated in benchmarks/RESULTS.md.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from hubchat.config import RetrievalSettings
from hubchat.errors import InputError
from hubchat.index.embedder import Embedder
from hubchat.index.lexical import query_tokens
from hubchat.index.store import ChunkStore
from hubchat.retrieval.demotion import Demoter, demote
from hubchat.retrieval.fusion import FUSIONS, cap_per_article, fuse, fuse_scores
from hubchat.retrieval.spelling import correct_query
from hubchat.types import Chunk, Filters, Passage, RetrievalResult

Hits = list[tuple[Chunk, float]]


class _StageClock:
    """Seconds spent in each named stage, each stage timed from the end of the one before."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.seconds[stage] = now - self._last
        self._last = now


def _ranks(hits: Hits) -> dict[str, tuple[int, float]]:
    """Chunk id -> (1-based rank, score), at the id's first occurrence."""
    ranks: dict[str, tuple[int, float]] = {}
    for rank, (chunk, score) in enumerate(hits, 1):
        ranks.setdefault(chunk.id, (rank, score))
    return ranks


class HybridRetriever:
    """Dense plus lexical retrieval over a ChunkStore, fused by weighted score fusion or weighted RRF.

    With score fusion, chunks only the lexical search returned get their cosine read from Chroma (for a filtered
    question, from the vectors the exact filtered search holds in memory), and chunks only the dense search
    returned count as BM25 0, so every candidate is scored on both scales.

    Args:
        store: the chunk store (Chroma plus the lexical index); filters are applied inside both searches.
        embeddings: a LangChain Embeddings (the one the store was built with).
        settings: candidate depths, fusion constants, per-article cap, top_k and the relevance floor.
        fusion: "rrf" or "scores", overriding settings.fusion (benchmarks compare both).
        min_lexical_coverage: overrides settings.min_lexical_coverage (benchmarks calibrate it).
        demoter: which candidates editors' verdicts demote for a question (hubchat.retrieval.demotion); their
            fused score is multiplied by settings.demotion_factor before the cap. None: no demotion.
    """

    def __init__(
        self,
        store: ChunkStore,
        embeddings: Embedder,
        settings: RetrievalSettings,
        *,
        fusion: str | None = None,
        min_lexical_coverage: float | None = None,
        demoter: Demoter | None = None,
    ):
        self.store = store
        self.demoter = demoter
        self.embeddings = embeddings
        self.settings = settings
        self.fusion = fusion or settings.fusion
        if self.fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {FUSIONS}, got {self.fusion!r}")
        self.min_lexical_coverage = float(
            settings.min_lexical_coverage if min_lexical_coverage is None else min_lexical_coverage
        )

    # ---- the two retrievers ------------------------------------------------------------------------------

    def embed(self, query: str) -> list[float]:
        return self.embeddings.embed_query(query)

    def dense(self, query: str, k: int, filters: Filters | None = None) -> Hits:
        """Top-k chunks by cosine similarity to the query, best first."""
        return self.store.dense_search(self.embed(query), k, filters)

    def lexical(self, query: str, k: int, filters: Filters | None = None) -> Hits:
        """Top-k chunks by BM25 score, best first; chunks sharing no term with the query are not returned."""
        return self.store.lexical_search(query, k, filters)

    # ---- the whole retrieval -----------------------------------------------------------------------------

    def retrieve(self, query: str, filters: Filters | None = None, top_k: int | None = None) -> RetrievalResult:
        """Fused, capped passages for a standalone question, and whether the corpus covers it at all.

        A query longer than settings.max_question_chars is searched by its first max_question_chars characters
        (cut at a word boundary): the answer chain rejects over-long user questions itself, and a condensed
        follow-up may run a little over the limit without that being the user's fault.

        Raises:
            InputError: the question is empty.
        """
        query = self._searchable(query)
        self.store.refresh()  # follow another process's ingest (a cheap check, at most every index.refresh_s)
        s = self.settings
        top_k = s.top_k if top_k is None else top_k
        if top_k < 1:
            raise ValueError(f"top_k must be at least 1, got {top_k}")
        result = self._retrieve(query, filters, top_k)
        if result.relevant or not s.correct_spelling or not len(self.store.lexical):
            return result
        # Under the floor: a misspelt word may be why (see hubchat.retrieval.spelling). The corrected question is
        # kept only if it clears the floor; otherwise the reader's own words stand.
        corrected, corrections = correct_query(query, self.store.lexical)
        if not corrections:
            return result
        second = self._retrieve(corrected, filters, top_k)
        if not second.relevant:
            return result
        timings = {k: result.timings.get(k, 0.0) + v for k, v in second.timings.items()}
        return replace(second, timings=timings, corrections=tuple((c.original, c.searched) for c in corrections))

    def _retrieve(self, query: str, filters: Filters | None, top_k: int) -> RetrievalResult:
        s = self.settings
        clock = _StageClock()
        vector = self.embed(query)
        clock.lap("embed")
        dense_hits = self.store.dense_search(vector, s.dense_k, filters) if s.dense_weight > 0 else []
        clock.lap("dense")
        lexical_hits = self.store.lexical_search(query, s.lexical_k, filters) if s.lexical_weight > 0 else []
        clock.lap("lexical")
        fused = self._fused(vector, dense_hits, lexical_hits, filters)
        if self.demoter is not None:  # before the cap: a demoted passage frees its article's slot for a better one
            fused = demote(fused, self.demoter.demoted(vector, [p.chunk.id for p in fused]), s.demotion_factor)
        passages = cap_per_article(fused, s.per_article_cap)[:top_k]
        clock.lap("fuse")
        best_dense = max((score for _, score in dense_hits), default=None)
        coverage = self.lexical_coverage(query, [c for c, _ in lexical_hits])
        clock.lap("floor")

        relevant = bool(passages) and self._clears_floor(best_dense, coverage)
        return RetrievalResult(query, tuple(passages), relevant, clock.seconds, best_dense, coverage)

    def _searchable(self, query: str) -> str:
        """The query with whitespace normalised, cut at a word boundary to settings.max_question_chars."""
        query = " ".join(query.split())
        if not query:
            raise InputError("The question is empty.")
        limit = self.settings.max_question_chars
        if len(query) > limit:
            query = query[: limit + 1].rsplit(" ", 1)[0] if " " in query[:limit] else query[:limit]
        return query

    def _fused(self, vector: Sequence[float], dense_hits: Hits, lexical_hits: Hits, filters: Filters | None = None) -> list[Passage]:
        """Every candidate of either search as a Passage, best fused score first, with both searches' ranks."""
        chunks: dict[str, Chunk] = {}
        for chunk, _ in (*dense_hits, *lexical_hits):
            chunks.setdefault(chunk.id, chunk)
        dense_ranks, lexical_ranks = _ranks(dense_hits), _ranks(lexical_hits)
        passages = []
        for cid, score in self._fused_scores(vector, dense_hits, lexical_hits, filters):
            d_rank, d_score = dense_ranks.get(cid, (None, None))
            l_rank, l_score = lexical_ranks.get(cid, (None, None))
            passages.append(
                Passage(chunks[cid], score, dense_score=d_score, lexical_score=l_score, dense_rank=d_rank, lexical_rank=l_rank)
            )
        return passages

    def _fused_scores(
        self, vector: Sequence[float], dense_hits: Hits, lexical_hits: Hits, filters: Filters | None = None
    ) -> list[tuple[str, float]]:
        """(chunk id, fused score), best first, by the configured fusion method."""
        s = self.settings
        weights = [s.dense_weight, s.lexical_weight]
        if self.fusion == "scores":
            dense_scores = {c.id: score for c, score in dense_hits}
            lexical_only = [cid for cid in dict.fromkeys(c.id for c, _ in lexical_hits) if cid not in dense_scores]
            dense_scores.update(self._cosines(vector, lexical_only, filters))
            return fuse_scores([dense_scores, {c.id: score for c, score in lexical_hits}], weights, [None, 0.0])
        return fuse([[c.id for c, _ in dense_hits], [c.id for c, _ in lexical_hits]], weights, s.rrf_k)

    def _cosines(self, vector: Sequence[float], ids: Sequence[str], filters: Filters | None = None) -> dict[str, float]:
        """Cosine similarity of the query to chunks the dense search did not return (see `ChunkStore.cosines`)."""
        return self.store.cosines(vector, ids, filters)

    # ---- the relevance floor -----------------------------------------------------------------------------

    def _clears_floor(self, best_dense: float | None, coverage: float) -> bool:
        """Either half of the floor is enough: a close dense match, or most of the question's terms in one chunk."""
        dense_ok = best_dense is not None and best_dense >= self.settings.min_dense_score
        return dense_ok or coverage >= self.min_lexical_coverage

    def lexical_coverage(self, query: str, candidates: Sequence[Chunk]) -> float:
        """The largest share of the query's IDF mass that any one candidate chunk contains.

        Each distinct query term weighs its BM25 idf, log(1 + (N - df + 0.5) / (df + 0.5)); a term absent from
        the corpus has df = 0 and so the largest weight. A chunk "contains" a term when the term occurs in its
        indexed text. 1.0 means some chunk has every term of the question; a question naming things the corpus
        never mentions stays low however common its other words are.
        """
        index = self.store.lexical
        terms = list(dict.fromkeys(query_tokens(query)))
        if not terms or not candidates or len(index) == 0:
            return 0.0
        df = index.document_frequencies(terms).astype(np.float64)
        idf = np.log1p((len(index) - df + 0.5) / (df + 0.5))
        positions = np.array([index.position[c.id] for c in candidates if c.id in index.position], dtype=np.int64)
        if positions.size == 0:
            return 0.0
        present = index.term_presence(terms, positions)
        # Summed term by term, in query order, so the value does not depend on how a matrix product rounds.
        covered = np.zeros(positions.size, dtype=np.float64)
        for j, weight in enumerate(idf):
            covered += weight * present[:, j]
        return float(covered.max() / idf.sum())
