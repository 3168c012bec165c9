"""Repetition in a model's answer: a sentence written twice is dropped, and a generation caught in a loop is stopped.

Small models at low temperature sometimes fall into a loop, writing one sentence (or a few) over and over until
`max_tokens`. Every copy cites the same passage, so each would pass the checker and the reader would be told a
degenerate answer was verified. Two sentences repeat when they are the same once markers, case, spacing and the
closing punctuation are set aside.
"""

from __future__ import annotations

import re

from hubchat.checking.citations import strip_markers
from hubchat.checking.support import split_sentences

# Shorter sentences ("Yes.", "It depends.") may well recur in a good answer; they are never dropped.
MIN_REPEAT_CHARS = 16
# A sentence the generation has written this many times, or a tail it has written this many times back to back,
# is a loop.
LOOP_COPIES = 3
# The shortest and longest tail (in characters) compared back to back: long enough not to catch "[1][1]",
# long enough to catch a loop of a few sentences.
LOOP_MIN_CHARS, LOOP_MAX_CHARS = 24, 600
_BULLET = re.compile(r"[ \t]*(?:[-*+]|\d+[.)])[ \t]+")
_TRAILING_MARKERS = re.compile(r"(?:\s*\[\d+\])+")
_ROUGH_SENTENCES = re.compile(r"(?<=[.!?])\s+|\n+")


def _key(sentence: str) -> str:
    return " ".join(strip_markers(sentence).lower().split()).rstrip(" .!?;:")


def drop_repeated_sentences(text: str) -> tuple[str, int]:
    """`text` without the second and later copies of any sentence, and how many copies were dropped."""
    seen: set[str] = set()
    cuts: list[tuple[int, int]] = []
    for seg in split_sentences(text):
        key = _key(text[seg.start : seg.end])
        if len(key) < MIN_REPEAT_CHARS or seg.kind == "code":
            continue
        if key in seen:
            start = seg.start
            line_start = text.rfind("\n", 0, start) + 1
            if _BULLET.fullmatch(text, line_start, start) and line_start > 0:
                start = line_start - 1  # a whole list item goes, with its bullet and line break
            while start > 0 and text[start - 1] in " \t":  # the space that led into the dropped copy
                start -= 1
            markers = _TRAILING_MARKERS.match(text, seg.end)  # its markers, if the split left them outside
            cuts.append((start, markers.end() if markers else seg.end))
        else:
            seen.add(key)
    if not cuts:
        return text, 0
    out, cursor = [], 0
    for start, end in cuts:
        out.append(text[cursor:start])
        cursor = end
    out.append(text[cursor:])
    cleaned = re.sub(r"\n{3,}", "\n\n", "".join(out)).strip()
    return cleaned, len(cuts)


def is_looping(text: str) -> bool:
    """Whether a generation so far (`text`) is caught in a loop: one sentence written LOOP_COPIES times, or its
    tail repeated LOOP_COPIES times back to back."""
    tail = text[-LOOP_COPIES * LOOP_MAX_CHARS :]
    for size in range(LOOP_MIN_CHARS, len(tail) // LOOP_COPIES + 1):
        piece = tail[-size:]
        if all(tail[-(k + 1) * size : -k * size or None] == piece for k in range(1, LOOP_COPIES)) and piece.strip():
            return True
    counts: dict[str, int] = {}
    for sentence in _ROUGH_SENTENCES.split(text):  # called while streaming: a regex, not the full splitter
        key = _key(sentence)
        if len(key) >= MIN_REPEAT_CHARS:
            counts[key] = counts.get(key, 0) + 1
            if counts[key] >= LOOP_COPIES:
                return True
    return False
