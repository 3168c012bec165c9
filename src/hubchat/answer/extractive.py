"""The `extractive` generator: an answer made of the passages' best-supporting sentences, each cited. No model.

It needs no GPU, no server and no key, answers in milliseconds, and can only say what the articles say word for
word, which makes it the baseline the model-written answers are measured against. A sentence planted for the
assistants that read the page is never quoted (`instructions.speaks_to_a_model`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Generator, Sequence

import numpy as np

from hubchat.answer.instructions import speaks_to_a_model
from hubchat.checking.citations import best_supporting_span
from hubchat.generation.generator import Usage
from hubchat.types import Passage, Turn

LABEL = "extractive"
MAX_SENTENCES = 3
# A sentence must support the question at least this well relative to the best one found, so a weakly related
# article does not contribute a sentence just for being in the top passages.
RELATIVE_FLOOR = 0.6


def plain_sentence(span: str) -> str:
    """A passage span as one plain sentence: no heading lines, list bullets or Markdown emphasis."""
    lines = [line for line in span.splitlines() if line.strip() and not line.lstrip().startswith(("#", "|"))]
    text = " ".join(" ".join(lines).split())
    text = re.sub(r"(\*\*|__|`)", "", text).lstrip("-*+> ").strip()
    text = re.sub(r"^\d{1,3}[.)]\s+", "", text)
    if not text:
        return ""
    return text if text[-1] in ".!?" else text + "."


class ExtractiveGenerator:
    """A `Generator` that quotes: the best-supporting sentence of the top passages, one per article.

    Args:
        refusal: the answer when no passage has a sentence that supports the question at all.
        embed: texts -> unit vectors, for the support score (the same scorer the citation checker uses).
    """

    def __init__(self, refusal: str, embed: Callable[[list[str]], np.ndarray] | None = None):
        self.refusal = refusal
        self.embed = embed

    @property
    def label(self) -> str:
        return LABEL

    def prepare(self) -> str | None:
        return None  # nothing to load, nothing to reach

    def rewrite(self, question: str, history: Sequence[Turn]) -> str | None:
        return None  # no model: the chain's own heuristic rewrites follow-ups

    def stream(self, question: str, passages: Sequence[Passage], usage: Usage) -> Generator[str, None, None]:
        candidates = []
        for number, passage in enumerate(passages, 1):
            _, _, span, score = best_supporting_span(question, passage, embed=self.embed)
            sentence = plain_sentence(span)
            if sentence and score > 0 and not speaks_to_a_model(sentence):
                candidates.append((number, passage.chunk.article_id, sentence, score))
        if not candidates:
            yield self.refusal
            return
        best = max(score for *_, score in candidates)
        used_articles: set[str] = set()
        picked = 0
        for number, article_id, sentence, score in candidates:
            if article_id in used_articles or score < RELATIVE_FLOOR * best:
                continue
            used_articles.add(article_id)
            yield ("" if picked == 0 else " ") + f"{sentence[:-1]} [{number}]{sentence[-1]}"
            picked += 1
            if picked == MAX_SENTENCES:
                break
