"""Misspelt question words searched as the corpus spells them: "retreival" is searched as "retrieval".

A word both searches miss costs more than its own weight: the embedder splits it into unrelated pieces, and BM25
finds no posting while the relevance floor counts the unknown word at full weight. So a question that names its
subject with one typo falls under the floor and is refused without the model seeing the passages retrieval still
ranked first. The retriever therefore searches the corrected question when, and only when, the question as asked
falls under the floor (as a search engine offers "showing results for" only when a query finds little).

A word is corrected when no chunk holds its term, it has at least `MIN_LENGTH` letters, and a word of the chunks
held by at least two chunks is within one edit (two for words of `TWO_EDITS_FROM` letters or more) and starts with
the same letter (typos rarely hit the first one, and "bread" must not become "read"). Words with digits or inner
capitals (model names, acronyms) and capitalised words inside the question (names: "Nintendo") are left as asked.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

MIN_LENGTH = 5
TWO_EDITS_FROM = 8
# Whole words of letters only: "gpt4o" offers nothing, "retreival-augmented" both its halves.
_WORD = re.compile(r"(?<!\w)[^\W\d_]+(?!\w)")


@dataclass(frozen=True)
class Correction:
    """One word of the question searched as another: `original` as the reader wrote it, `searched` instead."""

    original: str
    searched: str


class Vocabulary(Protocol):
    """What the corrector needs of the lexical index (hubchat.index.lexical.LexicalIndex has it)."""

    def near_words(self, word: str, max_distance: int, min_chunks: int = 2) -> list[tuple[str, int, int]]: ...

    def term_of(self, word: str) -> str: ...

    def document_frequencies(self, terms: Sequence[str]) -> np.ndarray: ...


def correct_query(query: str, vocabulary: Vocabulary) -> tuple[str, tuple[Correction, ...]]:
    """The query with each misspelt word replaced by the nearest word of the chunks, and what was replaced."""
    corrections: dict[str, str] = {}
    for match in _WORD.finditer(query):
        word = match.group(0)
        if word in corrections or not _may_be_a_typo(word, at_start=not query[: match.start()].strip()):
            continue
        if int(vocabulary.document_frequencies([vocabulary.term_of(word)])[0]) > 0:
            continue
        lower = word.lower()
        near = [w for w, _, _ in vocabulary.near_words(lower, 2 if len(word) >= TWO_EDITS_FROM else 1) if w[0] == lower[0]]
        if near:
            corrections[word] = near[0].capitalize() if word[0].isupper() else near[0]
    if not corrections:
        return query, ()
    pattern = re.compile(r"(?<!\w)(?:" + "|".join(map(re.escape, corrections)) + r")(?!\w)")
    return pattern.sub(lambda m: corrections[m.group(0)], query), tuple(Correction(o, s) for o, s in corrections.items())


def _may_be_a_typo(word: str, at_start: bool) -> bool:
    """Long enough to tell a typo from another word, and not a name: lower case, or capitalised only as the
    question's first word ("Retreival ..." yes; "vLLM", "OpenAI", "Nintendo" inside a question no)."""
    if len(word) < MIN_LENGTH:
        return False
    return word.islower() or (at_start and word[0].isupper() and word[1:].islower())
