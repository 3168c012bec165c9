"""The reader's question as the chain accepts it (no control characters, not empty, not too long), and as it is
searched (markup and links reduced to their words)."""

from __future__ import annotations

import re
import unicodedata
from html.parser import HTMLParser

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


# Something that looks like an HTML tag, comment or doctype (not "a < b" or "<3").
_MARKUP = re.compile(r"<\s*(?:[a-zA-Z][\w:-]*|/[a-zA-Z][\w:-]*|!)[^<>]*>?")
_URL = re.compile(r"\b(?:https?://|www\.)[^\s<>\"']+", re.IGNORECASE)
# Elements whose content is code or styling, never words of the question.
_SILENT = frozenset({"script", "style", "template", "noscript"})


class _TextOnly(HTMLParser):
    """The text of an HTML fragment, without tags, attributes or the content of script and style elements."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._silent = 0

    def handle_starttag(self, tag: str, attrs) -> None:
        if tag in _SILENT:
            self._silent += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in _SILENT and self._silent:
            self._silent -= 1

    def handle_data(self, data: str) -> None:
        if not self._silent:
            self.parts.append(data)


def _url_words(match: re.Match) -> str:
    """A link as the words it carries: "https://site/guides/eu-ai-act" -> "guides eu ai act"."""
    url = match.group()
    path = re.sub(r"^(?:https?://)?(?:www\.)?[^/]*", "", url, flags=re.IGNORECASE)
    return " ".join(w for w in re.split(r"[/_\-.?=&#+%]+", path) if w and not w.isdigit() and w.lower() not in ("html", "htm", "php"))


def search_text(question: str) -> str:
    """What a question asks, for searching: pasted markup reduced to its text, links to the words of their path.

    A question such as "<img src=x onerror=alert(1)> what is RAG?" must find what "what is RAG?" finds; the tag's
    attributes are not words a reader asked about. A question without markup or links comes back unchanged.

    Raises:
        InputError: nothing but markup is left.
    """
    text = question
    if _MARKUP.search(text):
        parser = _TextOnly()
        parser.feed(text)
        parser.close()
        text = "".join(parser.parts)
    text = " ".join(_URL.sub(_url_words, text).split())
    if not text:
        raise InputError("Please type a question: the message held only markup.")
    return text
