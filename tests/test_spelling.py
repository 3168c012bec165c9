"""A misspelt word that sinks a question under the relevance floor is searched as the articles spell it; names,
acronyms and words the articles never use are left alone, and questions about absent things stay refused."""

from __future__ import annotations

import pytest

from hubchat.answer.chain import Answerer
from hubchat.index.lexical import LexicalIndex
from hubchat.retrieval.hybrid import HybridRetriever
from hubchat.retrieval.spelling import Correction, correct_query
from hubchat.types import Chunk

TYPOS = [
    # (as a reader typed it, as it is meant, the corrections expected)
    ("What is retreival-augmented generation?", "What is retrieval-augmented generation?", {"retreival": "retrieval"}),
    (
        "How much VRAM does a 7B modle need for inferense?",
        "How much VRAM does a 7B model need for inference?",
        {"modle": "model", "inferense": "inference"},
    ),
]
ABSENT = [
    "How do I bake sourdough bread?",  # "bread" is one edit from "read": a real word, not a typo
    "When will Nintendo release its next game console?",  # a name inside the question is not corrected
    "What is bokashi?",
    "What is the capital of France?",
]


def _retriever(corpus_index, correct: bool) -> HybridRetriever:
    rt = corpus_index.runtime
    settings = rt.settings.retrieval.model_copy(update={"correct_spelling": correct})
    return HybridRetriever(rt.store, rt.embeddings, settings)


@pytest.mark.parametrize("typed, meant, expected", TYPOS)
def test_a_typo_that_sinks_a_question_is_searched_corrected_and_finds_what_the_right_spelling_finds(
    corpus_index, typed, meant, expected
):
    assert not _retriever(corpus_index, correct=False).retrieve(typed).relevant, "the typo alone must sink it"
    result = _retriever(corpus_index, correct=True).retrieve(typed)
    assert result.relevant
    assert dict(result.corrections) == expected
    assert result.query == meant
    right = _retriever(corpus_index, correct=True).retrieve(meant)
    assert right.corrections == ()
    assert result.passages[0].chunk.article_id == right.passages[0].chunk.article_id


@pytest.mark.parametrize("question", ABSENT)
def test_a_question_about_what_the_articles_never_mention_stays_refused_and_uncorrected(corpus_index, question):
    result = _retriever(corpus_index, correct=True).retrieve(question)
    assert not result.relevant
    assert result.corrections == () and result.query == question


def test_a_question_that_clears_the_floor_is_searched_as_asked(corpus_index):
    """Correction is the fallback of a question that finds nothing, not a rewrite of every question."""
    question = "What is retrieval augmented generaton?"  # clears the floor despite the typo
    result = _retriever(corpus_index, correct=True).retrieve(question)
    assert result.relevant and result.corrections == () and result.query == question


def test_the_answer_says_what_was_searched_instead(corpus_index):
    rt = corpus_index.runtime
    answerer = Answerer(rt.settings, rt.retriever, rt.generator, rt.embed_cache, rt.prompts)
    result = answerer.answer("What is retreival-augmented generation?")
    assert not result.refused and result.sources
    assert result.standalone_question == "What is retrieval-augmented generation?"
    assert "The articles were searched with “retrieval” for “retreival”." in result.notes


# ---- the corrector on a small index of its own -----------------------------------------------------------------

def _index(*texts: str) -> LexicalIndex:
    return LexicalIndex.build([Chunk(f"c{i}", f"/a{i}", 0, t, 0, len(t), "A title") for i, t in enumerate(texts)])


SMALL = _index(
    "Quantization shrinks a model so it fits in memory.",
    "Quantization to four bits keeps most of the quality; vLLM and OpenAI serve quantized models.",
    "Speculative decoding drafts tokens with a small model; the large model verifies them.",
    "Decoding speed depends on memory bandwidth.",
    "Quantisation, in British spelling, appears here once.",
)


@pytest.mark.parametrize("query, expected", [
    ("How does quantizaton work?", ("How does quantization work?", (Correction("quantizaton", "quantization"),))),
    ("Quantizaiton and memroy", ("Quantization and memory", (Correction("Quantizaiton", "Quantization"), Correction("memroy", "memory")))),
    ("speculative decodign", ("speculative decoding", (Correction("decodign", "decoding"),))),
])
def test_misspelt_words_become_the_nearest_word_the_chunks_use(query, expected):
    assert correct_query(query, SMALL) == expected


@pytest.mark.parametrize("query", [
    "Does vLLN quantize?",  # inner capitals: a name
    "Is OpenAl cheaper?",  # a name, even one letter off
    "What is a modl?",  # four letters: too short to tell a typo from another word
    "Is gpt4o quantized?",  # digits: a model name
    "Nothing near: zyxwvut",  # no word of the chunks within reach
    "Does the model fit in memory?",  # every word known
])
def test_names_short_words_and_known_words_are_left_as_asked(query):
    assert correct_query(query, SMALL) == (query, ())


def test_a_word_a_single_chunk_holds_is_no_correction_target():
    """'Quantisation' is in one chunk only: as likely the corpus's own typo as a spelling to copy."""
    assert correct_query("quantisaton", _index("Quantisation once.", "Something else.")) == ("quantisaton", ())
