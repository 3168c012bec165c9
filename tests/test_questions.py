"""How a question is searched: pasted markup and links reduced to the words a reader asked about (text and the
names of tags that may be the topic, never attributes)."""

from __future__ import annotations

import pytest

from hubchat.answer.questions import search_text
from hubchat.errors import InputError


@pytest.mark.parametrize(
    ("question", "searched"),
    [
        ("<img src=x onerror=alert(1)> what is RAG?", "img what is RAG?"),
        ("Is <script>alert(1)</script> shown as text?", "Is script alert(1) shown as text?"),
        ("May the widget's <script src='https://cdn.example/w.js'> go in the footer?", "May the widget's script go in the footer?"),
        ("<b>Which</b> GPUs are <i>scarce</i>?", "Which GPUs are scarce?"),
        ("see https://aitoolshub.example/guides/eu-ai-act-guide what are the fines", "see guides eu ai act guide what are the fines"),
        ("Is a < b faster than a > b?", "Is a < b faster than a > b?"),
        ("I <3 vector search", "I <3 vector search"),
        ("What is RAG?", "What is RAG?"),
    ],
)
def test_markup_and_links_become_the_words_they_carry(question, searched):
    assert search_text(question) == searched


@pytest.mark.parametrize("message", ["<img src=x onerror=alert(1)>", "<b></b><br/>", "<!-- nothing -->"])
def test_nothing_but_markup_is_refused_with_a_reason(message):
    with pytest.raises(InputError, match="only markup"):
        search_text(message)
