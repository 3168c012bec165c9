"""The reader-facing notes under an answer: a refusal, flagged sentences, added or removed citations."""

from __future__ import annotations

from hubchat.types import FLAGGED_VERDICTS, CitationReport

REFUSAL_NOTE = "The articles do not cover this question, so no answer was made up."
QUOTED_NOTE = (
    "The model did not write an answer from these passages, so these are the articles' sentences closest to your "
    "question, quoted as they stand."
)


def answer_notes(report: CitationReport | None, refused: bool, quoted: bool = False) -> tuple[str, ...]:
    """What a reader should know about how far to trust this answer."""
    if refused or report is None:
        return (REFUSAL_NOTE,)
    notes: list[str] = [QUOTED_NOTE] if quoted else []
    flagged = [s for s in report.sentences if s.verdict in FLAGGED_VERDICTS]
    if flagged:
        notes.append(f"The citation check flagged {len(flagged)} of {len(report.sentences)} sentences; treat them with care.")
    added = sum(s.attributed for s in report.sentences)
    if added:
        notes.append(f"{added} citation(s) were added by the checker where the model wrote none.")
    if report.issues:
        notes.append(f"{len(report.issues)} citation marker(s) pointing at nothing were removed.")
    return tuple(notes)
