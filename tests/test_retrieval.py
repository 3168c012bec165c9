"""Hybrid retrieval: fusion maths, the per-article cap, filters in both retrievers, the relevance floor,
follow-up condensing, and the ranking metrics the benchmark reports."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import numpy as np
import pytest

from hubchat.answer.chain import source_of
from hubchat.config import RetrievalSettings, Settings
from hubchat.errors import InputError
from hubchat.eval.metrics import ndcg_at_k, recall_at_k
from hubchat.index.local_onnx import LocalOnnxEmbeddings
from hubchat.index.store import ChunkStore
from hubchat.ingest.pipeline import ingest
from hubchat.records import Records
from hubchat.retrieval.condense import condense_heuristic, is_followup, keep_context
from hubchat.retrieval.demotion import CitationDemoter
from hubchat.retrieval.fusion import cap_per_article, fuse, fuse_scores
from hubchat.retrieval.hybrid import HybridRetriever
from hubchat.runtime import Runtime
from hubchat.types import AnswerResult, Chunk, CitationReport, Filters, Passage, RetrievalResult, SentenceCheck, Turn
from tests.helpers import copy_real_articles

# ---- fusion (pure) -----------------------------------------------------------------------------------------


def test_fuse_adds_reciprocal_ranks_across_rankings():
    fused = dict(fuse([["a", "b", "c"], ["c", "a", "d"]], [1.0, 1.0], k=60))
    assert fused["a"] == pytest.approx(1 / 61 + 1 / 62)
    assert fused["b"] == pytest.approx(1 / 62)
    assert fused["c"] == pytest.approx(1 / 63 + 1 / 61)
    assert fused["d"] == pytest.approx(1 / 63)


def test_fuse_orders_best_first():
    assert [i for i, _ in fuse([["a", "b", "c"], ["c", "a", "d"]], [1.0, 1.0], k=60)] == ["a", "c", "b", "d"]


def test_fuse_weights_scale_each_ranking():
    fused = fuse([["a", "b"], ["b", "a"]], [1.0, 3.0], k=10)
    assert fused[0] == ("b", pytest.approx(1 / 12 + 3 / 11))
    assert fused[1] == ("a", pytest.approx(1 / 11 + 3 / 12))


def test_fuse_with_zero_weight_ignores_that_ranking_but_keeps_its_ids_last():
    fused = fuse([["a", "b"], ["z"]], [1.0, 0.0], k=1)
    assert [i for i, _ in fused] == ["a", "b", "z"]
    assert fused[-1][1] == 0.0


def test_fuse_small_k_favours_the_top_ranks():
    # "x" is first in one ranking only; "y" is fourth in both. k=1: 1/2 beats 2/5. k=100: 1/101 loses to 2/104.
    rankings = [["x", "p", "s", "y"], ["q", "r", "t", "y"]]
    small = [i for i, _ in fuse(rankings, [1.0, 1.0], k=1)]
    large = [i for i, _ in fuse(rankings, [1.0, 1.0], k=100)]
    assert small.index("x") < small.index("y")
    assert large.index("y") < large.index("x")


def test_fuse_breaks_ties_deterministically_and_counts_a_repeat_once():
    # "a" and "b" tie on score; "a" has the better best rank.
    assert [i for i, _ in fuse([["a", "b"], ["b", "a"]], [1.0, 1.0], k=60)] == ["a", "b"]
    assert dict(fuse([["a", "a", "b"]], [1.0], k=0)) == {"a": 1.0, "b": pytest.approx(1 / 3)}


def test_fuse_rejects_mismatched_or_negative_weights():
    assert fuse([], [], k=60) == []
    with pytest.raises(ValueError):
        fuse([["a"]], [1.0, 1.0], k=60)
    with pytest.raises(ValueError):
        fuse([["a"]], [-1.0], k=60)


def test_fuse_scores_normalises_each_retriever_then_takes_the_weighted_mean():
    dense = {"a": 0.9, "b": 0.5, "c": 0.7}  # normalised over [0.5, 0.9]: a 1, b 0, c 0.5
    bm25 = {"b": 10.0, "c": 5.0}  # floor 0: b 1, c 0.5, a (missing) 0
    fused = dict(fuse_scores([dense, bm25], [1.0, 1.0], [None, 0.0]))
    assert fused == {"a": pytest.approx(0.5), "b": pytest.approx(0.5), "c": pytest.approx(0.5)}
    weighted = fuse_scores([dense, bm25], [3.0, 1.0], [None, 0.0])
    assert weighted[0] == ("a", pytest.approx(0.75))
    assert dict(weighted)["b"] == pytest.approx(0.25)


def test_fuse_scores_keeps_a_large_lead_that_rank_fusion_flattens():
    # "x" is far ahead on BM25 and a close third on cosine; "y" is first on cosine and a distant second on BM25.
    dense = {"y": 0.80, "w": 0.795, "x": 0.79, "z": 0.50}
    bm25 = {"x": 20.0, "y": 2.0, "z": 1.0}
    assert fuse([list(dense), list(bm25)], [1.0, 1.0], k=60)[0][0] == "y"
    assert fuse_scores([dense, bm25], [1.0, 1.0], [None, 0.0])[0][0] == "x"
    # Missing candidates take the floor (None: the retriever's lowest score).
    assert dict(fuse_scores([{"a": 2.0, "b": 1.0}, {"c": 1.0}], [1.0, 0.0]))["c"] == 0.0


def test_fuse_scores_edge_cases():
    assert fuse_scores([], []) == []
    assert fuse_scores([{}, {}], [1.0, 1.0]) == []
    # One distinct score: everything that retriever returned counts fully, the rest not at all.
    assert dict(fuse_scores([{"a": 0.5, "b": 0.5}, {"c": 3.0}], [1.0, 1.0], [None, 0.0])) == {
        "a": pytest.approx(0.5), "b": pytest.approx(0.5), "c": pytest.approx(0.5)}
    with pytest.raises(ValueError):
        fuse_scores([{"a": 1.0}], [1.0, 1.0])
    with pytest.raises(ValueError):
        fuse_scores([{"a": 1.0}], [-1.0])


def _passage(cid: str, article: str, score: float) -> Passage:
    return Passage(Chunk(id=cid, article_id=article, ordinal=0, text=cid, start=0, end=len(cid), title=article), score)


def test_cap_per_article_keeps_order_and_at_most_cap_per_article():
    ranked = [_passage("a1", "A", 9), _passage("a2", "A", 8), _passage("a3", "A", 7), _passage("b1", "B", 6), _passage("a4", "A", 5)]
    assert [p.chunk.id for p in cap_per_article(ranked, 2)] == ["a1", "a2", "b1"]
    assert [p.chunk.id for p in cap_per_article(ranked, 1)] == ["a1", "b1"]
    assert cap_per_article(ranked, 10) == ranked
    with pytest.raises(ValueError):
        cap_per_article(ranked, 0)


# ---- metrics (pure) ----------------------------------------------------------------------------------------


def test_ndcg_matches_a_hand_computed_example():
    # Relevant: d1 (grade 2) and d3 (grade 1); retrieved d3, d2, d1.
    # DCG = 1/log2(2) + 0 + 2/log2(4) = 1 + 1 = 2; ideal = 2/log2(2) + 1/log2(3) = 2 + 0.6309.
    relevance = {"d1": 2, "d3": 1, "d9": 0}
    assert ndcg_at_k(["d3", "d2", "d1"], relevance, 10) == pytest.approx(2 / (2 + 1 / math.log2(3)))
    # Cut at 2 ranks: only d3 counts; the ideal at 2 still has both.
    assert ndcg_at_k(["d3", "d2", "d1"], relevance, 2) == pytest.approx(1 / (2 + 1 / math.log2(3)))
    assert ndcg_at_k(["d1", "d3"], relevance, 10) == pytest.approx(1.0)
    assert ndcg_at_k(["x", "y"], relevance, 10) == 0.0
    assert ndcg_at_k(["d1"], {}, 10) == 0.0


def test_ndcg_counts_a_repeated_id_once():
    assert ndcg_at_k(["d1", "d1", "d2"], {"d2": 1}, 10) == pytest.approx(1 / math.log2(3))


def test_recall_matches_a_hand_computed_example():
    relevance = {"d1": 1, "d2": 1, "d3": 1, "d4": 0}
    assert recall_at_k(["d4", "d1", "x", "d3"], relevance, 100) == pytest.approx(2 / 3)
    assert recall_at_k(["d4", "d1", "x", "d3"], relevance, 2) == pytest.approx(1 / 3)
    assert recall_at_k([], relevance, 100) == 0.0
    assert recall_at_k(["d1"], {}, 100) == 0.0


# ---- follow-up condensing (pure) ---------------------------------------------------------------------------

WHISPER = [Turn("What are Whisper's main weaknesses as a transcription model?", "Hallucinated text in silence.")]


@pytest.mark.parametrize(
    "question",
    [
        "How can I reduce that last problem?",  # deixis
        "Does it have a free tier?",  # pronoun
        "And how does it compare on price?",  # continuation opener
        "What about the large model?",
        "How about speaker labels?",
        "Which one is cheaper?",
        "Pricing?",  # very short, names nothing
        "How have other European countries dealt with that vendor?",  # deixis after a name
        "Does Chroma support it?",
    ],
)
def test_followups_get_the_previous_questions_terms(question):
    condensed = condense_heuristic(question, WHISPER)
    assert condensed.endswith(question)
    assert condensed.startswith("Whisper")
    assert "transcription" in condensed


@pytest.mark.parametrize(
    "question",
    [
        "What is Ollama?",  # short but names something
        "How does Chroma compare to Pinecone for hybrid search?",
        "What is retrieval-augmented generation and how does it work?",  # the pronoun points inside the question
        "How does Ollama expose its API to other programs?",  # the possessive points to the name before it
        "Can one GPU run a 70B model?",  # "one" is a number here
        "Why should business rules be enforced in code rather than in prompts?",
    ],
)
def test_standalone_questions_are_unchanged(question):
    assert not is_followup(question)
    assert condense_heuristic(question, WHISPER) == question


def test_without_history_nothing_is_added():
    assert condense_heuristic("Does it have a free tier?", []) == "Does it have a free tier?"


def test_a_chain_of_followups_keeps_the_original_topic():
    history = [Turn("What is Ollama?", "A local model runner."), Turn("Which port does its API listen on?", "11434.")]
    condensed = condense_heuristic("And does it run on Windows?", history)
    assert "Ollama" in condensed
    assert condensed.endswith("And does it run on Windows?")


IMAGES = [Turn("Which image generator is best at putting readable text into images?", "Ideogram renders text best [1].")]


@pytest.mark.parametrize(
    "rewrite",
    [
        "Does it have a free tier?",  # the follow-up returned unchanged
        "Does the tool have a free tier?",  # the subject dropped
    ],
)
def test_a_model_rewrite_that_lost_the_subject_gets_it_back(rewrite):
    kept = keep_context(rewrite, "Does it have a free tier?", IMAGES)
    assert kept.endswith(rewrite)
    assert {"image", "generator"} <= set(kept.replace(":", "").split())


@pytest.mark.parametrize(
    "question, rewrite",
    [
        ("Does it have a free tier?", "Does the image generator have a free tier?"),  # kept the conversation's words
        ("Does it have a free tier?", "Does Ideogram have a free tier?"),  # named what the answer was about
        ("Does it have a free tier?", "Does ideogram have a free tier?"),  # ... in any case
        ("And what about Midjourney, then?", "Does Midjourney render readable text?"),  # names its own subject
        ("What is Ollama?", "What is Ollama?"),  # not a follow-up at all
    ],
)
def test_a_model_rewrite_that_names_its_subject_is_kept_as_written(question, rewrite):
    assert keep_context(rewrite, question, IMAGES) == rewrite


def test_terms_already_in_the_question_are_not_repeated_and_output_is_deterministic():
    history = [Turn("Which of Llama, Mistral and Qwen has the most permissive licence?", "Qwen and Mistral.")]
    first = condense_heuristic("What are Llama's custom terms, then?", history)
    assert first == "Mistral Qwen permissive licence: What are Llama's custom terms, then?"
    assert condense_heuristic("What are Llama's custom terms, then?", history) == first


# ---- against a real embedded Chroma store ---------------------------------------------------------------------

ARTICLES = {
    "vector-databases.md": (
        "/guides/vector-databases",
        "Choosing a Vector Database",
        "2024-03-10",
        ["vector-db", "rag"],
        """
        Chroma is an open-source vector database that runs embedded inside a Python process or as a server. It
        stores embeddings next to their documents and metadata.

        ## Indexes

        Most vector databases build an HNSW graph for approximate nearest-neighbour search. pgvector adds HNSW
        and IVFFlat indexes to PostgreSQL, so teams that already run Postgres can keep one database.

        ## Hybrid search

        Keyword search with BM25 finds exact terms such as error codes, while vector search finds paraphrases.
        Reciprocal rank fusion merges the two rankings without calibrating their scores.
        """,
    ),
    "local-llms.md": (
        "/guides/local-llms",
        "Running Language Models Locally",
        "2025-05-01",
        ["local-llm"],
        """
        Ollama and llama.cpp let you run open-weight language models on a laptop without sending data to a cloud
        service. Quantised GGUF files shrink a 7B model to about four gigabytes.

        ## Memory

        A quantised 8B model needs roughly 8 GB of RAM to run comfortably; larger models need a GPU with more
        memory or a lot of patience.

        ## Serving

        Ollama exposes an HTTP API on port 11434, and LM Studio offers an OpenAI-compatible local server.
        """,
    ),
    "gpu-export.md": (
        "/insights/gpu-export-controls",
        "GPU Export Controls Explained",
        "2025-09-15",
        ["gpus", "regulation"],
        """
        The United States restricts exports of advanced data-centre GPUs to China. Nvidia answered earlier rules
        with cut-down chips for the Chinese market.

        ## Who is affected

        Cloud providers and research labs that buy accelerators in bulk must check licence requirements before
        shipping hardware abroad.
        """,
    ),
    "speech.md": (
        "/compare/speech-to-text",
        "Whisper Versus Cloud Speech APIs",
        "2024-11-20",
        ["speech", "local-llm"],
        """
        OpenAI's Whisper transcribes speech locally and is released under the MIT licence. Running it on your own
        machine keeps recordings private.

        ## Weaknesses

        Whisper can hallucinate text during long silences, and it does not label speakers on its own; diarization
        needs a separate model.
        """,
    ),
}


def _write_corpus(root: Path) -> None:
    root.mkdir(parents=True)
    for name, (url, title, date, tags, body) in ARTICLES.items():
        front = f'---\ntitle: "{title}"\nurl: {url}\ndate: {date}\ntags: [{", ".join(tags)}]\nsummary: "x"\n---\n'
        (root / name).write_text(front + textwrap.dedent(body).strip() + "\n", encoding="utf-8")


@pytest.fixture(scope="module")
def embedder() -> LocalOnnxEmbeddings:
    return LocalOnnxEmbeddings(threads=2)


@pytest.fixture(scope="module")
def store(tmp_path_factory, embedder) -> ChunkStore:
    root = tmp_path_factory.mktemp("retrieval")
    _write_corpus(root / "corpus")
    settings = Settings(
        corpus={"path": root / "corpus"},
        index={"dir": root / "index", "collection": "test-retrieval"},
        # Small chunks, so each article has several and the per-article cap has something to cap.
        chunking={"target_tokens": 40, "max_tokens": 60, "overlap_tokens": 0},
    )
    store = ChunkStore(settings, embedder)
    summary = ingest(settings, store, embedder)
    assert len(summary.added) == len(ARTICLES)
    return store


def _retriever(store, embedder, fusion=None, **overrides) -> HybridRetriever:
    settings = RetrievalSettings(**{"top_k": 5, "per_article_cap": 2, **overrides})
    return HybridRetriever(store, embedder, settings, fusion=fusion)


def test_every_article_has_several_chunks(store):
    per_article = {}
    for chunk in store.all_chunks():
        per_article[chunk.article_id] = per_article.get(chunk.article_id, 0) + 1
    assert len(per_article) == 4 and min(per_article.values()) >= 2


FILTER_CASES = [
    (Filters(tags=("speech",)), {"/compare/speech-to-text"}),
    (Filters(tags=("regulation", "rag")), {"/insights/gpu-export-controls", "/guides/vector-databases"}),
    (Filters(since="2025-01-01"), {"/guides/local-llms", "/insights/gpu-export-controls"}),
    (Filters(since="2024-06-01", until="2025-06-30"), {"/guides/local-llms", "/compare/speech-to-text"}),
    (Filters(article_ids=("/guides/vector-databases",)), {"/guides/vector-databases"}),
    (Filters(tags=("local-llm",), until="2024-12-31"), {"/compare/speech-to-text"}),
]


@pytest.mark.parametrize("filters, allowed", FILTER_CASES)
def test_filters_apply_in_both_retrievers(store, embedder, filters, allowed):
    retriever = _retriever(store, embedder)
    # A question whose words occur in every article, so an unfiltered search would return all four.
    query = "models data search licence run"
    unfiltered = {c.article_id for c, _ in retriever.lexical(query, 50)}
    assert unfiltered == set(a[0] for a in ARTICLES.values())
    dense = retriever.dense(query, 50, filters)
    lexical = retriever.lexical(query, 50, filters)
    assert dense and lexical
    assert {c.article_id for c, _ in dense} == allowed
    assert {c.article_id for c, _ in lexical} <= allowed
    fused = retriever.retrieve(query, filters=filters, top_k=20)
    assert fused.passages and {p.chunk.article_id for p in fused.passages} <= allowed


def test_filter_matching_nothing_gives_no_passages_and_a_refusal(store, embedder):
    result = _retriever(store, embedder).retrieve("Which port does Ollama listen on?", Filters(tags=("no-such-tag",)))
    assert result.passages == () and result.relevant is False


@pytest.mark.parametrize("fusion", ["rrf", "scores"])
def test_retrieve_fuses_caps_and_ranks_the_answering_chunk_first(store, embedder, fusion):
    retriever = _retriever(store, embedder, fusion=fusion, per_article_cap=1)
    result = retriever.retrieve("Which port does the Ollama API listen on?")
    assert isinstance(result, RetrievalResult)
    assert result.relevant
    top = result.passages[0]
    assert "11434" in top.chunk.text
    assert top.dense_rank is not None and top.lexical_rank is not None
    if fusion == "rrf":
        assert top.score == pytest.approx(1 / (60 + top.dense_rank) + 1 / (60 + top.lexical_rank))
    else:  # first on both scales: normalised 1 + 1, averaged
        assert (top.dense_rank, top.lexical_rank, top.score) == (1, 1, pytest.approx(1.0))
    articles = [p.chunk.article_id for p in result.passages]
    assert len(articles) == len(set(articles))  # cap 1: one chunk per article
    assert [p.score for p in result.passages] == sorted((p.score for p in result.passages), reverse=True)
    assert set(result.timings) == {"embed", "dense", "lexical", "fuse", "floor"}
    assert all(t >= 0 for t in result.timings.values())


def test_the_default_fusion_is_score_fusion_and_a_bad_name_is_refused(store, embedder):
    assert _retriever(store, embedder).fusion == "scores"
    with pytest.raises(ValueError):
        _retriever(store, embedder, fusion="borda")


def test_score_fusion_reads_the_cosine_of_lexical_only_candidates(store, embedder):
    # A shallow dense search leaves chunks that only BM25 found; their cosine must come from Chroma.
    retriever = _retriever(store, embedder, fusion="scores", dense_k=1, lexical_k=20)
    query = "Which port does the Ollama API listen on?"
    lexical_only = [c.id for c, _ in retriever.lexical(query, 20)][1:]
    cosines = retriever._cosines(retriever.embed(query), lexical_only)
    full = {c.id: s for c, s in retriever.dense(query, 50)}
    assert set(cosines) == set(lexical_only)
    for cid, value in cosines.items():
        assert value == pytest.approx(full[cid], abs=1e-4)
    assert retriever.retrieve(query, top_k=10).passages


@pytest.mark.parametrize("fusion", ["rrf", "scores"])
def test_top_k_and_the_cap_bound_the_passages(store, embedder, fusion):
    retriever = _retriever(store, embedder, fusion=fusion, per_article_cap=2)
    result = retriever.retrieve("vector database indexes and hybrid search", top_k=3)
    assert len(result.passages) == 3
    many = retriever.retrieve("vector database indexes and hybrid search", top_k=50)
    counts = {}
    for p in many.passages:
        counts[p.chunk.article_id] = counts.get(p.chunk.article_id, 0) + 1
    assert max(counts.values()) == 2


@pytest.mark.parametrize("question", ["What is the capital of Peru?", "How do I bake sourdough bread?"])
def test_out_of_corpus_questions_fall_below_the_relevance_floor(store, embedder, question):
    result = _retriever(store, embedder).retrieve(question)
    assert result.relevant is False
    assert result.best_dense_score < RetrievalSettings().min_dense_score


@pytest.mark.parametrize(
    "question",
    ["How much RAM does a quantised 8B model need?", "Does Whisper label speakers?", "What is pgvector?"],
)
def test_in_corpus_questions_clear_the_relevance_floor(store, embedder, question):
    assert _retriever(store, embedder).retrieve(question).relevant


def test_a_strong_lexical_match_alone_clears_the_floor(store, embedder):
    # With the dense floor out of reach, only the lexical branch can pass a question.
    retriever = _retriever(store, embedder, min_dense_score=1.0)
    covered = retriever.retrieve("Ollama HTTP API port 11434")
    assert covered.lexical_coverage == pytest.approx(1.0)
    assert covered.relevant
    absent = retriever.retrieve("What is the capital of Peru?")
    assert absent.lexical_coverage < retriever.min_lexical_coverage
    assert not absent.relevant


def test_an_empty_question_is_an_input_error_and_an_overlong_one_is_cut_at_a_word(store, embedder):
    retriever = _retriever(store, embedder, max_question_chars=41)
    with pytest.raises(InputError):
        retriever.retrieve("   ")
    result = retriever.retrieve("Which port does the Ollama API listen on? " * 5)
    assert result.query == "Which port does the Ollama API listen on?"
    assert "11434" in result.passages[0].chunk.text


def test_lexical_coverage_is_the_idf_share_of_query_terms_in_the_best_chunk(store, embedder):
    from hubchat.index.lexical import lexical_text, tokenize

    retriever = _retriever(store, embedder)
    query = "Which port does the Ollama API listen on in Peru?"
    chunks = store.lexical.chunks
    term_sets = [set(tokenize([lexical_text(c)])[0]) for c in chunks]
    terms = list(dict.fromkeys(tokenize([query])[0]))
    n = len(chunks)
    idf = {t: math.log1p((n - sum(t in ts for ts in term_sets) + 0.5) / (sum(t in ts for ts in term_sets) + 0.5)) for t in terms}
    expected = max(sum(idf[t] for t in terms if t in ts) for ts in term_sets) / sum(idf.values())
    assert 0 < expected < 1  # "peru" is in no chunk
    assert retriever.lexical_coverage(query, chunks) == pytest.approx(expected)


def test_the_lexical_index_reports_term_presence_and_document_frequencies(store, tmp_path):
    import numpy as np

    from hubchat.index.lexical import LexicalIndex, lexical_text, tokenize

    index = store.lexical
    term_sets = [set(tokenize([lexical_text(c)])[0]) for c in index.chunks]
    terms = ["ollama", "port", "model", "peru", "11434"]
    positions = np.arange(len(index))[::-1]  # any order
    expected = [[t in term_sets[p] for t in terms] for p in positions]
    assert index.term_presence(terms, positions).tolist() == expected
    assert index.document_frequencies(terms).tolist() == [sum(t in ts for ts in term_sets) for t in terms]
    index.save(tmp_path / "lexical")
    loaded = LexicalIndex.load(tmp_path / "lexical")
    assert loaded.term_presence(terms, positions).tolist() == expected
    assert loaded.document_frequencies(terms).tolist() == index.document_frequencies(terms).tolist()


def test_a_lexical_index_saved_in_an_older_format_is_not_loaded(store, tmp_path):
    import json

    from hubchat.index.lexical import FORMAT_VERSION, LexicalIndex

    store.lexical.save(tmp_path / "lexical")
    meta_path = tmp_path / "lexical" / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta_path.write_text(json.dumps({**meta, "format": FORMAT_VERSION - 1}))
    assert LexicalIndex.load(tmp_path / "lexical") is None


def _passes(chunk: Chunk, filters: Filters) -> bool:
    """The filter rules written out per chunk (ISO dates compare as strings), to check the vectorised ones."""
    return (
        (not filters.tags or bool(set(filters.tags) & set(chunk.tags)))
        and (not filters.since or chunk.date[:10] >= filters.since)
        and (not filters.until or chunk.date[:10] <= filters.until)
        and (not filters.article_ids or chunk.article_id in filters.article_ids)
    )


def test_vectorised_filter_mask_agrees_with_the_per_chunk_test():
    from hubchat.index.lexical import LexicalIndex

    chunks = [
        Chunk(id=f"c{i}", article_id=f"/a/{i % 3}", ordinal=i, text=f"text {i}", start=0, end=6, title="t",
              date=f"2025-0{1 + i % 9}-15", tags=(("gpus",) if i % 2 else ("storage", "rag")))
        for i in range(12)
    ]
    index = LexicalIndex.build(chunks)
    for filters in [
        Filters(tags=("gpus",)),
        Filters(tags=("rag", "missing")),
        Filters(since="2025-03-01", until="2025-06-30"),
        Filters(article_ids=("/a/1",), tags=("gpus",)),
        Filters(article_ids=("/a/2", "/a/0", "/no/such/article")),
        Filters(article_ids=("/no/such/article",)),
        Filters(tags=("missing",)),
        Filters(tags=("gpus",)),  # again: the kept last mask is the same answer
    ]:
        expected = [float(_passes(c, filters)) for c in chunks]
        assert index.filter_columns.mask(filters).tolist() == expected, filters


@pytest.mark.parametrize("filters", [f for f, _ in FILTER_CASES] + [Filters(tags=("no-such-tag",))])
def test_the_chroma_where_clause_and_the_lexical_mask_keep_the_same_chunks(store, filters):
    from hubchat.index.filters import chroma_where

    by_chroma = set(store.collection.get(where=chroma_where(filters), include=[])["ids"])
    lexical = store.lexical
    by_mask = {c.id for c, keep in zip(lexical.chunks, lexical.filter_columns.mask(filters)) if keep}
    assert by_chroma == by_mask
    assert by_mask == {c.id for c in lexical.chunks if _passes(c, filters)}


@pytest.mark.parametrize("filters", [f for f, _ in FILTER_CASES])
def test_the_exact_filtered_search_ranks_as_chromas_filtered_query(store, embedder, filters):
    by_chroma = ChunkStore(
        store.settings.model_copy(update={"index": store.settings.index.model_copy(update={"exact_filtered_search": False})}),
        embedder,
    )
    for question in ("Which port does Ollama listen on?", "export controls on GPUs", "models data search licence run"):
        vector = embedder.embed_query(question)
        exact = store.dense_search(vector, 10, filters)
        chroma = by_chroma.dense_search(vector, 10, filters)
        assert [c.id for c, _ in exact] == [c.id for c, _ in chroma], (question, filters)
        assert [s for _, s in exact] == pytest.approx([s for _, s in chroma], abs=1e-4)


def test_the_vector_matrix_keeps_the_chunk_order_and_searches_only_kept_rows():
    from hubchat.index.vector_matrix import VectorMatrix

    stored = np.array([[0.0, 2.0], [1.0, 0.0], [1.0, 1.0]], dtype=np.float32)
    matrix = VectorMatrix(["a", "b", "c"], ["b", "c", "a"], stored)  # rows follow the chunk order, not the store's
    # a = (1, 1), b = (0, 2), c = (1, 0); cosines to (1, 0): a 0.707, b 0, c 1.
    assert matrix.top([3.0, 0.0], np.array([True, True, True]), 2) == [(2, pytest.approx(1.0)), (0, pytest.approx(0.7071, abs=1e-4))]
    assert matrix.top([1.0, 0.0], np.array([False, True, False]), 5) == [(1, pytest.approx(0.0, abs=1e-6))]
    assert matrix.top([1.0, 0.0], np.array([False, False, False]), 5) == []
    with pytest.raises(ValueError, match="no stored vector"):
        VectorMatrix(["a", "z"], ["a"], stored[:1])


def test_the_vector_matrix_reads_cosines_of_any_rows():
    from hubchat.index.vector_matrix import VectorMatrix

    matrix = VectorMatrix(["a", "b", "c"], ["a", "b", "c"], np.array([[0.0, 2.0], [1.0, 0.0], [1.0, 1.0]], dtype=np.float32))
    assert matrix.cosines([2, 0, 2], [0.0, 5.0]).tolist() == pytest.approx([0.7071068, 1.0, 0.7071068])
    assert matrix.cosines([], [1.0, 0.0]).size == 0


@pytest.fixture(scope="module")
def real_store(tmp_path_factory, embedder) -> ChunkStore:
    """Twelve articles of the real corpus (their own tags and dates) in embedded Chroma, in small chunks."""
    root = tmp_path_factory.mktemp("filtered")
    copy_real_articles(root / "corpus", 12)
    settings = Settings(
        corpus={"path": root / "corpus"},
        index={"dir": root / "index", "collection": "test-filtered"},
        chunking={"target_tokens": 60, "max_tokens": 80, "overlap_tokens": 0},
    )
    store = ChunkStore(settings, embedder)
    ingest(settings, store, embedder)
    return store


def _real_filters(store: ChunkStore) -> list[Filters]:
    """Filters over what the index holds: each tag, dates either side of the middle article's, tags with dates,
    and single articles (the widget's scope)."""
    chunks = store.lexical.chunks
    tags = sorted({t for c in chunks for t in c.tags})
    dates = sorted({c.date[:10] for c in chunks})
    middle = dates[len(dates) // 2]
    articles = sorted({c.article_id for c in chunks})
    return [
        *(Filters(tags=(t,)) for t in tags),
        Filters(since=middle),
        Filters(until=middle),
        Filters(tags=tuple(tags[:3]), since=dates[1], until=dates[-2]),
        *(Filters(tags=(t,), since=middle) for t in tags[::3]),
        *(Filters(article_ids=(a,)) for a in articles[::3]),
    ]


@pytest.mark.parametrize("dense_k", [60, 3])  # 3: most candidates are lexical-only, their cosines read from memory
def test_filtered_retrieval_in_memory_gives_exactly_what_chromas_filtered_query_gives(real_store, embedder, dense_k):
    slow_store = ChunkStore(
        real_store.settings.model_copy(update={"index": real_store.settings.index.model_copy(update={"exact_filtered_search": False})}),
        embedder,
    )
    settings = RetrievalSettings(dense_k=dense_k, lexical_k=60, top_k=8, per_article_cap=3)
    fast, slow = HybridRetriever(real_store, embedder, settings), HybridRetriever(slow_store, embedder, settings)
    chroma_reads = []
    read_from_chroma = real_store._chroma_vectors
    real_store._chroma_vectors = lambda ids: chroma_reads.append(len(ids)) or read_from_chroma(ids)
    try:
        questions = [c.title for c in real_store.lexical.chunks[::40]] + ["How much memory does a local model need?", "GPU prices"]
        compared = 0
        for filters in _real_filters(real_store):
            for question in questions:
                a, b = fast.retrieve(question, filters), slow.retrieve(question, filters)
                assert [p.chunk.id for p in a.passages] == [p.chunk.id for p in b.passages], (question, filters)
                for x, y in zip(a.passages, b.passages):
                    assert (x.dense_rank, x.lexical_rank) == (y.dense_rank, y.lexical_rank)
                    assert x.score == pytest.approx(y.score, abs=1e-5) and x.lexical_score == y.lexical_score
                    assert (x.dense_score is None) == (y.dense_score is None)
                    assert x.dense_score is None or x.dense_score == pytest.approx(y.dense_score, abs=1e-5)
                assert (a.relevant, a.lexical_coverage) == (b.relevant, b.lexical_coverage)
                assert a.best_dense_score == pytest.approx(b.best_dense_score, abs=1e-5)
                compared += bool(a.passages)
    finally:
        del real_store._chroma_vectors
    assert compared > 50
    assert chroma_reads == [], "a filtered question reads its lexical-only candidates' cosines from memory"


def test_cosines_from_memory_match_chromas_for_every_chunk(real_store, embedder):
    ids = list(real_store.lexical.ids)
    vector = embedder.embed_query("Which open-weight models can run on a laptop?")
    from_memory = real_store.cosines(vector, ids, Filters(tags=("rag",)))
    from_chroma = real_store.cosines(vector, ids)
    assert set(from_memory) == set(from_chroma) == set(ids)
    assert [from_memory[i] for i in ids] == pytest.approx([from_chroma[i] for i in ids], abs=1e-6)
    assert real_store.cosines(vector, ["no-such-chunk"], Filters(tags=("rag",))) == {}


# ---- demoting passages editors judged wrongly cited (real records, real store, real embedder) ------------------

# Paraphrases of one kind of question (cosine 0.8 and more apart with MiniLM), all ranking the Memory chunk first.
MEMORY_QUESTIONS = (
    "How much RAM does a quantised 8B model need?",
    "How much memory does a quantised 8B model need?",
    "What amount of RAM does a quantised 8B model need to run?",
)
OTHER_KIND = "Do larger models need a GPU with more memory?"


def _answer_citing(question: str, passage: Passage) -> AnswerResult:
    """An answer whose one sentence cites `passage` as [1], as the chain records it."""
    source = source_of(1, passage, "https://example.org")
    sentence = SentenceCheck(0, "It needs 8 GB [1].", 0, 18, (1,), (), "supported", 0.9)
    report = CitationReport(sentence.text, (sentence,), (), (1,), "supported")
    return AnswerResult(
        question=question, standalone_question=question, text=sentence.text, raw_text=sentence.text, refused=False,
        verdict="supported", report=report, passages=(source,), sources=(source,), notes=(), timings={},
        prompt_tokens=None, completion_tokens=None, backend="extractive",
    )


class _CountingSource:
    """The real records store, counting the demoter's calls (to show a question costs no query)."""

    def __init__(self, records: Records):
        self.records = records
        self.calls = 0

    def verdicts_version(self):
        self.calls += 1
        return self.records.verdicts_version()

    def wrong_citations(self):
        self.calls += 1
        return self.records.wrong_citations()


def _judge_wrong(records: Records, retriever: HybridRetriever, question: str) -> str:
    top = retriever.retrieve(question).passages[0]
    answer_id = records.record_answer(_answer_citing(question, top))
    records.set_verdict(answer_id, 0, "wrong_citation", editor="ed")
    return top.chunk.id


def test_a_passage_judged_wrong_for_two_similar_questions_is_demoted_for_a_third(store, embedder, tmp_path):
    records = Records(tmp_path / "records.sqlite")
    # No per-article cap to speak of, so the demoted passage stays in the list to be looked at.
    settings = RetrievalSettings(top_k=10, per_article_cap=10, demotion_refresh_s=0)
    plain = HybridRetriever(store, embedder, settings)
    demoting = HybridRetriever(store, embedder, settings, demoter=CitationDemoter(records, embedder.embed_array, settings))
    new_question = MEMORY_QUESTIONS[2]
    memory = plain.retrieve(new_question).passages[0].chunk.id
    assert "quantised 8B model needs" in plain.retrieve(new_question).passages[0].chunk.text

    assert _judge_wrong(records, plain, MEMORY_QUESTIONS[0]) == memory
    # One verdict is not enough (demotion_min_verdicts = 2).
    assert demoting.retrieve(new_question).passages[0].chunk.id == memory
    assert _judge_wrong(records, plain, MEMORY_QUESTIONS[1]) == memory

    after = demoting.retrieve(new_question)
    assert after.passages[0].chunk.id != memory
    [demoted] = [p for p in after.passages if p.chunk.id == memory]
    assert demoted.demoted and demoted.score == pytest.approx(plain.retrieve(new_question).passages[0].score * settings.demotion_factor)
    assert after.relevant
    # Another kind of question keeps the passage where it was.
    assert [p.chunk.id for p in demoting.retrieve(OTHER_KIND).passages] == [p.chunk.id for p in plain.retrieve(OTHER_KIND).passages]


def test_a_demotion_is_lifted_by_an_editor_undone_by_a_changed_verdict_and_off_by_the_setting(store, embedder, tmp_path):
    records = Records(tmp_path / "records.sqlite")
    settings = RetrievalSettings(top_k=5, per_article_cap=2, demotion_refresh_s=0)
    plain = HybridRetriever(store, embedder, settings)
    demoter = CitationDemoter(records, embedder.embed_array, settings)
    demoting = HybridRetriever(store, embedder, settings, demoter=demoter)
    new_question = MEMORY_QUESTIONS[2]
    memory = _judge_wrong(records, plain, MEMORY_QUESTIONS[0])
    _judge_wrong(records, plain, MEMORY_QUESTIONS[1])
    assert demoting.retrieve(new_question).passages[0].chunk.id != memory
    [active] = demoter.active()
    assert active.chunk_id == memory and set(active.questions) == set(MEMORY_QUESTIONS[:2])

    records.lift_demotion(memory, note="the article was rewritten", editor="ed")
    assert demoting.retrieve(new_question).passages[0].chunk.id == memory
    assert demoter.active() == ()
    # Verdicts saved after the lift count again.
    _judge_wrong(records, plain, MEMORY_QUESTIONS[0])
    _judge_wrong(records, plain, MEMORY_QUESTIONS[1])
    assert demoting.retrieve(new_question).passages[0].chunk.id != memory
    # An editor changing one verdict to another label ends the demotion too.
    latest = records.answers("all", limit=1)[0]
    records.set_verdict(latest.id, 0, "supported", editor="ed")
    assert demoting.retrieve(new_question).passages[0].chunk.id == memory

    off = Settings(ui={"db_path": tmp_path / "records.sqlite"}, retrieval={"demote_wrong_citations": False})
    assert Runtime(off).demoter is None


def test_a_withdrawn_lift_demotes_the_passage_again(store, embedder, tmp_path):
    records = Records(tmp_path / "records.sqlite")
    settings = RetrievalSettings(top_k=5, per_article_cap=2, demotion_refresh_s=0)
    plain = HybridRetriever(store, embedder, settings)
    demoter = CitationDemoter(records, embedder.embed_array, settings)
    demoting = HybridRetriever(store, embedder, settings, demoter=demoter)
    new_question = MEMORY_QUESTIONS[2]
    memory = _judge_wrong(records, plain, MEMORY_QUESTIONS[0])
    _judge_wrong(records, plain, MEMORY_QUESTIONS[1])
    records.lift_demotion(memory, note="the article was rewritten", editor="ed")
    assert demoting.retrieve(new_question).passages[0].chunk.id == memory and demoter.active() == ()

    # No new verdict: withdrawing the lift alone makes the two verdicts it set aside count again.
    records.lift_demotion(memory, False, note="the rewrite did not fix it", editor="ed")
    after = demoting.retrieve(new_question)
    assert after.passages[0].chunk.id != memory
    [active] = demoter.active()
    assert active.chunk_id == memory and set(active.questions) == set(MEMORY_QUESTIONS[:2])


def test_a_wrong_citation_naming_one_of_two_cited_passages_demotes_only_that_one(store, embedder, tmp_path):
    records = Records(tmp_path / "records.sqlite")
    settings = RetrievalSettings(top_k=10, per_article_cap=10, demotion_refresh_s=0)
    plain = HybridRetriever(store, embedder, settings)
    demoter = CitationDemoter(records, embedder.embed_array, settings)
    demoting = HybridRetriever(store, embedder, settings, demoter=demoter)
    new_question = MEMORY_QUESTIONS[2]
    top, second = plain.retrieve(new_question).passages[:2]
    answers = []
    for question in MEMORY_QUESTIONS[:2]:
        # One sentence citing the top two passages, as [1][2]; the editor names [2] as the wrong one.
        sources = (source_of(1, top, "https://example.org"), source_of(2, second, "https://example.org"))
        sentence = SentenceCheck(0, "It needs 8 GB [1][2].", 0, 21, (1, 2), (), "supported", 0.9)
        answer = AnswerResult(
            question=question, standalone_question=question, text=sentence.text, raw_text=sentence.text, refused=False,
            verdict="supported", report=CitationReport(sentence.text, (sentence,), (), (1, 2), "supported"),
            passages=sources, sources=sources, notes=(), timings={}, prompt_tokens=None, completion_tokens=None,
            backend="extractive",
        )
        answers.append(records.record_answer(answer))
        records.set_verdict(answers[-1], 0, "wrong_citation", editor="ed", citations=[2])

    assert [d.chunk_id for d in demoter.active()] == [second.chunk.id]
    after = {p.chunk.id: p for p in demoting.retrieve(new_question).passages}
    assert after[top.chunk.id].score == pytest.approx(top.score) and not after[top.chunk.id].demoted
    assert after[second.chunk.id].demoted and after[second.chunk.id].score == pytest.approx(second.score * settings.demotion_factor)
    # The same verdicts naming no passage blame both, as every verdict did before the choice existed.
    for answer_id in answers:
        records.set_verdict(answer_id, 0, "wrong_citation", editor="ed")
    assert {d.chunk_id for d in demoter.active()} == {top.chunk.id, second.chunk.id}


def test_the_verdicts_are_read_once_per_refresh_interval_not_per_question(store, embedder, tmp_path):
    records = Records(tmp_path / "records.sqlite")
    now = [0.0]
    settings = RetrievalSettings(top_k=5, per_article_cap=2, demotion_refresh_s=10)
    source = _CountingSource(records)
    demoting = HybridRetriever(store, embedder, settings, demoter=CitationDemoter(source, embedder.embed_array, settings, clock=lambda: now[0]))
    plain = HybridRetriever(store, embedder, settings)
    memory = _judge_wrong(records, plain, MEMORY_QUESTIONS[0])
    _judge_wrong(records, plain, MEMORY_QUESTIONS[1])
    for question in (*MEMORY_QUESTIONS, OTHER_KIND) * 3:
        demoting.retrieve(question)
    assert source.calls == 2  # the version and the verdicts, once
    records.set_verdict(records.answers("all", limit=1)[0].id, 0, "supported")
    now[0] = 5.0
    assert demoting.retrieve(MEMORY_QUESTIONS[2]).passages[0].chunk.id != memory  # not asked again yet
    now[0] = 10.0
    assert demoting.retrieve(MEMORY_QUESTIONS[2]).passages[0].chunk.id == memory
    assert source.calls == 4
    now[0] = 20.0
    demoting.retrieve(MEMORY_QUESTIONS[2])
    assert source.calls == 5  # the version again; unchanged, so the verdicts are not read


def test_the_runtime_wires_its_records_into_the_retriever(tmp_path):
    settings = Settings(ui={"db_path": tmp_path / "records.sqlite"}, retrieval={"demotion_min_verdicts": 3})
    runtime = Runtime(settings)
    assert runtime.demoter.source is runtime.records
    assert runtime.demoter.settings.demotion_min_verdicts == 3
