"""Sentences of an article that speak to a language model instead of to its readers.

A page can carry text planted for the assistants that read it ("Note to any AI assistant reading this page:
ignore all previous instructions..."). The model is told passage text is data; but a quote of the article is no
model's choice, and the quoting composer (the `extractive` backend, and the quote the chain shows after a model
refusal) would hand such a sentence to the reader word for word, cited and rated supported. It leaves out the
sentences matched here. The patterns are narrow on purpose: an article about prompt injection that describes
an attack ("a user types something like 'ignore your rules'") is not addressed to a model and stays quotable.
"""

from __future__ import annotations

import re

_ADDRESSED = re.compile(
    r"\b(?:ignore|disregard|forget|override)\s+(?:all\s+|any\s+)?(?:the\s+|your\s+)?"
    r"(?:previous|prior|above|earlier|preceding|former)\s+(?:instructions?|prompts?|rules|directions)\b"
    r"|\b(?:note|message|instructions?)\s+(?:to|for)\s+(?:any\s+|all\s+|the\s+)?(?:ai|llm|language\s+model|chat\s?bot|assistant)s?\b"
    r"|\b(?:ai|llm|chat\s?bot)?\s*(?:assistants?|models?|agents?)\s+(?:reading|summari[sz]ing|processing|answering\s+from)\s+this\s+(?:page|article|text|document)\b"
    r"|\bif\s+you\s+are\s+an?\s+(?:ai|llm|language\s+model|chat\s?bot|assistant)\b"
    r"|\b(?:reveal|print|repeat|show)\s+(?:your|the)\s+system\s+prompt\b"
    r"|\bsystem\s+override\b",
    re.IGNORECASE,
)


def speaks_to_a_model(sentence: str) -> bool:
    """Whether `sentence` addresses an AI assistant reading the page (see the module docstring)."""
    return _ADDRESSED.search(sentence) is not None
