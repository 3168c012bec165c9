"""Which chunks contain each term: the lexical index's term-presence matrix, built from the tokenised chunks.

Stored as compressed sparse columns (one column per term, holding the ascending positions of the chunks that
contain it; the layout of a scipy.sparse CSC matrix without its values), so that a document frequency is a
column's length and "does chunk i contain term t" is a binary search. The BM25 library keeps similar arrays,
but as its private state; this copy is ours to read.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

_TERMS_FILE = "terms.json"
_ARRAYS_FILE = "postings.npz"


class TermPostings:
    """Term presence over a fixed list of chunks.

    Args:
        terms: the vocabulary, in column order.
        indptr: column j holds indices[indptr[j]:indptr[j + 1]]; length len(terms) + 1.
        indices: chunk positions, ascending within each column.

    Raises:
        ValueError: the arrays do not describe len(terms) columns.
    """

    def __init__(self, terms: Sequence[str], indptr: np.ndarray, indices: np.ndarray):
        if len(indptr) != len(terms) + 1 or int(indptr[-1]) != len(indices):
            raise ValueError(
                f"inconsistent postings: {len(terms)} terms, {len(indptr)} column pointers, {len(indices)} entries"
            )
        self.terms = tuple(terms)
        self.indptr = np.asarray(indptr, dtype=np.int64)
        self.indices = np.asarray(indices)
        self._column = {term: j for j, term in enumerate(self.terms)}
        self._doc_freq = np.diff(self.indptr)

    @classmethod
    def build(cls, token_lists: Sequence[Sequence[str]]) -> TermPostings:
        """The postings of chunks given as their token lists (chunk i is token_lists[i])."""
        n = max(len(token_lists), 1)
        columns: dict[str, int] = {}
        flat = [t for tokens in token_lists for t in tokens]
        term_ids = np.fromiter((columns.setdefault(t, len(columns)) for t in flat), dtype=np.int64, count=len(flat))
        positions = np.repeat(np.arange(len(token_lists), dtype=np.int64), [len(tokens) for tokens in token_lists])
        # One key per (term, chunk) occurrence; sorted, the keys run by term, then by chunk (the column layout),
        # and a term repeated within a chunk becomes adjacent equal keys, dropped. (np.sort and a mask: several
        # times faster than np.unique here.)
        keys = np.sort(term_ids * n + positions)
        keys = keys[np.concatenate(([True], keys[1:] != keys[:-1]))] if keys.size else keys
        indptr = np.zeros(len(columns) + 1, dtype=np.int64)
        np.cumsum(np.bincount(keys // n, minlength=len(columns)), out=indptr[1:])
        return cls(tuple(columns), indptr, (keys % n).astype(np.int32))

    def document_frequencies(self, terms: Sequence[str]) -> np.ndarray:
        """Per term, how many chunks contain it (0 for a term no chunk has)."""
        return np.array([self._doc_freq[self._column[t]] if t in self._column else 0 for t in terms], dtype=np.int64)

    def presence(self, terms: Sequence[str], positions: np.ndarray) -> np.ndarray:
        """Whether each chunk contains each term: a boolean matrix, one row per position, one column per term."""
        present = np.zeros((len(positions), len(terms)), dtype=bool)
        for j, term in enumerate(terms):
            column = self._column.get(term)
            if column is None:
                continue
            postings = self.indices[self.indptr[column] : self.indptr[column + 1]]
            # Binary search: a common term's postings can hold most of a large index. A vocabulary term always
            # has at least one posting, so `at` is a valid index.
            at = np.minimum(np.searchsorted(postings, positions), len(postings) - 1)
            present[:, j] = postings[at] == positions
        return present

    def save(self, directory: Path) -> None:
        """Write the postings into `directory` (which the caller makes atomic)."""
        (directory / _TERMS_FILE).write_text(json.dumps(self.terms, ensure_ascii=False), encoding="utf-8")
        np.savez(directory / _ARRAYS_FILE, indptr=self.indptr, indices=self.indices)

    @classmethod
    def load(cls, directory: Path) -> TermPostings:
        """The postings saved in `directory`.

        Raises:
            OSError, ValueError, KeyError: missing, unreadable or inconsistent files.
        """
        terms = json.loads((directory / _TERMS_FILE).read_text(encoding="utf-8"))
        with np.load(directory / _ARRAYS_FILE, allow_pickle=False) as arrays:
            return cls(terms, arrays["indptr"], arrays["indices"])
