"""Every chunk's vector in memory, for exact dense search over a filtered subset (an article, tags, dates).

Chroma's filtered HNSW query is the slow path (about 330 ms at 100k chunks, nearly all of a filtered retrieval),
and the widget filters every question to its article. Held as one normalised matrix in the lexical index's chunk
order, the filter mask built for BM25 selects the rows directly, and the search is one masked matrix product:
exact, and a few milliseconds. Costs 4 bytes per dimension per chunk (150 MB at 100k chunks of 384 dimensions).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class VectorMatrix:
    """Unit-length vectors, one row per chunk, in a fixed chunk order.

    Args:
        ids: the chunk ids, in the order rows must follow.
        stored_ids, stored: the vectors as read from the store, in any order (a row per stored id).

    Raises:
        ValueError: a chunk of `ids` has no stored vector (the store and the chunk list disagree).
    """

    def __init__(self, ids: Sequence[str], stored_ids: Sequence[str], stored: np.ndarray):
        row_of = {cid: i for i, cid in enumerate(stored_ids)}
        missing = [cid for cid in ids if cid not in row_of]
        if missing:
            raise ValueError(f"{len(missing)} chunks have no stored vector, e.g. {missing[0]}")
        matrix = np.asarray(stored, dtype=np.float32)[[row_of[cid] for cid in ids]] if len(ids) else np.zeros((0, 0), np.float32)
        norms = np.linalg.norm(matrix, axis=1, keepdims=True) if len(ids) else np.ones((0, 1), np.float32)
        self.matrix = matrix / np.where(norms == 0, 1, norms)

    def __len__(self) -> int:
        return len(self.matrix)

    def top(self, query: Sequence[float], keep: np.ndarray, k: int) -> list[tuple[int, float]]:
        """The `k` rows kept by the boolean mask `keep` with the highest cosine to `query`, best first.

        Returns:
            (row, cosine) pairs; fewer than k when fewer rows are kept.
        """
        rows = np.flatnonzero(keep)
        if k <= 0 or rows.size == 0:
            return []
        # A copy of the kept rows only: cheaper than a product over every row.
        scores = _dot(np.take(self.matrix, rows, axis=0), _unit(query))
        k = min(k, rows.size)
        best = np.argpartition(-scores, k - 1)[:k]
        best = best[np.argsort(-scores[best], kind="stable")]
        return [(int(rows[i]), float(scores[i])) for i in best]

    def cosines(self, rows: Sequence[int], query: Sequence[float]) -> np.ndarray:
        """The cosine of `query` to each of `rows` (float64, for score fusion), from the vectors held here."""
        if len(rows) == 0:
            return np.zeros(0, dtype=np.float64)
        return _dot(np.take(self.matrix, np.asarray(rows, dtype=np.int64), axis=0), _unit(query)).astype(np.float64)


def _unit(query: Sequence[float]) -> np.ndarray:
    q = np.asarray(query, dtype=np.float32)
    return q / (np.linalg.norm(q) or 1.0)


def _dot(rows: np.ndarray, q: np.ndarray) -> np.ndarray:
    """rows @ q by numpy's own single-threaded loop, not BLAS. For one query vector the product is bound by
    reading the rows, which one thread does as fast; OpenBLAS's worker threads only spin, and on a shared machine
    they wait for cores: at 100k chunks, copying and scoring 16.7k kept rows took 8-10 ms of CPU through BLAS and
    3.7 ms this way (scores within 1.2e-7 of BLAS's)."""
    return np.einsum("ij,j->i", rows, q)
