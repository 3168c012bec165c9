"""The prompt budget: of each retrieved passage, only the sentences that bear on the question reach the model.

A local model reads its prompt at about 72 tokens a second on two cores, so five whole passages (1,100 tokens) cost
15 s before the first word. `select_excerpts` keeps, across all passages, the sentences most relevant to the
question until `budget` tokens are used, and drops a passage none of whose sentences made the cut (it carries no
new evidence, so the reader is not shown it either). The full passages stay what citations point into: the
checker judges answers against them and the source cards show them, so highlights keep their article offsets.

A sentence's relevance is the mean of two signals in [0, 1]: the share of the question's content terms it holds
(with the passage's title and headings, so "the second one" of a section still counts) and its cosine to the
question under the sentence embedder. Sentences already taken (chunks overlap, so neighbours repeat some) are not
taken twice. A table row brings its table's header row, so the model knows what its cells are; a sentence that
opens with a pronoun brings the sentence before it, so "It costs $5" keeps what "it" is.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from hubchat.checking.support import PassageSentences, claim_terms, lexical_recall, passage_sentences
from hubchat.index.tokens import count_tokens_batch
from hubchat.types import Passage

Embed = Callable[[list[str]], np.ndarray]

# Sentences scoring below this share of the best sentence's relevance add words, not evidence.
RELATIVE_FLOOR = 0.5
GAP = " … "
_ANAPHOR = re.compile(r"^(?:it|its|this|that|these|those|they|their|them|he|she|his|her|there|both|such)\b", re.I)


@dataclass(frozen=True)
class Excerpt:
    """What the model is shown of one passage.

    Attributes:
        passage: the whole passage, as retrieved (citations and source cards use it).
        spans: [start, end) offsets in `passage.chunk.text` of the sentences kept, in reading order.
        text: those sentences, an ellipsis where sentences were left out between them.
        relevance: the best relevance among the kept sentences.
    """

    passage: Passage
    spans: tuple[tuple[int, int], ...]
    text: str
    relevance: float

    def as_passage(self) -> Passage:
        """The passage with only the excerpt as its text: what a generator is handed."""
        return replace(self.passage, chunk=replace(self.passage.chunk, text=self.text))


@dataclass(frozen=True)
class _Candidate:
    passage: int  # index in the passages
    segment: int  # index in that passage's segments
    text: str
    relevance: float
    tokens: int


def whole(passages: Sequence[Passage]) -> tuple[Excerpt, ...]:
    """Every passage in full: the prompt without a budget."""
    return tuple(Excerpt(p, ((0, len(p.chunk.text)),), p.chunk.text, 1.0) for p in passages)


def select_excerpts(question: str, passages: Sequence[Passage], budget: int, embed: Embed | None = None) -> tuple[Excerpt, ...]:
    """The passages' sentences that bear most on `question`, at most `budget` tokens in all (0: whole passages).

    The best sentence is always kept, whatever its length, so a question never goes to the model with nothing.
    Excerpts come in the passages' order; a passage with no kept sentence is left out.
    """
    if budget <= 0 or not passages:
        return whole(passages)
    indexed = [passage_sentences(p) for p in passages]
    candidates = _candidates(question, indexed, embed)
    if not candidates:
        return whole(passages)
    floor = RELATIVE_FLOOR * candidates[0].relevance
    kept: dict[int, set[int]] = {}
    seen: set[str] = set()
    used = 0
    for c in candidates:
        key = " ".join(c.text.lower().split())
        if key in seen:
            continue
        if c.relevance < floor:
            break
        extra = [k for k in _companions(indexed[c.passage], c.segment) if k not in kept.get(c.passage, set())]
        cost = c.tokens + sum(_tokens_of(indexed[c.passage], k) for k in extra)
        if kept and used + cost > budget:
            continue  # a shorter sentence further down may still fit
        kept.setdefault(c.passage, set()).update([c.segment, *extra])
        seen.add(key)
        used += cost
    best = {}
    for c in candidates:
        best.setdefault(c.passage, c.relevance)
    return tuple(_excerpt(indexed[i], sorted(kept[i]), best[i]) for i in range(len(passages)) if i in kept)


def _candidates(question: str, indexed: Sequence[PassageSentences], embed: Embed | None) -> list[_Candidate]:
    """Every non-heading sentence of every passage with its relevance and length, most relevant first."""
    terms = claim_terms(question)
    rows = [(i, k) for i, ps in enumerate(indexed) for k, seg in enumerate(ps.segments) if seg.kind != "heading"]
    if not rows:
        return []
    texts = [_segment_text(indexed[i], k) for i, k in rows]
    lexical = [lexical_recall(terms, indexed[i].terms[k] | indexed[i].context) for i, k in rows]
    if embed is not None:
        vecs = np.asarray(embed([question, *texts]), dtype=np.float32)
        cosines = np.clip(vecs[1:] @ vecs[0], 0.0, 1.0).tolist()
        relevance = [(lex + cos) / 2 for lex, cos in zip(lexical, cosines)]
    else:
        relevance = lexical
    lengths = count_tokens_batch(texts)
    out = [_Candidate(i, k, t, r, n) for (i, k), t, r, n in zip(rows, texts, relevance, lengths)]
    # Ties go to the better-ranked passage and the earlier sentence, so the choice is stable.
    return sorted(out, key=lambda c: (-c.relevance, c.passage, c.segment))


def _segment_text(ps: PassageSentences, k: int) -> str:
    seg = ps.segments[k]
    return ps.passage.chunk.text[seg.start : seg.end]


def _tokens_of(ps: PassageSentences, k: int) -> int:
    return count_tokens_batch([_segment_text(ps, k)])[0]


def _companions(ps: PassageSentences, k: int) -> list[int]:
    """Segments that must come along with segment k for it to make sense on its own."""
    seg = ps.segments[k]
    if seg.kind == "table":
        first = k
        while first > 0 and ps.segments[first - 1].kind == "table":
            first -= 1
        return [first] if first != k else []
    if k > 0 and ps.segments[k - 1].kind == "sentence" and _ANAPHOR.match(_segment_text(ps, k)):
        return [k - 1]
    return []


def _excerpt(ps: PassageSentences, segments: list[int], relevance: float) -> Excerpt:
    text = ps.passage.chunk.text
    spans = [(ps.segments[k].start, ps.segments[k].end) for k in segments]
    pieces: list[str] = []
    for n, (k, (start, end)) in enumerate(zip(segments, spans)):
        if n:
            pieces.append("\n" if k == segments[n - 1] + 1 and "\n" in text[spans[n - 1][1] : start] else
                          " " if k == segments[n - 1] + 1 else GAP)
        pieces.append(text[start:end])
    if segments[0] > 0 and any(s.kind != "heading" for s in ps.segments[: segments[0]]):
        pieces.insert(0, GAP.lstrip())
    if segments[-1] < len(ps.segments) - 1:
        pieces.append(GAP.rstrip())
    return Excerpt(ps.passage, tuple(spans), "".join(pieces), relevance)
