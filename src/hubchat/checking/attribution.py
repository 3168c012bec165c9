"""Citations for the sentences a model forgot to cite, added only where the checker finds real support.

Small local models often state a fact from a passage without writing its [n]. Rather than flag every such
sentence, the checker looks for the passage that best supports it; when the support score clears the
"supported" threshold, the marker is added and the sentence is marked `attributed`, so readers get a working
citation and editors can see which markers the model did not write itself. Sentences without such support
stay "uncited" and flagged.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import numpy as np

from hubchat.checking.citations import (
    SUPPORTED_THRESHOLD,
    best_supporting_span,
    check_citations,
)
from hubchat.types import CitationReport, Passage

# Passages scored with the embedder per uncited sentence, after a cheap lexical pre-selection.
CANDIDATES = 2


def _marked(sentence: str, number: int) -> str:
    """The sentence with [number] before its closing punctuation."""
    stripped = sentence.rstrip()
    tail = sentence[len(stripped):]
    if stripped and stripped[-1] in ".!?":
        return f"{stripped[:-1]} [{number}]{stripped[-1]}{tail}"
    return f"{stripped} [{number}]{tail}"


def attribute_uncited(
    report: CitationReport,
    passages: Sequence[Passage],
    *,
    embed: Callable[[list[str]], np.ndarray] | None = None,
    refusal_text: str | None = None,
    question: str = "",
    threshold: float = SUPPORTED_THRESHOLD,
) -> CitationReport:
    """Add a citation to each uncited factual sentence that a shown passage clearly supports.

    Args:
        report: the checked answer.
        passages: the passages shown, numbered from 1.
        embed: the embedder used by the checker (the same scores decide here).
        question: the (standalone) question, as for `check_citations`.
        threshold: the support score a passage needs for its marker to be added.

    Returns:
        A new report of the amended text (unchanged if nothing qualified); added citations have attributed=True.
    """
    uncited = [s for s in report.sentences if s.verdict == "uncited"]
    if not uncited or not passages:
        return report
    additions: dict[int, int] = {}
    for sentence in uncited:
        lexical = sorted(
            ((best_supporting_span(sentence.text, p)[3], n) for n, p in enumerate(passages, 1)), reverse=True
        )[:CANDIDATES]
        scored = [(best_supporting_span(sentence.text, passages[n - 1], embed)[3], n) for score, n in lexical if score > 0]
        if scored:
            best_score, best_number = max(scored)
            if best_score >= threshold:
                additions[sentence.index] = best_number
    if not additions:
        return report
    pieces: list[str] = []
    cursor = 0
    for sentence in report.sentences:
        if sentence.index in additions:
            pieces.append(report.text[cursor:sentence.start])
            pieces.append(_marked(report.text[sentence.start:sentence.end], additions[sentence.index]))
            cursor = sentence.end
    pieces.append(report.text[cursor:])
    amended = check_citations("".join(pieces), passages, embed=embed, refusal_text=refusal_text, question=question)
    # The first check already removed the pruned markers from the text; its record of them is kept.
    pruned = {s.index: s.pruned for s in report.sentences if s.pruned}
    sentences = tuple(
        dataclasses.replace(
            s,
            attributed=s.index in additions and additions[s.index] in s.citations,
            pruned=s.pruned or pruned.get(s.index, ()),
        )
        for s in amended.sentences
    )
    return dataclasses.replace(amended, sentences=sentences)
