"""Names in a claim, and the name keys a passage offers, so a claim naming what its passages never name is caught.

A name is a word with a capital letter that the sentence's grammar does not explain:

- not the sentence's first word, nor the first word after a colon, semicolon or dash ("Note: Pricing starts..."),
  whose capital only says a sentence starts there; unless it is a symbol (two capitals, a digit, or a capital
  inside: "AWS", "GPT-4", "OceanStor", "iPhone", "mTOR"), which is a name anywhere;
- not a single letter ("I", "A"), nor a stop word ("The", "However" after a quotation).

A passage offers the key of every word it holds, whatever its case ("RAG" is matched by "rag", "Free plan" by
"free"). Keys are compared after dropping a possessive ("Huawei's"), the dots of an initialism ("U.S." is "US"),
an acronym's plural ("GPUs" is "GPU"), and stemming plain words ("Americans" is "American"), with month
names and their abbreviations alike ("Feb" is "February"). A hyphenated name with a digit ("GPT-4", "Qwen2.5-Coder") must be
found whole ("GPT-4o" is another model); one without ("AI-powered") needs only its capitalised parts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

_TOKEN = re.compile(r"[^\W_]+(?:[-.&][^\W_]+)*(?:\+\+)?")
# Where a new sentence-like start may follow inside a sentence.
_RESTART = re.compile(r"(?:[:;—–]|\s-)[\s*_\"“”'(]*$|[\"“(][\s*_]*$")
_MONTH_NAMES = "january february march april may june july august september october november december".split()
_MONTHS = {m: m[:3] for m in _MONTH_NAMES} | {m[:3]: m[:3] for m in _MONTH_NAMES} | {"sept": "sep"}


@lru_cache(maxsize=1)
def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("english")


@dataclass(frozen=True)
class Name:
    """A name in a claim: `text[start:end]` as written, and the keys that match it (all must be found)."""

    text: str
    start: int
    end: int
    keys: tuple[str, ...]


def _is_symbol(token: str) -> bool:
    return (
        sum(c.isupper() for c in token) >= 2
        or any(c.isdigit() for c in token) and any(c.isalpha() for c in token)
        or any(c.isupper() for c in token[1:])
    )


def key(token: str) -> str:
    """The form two spellings of one name share (see the module docstring)."""
    token = re.sub(r"['’]s?$", "", token)
    if re.fullmatch(r"(?:[A-Za-z]\.)+[A-Za-z]?", token):
        token = token.replace(".", "")
    if re.fullmatch(r"[A-Z0-9]{2,}s", token):
        token = token[:-1]
    low = token.lower()
    if low in _MONTHS:
        return _MONTHS[low]
    if low.isalpha() and not token.isupper():  # an acronym is no English word to stem ("AWS" is not "aw")
        return _stemmer().stemWord(low)
    return low


def names(claim: str, stop_words: frozenset[str] = frozenset()) -> tuple[Name, ...]:
    """The names of one sentence, in order (see the module docstring for what counts)."""
    out: list[Name] = []
    first = True
    cursor = 0
    for m in _TOKEN.finditer(claim):
        raw = m.group()
        start_like = first or bool(_RESTART.search(claim[cursor : m.start()]))
        first = False
        cursor = m.end()
        if not any(c.isupper() for c in raw) or not any(c.isalpha() for c in raw):
            continue
        if len(raw) < 2 or raw.lower() in stop_words:
            continue
        if start_like and not _is_symbol(raw):
            continue
        parts = raw.split("-")
        if len(parts) > 1 and not any(c.isdigit() for c in raw):
            keys = tuple(key(p) for p in parts if any(c.isupper() for c in p))
        else:
            keys = (key(raw),)
        out.append(Name(raw, m.start(), m.end(), keys))
    return tuple(out)


@lru_cache(maxsize=2048)
def name_keys(text: str) -> frozenset[str]:
    """Every key a text offers: each word's, and each part's of a hyphenated or dotted word."""
    keys: set[str] = set()
    for m in _TOKEN.finditer(text):
        raw = m.group()
        keys.add(key(raw))
        for part in re.split(r"[-.&]", raw):
            if part:
                keys.add(key(part))
    return frozenset(keys)


def unmatched(claim_names: tuple[Name, ...], offered: frozenset[str], exempt: frozenset[str] = frozenset()) -> tuple[Name, ...]:
    """The claim's names with a key that is neither `offered` (by the passages) nor `exempt` (the question's)."""
    return tuple(n for n in claim_names if not all(k in offered or k in exempt for k in n.keys))
