"""Ranking metrics for retrieval evaluation: nDCG@k and recall@k over judged ids."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence


def ndcg_at_k(ranked_ids: Sequence[str], relevance: Mapping[str, int], k: int) -> float:
    """Normalised discounted cumulative gain at k, as trec_eval / BEIR compute it.

    Gain is the judged grade (linear), discounted by log2(rank + 1); the ideal ranking sorts all judged grades.
    A query with no positive judgement scores 0. Repeated ids count once, at their first rank.

    Args:
        ranked_ids: retrieved ids, best first.
        relevance: id -> grade (> 0 relevant); ids not in it have grade 0.
        k: cut-off.
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    seen: set[str] = set()
    dcg = 0.0
    rank = 0
    for doc in ranked_ids:
        if doc in seen:
            continue
        seen.add(doc)
        rank += 1
        if rank > k:
            break
        dcg += max(relevance.get(doc, 0), 0) / math.log2(rank + 1)
    ideal = sorted((g for g in relevance.values() if g > 0), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def recall_at_k(ranked_ids: Sequence[str], relevance: Mapping[str, int], k: int) -> float:
    """Share of the relevant ids (grade > 0) found in the first k distinct retrieved ids (0 if none is relevant)."""
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    relevant = {d for d, g in relevance.items() if g > 0}
    if not relevant:
        return 0.0
    top = list(dict.fromkeys(ranked_ids))[:k]
    return len(relevant.intersection(top)) / len(relevant)


def mrr_at_k(ranked_ids: Sequence[str], relevance: Mapping[str, int], k: int) -> float:
    """Reciprocal rank of the first relevant id among the first k distinct retrieved ids (0 if none)."""
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    for rank, doc in enumerate(list(dict.fromkeys(ranked_ids))[:k], 1):
        if relevance.get(doc, 0) > 0:
            return 1.0 / rank
    return 0.0
