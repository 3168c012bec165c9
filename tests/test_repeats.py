"""Repetition in a model's answer: second copies of a sentence are dropped; a generation in a loop is recognised."""

from __future__ import annotations

import pytest

from hubchat.checking.repeats import drop_repeated_sentences, is_looping

SENTENCE = "Chroma persists to local disk [2]."


@pytest.mark.parametrize(
    ("answer", "kept", "dropped"),
    [
        (f"{SENTENCE} {SENTENCE} {SENTENCE}", SENTENCE, 2),
        (f"{SENTENCE} Weaviate is written in Go [4]. chroma persists to local disk.", f"{SENTENCE} Weaviate is written in Go [4].", 1),
        (f"- {SENTENCE}\n- Weaviate is written in Go [4].\n- {SENTENCE}", f"- {SENTENCE}\n- Weaviate is written in Go [4].", 1),
        ("Yes [1]. Yes [1].", "Yes [1]. Yes [1].", 0),  # too short to be a loop's sentence
        (f"{SENTENCE} Weaviate is written in Go [4].", f"{SENTENCE} Weaviate is written in Go [4].", 0),
    ],
)
def test_a_sentence_written_again_is_dropped_with_its_markers_and_space(answer, kept, dropped):
    assert drop_repeated_sentences(answer) == (kept, dropped)


@pytest.mark.parametrize(
    "text",
    [
        f"{SENTENCE} {SENTENCE} {SENTENCE}",
        f"{SENTENCE} Weaviate is written in Go [4]. {SENTENCE} Pinecone is managed [3]. {SENTENCE}",
        "The answer is the answer is the answer is the answer is the answer is the answer is the answer is ",
        "1. Install it\n2. Run it\n" + "3. Install the package and run it again\n" * 3,
    ],
)
def test_a_generation_repeating_itself_three_times_is_looping(text):
    assert is_looping(text)


@pytest.mark.parametrize(
    "text",
    [
        f"{SENTENCE} {SENTENCE}",  # twice may be a slip; it is dropped, not stopped
        "Chroma [2][2][2][2][2][2] is local.",
        "- Chroma: local\n- Weaviate: self-hosted\n- Pinecone: managed\n",
        "",
    ],
)
def test_an_answer_that_moves_on_is_not_looping(text):
    assert not is_looping(text)
