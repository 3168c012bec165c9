"""The prompt budget: the model reads the passages' sentences that bear on the question, and nothing else."""

from __future__ import annotations

import pytest

from hubchat.answer.embed_cache import CachedEmbedder
from hubchat.answer.excerpts import select_excerpts
from hubchat.index.tokens import count_tokens
from hubchat.types import Chunk, Passage


def passage(article: str, text: str, *, start: int = 0, title: str = "An article", ordinal: int = 0) -> Passage:
    chunk = Chunk(id=f"{article}-{ordinal}", article_id=article, ordinal=ordinal, text=text, start=start,
                  end=start + len(text), title=title)
    return Passage(chunk, 1.0)


PRICING = passage("/pricing", (
    "Vector databases come in many shapes. Most teams start with a managed service. "
    "The managed tier of Acme Vectors costs $25 a month. It includes 5 GB of storage. "
    "Support answers within a day. The company was founded in Oslo."
), start=120)
WEATHER = passage("/weather", "Rain is likely in Bergen this week. Winds will reach 60 km/h on Thursday.")


def test_the_sentences_that_answer_reach_the_model_and_an_unrelated_passage_does_not():
    excerpts = select_excerpts("How much does the managed tier of Acme Vectors cost?", [PRICING, WEATHER], budget=40)
    assert [e.passage.chunk.article_id for e in excerpts] == ["/pricing"]
    assert "$25 a month" in excerpts[0].text
    assert "founded in Oslo" not in excerpts[0].text


def test_a_sentence_that_starts_with_a_pronoun_brings_what_it_refers_to():
    excerpts = select_excerpts("How much storage is included?", [PRICING], budget=40)
    assert "It includes 5 GB of storage." in excerpts[0].text
    assert "The managed tier of Acme Vectors costs $25 a month." in excerpts[0].text


def test_the_budget_caps_what_the_model_reads_but_never_leaves_it_with_nothing():
    long_passages = [passage(f"/a{i}", " ".join(f"Acme Vectors fact number {i}{j} is about pricing tiers." for j in range(12)))
                     for i in range(5)]
    for budget in (1, 30, 120):
        excerpts = select_excerpts("Acme Vectors pricing tiers", long_passages, budget)
        assert excerpts, "the best sentence is always kept"
        kept = [e.passage.chunk.text[s:t] for e in excerpts for s, t in e.spans]
        assert len(kept) == 1 or sum(count_tokens(k) for k in kept) <= budget


def test_spans_point_into_the_whole_passage_and_the_passage_itself_is_unchanged():
    excerpts = select_excerpts("How much does the managed tier cost?", [PRICING], budget=40)
    e = excerpts[0]
    assert e.passage is PRICING, "sources and the checker use the whole passage"
    for start, end in e.spans:
        assert PRICING.chunk.text[start:end] in e.text
    shown = e.as_passage()
    assert shown.chunk.text == e.text and shown.chunk.id == PRICING.chunk.id and shown.chunk.start == PRICING.chunk.start
    assert e.text.startswith("…"), "left-out sentences before the excerpt are marked, not hidden"


def test_a_sentence_repeated_by_overlapping_chunks_is_read_once():
    first = passage("/pricing", "The managed tier costs $25 a month. It includes 5 GB of storage.", ordinal=0)
    second = passage("/pricing", "It includes 5 GB of storage. The managed tier costs $25 a month.", ordinal=1, start=40)
    excerpts = select_excerpts("What does the managed tier cost per month?", [first, second], budget=200)
    kept = " ".join(e.text for e in excerpts)
    assert kept.count("costs $25 a month") == 1


def test_a_table_row_comes_with_its_header_row():
    table = passage("/compare", "Options compared:\n\n| Option | Price | Egress |\n|---|---|---|\n| R2 | $15/TB | free |\n| S3 | $23/TB | paid |\n")
    excerpts = select_excerpts("Which option has free egress?", [table], budget=30)
    assert "| Option | Price | Egress |" in excerpts[0].text and "| R2 | $15/TB | free |" in excerpts[0].text


def test_no_budget_shows_the_passages_whole():
    excerpts = select_excerpts("anything", [PRICING, WEATHER], budget=0)
    assert [e.text for e in excerpts] == [PRICING.chunk.text, WEATHER.chunk.text]


@pytest.mark.parametrize("question", ["acme vectors monthly price", "What would a month of the managed Acme plan set me back?"])
def test_with_the_embedder_a_paraphrase_or_keywords_still_find_the_answer(embedder, question):
    excerpts = select_excerpts(question, [WEATHER, PRICING], budget=25, embed=CachedEmbedder(embedder))
    assert any("$25 a month" in e.text for e in excerpts)
    assert all(e.passage.chunk.article_id != "/weather" for e in excerpts)
