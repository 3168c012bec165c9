"""The reader-facing notes under an answer: a refusal, flagged sentences, added or removed citations."""

from __future__ import annotations

from hubchat.types import FLAGGED_VERDICTS, CitationReport

REFUSAL_NOTE = "The articles do not cover this question, so no answer was made up."
QUOTED_NOTE = (
    "The model did not write an answer from these passages, so these are the articles' sentences closest to your "
    "question, quoted as they stand."
)


LOOP_NOTE = "The model began repeating itself, so its answer was stopped there."


def answer_notes(
    report: CitationReport | None,
    refused: bool,
    quoted: bool = False,
    *,
    looped: bool = False,
    repeats: int = 0,
    corrections: tuple[tuple[str, str], ...] = (),
) -> tuple[str, ...]:
    """What a reader should know about how far to trust this answer."""
    if refused or report is None:
        return (REFUSAL_NOTE,)
    notes: list[str] = [QUOTED_NOTE] if quoted else []
    if corrections:
        said = ", ".join(f"“{searched}” for “{original}”" for original, searched in corrections)
        notes.append(f"The articles were searched with {said}.")
    if looped:
        notes.append(LOOP_NOTE)
    if repeats:
        notes.append(f"{repeats} sentence(s) the model wrote twice were removed.")
    flagged = [s for s in report.sentences if s.verdict in FLAGGED_VERDICTS]
    if flagged:
        notes.append(f"The citation check flagged {len(flagged)} of {len(report.sentences)} sentences; treat them with care.")
    moved = sum(s.attributed and bool(s.pruned) for s in report.sentences)
    added = sum(s.attributed for s in report.sentences) - moved
    if added:
        notes.append(f"{added} citation(s) were added by the checker where the model wrote none.")
    if moved:
        notes.append(f"{moved} citation(s) were moved by the checker to the passage that supports the sentence.")
    if report.issues:
        notes.append(f"{len(report.issues)} citation marker(s) pointing at nothing were removed.")
    pruned = sum(len(s.pruned) for s in report.sentences if not s.attributed)
    if pruned:
        notes.append(f"{pruned} citation(s) to passages that do not support their sentence were removed.")
    return tuple(notes)
