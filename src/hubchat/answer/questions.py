"""The reader's question as the chain accepts it: no control characters, not empty, not too long."""

from __future__ import annotations

import unicodedata

from hubchat.errors import InputError


def clean_question(question: str | None, max_chars: int) -> str:
    """The question without control characters (newlines and tabs kept), trimmed.

    Raises:
        InputError: the question is empty once cleaned, or longer than `max_chars`; the message says what to do.
    """
    if question is None:
        raise InputError("Please type a question.")
    text = "".join(ch for ch in str(question) if ch in "\n\t" or unicodedata.category(ch)[0] != "C").strip()
    if not text:
        raise InputError("Please type a question.")
    if len(text) > max_chars:
        raise InputError(f"The question is {len(text):,} characters long; the limit is {max_chars:,}. Please shorten it.")
    return text
