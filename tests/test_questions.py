"""How a question is searched: pasted markup and links reduced to the words a reader asked about."""

from __future__ import annotations

import pytest

from hubchat.answer.questions import search_text
from hubchat.errors import InputError


@pytest.mark.parametrize(
    ("question", "searched"),
    [
        ("<img src=x onerror=alert(1)> what is RAG?", "what is RAG?"),
        ("<script>steal()</script>What is Chroma?", "What is Chroma?"),
        ("<b>Which</b> GPUs are <i>scarce</i>?", "Which GPUs are scarce?"),
        ("see https://aitoolshub.example/guides/eu-ai-act-guide what are the fines", "see guides eu ai act guide what are the fines"),
        ("Is a < b faster than a > b?", "Is a < b faster than a > b?"),
        ("I <3 vector search", "I <3 vector search"),
        ("What is RAG?", "What is RAG?"),
    ],
)
def test_markup_and_links_become_the_words_they_carry(question, searched):
    assert search_text(question) == searched


def test_nothing_but_markup_is_refused_with_a_reason():
    with pytest.raises(InputError, match="only markup"):
        search_text("<img src=x onerror=alert(1)>")
