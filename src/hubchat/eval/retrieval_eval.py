"""Retrieval quality of BM25-only, dense-only and hybrid retrieval, in one pass over a set's questions.

Rankings are of articles (BEIR documents), not chunks: each retriever returns chunks, and an article takes the
rank of its best chunk, as BEIR scores a passage retriever over documents. Follow-ups are searched as the
heuristic rewrite hubchat falls back on without a model, so this part needs no chat model.

The figures come from `ir_measures` (trec_eval through pytrec_eval) and are checked against hubchat's own
hand-written nDCG / recall / MRR in the same run: the largest difference is reported beside them.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from hubchat.eval.datasets import EvalCase
from hubchat.eval.metrics import mrr_at_k, ndcg_at_k, recall_at_k
from hubchat.retrieval.condense import condense_heuristic
from hubchat.retrieval.hybrid import HybridRetriever

RETRIEVERS = ("bm25", "dense", "hybrid")
DEPTH = 100
# Chunks asked of each retriever per ranked article: articles of several chunks take several places.
_CHUNKS_PER_ARTICLE = 3
MEASURES = ("nDCG@10", "R@5", "R@20", "R@100", "RR@10")
LABELS = {"nDCG@10": "nDCG@10", "R@5": "recall@5", "R@20": "recall@20", "R@100": "recall@100", "RR@10": "MRR@10"}

ProgressFn = Callable[[int, int], None]


@dataclass(frozen=True)
class RetrievalFigures:
    """Mean measures per retriever (LABELS' names), the per-query rankings, and the cross-check."""

    means: dict[str, dict[str, float]]
    rankings: dict[str, dict[str, list[str]]]
    queries: int
    largest_difference: float


def search_text(case: EvalCase) -> str:
    return condense_heuristic(case.question, case.history) if case.history else case.question


def articles_in_order(article_ids: Sequence[str], depth: int = DEPTH) -> list[str]:
    return list(dict.fromkeys(article_ids))[:depth]


def rank_articles(retriever: HybridRetriever, query: str, mode: str, depth: int = DEPTH) -> list[str]:
    k = depth * _CHUNKS_PER_ARTICLE
    match mode:
        case "bm25":
            hits = retriever.lexical(query, k)
            return articles_in_order([c.article_id for c, _ in hits], depth)
        case "dense":
            hits = retriever.dense(query, k)
            return articles_in_order([c.article_id for c, _ in hits], depth)
        case "hybrid":
            result = retriever.retrieve(query, top_k=k)
            return articles_in_order([p.chunk.article_id for p in result.passages], depth)
    raise ValueError(f"unknown retriever {mode!r}; expected one of {RETRIEVERS}")


def library_scores(qrels: Mapping[str, Mapping[str, int]], rankings: Mapping[str, Sequence[str]]) -> dict[str, dict[str, float]]:
    """measure -> query id -> value, from ir_measures; a query the run has nothing for scores 0 (trec_eval
    would silently leave it out and so flatter the mean)."""
    import ir_measures

    measures = [ir_measures.parse_measure(m) for m in MEASURES]
    # trec_eval ranks by score, so the rank becomes a descending score.
    run = {q: {doc: float(len(docs) - i) for i, doc in enumerate(docs)} for q, docs in rankings.items() if docs}
    values: dict[str, dict[str, float]] = {m: dict.fromkeys(qrels, 0.0) for m in MEASURES}
    for metric in ir_measures.iter_calc(measures, {q: dict(r) for q, r in qrels.items()}, run):
        values[str(metric.measure)][metric.query_id] = float(metric.value)
    return values


def hand_written_scores(qrels: Mapping[str, Mapping[str, int]], rankings: Mapping[str, Sequence[str]]) -> dict[str, dict[str, float]]:
    def measure(name: str, ranked: Sequence[str], rel: Mapping[str, int]) -> float:
        kind, k = name.split("@")
        fn = {"nDCG": ndcg_at_k, "R": recall_at_k, "RR": mrr_at_k}[kind]
        return fn(ranked, rel, int(k))

    return {m: {q: measure(m, rankings.get(q, []), rel) for q, rel in qrels.items()} for m in MEASURES}


def evaluate_retrieval(
    retriever: HybridRetriever, cases: Sequence[EvalCase], progress: ProgressFn | None = None
) -> RetrievalFigures:
    """Rank articles for every judged case with each retriever and score the rankings."""
    judged = [c for c in cases if c.gold_articles]
    qrels = {c.id: dict(c.relevance or {}) for c in judged}
    rankings: dict[str, dict[str, list[str]]] = {mode: {} for mode in RETRIEVERS}
    for i, case in enumerate(judged, 1):
        query = search_text(case)
        for mode in RETRIEVERS:
            rankings[mode][case.id] = rank_articles(retriever, query, mode)
        if progress:
            progress(i, len(judged))
    means: dict[str, dict[str, float]] = {}
    largest = 0.0
    for mode in RETRIEVERS:
        library = library_scores(qrels, rankings[mode])
        ours = hand_written_scores(qrels, rankings[mode])
        largest = max([largest] + [abs(library[m][q] - ours[m][q]) for m in MEASURES for q in qrels])
        means[mode] = {LABELS[m]: statistics.fmean(library[m].values()) if qrels else 0.0 for m in MEASURES}
    return RetrievalFigures(means, rankings, len(judged), largest)
