"""Sentence spans of plain text, with offsets that index the original text exactly."""

from __future__ import annotations

import re
from functools import lru_cache

# Control characters (other than tab and line breaks) crash pysbd's list detection, which reads `\s\d` and then
# parses the match as a number (int("\x1f1") fails). They carry no words, so they become spaces: same length,
# same offsets.
_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\x85\u2028\u2029]")


@lru_cache(maxsize=1)
def _segmenter():
    # Imported lazily: pysbd compiles many regexes on import, and not every command splits sentences.
    import pysbd

    # clean=False: cleaning rewrites the text, and then its sentences could no longer be found in it.
    return pysbd.Segmenter(language="en", clean=False)


def sentence_spans(text: str, start: int = 0, end: int | None = None, *, join_lines: bool = False) -> list[tuple[int, int]]:
    """(start, end) of each sentence of `text[start:end]`, as offsets into `text`, each span trimmed.

    Args:
        text: the whole text; offsets are returned in it.
        start, end: the part to split (default: all of it).
        join_lines: pysbd ends a sentence at every line break; with True, line breaks count as spaces, so a
            sentence wrapped over several lines stays one sentence.
    """
    stop = len(text) if end is None else end
    part = text[start:stop]
    # Same length, so an offset found in the copy is an offset in `text`.
    part = _CONTROLS.sub(" ", part)
    if join_lines:
        part = part.replace("\r", " ").replace("\n", " ")
    if not part.strip():
        return []
    spans: list[tuple[int, int]] = []
    cursor = 0
    for sentence in _segmenter().segment(part):
        piece = sentence.strip()
        if not piece:
            continue
        found = part.find(piece, cursor)
        if found < 0:  # pysbd changed the text: keep the rest as one sentence rather than lose exact offsets
            rest = part[cursor:].strip()
            if rest:
                at = part.find(rest, cursor)
                spans.append((start + at, start + at + len(rest)))
            return spans
        spans.append((start + found, start + found + len(piece)))
        cursor = found + len(piece)
    return spans
