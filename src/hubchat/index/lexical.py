"""The persisted BM25 index over chunks (bm25s, English stop words, Snowball stemming).

It is built from exactly the chunks in Chroma and saved with a fingerprint of their ids, so a reader can
tell at start-up whether it still matches the vector store; it is never rebuilt per query. Beside the BM25
scores it keeps which chunks contain each term (`TermPostings`), the statistics the relevance floor reads.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from functools import cached_property, lru_cache
from pathlib import Path

import bm25s
import numpy as np

from hubchat.index.filters import FilterColumns
from hubchat.index.postings import TermPostings
from hubchat.types import Chunk, Filters

log = logging.getLogger(__name__)
# bm25s sets its own logger to DEBUG when imported, which would print every index build.
logging.getLogger("bm25s").setLevel(logging.WARNING)

# 2: term postings saved beside the BM25 files. An index saved in another format is rebuilt on load.
FORMAT_VERSION = 2


@lru_cache(maxsize=1)
def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("english")


# bm25s's default token pattern: runs of two or more word characters.
_WORD = re.compile(r"(?u)\b\w\w+\b")


def tokenize(texts: Sequence[str]) -> list[list[str]]:
    """Lower-cased word tokens, English stop words removed, Snowball-stemmed."""
    return bm25s.tokenize(list(texts), stopwords="en", stemmer=_stemmer(), return_ids=False, show_progress=False)


@lru_cache(maxsize=256)
def query_tokens(query: str) -> tuple[str, ...]:
    """`tokenize` of one question, remembered: the search and the relevance floor both need it, and bm25s builds
    progress-bar objects on every call (0.3 ms a question, a tenth of a filtered retrieval's own work at 10k)."""
    return tuple(tokenize([query])[0])


def fingerprint(chunk_ids: Iterable[str]) -> str:
    digest = hashlib.sha256()
    for cid in sorted(chunk_ids):
        digest.update(cid.encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()


def lexical_text(chunk: Chunk) -> str:
    """Title and headings are searched along with the text: a question often names them."""
    return " ".join((chunk.title, *chunk.heading_path, chunk.text))


class LexicalIndex:
    """BM25 over a fixed list of chunks.

    Args:
        chunks: the chunks indexed, in index order.
        bm25: a built bm25s.BM25 over those chunks (None when there are no chunks).
        postings: which of those chunks contain each term.
    """

    def __init__(self, chunks: Sequence[Chunk], bm25: bm25s.BM25 | None, postings: TermPostings):
        self.chunks = list(chunks)
        self._bm25 = bm25
        self._postings = postings
        self.ids = [c.id for c in self.chunks]
        self.position = {cid: i for i, cid in enumerate(self.ids)}
        self.fingerprint = fingerprint(self.ids)

    @classmethod
    def build(cls, chunks: Sequence[Chunk], *, k1: float = 1.2, b: float = 0.75, method: str = "lucene") -> LexicalIndex:
        """Index `chunks` (title, headings and text; see `lexical_text`).

        Args:
            k1, b, method: BM25 parameters and variant (bm25s names); the defaults are the product's, other
                values are for benchmarks.
        """
        chunks = list(chunks)
        if not chunks:
            return cls([], None, TermPostings.build([]))
        tokens = tokenize([lexical_text(c) for c in chunks])
        bm25 = bm25s.BM25(k1=k1, b=b, method=method)
        bm25.index(tokens, show_progress=False)
        return cls(chunks, bm25, TermPostings.build(tokens))

    def __len__(self) -> int:
        return len(self.chunks)

    @cached_property
    def filter_columns(self) -> FilterColumns:
        """The chunks' filtered metadata as arrays; built on the first filtered search, then kept."""
        return FilterColumns(self.chunks)

    def search(self, query: str, k: int, filters: Filters | None = None) -> list[tuple[Chunk, float]]:
        """Top-k chunks by BM25 score; chunks with a zero score (no query term) are never returned.

        Args:
            query: the question, tokenised like the chunks.
            k: how many chunks at most.
            filters: metadata filters; a chunk failing them scores 0 (see `hubchat.index.filters`).
        """
        if self._bm25 is None or k <= 0:
            return []
        tokens = [t for t in query_tokens(query) if t in self._bm25.vocab_dict]
        if not tokens:
            return []
        scores = self._bm25.get_scores(tokens)
        if filters is not None and not filters.is_empty():
            scores = scores * self.filter_columns.mask(filters)
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(self.chunks[i], float(scores[i])) for i in top if scores[i] > 0]

    def document_frequencies(self, terms: Sequence[str]) -> np.ndarray:
        """Per term (a `tokenize` token), how many indexed chunks contain it; 0 for a term none contains."""
        return self._postings.document_frequencies(terms)

    @cached_property
    def words(self) -> tuple[tuple[str, ...], np.ndarray]:
        """Every lower-cased word of the chunks (as `tokenize` splits them, before stemming) and how many chunks
        hold it. Built on first use, then kept (about 0.1 s per thousand chunks), like `filter_columns`."""
        counts: dict[str, int] = {}
        for chunk in self.chunks:
            for word in set(_WORD.findall(lexical_text(chunk).lower())):
                counts[word] = counts.get(word, 0) + 1
        return tuple(counts), np.fromiter(counts.values(), dtype=np.int64, count=len(counts))

    def near_words(self, word: str, max_distance: int, min_chunks: int = 2) -> list[tuple[str, int, int]]:
        """Words of the chunks within `max_distance` edits of `word` (Damerau-Levenshtein: swapping two neighbours
        is one edit) and held by at least `min_chunks` chunks, as (word, distance, chunk count), nearest and then
        commonest first. A word of a single chunk is left out: as likely the corpus's own typo as the spelling."""
        from rapidfuzz import process
        from rapidfuzz.distance import DamerauLevenshtein

        words, chunks = self.words
        found = process.extract(word, words, scorer=DamerauLevenshtein.distance, score_cutoff=max_distance, limit=None)
        near = [(w, int(d), int(chunks[i])) for w, d, i in found if chunks[i] >= min_chunks and w != word]
        return sorted(near, key=lambda x: (x[1], -x[2], x[0]))

    def term_of(self, word: str) -> str:
        """The term `tokenize` makes of one word (lower-cased and stemmed; stop words included)."""
        return _stemmer().stemWord(word.lower())

    def term_presence(self, terms: Sequence[str], positions: np.ndarray) -> np.ndarray:
        """Whether the chunks at `positions` (index order, see `position`) contain each term.

        Returns:
            A boolean matrix with one row per position and one column per term.
        """
        return self._postings.presence(terms, positions)

    def save(self, directory: Path) -> None:
        """Write atomically: a reader sees the old index or the new one, never half of one."""
        directory = Path(directory)
        directory.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".lexical-", dir=directory.parent))
        try:
            if self._bm25 is not None:
                self._bm25.save(str(tmp / "bm25"))
            self._postings.save(tmp)
            with open(tmp / "chunks.jsonl", "w", encoding="utf-8") as fh:
                for c in self.chunks:
                    fh.write(json.dumps(asdict(c), ensure_ascii=False) + "\n")
            (tmp / "meta.json").write_text(
                json.dumps({"format": FORMAT_VERSION, "fingerprint": self.fingerprint, "chunks": len(self.chunks)}),
                encoding="utf-8",
            )
            for path in tmp.rglob("*"):
                if path.is_file():
                    with open(path, "rb") as fh:
                        os.fsync(fh.fileno())
            old = directory.with_name(directory.name + ".old")
            if old.exists():
                shutil.rmtree(old)
            if directory.exists():
                os.replace(directory, old)
            os.replace(tmp, directory)
            shutil.rmtree(old, ignore_errors=True)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    @classmethod
    def load(cls, directory: Path) -> LexicalIndex | None:
        """The saved index, or None if there is none or it cannot be read (the caller rebuilds it)."""
        directory = Path(directory)
        if not (directory / "meta.json").is_file():
            old = directory.with_name(directory.name + ".old")
            if (old / "meta.json").is_file():  # a crash between the two renames of save()
                directory = old
            else:
                return None
        try:
            meta = json.loads((directory / "meta.json").read_text(encoding="utf-8"))
            if meta.get("format") != FORMAT_VERSION:
                return None
            chunks = []
            with open(directory / "chunks.jsonl", encoding="utf-8") as fh:
                for line in fh:
                    raw = json.loads(line)
                    raw["heading_path"] = tuple(raw["heading_path"])
                    raw["tags"] = tuple(raw["tags"])
                    chunks.append(Chunk(**raw))
            bm25 = bm25s.BM25.load(str(directory / "bm25")) if chunks else None
            postings = TermPostings.load(directory)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("lexical index at %s is unreadable (%s); it will be rebuilt", directory, exc)
            return None
        index = cls(chunks, bm25, postings)
        if index.fingerprint != meta.get("fingerprint"):
            return None
        return index
