"""Citation checking: markers are validated and normalised, sentences are judged against the passages they cite."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from hubchat.checking.citations import (
    best_supporting_span,
    check_citations,
    strip_markers,
)
from hubchat.checking.support import PAIR_MARGIN
from hubchat.index.local_onnx import LocalOnnxEmbeddings
from hubchat.types import Chunk, Passage

DATA = Path(__file__).parent / "data"
ARTICLE = (DATA / "citations_article.md").read_text(encoding="utf-8")
CLAIMS = json.loads((DATA / "citation_claims.json").read_text(encoding="utf-8"))
REFUSAL = "The articles don't cover this question."


def _passages() -> list[Passage]:
    """One passage per section of the test article ([1] intro, [2] Chroma, [3] Pinecone, [4] Weaviate, [5] Benchmarks),
    each chunk carrying its real offsets in the article."""
    headings = [m for m in re.finditer(r"^## (.+)$", ARTICLE, re.MULTILINE)]
    bounds = [0, *(m.start() for m in headings), len(ARTICLE)]
    names = [None, *(m.group(1) for m in headings)]
    passages = []
    for ordinal, (start, end) in enumerate(zip(bounds, bounds[1:])):
        text = ARTICLE[start:end].rstrip()
        chunk = Chunk(
            id=f"vdb-{ordinal}",
            article_id="vector-databases",
            ordinal=ordinal,
            text=text,
            start=start,
            end=start + len(text),
            title="Vector databases compared",
            heading_path=(names[ordinal],) if names[ordinal] else (),
        )
        assert ARTICLE[chunk.start : chunk.end] == chunk.text
        passages.append(Passage(chunk=chunk, score=1.0 - ordinal / 10))
    return passages


PASSAGES = _passages()


@pytest.fixture(scope="module")
def embed():
    return LocalOnnxEmbeddings(threads=1).embed_array


def check(answer: str, **kwargs):
    report = check_citations(answer, PASSAGES, refusal_text=REFUSAL, **kwargs)
    for sentence in report.sentences:  # every report keeps its offsets honest
        assert report.text[sentence.start : sentence.end] == sentence.text
        for support in sentence.supports:
            assert ARTICLE[support.span_start : support.span_end] == support.span_text
    return report


# ---- markers ---------------------------------------------------------------------------------------------------


def test_valid_citations_are_kept_and_each_cited_sentence_is_supported():
    answer = "Weaviate is written in Go [4]. Chroma is released under the Apache 2.0 license [2]."
    report = check(answer)
    assert report.text == answer
    assert report.issues == ()
    assert [s.citations for s in report.sentences] == [(4,), (2,)]
    assert [s.verdict for s in report.sentences] == ["supported", "supported"]
    assert report.cited_numbers == (4, 2)
    assert report.verdict == "supported"


@pytest.mark.parametrize("marker", ["[0]", "[6]", "[42]"])
def test_out_of_range_markers_are_removed_and_recorded(marker):
    answer = f"Weaviate is written in Go {marker}."
    report = check(answer)
    assert report.text == "Weaviate is written in Go."
    (issue,) = report.issues
    assert (issue.kind, issue.raw, issue.position) == ("out_of_range", marker, answer.index(marker))
    assert report.cited_numbers == ()
    assert report.sentences[0].verdict == "uncited"
    assert report.verdict == "no_citations"


@pytest.mark.parametrize("answer", ["[1]", "  [2] ", "[1][4]", "[1, 2]\n"])
def test_an_answer_of_markers_only_cites_nothing_and_does_not_crash(answer):
    # Found by the soak benchmark: the checker indexed the sentence a marker belongs to, and there was none.
    report = check(answer)
    assert report.text.strip() == ""
    assert report.sentences == () and report.cited_numbers == ()
    assert {i.kind for i in report.issues} == {"no_sentence"}
    assert report.verdict == "no_citations"


def test_an_out_of_range_number_inside_a_group_is_dropped_and_the_rest_kept():
    answer = "Weaviate is written in Go [4, 9]."
    report = check(answer)
    assert report.text == "Weaviate is written in Go [4]."
    assert [(i.kind, i.raw, i.position) for i in report.issues] == [("out_of_range", "[4, 9]", 26)]
    assert report.cited_numbers == (4,)


@pytest.mark.parametrize(
    "marker", ["[a]", "[1-]", "[[2]]", "[2.]", "[^2]", "[]", "[2a]", "[[2]", "[3-1]", "[Passage 2.]", "[source]"]
)
def test_malformed_markers_are_removed_and_recorded(marker):
    answer = f"Weaviate is written in Go {marker}. It supports hybrid search [4]."
    report = check(answer)
    assert report.text == "Weaviate is written in Go. It supports hybrid search [4]."
    assert [(i.kind, i.raw, i.position) for i in report.issues] == [("malformed", marker, answer.index(marker))]
    assert report.sentences[0].citations == ()


@pytest.mark.parametrize(
    ("marker", "normalised"),
    [
        ("[2, 4]", "[2][4]"),
        ("[2,4]", "[2][4]"),
        ("[2; 4]", "[2][4]"),
        ("[2 and 4]", "[2][4]"),
        ("[2][4]", "[2][4]"),
        ("[2] [4]", "[2] [4]"),
        ("[ 2 ]", "[2]"),
        ("[#2]", "[2]"),
        ("[Passage 2]", "[2]"),
        ("[source 2, 4]", "[2][4]"),
        ("[Source: 4]", "[4]"),
        ("[2-4]", "[2][4]"),  # a range is read as [2][3][4]; [3] (Pinecone) supports nothing and is pruned
        ("[2–4]", "[2][4]"),
    ],
)
def test_acceptable_marker_variants_are_normalised(marker, normalised):
    report = check(f"Chroma and Weaviate are open source {marker}.")
    assert report.issues == ()
    assert report.text == f"Chroma and Weaviate are open source {normalised}."
    assert report.sentences[0].citations == tuple(int(n) for n in re.findall(r"\d+", normalised))
    assert [p.number for p in report.sentences[0].pruned] == ([3] if "-" in marker or "–" in marker else [])


@pytest.mark.parametrize(
    "text",
    [
        "See the [vendor docs](https://example.com) for Weaviate's alpha parameter.",
        "The setting lives in `config[2]` for Weaviate deployments.",
        "Some brackets are prose [sic] in Weaviate's documentation.",
        "```\nweights = [0.5, 2]\n```",
        "- [x] Weaviate is written in Go.\n- [ ] Pinecone is managed.",
    ],
)
def test_brackets_that_are_not_citations_are_left_alone(text):
    report = check(text)
    assert report.text == text
    assert report.issues == ()
    assert strip_markers(text) == text


@pytest.mark.parametrize(
    ("answer", "cleaned"),
    [
        ("Weaviate is written in Go [4][4].", "Weaviate is written in Go [4]."),
        ("Weaviate is written in Go [4, 4].", "Weaviate is written in Go [4]."),
        ("Weaviate [4] is written in Go [4].", "Weaviate [4] is written in Go."),
        ("Chroma and Weaviate are open source [2][4] [4].", "Chroma and Weaviate are open source [2][4]."),
    ],
)
def test_a_number_cited_twice_in_one_sentence_is_collapsed_and_recorded(answer, cleaned):
    report = check(answer)
    assert report.text == cleaned
    assert [i.kind for i in report.issues] == ["duplicate"]
    assert report.sentences[0].citations.count(4) == 1


def test_citing_the_same_passage_in_two_sentences_is_not_a_duplicate():
    report = check("Weaviate is written in Go [4]. It can combine BM25 with vector similarity [4].")
    assert report.issues == ()
    assert [s.citations for s in report.sentences] == [(4,), (4,)]
    assert report.cited_numbers == (4,)


def test_issues_carry_the_raw_text_at_its_position_in_the_original_answer():
    answer = "Chroma is released under the Apache 2.0 license [2][7] [b]. Pinecone is managed [[3]] [3, 3]."
    report = check(answer)
    assert [(i.kind, i.raw) for i in report.issues] == [
        ("out_of_range", "[7]"),
        ("malformed", "[b]"),
        ("malformed", "[[3]]"),
        ("duplicate", "[3, 3]"),
    ]
    for issue in report.issues:
        assert answer[issue.position : issue.position + len(issue.raw)] == issue.raw
    assert report.text == "Chroma is released under the Apache 2.0 license [2]. Pinecone is managed [3]."


def test_strip_markers_removes_valid_and_invalid_markers_with_their_spaces():
    assert strip_markers("Go [4]. Rust [a][9]. Docker [2, 3].\n[1] Next line.") == "Go. Rust. Docker.\nNext line."
    assert strip_markers("written in Go[4]and more") == "written in Go and more"


# ---- sentences --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "answer",
    [
        "Pinecone's serverless architecture was introduced in 2024. [3] Weaviate is written in Go. [4]",
        "Pinecone's serverless architecture was introduced in 2024.[3] Weaviate is written in Go.[4]",
        "Pinecone's serverless architecture was introduced in 2024 [3]. Weaviate is written in Go [4].",
    ],
)
def test_markers_after_the_period_belong_to_the_sentence_they_follow(answer):
    report = check(answer)
    assert [s.citations for s in report.sentences] == [(3,), (4,)]
    first, second = report.sentences
    assert first.text.startswith("Pinecone") and "[3]" in first.text and "[4]" not in first.text
    assert second.text.startswith("Weaviate") and second.text.rstrip(".").endswith("[4]")
    assert report.verdict == "supported"


def test_sentence_offsets_index_the_cleaned_text():
    report = check("Weaviate is written in Go [9]. It combines BM25 with vector similarity [4]. Is Chroma free?")
    assert report.text == "Weaviate is written in Go. It combines BM25 with vector similarity [4]. Is Chroma free?"
    assert [report.text[s.start : s.end] for s in report.sentences] == [
        "Weaviate is written in Go.",
        "It combines BM25 with vector similarity [4].",
        "Is Chroma free?",
    ]
    assert [s.index for s in report.sentences] == [0, 1, 2]


def test_list_items_are_sentences_and_a_lead_in_is_not_a_claim():
    answer = "The benchmark found:\n\n- Pinecone answered in 12 ms [5]\n- Weaviate answered in 18 ms [5]"
    report = check(answer)
    assert [(s.text, s.verdict) for s in report.sentences] == [
        ("The benchmark found:", "not_a_claim"),
        ("Pinecone answered in 12 ms [5]", "supported"),
        ("Weaviate answered in 18 ms [5]", "supported"),
    ]


# ---- support ----------------------------------------------------------------------------------------------------


def test_a_sentence_citing_a_passage_about_something_else_is_unsupported():
    report = check("Weaviate is written in Go [2].")
    (sentence,) = report.sentences
    assert sentence.verdict == "unsupported"
    assert sentence.score < 0.3
    assert report.verdict == "unsupported"


def test_a_wrong_number_is_unsupported_and_points_at_the_sentence_it_contradicts():
    report = check("Pinecone introduced its serverless architecture in 2021 [3].")
    (sentence,) = report.sentences
    assert sentence.verdict == "unsupported"
    assert sentence.score == 0.0
    assert sentence.supports[0].span_text.startswith("Its serverless architecture, introduced in 2024")


@pytest.mark.parametrize(("claim", "number"), CLAIMS["supported"])
@pytest.mark.parametrize("with_embedder", [False, True], ids=["words", "embedder"])
def test_paraphrases_of_the_cited_passage_are_supported(claim, number, with_embedder, request):
    embed = request.getfixturevalue("embed") if with_embedder else None
    report = check(f"{claim[:-1]} [{number}].", embed=embed)
    assert report.sentences[0].verdict == "supported", report.sentences[0]


@pytest.mark.parametrize(("claim", "number"), CLAIMS["unsupported"])
@pytest.mark.parametrize("with_embedder", [False, True], ids=["words", "embedder"])
def test_unrelated_or_contradicted_claims_are_unsupported(claim, number, with_embedder, request):
    embed = request.getfixturevalue("embed") if with_embedder else None
    report = check(f"{claim[:-1]} [{number}].", embed=embed)
    assert report.sentences[0].verdict == "unsupported", report.sentences[0]


def test_a_weakly_worded_paraphrase_is_weak_on_words_and_lifted_by_the_embedder(embed):
    ((claim, number),) = CLAIMS["embedder_lifts"]
    answer = f"{claim[:-1]} [{number}]."
    words = check(answer).sentences[0]
    embedded = check(answer, embed=embed).sentences[0]
    assert words.verdict == "weak"
    assert embedded.verdict == "supported"
    assert embedded.score > words.score
    # Deterministic: the same inputs give the same scores and spans.
    again = check(answer, embed=embed).sentences[0]
    assert again == embedded


def test_the_embedder_adds_evidence_and_never_takes_it_away(embed):
    answer = " ".join(f"{claim[:-1]} [{n}]." for claim, n in CLAIMS["supported"] + CLAIMS["unsupported"])
    words = check(answer)
    embedded = check(answer, embed=embed)
    assert len(words.sentences) == len(CLAIMS["supported"]) + len(CLAIMS["unsupported"])
    for w, e in zip(words.sentences, embedded.sentences):
        # Each window only gains; the best span may switch from a pair to one sentence that the embedder made
        # nearly as good, which can cost at most the pair margin.
        assert e.score >= w.score - PAIR_MARGIN, (w.text, w.score, e.score)
        assert e.verdict == w.verdict or e.score > w.score, (w.text, w.verdict, e.verdict)
    assert any(e.score > w.score for w, e in zip(words.sentences, embedded.sentences))


def test_the_embedder_is_called_once_per_answer():
    calls = []

    def fake_embed(texts):  # a pure-logic stand-in: every text gets the same unit vector
        calls.append(list(texts))
        return np.tile(np.array([[1.0, 0.0]], dtype=np.float32), (len(texts), 1))

    report = check("Chroma can save data to the local disk [2]. Weaviate is written in Go [4].", embed=fake_embed)
    assert len(calls) == 1
    assert calls[0][:2] == ["Chroma can save data to the local disk.", "Weaviate is written in Go."]
    # cosine 1 fills half of what the words leave: 0.6 on words alone -> 0.6 + 0.4 * 0.5
    assert report.sentences[0].score == pytest.approx(0.8)


def test_an_embedder_returning_the_wrong_shape_is_an_error():
    with pytest.raises(ValueError, match="shape"):
        check("Weaviate is written in Go [4].", embed=lambda texts: np.zeros((1, 4), dtype=np.float32))


def test_a_multi_citation_sentence_is_judged_on_its_passages_together():
    report = check("Chroma is released under the Apache 2.0 license and Weaviate is written in Go [2][4].")
    (sentence,) = report.sentences
    assert sentence.citations == (2, 4)
    assert [s.number for s in sentence.supports] == [2, 4]
    # Neither passage alone supports both halves; together they do.
    assert all(s.score < 0.5 for s in sentence.supports)
    assert sentence.verdict == "supported"
    assert sentence.score > max(s.score for s in sentence.supports)


@pytest.mark.parametrize(
    ("answer", "cleaned"),
    [
        ("Weaviate is written in Go [2][4].", "Weaviate is written in Go [4]."),
        ("Weaviate is written in Go [4][2].", "Weaviate is written in Go [4]."),
        ("Weaviate is written in Go [2], [4].", "Weaviate is written in Go [4]."),
        ("Weaviate is written in Go [4], [2].", "Weaviate is written in Go [4]."),
        ("Weaviate is written in Go [4] ([2]).", "Weaviate is written in Go [4]."),
        ("Weaviate is written in Go [2, 3, 4] and is open source.", "Weaviate is written in Go [4] and is open source."),
    ],
)
def test_a_marker_whose_passage_adds_nothing_is_pruned_and_recorded(answer, cleaned):
    report = check(answer)
    (sentence,) = report.sentences
    assert report.text == cleaned, "no stray space, comma or parenthesis is left where a marker was"
    assert sentence.citations == (4,) and sentence.verdict == "supported"
    assert {p.number for p in sentence.pruned} <= {2, 3} and 2 in {p.number for p in sentence.pruned}
    assert all(p.score < 0.5 for p in sentence.pruned), "each pruned marker keeps its score for the editors"
    assert report.cited_numbers == (4,)


def test_a_sentence_no_cited_passage_supports_keeps_its_markers_and_is_flagged():
    report = check("Weaviate is written in Rust [2][3].")
    (sentence,) = report.sentences
    assert sentence.citations == (2, 3) and sentence.pruned == ()
    assert sentence.verdict == "unsupported"


@pytest.mark.parametrize(
    ("claim", "unmatched"),
    [
        ("The median query latency was 12 seconds for Pinecone [5].", ["12 seconds"]),
        ("Index build time was about 40 hours [5].", ["40 hours"]),
        ("The benchmark machine had 64 TB of memory [5].", ["64 TB"]),
        ("The benchmark cost $64 billion [5].", ["$64 billion"]),
        ("Pinecone introduced its serverless architecture in March 2025 [3].", ["March 2025"]),
        ("Unlike Qdrant, Weaviate is written in Go [4].", ["Qdrant"]),
    ],
)
def test_a_figure_or_name_no_cited_passage_states_makes_the_sentence_unsupported(claim, unmatched, embed):
    (sentence,) = check(claim, embed=embed).sentences
    assert sentence.verdict == "unsupported"
    assert list(sentence.unmatched) == unmatched


@pytest.mark.parametrize(
    "claim",
    [
        "The median query latency was 12 milliseconds for Pinecone [5].",
        "The test used 10,000,000 vectors [5].",
        "Index build time was about 40 min [5].",
    ],
)
def test_the_same_figure_written_another_way_is_supported(claim):
    (sentence,) = check(claim).sentences
    assert sentence.verdict == "supported" and sentence.unmatched == ()


def test_a_name_the_question_asks_about_may_be_repeated_without_a_passage_naming_it():
    claim = "Unlike Qdrant, Weaviate is written in Go [4]."
    assert check(claim, question="Is Qdrant written in Go like Weaviate?").sentences[0].unmatched == ()


def test_span_offsets_slice_the_article_text_exactly():
    report = check("Weaviate lets one query combine BM25 keyword scoring with vector similarity [4].")
    (support,) = report.sentences[0].supports
    weaviate = PASSAGES[3].chunk
    assert weaviate.start < support.span_start < support.span_end <= weaviate.end
    assert ARTICLE[support.span_start : support.span_end] == support.span_text
    assert support.span_text.startswith("Its standout feature is hybrid search")
    assert (support.chunk_id, support.article_id) == (weaviate.id, weaviate.article_id)

    start, end, text, score = best_supporting_span("The index build took about 40 minutes [5].", PASSAGES[4])
    assert ARTICLE[start:end] == text == "Index build time was about 40 minutes on a machine with 64 GB of memory."
    assert 0.5 <= score <= 1.0


def test_a_claim_spread_over_two_sentences_gets_a_two_sentence_span():
    start, end, text, score = best_supporting_span(
        "Pinecone's serverless architecture separates storage from compute, and it cannot run on your own hardware.",
        PASSAGES[2],
    )
    assert text.startswith("Its serverless architecture, introduced in 2024")
    assert text.endswith("costs grow with usage.")
    assert ARTICLE[start:end] == text
    assert score >= 0.5


def test_only_passages_cited_by_a_valid_marker_are_sources():
    report = check("Weaviate is written in Go [4]. Chroma persists to local disk [2][7]. Pinecone is managed [a].")
    assert report.cited_numbers == (4, 2)
    assert {s.number for sentence in report.sentences for s in sentence.supports} == {4, 2}


# ---- claims, refusals and verdicts ----------------------------------------------------------------------------


def test_a_factual_sentence_without_a_citation_is_uncited():
    report = check("Weaviate is written in Go [4]. Pinecone separates storage from compute.")
    assert [s.verdict for s in report.sentences] == ["supported", "uncited"]
    assert report.sentences[1].supports == () and report.sentences[1].score == 0.0
    assert report.verdict == "partially_supported"


@pytest.mark.parametrize(
    "sentence", ["Is Chroma free?", "In short, it depends.", "Here is what I found:", "Hope this helps!", "## Summary"]
)
def test_questions_and_connective_text_are_not_claims(sentence):
    report = check(f"Weaviate is written in Go [4].\n\n{sentence}")
    assert report.sentences[-1].verdict == "not_a_claim"
    assert report.verdict == "supported"


def test_the_configured_refusal_is_a_refusal():
    report = check(REFUSAL)
    assert report.verdict == "refusal"
    assert [s.verdict for s in report.sentences] == ["not_a_claim"]
    assert report.cited_numbers == ()


@pytest.mark.parametrize(
    "answer",
    [
        "The articles don't say how much Pinecone costs.",
        "I couldn't find any information about Milvus in the provided passages.",
        "This is not covered in the articles.",
    ],
)
def test_a_hedged_answer_is_a_refusal(answer):
    assert check(answer).verdict == "refusal"


def test_a_hedge_next_to_supported_claims_is_not_flagged():
    report = check("The articles do not mention Pinecone's pricing. Pinecone cannot run on your own hardware [3].")
    assert [s.verdict for s in report.sentences] == ["not_a_claim", "supported"]
    assert report.verdict == "supported"


def test_answer_verdicts():
    assert check("Weaviate is written in Go [4]. Chroma uses the MIT license [2].").verdict == "partially_supported"
    assert check("Weaviate is written in Rust [4]. Chroma uses the MIT license [2].").verdict == "unsupported"
    assert check("Weaviate is written in Go. Chroma is open source.").verdict == "no_citations"
    assert check("").verdict == "no_citations"


def test_thresholds_decide_between_supported_weak_and_unsupported():
    answer = "Pinecone was an early vendor of vector search as a hosted service [3]."
    score = check(answer).sentences[0].score
    assert 0.0 < score < 1.0
    assert check(answer, supported_threshold=score, weak_threshold=0.1).sentences[0].verdict == "supported"
    assert check(answer, supported_threshold=0.9, weak_threshold=score).sentences[0].verdict == "weak"
    assert check(answer, supported_threshold=0.95, weak_threshold=0.9).sentences[0].verdict == "unsupported"
    with pytest.raises(ValueError):
        check(answer, supported_threshold=0.3, weak_threshold=0.5)


def test_markers_with_no_passages_are_all_out_of_range():
    report = check_citations("Weaviate is written in Go [1].", [])
    assert report.text == "Weaviate is written in Go."
    assert [i.kind for i in report.issues] == ["out_of_range"]
    assert report.verdict == "no_citations"


@pytest.mark.parametrize("answer", [
    "Yes, Weaviate is written in Go [4].",
    "Yes. Weaviate is written in Go [4].",
    "No, Pinecone cannot run on your own hardware [3].",
])
def test_a_yes_or_no_that_opens_an_answer_is_judged_by_the_claim_it_introduces(answer, embed):
    """The prompt asks for Yes or No first on a yes-or-no question; the word itself states nothing to check."""
    report = check(answer, embed=embed)
    assert report.verdict == "supported", [(s.text, s.verdict) for s in report.sentences]
