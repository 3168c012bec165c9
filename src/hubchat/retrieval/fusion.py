"""Fusing the dense and lexical rankings into one, and the per-article cap applied after.

Two fusion methods (RetrievalSettings.fusion): "scores", the weighted mean of min-max normalised cosine and
BM25 scores (`fuse_scores`; 0.733 nDCG@10 on SciFact), and "rrf", weighted reciprocal-rank fusion (`fuse`;
0.714). Both are calibrated in benchmarks/RESULTS.md.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from hubchat.types import Passage

FUSIONS = ("rrf", "scores")


def fuse(rankings: Sequence[Sequence[str]], weights: Sequence[float], k: int) -> list[tuple[str, float]]:
    """Weighted reciprocal-rank fusion.

    Each id scores sum_i weights[i] / (k + rank_i), over the rankings that contain it, with rank_i its 1-based
    position in ranking i. A repeated id within one ranking counts at its first position only.

    Args:
        rankings: id lists, best first.
        weights: one non-negative weight per ranking.
        k: the RRF constant; larger values flatten the difference between top and lower ranks.

    Returns:
        (id, fused score) for every id in any ranking, best first; ties go to the id with the better best rank,
        then to the smaller id, so the order is deterministic.
    """
    if len(rankings) != len(weights):
        raise ValueError(f"got {len(rankings)} rankings but {len(weights)} weights")
    if any(w < 0 for w in weights):
        raise ValueError(f"weights must be non-negative, got {list(weights)}")
    if k < 0:
        raise ValueError(f"k must be non-negative, got {k}")
    scores: dict[str, float] = {}
    best_rank: dict[str, int] = {}
    for ranking, weight in zip(rankings, weights):
        seen: set[str] = set()
        for rank, item in enumerate(ranking, start=1):
            if item in seen:
                continue
            seen.add(item)
            scores[item] = scores.get(item, 0.0) + weight / (k + rank)
            best_rank[item] = min(best_rank.get(item, rank), rank)
    return sorted(scores.items(), key=lambda kv: (-kv[1], best_rank[kv[0]], kv[0]))


def fuse_scores(
    scores: Sequence[Mapping[str, float]], weights: Sequence[float], floors: Sequence[float | None] | None = None
) -> list[tuple[str, float]]:
    """Weighted score fusion: each retriever's scores min-max normalised over all candidates, then averaged.

    Unlike rank fusion this keeps how far apart the scores are: a passage far ahead on BM25 (an exact name or
    code) keeps that lead. Normalising per query makes cosine and BM25 comparable without calibration.

    Args:
        scores: one mapping id -> raw score per retriever (higher is better).
        weights: one non-negative weight per retriever; the fused score is sum(w_i * norm_i) / sum(w_i).
        floors: per retriever, the score of a candidate it did not return, and the bottom of its normalisation
            range (BM25's natural floor is 0: no query term). None: the lowest score the retriever returned.

    Returns:
        (id, fused score in [0, 1]) for every candidate, best first; ties go to the smaller id.
    """
    floors = list(floors) if floors is not None else [None] * len(scores)
    if not len(scores) == len(weights) == len(floors):
        raise ValueError(f"got {len(scores)} score maps, {len(weights)} weights and {len(floors)} floors")
    if any(w < 0 for w in weights):
        raise ValueError(f"weights must be non-negative, got {list(weights)}")
    candidates = list(dict.fromkeys(cid for mapping in scores for cid in mapping))
    total_weight = float(sum(weights))
    if not candidates or total_weight == 0:
        return [(cid, 0.0) for cid in sorted(candidates)]
    fused = np.zeros(len(candidates), dtype=np.float64)
    for mapping, weight, floor in zip(scores, weights, floors):
        if not mapping or weight == 0:
            continue
        low = min(mapping.values()) if floor is None else min(floor, min(mapping.values()))
        values = np.array([mapping.get(cid, low) for cid in candidates], dtype=np.float64)
        span = values.max() - low
        if span > 0:
            fused += weight * (values - low) / span
        else:  # one distinct score: every candidate the retriever returned is equally good
            fused += weight * np.array([1.0 if cid in mapping else 0.0 for cid in candidates])
    fused /= total_weight
    return sorted(zip(candidates, fused.tolist()), key=lambda kv: (-kv[1], kv[0]))


def cap_per_article(passages: Sequence[Passage], cap: int) -> list[Passage]:
    """Keep at most `cap` passages of each article, in the given order.

    A single long article would otherwise fill every slot and crowd out other articles that also answer.
    """
    if cap < 1:
        raise ValueError(f"cap must be at least 1, got {cap}")
    taken: dict[str, int] = {}
    kept = []
    for passage in passages:
        article = passage.chunk.article_id
        if taken.get(article, 0) < cap:
            taken[article] = taken.get(article, 0) + 1
            kept.append(passage)
    return kept
