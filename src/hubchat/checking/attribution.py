"""Citations the checker writes itself, only where it finds real support: for the sentences a model forgot to
cite, and for those it cited to the wrong passage.

Small local models often state a fact from a passage without writing its [n]. Rather than flag every such
sentence, the checker looks for the passage that best supports it; when the support score clears the
"supported" threshold, the marker is added and the sentence is marked `attributed`, so readers get a working
citation and editors can see which markers the model did not write itself. Sentences without such support
stay "uncited" and flagged.

They also write a fact from one passage and the number of its neighbour ("[2]" for what [1] says): the reader
who opens [2] finds nothing. `move_unsupported` gives such a sentence the marker of the shown passage that does
support it, when one does and the re-check rates it "supported" (figures and names included); the model's
markers are kept in `pruned` and the sentence is `attributed`, so editors see the move. A sentence no shown
passage supports keeps its markers and its flag.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import numpy as np

from hubchat.checking.citations import (
    SUPPORTED_THRESHOLD,
    best_supporting_span,
    check_citations,
    strip_markers,
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


def attribute_citations(
    report: CitationReport,
    passages: Sequence[Passage],
    *,
    embed: Callable[[list[str]], np.ndarray] | None = None,
    refusal_text: str | None = None,
    question: str = "",
    threshold: float = SUPPORTED_THRESHOLD,
    add: bool = True,
    move: bool = True,
) -> CitationReport:
    """Cite the supporting passage where the model cited none (`add`) or one that does not support the sentence
    (`move`); both in one re-check of the amended text, as the answer chain needs.

    Args:
        report: the checked answer.
        passages: the passages shown, numbered from 1.
        embed: the embedder used by the checker (the same scores decide here).
        question: the (standalone) question, as for `check_citations`.
        threshold: the support score a passage needs for its marker to be written.
        add, move: which of the two to do.

    Returns:
        A new report of the amended text (the same report if nothing qualified). A sentence the checker cited has
        attributed=True; a moved one keeps the model's own markers in `pruned`. A move the re-check does not rate
        "supported" (it compares figures and names too) is undone.
    """
    if not passages:
        return report
    additions: dict[int, int] = {}
    moves: dict[int, int] = {}
    for sentence in report.sentences:
        if add and sentence.verdict == "uncited":
            target, exclude = additions, ()
        elif move and sentence.verdict in ("weak", "unsupported") and sentence.citations:
            target, exclude = moves, sentence.citations
        else:
            continue
        number = _best_supporting(sentence.text, passages, exclude, embed, threshold)
        if number is not None:
            target[sentence.index] = number
    while additions or moves:
        amended = check_citations(
            _remarked(report, {**additions, **moves}), passages, embed=embed, refusal_text=refusal_text, question=question
        )
        if len(amended.sentences) != len(report.sentences):
            return report  # the markers moved a sentence boundary: leave the model's answer as it was checked
        failed = {i for i, n in moves.items() if amended.sentences[i].verdict != "supported" or n not in amended.sentences[i].citations}
        if not failed:
            break
        moves = {i: n for i, n in moves.items() if i not in failed}
    else:
        return report
    before = {s.index: s for s in report.sentences}
    # The first check already removed the pruned markers from the text; its record of them is kept.
    sentences = tuple(
        dataclasses.replace(s, attributed=True, pruned=before[s.index].pruned + before[s.index].supports)
        if s.index in moves
        else dataclasses.replace(
            s,
            attributed=(s.index in additions and additions[s.index] in s.citations) or before[s.index].attributed,
            pruned=s.pruned or before[s.index].pruned,
        )
        for s in amended.sentences
    )
    return dataclasses.replace(amended, sentences=sentences)


def attribute_uncited(report: CitationReport, passages: Sequence[Passage], **options) -> CitationReport:
    """Add a citation to each uncited factual sentence that a shown passage clearly supports
    (`attribute_citations` without moves; same options)."""
    return attribute_citations(report, passages, move=False, **options)


def move_unsupported(report: CitationReport, passages: Sequence[Passage], **options) -> CitationReport:
    """Give each cited sentence its passages do not support the marker of a shown passage that does
    (`attribute_citations` without additions; same options)."""
    return attribute_citations(report, passages, add=False, **options)


def _best_supporting(
    sentence: str, passages: Sequence[Passage], exclude: Sequence[int], embed, threshold: float
) -> int | None:
    """The number of the shown passage (other than `exclude`) that best supports `sentence`, if it clears
    `threshold`: a cheap lexical pre-selection, then the full score on the few best."""
    lexical = sorted(
        ((best_supporting_span(sentence, p)[3], n) for n, p in enumerate(passages, 1) if n not in exclude), reverse=True
    )[:CANDIDATES]
    scored = [(best_supporting_span(sentence, passages[n - 1], embed)[3], n) for score, n in lexical if score > 0]
    if not scored:
        return None
    best_score, best_number = max(scored)
    return best_number if best_score >= threshold else None


def _remarked(report: CitationReport, markers: dict[int, int]) -> str:
    """The report's text with each sentence of `markers` (by index) carrying only that one marker."""
    pieces: list[str] = []
    cursor = 0
    for sentence in report.sentences:
        if sentence.index in markers:
            pieces.append(report.text[cursor:sentence.start])
            pieces.append(_marked(strip_markers(report.text[sentence.start:sentence.end]), markers[sentence.index]))
            cursor = sentence.end
    pieces.append(report.text[cursor:])
    return "".join(pieces)
