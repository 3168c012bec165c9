"""The widget's HTML for an answer and its sources, escaped like everything in `hubchat.web.render`.

The widget is a page of our own, not a Gradio one, so an answer arrives as finished HTML: the sentences escaped,
each [n] marker a `#cite-{key}-{s}-{n}` link that the shared citation script (assets.CITATION_SCRIPT) resolves
to the source card `src-{key}-{n}`, as in the main chat.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from hubchat.types import FLAGGED_VERDICTS, AnswerResult, SentenceCheck, Source
from hubchat.web.render import READING_KEY, esc, source_card_html

_MARKER = re.compile(r"\[(\d+)\]")
FLAG_TITLE = "The check found no support for this sentence in the passages it cites."


def answer_html(key: str, result: AnswerResult) -> str:
    """The checked answer: escaped text with linked markers, a mark on flagged sentences, then the notes."""
    report = result.report
    if result.refused or report is None:
        return f'<div class="hcw-text">{esc(result.text)}</div>{_notes_html(result.notes)}'
    titles = {s.number: s.title for s in result.passages}
    parts: list[str] = []
    cursor = 0
    for sentence in report.sentences:
        parts.append(esc(report.text[cursor : sentence.start]))
        parts.append(_sentence_html(key, sentence, titles))
        cursor = sentence.end
    parts.append(esc(report.text[cursor:]))
    return f'<div class="hcw-text">{"".join(parts)}</div>{_notes_html(result.notes)}'


def _sentence_html(key: str, sentence: SentenceCheck, titles: dict[int, str]) -> str:
    out: list[str] = []
    cursor = 0
    for m in _MARKER.finditer(sentence.text):
        out.append(esc(sentence.text[cursor : m.start()]))
        n = int(m.group(1))
        title = esc(f"Source {n}: {titles.get(n, '')}".strip(": "))
        out.append(f'<a class="hcw-cite" href="#cite-{esc(key)}-{sentence.index}-{n}" title="{title}">[{n}]</a>')
        cursor = m.end()
    out.append(esc(sentence.text[cursor:]))
    if sentence.verdict in FLAGGED_VERDICTS:
        out.append(f' <span class="hcw-flag" title="{esc(FLAG_TITLE)}" aria-label="{esc(FLAG_TITLE)}">⚠︎</span>')
    return "".join(out)


def _notes_html(notes: Sequence[str]) -> str:
    return "".join(f'<p class="hcw-note">{esc(n)}</p>' for n in notes)


def sources_html(key: str, result: AnswerResult) -> str:
    """The cards of the passages the answer cites, supporting spans highlighted; empty when it cites none."""
    if not result.sources:
        return ""
    sentences = result.report.sentences if result.report else ()
    cards = "".join(source_card_html(key, s, sentences, open_=len(result.sources) == 1) for s in result.sources)
    return f'<div class="hcw-sources"><div class="hcw-sources-head">Sources</div>{cards}</div>'


def reading_html(passages: Sequence[Source]) -> str:
    """The passages the answer is being written from, shown before its first word."""
    if not passages:
        return ""
    cards = "".join(source_card_html(READING_KEY, s, ()) for s in passages)
    return (
        '<div class="hcw-sources hcw-reading"><div class="hcw-sources-head">Reading these passages…</div>'
        f"{cards}</div>"
    )
