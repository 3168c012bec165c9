"""The gold question set (tests/data/gold.jsonl) is consistent with the corpus it was written for, has the mix
of question types the issue asks for, and the product's retriever keeps finding its supporting articles.

The retrieval test uses the session's real index of corpus/ (tests/conftest_corpus.py) and the reusable
computation of benchmarks/bench_gold_retrieval.py.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from collections import Counter
from functools import cache, lru_cache
from pathlib import Path

import pytest

from hubchat.index.lexical import tokenize
from hubchat.ingest.chunking import split_units
from hubchat.ingest.corpus import read_corpus
from hubchat.types import Article

REPO_ROOT = Path(__file__).resolve().parent.parent
CORPUS_DIR = REPO_ROOT / "corpus"
GOLD_FILE = Path(__file__).resolve().parent / "data" / "gold.jsonl"
BENCH_FILE = REPO_ROOT / "benchmarks" / "bench_gold_retrieval.py"

FIELDS = {"id", "type", "question", "history", "reference_answer", "support", "key_facts"}
TYPES = {"single", "multi", "followup", "refusal"}
REFUSAL_ANSWER = "The articles do not cover this."
ID = re.compile(r"^q-[a-z]+-(\d{3})$")

MIN_QUESTIONS = 80
MIN_FOLLOWUP_PAIRS = 15
MIN_MULTI = 15
MIN_REFUSALS = 15

# Regression floors, a little below what benchmarks/bench_gold_retrieval.py measured (see benchmarks/RESULTS.md,
# "Gold set retrieval"): recall@5 0.994 overall, 1.000 on condensed follow-ups against 0.733 raw; relevance verdict
# right on 100% of answerable and 60% of refusal questions.
MIN_RECALL_AT_5 = 0.95
MIN_CONDENSED_FOLLOWUP_RECALL = 0.9
MIN_ANSWERABLE_MARKED_RELEVANT = 0.95
MIN_REFUSALS_MARKED_NOT_RELEVANT = 0.5


def _bench():
    """benchmarks/bench_gold_retrieval.py as a module (benchmarks/ is not a package)."""
    name = "bench_gold_retrieval"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, BENCH_FILE)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up while the file executes
        spec.loader.exec_module(module)
    return sys.modules[name]


GOLD = _bench().load_gold(GOLD_FILE)
ANSWERABLE = [q for q in GOLD if q["type"] != "refusal"]
REFUSALS = [q for q in GOLD if q["type"] == "refusal"]


@lru_cache(maxsize=1)
def _articles() -> dict[str, Article]:
    articles, _ = read_corpus(CORPUS_DIR)
    return {a.id: a for a in articles}


def _normal(text: str) -> str:
    return " ".join(text.split()).lower()


@cache
def _sections(article_id: str) -> dict[str, str]:
    """Heading text -> the normalised text under it, subsections included."""
    article = _articles()[article_id]
    parts: dict[str, list[str]] = {}
    for unit in split_units(article.text):
        if unit.kind == "heading":
            parts.setdefault(unit.heading_path[-1], [])
            continue
        for heading in unit.heading_path:
            parts.setdefault(heading, []).append(article.text[unit.start:unit.end])
    return {heading: _normal(" ".join(texts)) for heading, texts in parts.items()}


def _qid(q: dict) -> str:
    return q["id"]


# ---- shape of the file -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("q", GOLD, ids=_qid)
def test_each_question_has_the_spec_fields(q):
    assert set(q) == FIELDS
    assert q["type"] in TYPES
    assert ID.match(q["id"])
    assert isinstance(q["question"], str) and q["question"].strip()
    assert isinstance(q["reference_answer"], str) and q["reference_answer"].strip()
    assert isinstance(q["history"], list)
    if q["type"] == "refusal":
        assert (q["support"], q["key_facts"], q["history"], q["reference_answer"]) == ([], [], [], REFUSAL_ANSWER)
    else:
        assert q["support"] and all(set(s) == {"article", "heading"} for s in q["support"])
        assert 1 <= len(q["key_facts"]) <= 3 and all(k.strip() for k in q["key_facts"])


def test_ids_and_questions_are_unique():
    assert [i for i, n in Counter(q["id"] for q in GOLD).items() if n > 1] == []
    assert [t for t, n in Counter(_normal(q["question"]) for q in GOLD).items() if n > 1] == []


def test_the_mix_of_question_types_meets_the_issue():
    counts = Counter(q["type"] for q in GOLD)
    pairs = sum(1 for q in GOLD if q["type"] == "followup" and q["history"])
    assert len(GOLD) >= MIN_QUESTIONS
    assert pairs >= MIN_FOLLOWUP_PAIRS
    assert counts["multi"] >= MIN_MULTI
    assert counts["refusal"] >= MIN_REFUSALS
    assert counts["single"] == len(GOLD) - counts["multi"] - counts["refusal"] - counts["followup"] > 0


@pytest.mark.parametrize("q", [q for q in GOLD if q["type"] in ("single", "multi")], ids=_qid)
def test_single_questions_cite_one_article_and_multi_questions_several(q):
    articles = {s["article"] for s in q["support"]}
    assert len(articles) == 1 if q["type"] == "single" else len(articles) >= 2


# ---- follow-up pairs -------------------------------------------------------------------------------------------


def test_every_followup_pair_is_a_first_question_then_a_second_carrying_it_as_history():
    followups = [(i, q) for i, q in enumerate(GOLD) if q["type"] == "followup"]
    firsts = [i for i, q in followups if not q["history"]]
    seconds = [i for i, q in followups if q["history"]]
    assert len(firsts) == len(seconds)
    for i in firsts:
        first, second = GOLD[i], GOLD[i + 1] if i + 1 < len(GOLD) else None
        assert second is not None and second["type"] == "followup", first["id"]
        assert second["history"] == [{"question": first["question"], "answer": first["reference_answer"]}], second["id"]
        # The pair's ids follow on (q-a-010, q-a-011).
        assert int(ID.match(second["id"]).group(1)) == int(ID.match(first["id"]).group(1)) + 1
        assert second["id"].rsplit("-", 1)[0] == first["id"].rsplit("-", 1)[0]
    assert sorted(i + 1 for i in firsts) == seconds


# ---- consistency with the corpus --------------------------------------------------------------------------------


@pytest.mark.parametrize("q", ANSWERABLE, ids=_qid)
def test_supporting_articles_and_headings_exist(q):
    for support in q["support"]:
        assert support["article"] in _articles(), support["article"]
        article = _articles()[support["article"]]
        assert article.format == "markdown" and article.url == support["article"]
        assert support["heading"] in _sections(support["article"]), (support, sorted(_sections(support["article"])))


@pytest.mark.parametrize("q", ANSWERABLE, ids=_qid)
def test_key_facts_appear_under_the_cited_headings(q):
    cited = [s for s in q["support"] if s["article"] in _articles()]
    assert cited == q["support"]
    bodies = " ".join(_normal(_articles()[s["article"]].text) for s in cited)
    sections = " ".join(_sections(s["article"]).get(s["heading"], "") for s in cited)
    for fact in q["key_facts"]:
        assert _normal(fact) in bodies, fact
        assert _normal(fact) in sections, fact


@lru_cache(maxsize=1)
def _corpus_terms() -> frozenset[str]:
    """Every indexed term (stemmed, stop words out) of every article's title, summary and body."""
    articles, _ = read_corpus(CORPUS_DIR)
    texts = [" ".join((a.title, a.summary, " ".join(a.tags), a.text)) for a in articles]
    return frozenset(t for tokens in tokenize(texts) for t in tokens)


def test_the_corpus_vocabulary_is_real():
    # Guards the refusal check below against an empty or broken vocabulary, which would make it pass vacuously.
    terms = _corpus_terms()
    assert len(terms) > 3000
    assert {"ollama", "gpu", "huawei", "whisper", "pgvector"} <= terms


@pytest.mark.parametrize("q", REFUSALS, ids=_qid)
def test_refusal_questions_name_something_no_article_mentions(q):
    terms = tokenize([q["question"]])[0]
    absent = [t for t in terms if t not in _corpus_terms()]
    assert absent, f"every term of {q['question']!r} occurs in the corpus: {terms}"


# ---- retrieval over the real corpus index ---------------------------------------------------------------------


def test_the_retriever_finds_the_gold_articles(corpus_index):
    bench = _bench()
    report = bench.evaluate_gold(corpus_index.runtime.retriever, GOLD, k=5)
    assert len(report.results) == len(GOLD)
    misses = [(m.id, m.query, m.retrieved) for m in report.misses()]
    assert report.recall >= MIN_RECALL_AT_5, misses
    assert report.recall_of("followup-second") >= MIN_CONDENSED_FOLLOWUP_RECALL, misses
    assert report.answerable_relevant_rate >= MIN_ANSWERABLE_MARKED_RELEVANT, [r.id for r in report.answerable if not r.relevant]
    assert report.refusal_accuracy >= MIN_REFUSALS_MARKED_NOT_RELEVANT, [r.id for r in report.refusals if r.relevant]
