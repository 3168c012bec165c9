"""The quality gate: `hubchat eval` figures that must not regress, on sets small enough for every test run.

- The project's gold question set over corpus/, answered by hubchat's chain on the `extractive` backend
  (deterministic, no model): refusal F1, false refusals, citation precision, and retrieval recall@5.
- A fixed SciFact sample (50 judged claims, their abstracts and 400 other abstracts, seed 0) for BM25,
  dense and hybrid retrieval.

Thresholds sit a little below the figures measured when the gate was set (recorded beside each, and in
benchmarks/RESULTS.md), so a real regression fails the test run while noise-free reruns pass. The local chat
model's figures are a benchmark, not a test: they take minutes a question.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hubchat.config import Settings
from hubchat.eval.harness import EvalOptions, run_eval
from tests.eval_data import cut_beir

REPO = Path(__file__).resolve().parents[1]


def _settings(root: Path) -> Settings:
    return Settings(
        chat={"backend": "extractive"},
        corpus={"path": REPO / "corpus"},
        eval={"cache_dir": root / "cache", "results_dir": root / "results"},
        index={"dir": root / "unused-index"},
        ui={"db_path": root / "records.sqlite"},  # the retriever's demotions read these, not a developer's own
    )


@pytest.fixture(scope="module")
def gold(tmp_path_factory):
    root = tmp_path_factory.mktemp("gate-gold")
    return run_eval(_settings(root), EvalOptions(source=REPO / "tests" / "data" / "gold.jsonl", systems=("hubchat",)))


@pytest.fixture(scope="module")
def scifact(tmp_path_factory):
    root = tmp_path_factory.mktemp("gate-scifact")
    folder = cut_beir("scifact", root / "scifact-sample", queries=50, distractors=400, seed=0)
    return run_eval(_settings(root), EvalOptions(source=folder, systems=(), checker_pairs=0))


def test_gold_set_refusals_stay_right(gold):
    figures = gold.summary["hubchat"]["refusal"]
    assert figures["unanswerable"] == 15 and figures["answerable"] == 83
    assert figures["f1"] >= 0.95  # measured 1.000 (15 of 15 refused, no answerable one refused)
    assert figures["false_refusal_rate"] <= 0.03  # measured 0.000


def test_gold_set_citations_stay_precise(gold):
    citations = gold.summary["hubchat"]["citations"]
    assert citations["article_precision"] >= 0.62  # measured 0.665
    assert citations["article_recall"] >= 0.90  # measured 0.940


def test_gold_set_retrieval_finds_the_supporting_article(gold):
    assert gold.retrieval.means["hybrid"]["recall@5"] >= 0.97  # measured 1.000
    assert gold.retrieval.largest_difference < 1e-9


def test_gold_set_answers_keep_their_key_facts(gold):
    assert gold.summary["hubchat"]["answer"]["key_fact_recall"] >= 0.32  # measured 0.361
    assert gold.summary["hubchat"]["errors"] == 0


def test_scifact_sample_retrieval_holds(scifact):
    means = scifact.retrieval.means
    assert scifact.retrieval.queries == 50
    assert means["hybrid"]["nDCG@10"] >= 0.83  # measured 0.8565
    assert means["bm25"]["nDCG@10"] >= 0.78  # measured 0.8049
    assert means["dense"]["nDCG@10"] >= 0.78  # measured 0.8106
    assert means["hybrid"]["recall@100"] >= 0.96  # measured 1.000
    # fusion must keep paying for itself: hybrid above the better of its two halves (measured +0.046)
    assert means["hybrid"]["nDCG@10"] > max(means["bm25"]["nDCG@10"], means["dense"]["nDCG@10"])
