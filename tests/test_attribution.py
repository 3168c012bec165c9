"""Citations added by the checker: only where a shown passage really supports the sentence."""

import pytest

from hubchat.checking.attribution import attribute_citations, attribute_uncited, move_unsupported
from hubchat.checking.citations import check_citations
from hubchat.types import Chunk, Passage

ARTICLE = (
    "Cursor is a fork of VS Code. It imports VS Code extensions and settings. "
    "GitHub Copilot works as an extension in many editors, including JetBrains IDEs."
)


def passage(article_id: str, text: str, start: int = 0) -> Passage:
    chunk = Chunk(id=f"{article_id}-0", article_id=article_id, ordinal=0, text=text, start=start, end=start + len(text), title="t")
    return Passage(chunk=chunk, score=1.0)


PASSAGES = [
    passage("/other", "Whisper is a speech recognition model released by OpenAI."),
    passage("/compare/cursor", ARTICLE),
]


@pytest.fixture(params=["words only", "with MiniLM"])
def embed(request):
    """The checker scores support on words alone, or with the embedder the answer chain gives it."""
    return None if request.param == "words only" else request.getfixturevalue("embedder").embed_array


def test_supported_uncited_sentence_gets_the_supporting_passage(embed):
    report = check_citations("Cursor is a fork of VS Code.", PASSAGES, embed=embed)
    assert report.sentences[0].verdict == "uncited"
    amended = attribute_uncited(report, PASSAGES, embed=embed)
    sentence = amended.sentences[0]
    assert sentence.citations == (2,) and sentence.attributed and sentence.verdict == "supported"
    assert amended.text == "Cursor is a fork of VS Code [2]."
    assert amended.cited_numbers == (2,)


def test_unsupported_uncited_sentence_stays_flagged(embed):
    report = check_citations("Bananas grow in Ecuador and are yellow.", PASSAGES, embed=embed)
    amended = attribute_uncited(report, PASSAGES, embed=embed)
    assert amended.sentences[0].verdict == "uncited" and not amended.sentences[0].attributed
    assert amended.cited_numbers == ()


def test_model_written_citations_are_not_marked_attributed(embed):
    report = check_citations("Cursor is a fork of VS Code [2]. GitHub Copilot works in JetBrains IDEs.", PASSAGES, embed=embed)
    amended = attribute_uncited(report, PASSAGES, embed=embed)
    first, second = amended.sentences
    assert first.citations == (2,) and not first.attributed
    assert second.citations == (2,) and second.attributed


def test_nothing_to_add_returns_the_same_report(embed):
    report = check_citations("Cursor is a fork of VS Code [2].", PASSAGES, embed=embed)
    assert attribute_uncited(report, PASSAGES, embed=embed) is report


# ---- citations the model put on the wrong passage ----------------------------------------------------------


def test_a_sentence_cited_to_the_wrong_passage_gets_the_marker_of_the_one_that_supports_it(embed):
    report = check_citations("Cursor is a fork of VS Code [1].", PASSAGES, embed=embed)
    assert report.sentences[0].verdict in ("weak", "unsupported")
    moved = move_unsupported(report, PASSAGES, embed=embed)
    sentence = moved.sentences[0]
    assert moved.text == "Cursor is a fork of VS Code [2]."
    assert sentence.citations == (2,) and sentence.verdict == "supported"
    assert sentence.attributed and [p.number for p in sentence.pruned] == [1], "editors see the model's own marker"
    assert moved.cited_numbers == (2,)


def test_a_sentence_no_shown_passage_supports_keeps_its_marker_and_its_flag(embed):
    report = check_citations("Bananas grow in Ecuador and are yellow [1].", PASSAGES, embed=embed)
    moved = move_unsupported(report, PASSAGES, embed=embed)
    assert moved is report
    assert moved.sentences[0].verdict in ("weak", "unsupported") and moved.sentences[0].citations == (1,)


def test_a_figure_the_other_passage_does_not_state_is_not_certified_by_a_move(embed):
    # Passage 2 supports the words, not the number: the re-check's figure comparison undoes the move.
    report = check_citations("Cursor is a fork of VS Code with 40 million users [1].", PASSAGES, embed=embed)
    moved = move_unsupported(report, PASSAGES, embed=embed)
    assert moved.sentences[0].verdict != "supported"
    assert not moved.sentences[0].attributed


def test_supported_sentences_are_left_as_the_model_cited_them(embed):
    report = check_citations("Cursor is a fork of VS Code [2]. Whisper is a speech recognition model [1].", PASSAGES, embed=embed)
    assert move_unsupported(report, PASSAGES, embed=embed) is report


def test_the_chain_adds_and_moves_in_one_pass(embed):
    report = check_citations("Cursor is a fork of VS Code [1]. It imports VS Code extensions and settings.", PASSAGES, embed=embed)
    amended = attribute_citations(report, PASSAGES, embed=embed)
    assert amended.text == "Cursor is a fork of VS Code [2]. It imports VS Code extensions and settings [2]."
    moved, added = amended.sentences
    assert moved.attributed and [p.number for p in moved.pruned] == [1]
    assert added.attributed and not added.pruned
