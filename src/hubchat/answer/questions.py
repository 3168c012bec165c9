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
# Elements that only format or lay out text: their names are not what a reader asks about. Any other tag
# (<script>, <iframe>, <img>) may be the topic ("may the widget's <script> tag go in the footer?"), so its name stays.
_LAYOUT = frozenset(
    "a abbr b big blockquote br cite code del div em font h1 h2 h3 h4 h5 h6 hr i ins kbd li mark ol p pre q s samp "
    "small span strike strong sub sup table tbody td tfoot th thead tr tt u ul var".split()
)


class _TextOnly(HTMLParser):
    """The words of an HTML fragment: its text, and the names of tags other than layout; never attributes."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.has_text = False

    def set_cdata_mode(self, elem: str, **kwargs) -> None:
        # HTMLParser reads a <script> or <style> body raw up to its end tag, and drops it when the tag never closes
        # ("may the <script src=...> go in the footer?"); a question is text, so read on as text.
        pass

    def handle_starttag(self, tag: str, attrs) -> None:
        if tag not in _LAYOUT:
            self.parts.append(f" {tag} ")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)
        self.has_text = self.has_text or bool(data.strip())


def _url_words(match: re.Match) -> str:
    """A link as the words it carries: "https://site/guides/eu-ai-act" -> "guides eu ai act"."""
    url = match.group()
    path = re.sub(r"^(?:https?://)?(?:www\.)?[^/]*", "", url, flags=re.IGNORECASE)
    return " ".join(w for w in re.split(r"[/_\-.?=&#+%]+", path) if w and not w.isdigit() and w.lower() not in ("html", "htm", "php"))


def search_text(question: str) -> str:
    """What a question asks, for searching: pasted markup reduced to its text, links to the words of their path.

    A question such as "<img src=x onerror=alert(1)> what is RAG?" searches "img what is RAG?": a tag's attributes
    are not words a reader asked about, its name may be. A question without markup or links comes back unchanged.

    Raises:
        InputError: nothing but markup is left.
    """
    text = question
    if _MARKUP.search(text):
        parser = _TextOnly()
        parser.feed(text)
        parser.close()
        if not parser.has_text:
            raise InputError("Please type a question: the message held only markup.")
        text = "".join(parser.parts)
    text = " ".join(_URL.sub(_url_words, text).split())
    if not text:
        raise InputError("Please type a question: the message held only markup.")
    return text
