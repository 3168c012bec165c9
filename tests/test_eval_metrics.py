"""The evaluation's measures and loaders, on hand-made inputs whose right answers are known."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hubchat.errors import InputError
from hubchat.eval.answer_metrics import (
    CitedPassage,
    citation_scores,
    contains_answer,
    exact_match,
    key_fact_recall,
    normalize_answer,
    on_evidence,
    refusal_scores,
    token_f1,
)
from hubchat.eval.datasets import EvalCase, Evidence, load_beir_set, load_gold_set
from hubchat.eval.harness import sample
from hubchat.eval.metrics import mrr_at_k, ndcg_at_k, recall_at_k
from hubchat.eval.retrieval_eval import hand_written_scores, library_scores
from hubchat.eval.runner import Record, run_case, run_systems
from hubchat.eval.summary import percentile, summarize
from hubchat.eval.systems import SystemAnswer, cited_numbers, looks_like_refusal

REFUSAL = "The articles don't cover this."


# ---- SQuAD measures ------------------------------------------------------------------------------------------


def test_answers_are_normalised_as_squad_does():
    assert normalize_answer("The  RNA-interference pathway!") == "rnainterference pathway"
    assert normalize_answer("An apple, a pear") == "apple pear"


def test_exact_match_ignores_citation_markers_case_and_articles():
    assert exact_match("The Denver Broncos [1].", ["Denver Broncos"]) == 1.0
    assert exact_match("Denver", ["Denver Broncos"]) == 0.0
    assert exact_match("anything", []) == 0.0


def test_token_f1_is_the_best_over_references():
    # prediction tokens: denver broncos won; reference "denver broncos": P=2/3, R=1 -> F1 0.8
    assert token_f1("Denver Broncos won [2]", ["Carolina", "Denver Broncos"]) == pytest.approx(0.8)
    assert token_f1("nothing shared", ["Denver"]) == 0.0


def test_containment_needs_the_whole_answer_as_a_token_run():
    assert contains_answer("It was the RNA interference pathway [1].", ["RNA interference"])
    assert not contains_answer("interference with RNA", ["RNA interference"])
    # "no" must not be found inside "not" or "know"
    assert not contains_answer("I do not know", ["no"])


def test_key_fact_recall_counts_the_facts_found():
    assert key_fact_recall("It carries 192 GB, more than an H100's 80 GB.", ["192 GB", "80 GB", "HBM3"]) == pytest.approx(2 / 3)
    assert key_fact_recall("anything", []) is None


# ---- citations -------------------------------------------------------------------------------------------


def _passage(number, article, text="", section=""):
    return CitedPassage(number, article, text, section)


def test_a_passage_is_on_evidence_when_article_heading_and_text_match():
    unit = Evidence("a1", texts=("RNA interference",), heading="Immunity")
    assert on_evidence(_passage(1, "a1", "uses RNA interference here", "Biology > Immunity"), unit)
    assert not on_evidence(_passage(1, "a1", "uses RNA interference here", "Biology > Cells"), unit)
    assert not on_evidence(_passage(1, "a2", "uses RNA interference here", "Immunity"), unit)
    assert not on_evidence(_passage(1, "a1", "nothing about it", "Immunity"), unit)


def test_a_passage_that_runs_into_the_gold_section_is_on_it_whatever_its_heading_path_says():
    unit = Evidence("a1", heading="Software: CUDA's moat")
    spanning = "The MI300X carries 192 GB.\n\n## Software: CUDA's moat\n\nCUDA's libraries are where NVIDIA leads."
    assert on_evidence(_passage(1, "a1", spanning, "GPUs > Memory"), unit)
    mentioned = "The software section below covers Software: CUDA's moat in depth."  # named in prose, not a heading
    assert not on_evidence(_passage(1, "a1", mentioned, "GPUs > Memory"), unit)


def test_a_summary_passage_stating_a_key_fact_is_on_the_evidence_for_precision_not_for_section_recall():
    unit = Evidence("a1", heading="Memory: AMD's strongest card", facts=("carries 192 GB",))
    takeaways = _passage(1, "a1", "## Key takeaways\n\n- The MI300X carries 192 GB of HBM3.", "Key takeaways")
    assert on_evidence(takeaways, unit)
    assert not on_evidence(takeaways, unit, by_facts=False)
    assert not on_evidence(_passage(1, "a2", "The MI300X carries 192 GB.", "Key takeaways"), unit), "another article"
    assert not on_evidence(_passage(1, "a1", "The MI300X carries 128 GB.", "Key takeaways"), unit)


def test_a_long_fact_counts_when_most_of_its_words_are_in_the_passage():
    fact = "The Justice Department is focused on the deals Google makes with Apple and Samsung and Mozilla"
    cut_short = "deals Google makes with Apple and Samsung and Mozilla, the Justice Department said it is focused on"
    assert on_evidence(_passage(1, "d", cut_short), Evidence("d", texts=(fact,)))
    assert not on_evidence(_passage(1, "d", "Google makes phones"), Evidence("d", texts=(fact,)))


def test_citation_precision_and_recall_at_article_and_passage_level():
    case = EvalCase("q", "?", answers=("x",), relevance={"a": 1, "b": 1},
                    evidence=(Evidence("a", texts=("alpha",)), Evidence("b", texts=("beta",))))
    cited = [_passage(1, "a", "alpha here"), _passage(2, "c", "alpha too"), _passage(3, "b", "no match")]
    scores = citation_scores(case, cited)
    assert scores.article_precision == pytest.approx(2 / 3)
    assert scores.article_recall == 1.0
    assert scores.passage_precision == pytest.approx(1 / 3)
    assert scores.passage_recall == pytest.approx(1 / 2)
    assert scores.cited == 3


def test_an_answer_without_citations_has_zero_recall_and_no_precision():
    case = EvalCase("q", "?", answers=("x",), relevance={"a": 1}, evidence=(Evidence("a"),))
    scores = citation_scores(case, [])
    assert (scores.article_precision, scores.article_recall, scores.passage_recall) == (None, 0.0, 0.0)


def test_marker_numbers_are_read_in_order_and_out_of_range_ones_dropped():
    assert cited_numbers("A [2]. B [1, 3][2]. C [9].", 4) == [2, 1, 3]


# ---- refusals --------------------------------------------------------------------------------------------


def test_refusal_scores_treat_refusing_as_the_positive_class():
    # (expected refusal, refused): tp, fp, fn, tn, tn
    scores = refusal_scores([(True, True), (False, True), (True, False), (False, False), (False, False)])
    assert scores.precision == 0.5 and scores.recall == 0.5 and scores.f1 == 0.5
    assert scores.false_refusal_rate == pytest.approx(1 / 3)
    assert (scores.refused_answerable, scores.answerable, scores.refused_unanswerable, scores.unanswerable) == (1, 3, 1, 2)


def test_refusal_scores_are_undefined_without_the_cases_that_define_them():
    scores = refusal_scores([(False, False)])
    assert scores.precision is None and scores.recall is None and scores.f1 is None


@pytest.mark.parametrize(
    "text, refused",
    [
        (REFUSAL, True),
        ("I don't know.", True),
        ("The context does not mention the price [1].", True),
        ("", True),
        ("Cursor costs $20 a month [1].", False),
        ("Cursor costs $20 a month [1]. " * 12 + "The context does not mention the team plan.", False),
    ],
)
def test_declining_answers_are_recognised(text, refused):
    assert looks_like_refusal(text, REFUSAL) is refused


# ---- ranking measures ----------------------------------------------------------------------------------


def test_mrr_is_the_reciprocal_rank_of_the_first_relevant():
    assert mrr_at_k(["x", "a", "b"], {"a": 1}, 10) == 0.5
    assert mrr_at_k(["x", "y"], {"a": 1}, 10) == 0.0
    assert mrr_at_k(["x", "x", "a"], {"a": 1}, 2) == 0.5  # a repeated id takes one place


def test_the_library_agrees_with_our_hand_written_measures():
    qrels = {"q1": {"a": 1, "b": 2, "c": 1}, "q2": {"d": 1}, "q3": {"e": 1}}
    rankings = {"q1": ["x", "b", "y", "a"] + [f"n{i}" for i in range(30)] + ["c"], "q2": ["d"], "q3": []}
    library = library_scores(qrels, rankings)
    ours = hand_written_scores(qrels, rankings)
    for measure, values in library.items():
        for query, value in values.items():
            assert value == pytest.approx(ours[measure][query], abs=1e-9), (measure, query)
    assert library["R@100"]["q3"] == 0.0  # a query the run has nothing for counts, as 0
    assert ndcg_at_k(rankings["q1"], qrels["q1"], 10) == pytest.approx(library["nDCG@10"]["q1"])
    assert recall_at_k(rankings["q1"], qrels["q1"], 5) == pytest.approx(2 / 3)


# ---- summaries -----------------------------------------------------------------------------------------


def test_percentiles_interpolate_between_ranks():
    assert percentile([1, 2, 3, 4], 0.5) == 2.5
    assert percentile([5.0], 0.9) == 5.0
    assert percentile([], 0.5) is None


def _answer(text, refused=False, cited=(), first=0.1, total=0.2):
    return SystemAnswer(text, refused, tuple(cited), tuple(cited), "supported", ("supported",), 0, first, total, 100, 20)


class _Scripted:
    """A system that answers from a table, or raises, for the runner's bookkeeping."""

    def __init__(self, name, answers):
        self.name = name
        self.answers = answers

    def answer(self, case):
        outcome = self.answers[case.id]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


def test_a_failing_question_is_a_recorded_row_and_the_run_goes_on():
    cases = [EvalCase("q1", "?", answers=("x",)), EvalCase("q2", "?", answers=("y",))]
    system = _Scripted("s", {"q1": RuntimeError("model crashed"), "q2": _answer("y [1]")})
    records = run_systems([system], cases)
    assert [r.error for r in records] == ["RuntimeError: model crashed", ""]
    assert records[1].scores.contains_answer is True
    figures = summarize(records)["s"]
    assert figures["errors"] == 1 and figures["questions"] == 2


def test_systems_take_turns_question_by_question():
    cases = [EvalCase("q1", "?"), EvalCase("q2", "?")]
    a = _Scripted("a", {"q1": _answer("x"), "q2": _answer("x")})
    b = _Scripted("b", {"q1": _answer("x"), "q2": _answer("x")})
    assert [(r.system, r.case.id) for r in run_systems([a, b], cases)] == [("a", "q1"), ("b", "q1"), ("a", "q2"), ("b", "q2")]


def test_summary_counts_a_refusal_of_an_answerable_question_as_a_miss():
    cases = [EvalCase("q1", "?", answers=("x",)), EvalCase("q2", "?", answers=("y",)), EvalCase("q3", "?", expect_refusal=True)]
    system = _Scripted("s", {"q1": _answer("x [1]"), "q2": _answer(REFUSAL, refused=True), "q3": _answer(REFUSAL, refused=True)})
    figures = summarize([run_case(system, c) for c in cases])["s"]
    assert figures["answer"]["contains_answer"] == 0.5
    assert figures["refusal"]["false_refusal_rate"] == 0.5
    assert figures["refusal"]["recall"] == 1.0
    assert isinstance(run_case(system, cases[0]), Record)


# ---- loaders -------------------------------------------------------------------------------------------


def _beir(tmp_path: Path, queries: list[dict], qrels: str = "query-id\tcorpus-id\tscore\nq1\td1\t1\n") -> Path:
    (tmp_path / "corpus.jsonl").write_text(json.dumps({"_id": "d1", "title": "T", "text": "Body."}) + "\n")
    (tmp_path / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries))
    (tmp_path / "qrels.tsv").write_text(qrels)
    return tmp_path


def test_a_squad_style_folder_becomes_answer_cases(tmp_path):
    folder = _beir(tmp_path, [
        {"_id": "q1", "text": "Who?", "answers": ["Ann", "Ann"], "is_impossible": False, "gold_passage_id": "d1"},
        {"_id": "q2", "text": "Unjudged?", "answers": ["Bo"], "is_impossible": False},
    ])
    eval_set = load_beir_set(folder)
    assert eval_set.has_answers and [c.id for c in eval_set.cases] == ["q1"]  # unjudged answerable ones are left out
    case = eval_set.cases[0]
    assert case.answers == ("Ann",) and case.evidence == (Evidence("d1", texts=("Ann",)),)
    assert case.gold_articles == {"d1"}


def test_a_multihop_null_query_expects_a_refusal_even_without_judgements(tmp_path):
    folder = _beir(tmp_path, [{"_id": "q1", "text": "?", "answer": "Yes", "evidence": []},
                              {"_id": "q9", "text": "?", "answer": "Insufficient information.", "evidence": []}])
    cases = {c.id: c for c in load_beir_set(folder).cases}
    assert set(cases) == {"q1", "q9"}  # q9 has no qrels line: nothing is relevant to it
    assert cases["q9"].expect_refusal and cases["q9"].answers == () and not cases["q9"].gold_articles


def test_malformed_sets_are_refused_with_the_file_and_line(tmp_path):
    with pytest.raises(InputError, match="missing corpus.jsonl"):
        load_beir_set(tmp_path)
    folder = _beir(tmp_path, [])
    (folder / "queries.jsonl").write_text('{"_id": "q1", "text": "ok"}\nnot json\n')
    with pytest.raises(InputError, match=r"queries.jsonl:2: not valid JSON"):
        load_beir_set(folder)
    gold = tmp_path / "gold.jsonl"
    gold.write_text('{"question": "no id"}\n')
    with pytest.raises(InputError, match="lacks a field"):
        load_gold_set(gold, tmp_path)


def test_the_gold_set_keeps_follow_ups_with_their_history():
    root = Path(__file__).resolve().parents[1]
    gold = load_gold_set(root / "tests" / "data" / "gold.jsonl", root / "corpus")
    followups = [c for c in gold.cases if c.history]
    refusals = [c for c in gold.cases if c.expect_refusal]
    assert followups and all(t.question and t.answer for c in followups for t in c.history)
    assert refusals and all(not c.answers for c in refusals)


def test_a_sample_is_reproducible_and_keeps_the_sets_order():
    cases = [EvalCase(str(i), "?") for i in range(50)]
    first, again = sample(cases, 10, seed=3), sample(cases, 10, seed=3)
    assert first == again and len(first) == 10
    assert [int(c.id) for c in first] == sorted(int(c.id) for c in first)
    assert sample(cases, 10, seed=4) != first
    assert sample(cases, None, 0) == cases


# ---- the per-set index and the baseline's sections -------------------------------------------------------


def test_document_ids_become_distinct_safe_file_names():
    from hubchat.eval.set_index import collection_name, file_name

    assert file_name("sq2ctx-3035bdcbad71") == "sq2ctx-3035bdcbad71.md"
    odd = [file_name(i) for i in ("a/b", "a_b", "a b", "../x", "")]
    assert len(set(odd)) == len(odd) and all("/" not in n and not n.startswith(".") for n in odd)
    assert collection_name("squad2-dev-500", "-baseline") == "eval-squad2-dev-500-baseline"
    assert 3 <= len(collection_name("")) <= 512


def test_a_baseline_chunk_knows_the_headings_it_lies_under_and_contains():
    from hubchat.eval.baseline import sections_over

    text = "# Guide\n\nIntro.\n\n## Memory\n\nHBM facts.\n\n### Bandwidth\n\nMore.\n\n## Software\n\nCUDA."
    at = text.index("HBM")
    assert sections_over(text, at, at + 5) == "Guide > Memory"
    assert sections_over(text, at, text.index("CUDA")) == "Guide > Memory > Bandwidth > Software"
    assert sections_over(text, text.index("CUDA"), len(text)) == "Guide > Software"
    assert sections_over("no headings at all", 0, 5) == ""


def test_a_beir_corpus_is_written_as_markdown_the_corpus_reader_reads_back(tmp_path):
    from hubchat.eval.set_index import write_corpus_folder
    from hubchat.ingest.corpus import read_corpus

    source = tmp_path / "set"
    source.mkdir()
    docs = [{"_id": "d1", "title": "Title: with a colon", "text": "First *body*.", "published_at": "2023-09-26T17:01:22+00:00"},
            {"_id": "d/2", "title": "", "text": "Second body."}, {"_id": "d3", "title": "Empty", "text": "  "}]
    (source / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    (source / "queries.jsonl").write_text('{"_id": "q", "text": "?"}\n')
    (source / "qrels.tsv").write_text("query-id\tcorpus-id\tscore\nq\td1\t1\n")
    eval_set = load_beir_set(source)
    folder = tmp_path / "corpus"
    assert write_corpus_folder(eval_set, folder) == (2, 0)  # the empty document is left out
    articles = {a.id: a for a in read_corpus(folder)[0]}
    assert set(articles) == {"d1", "d/2"}
    assert articles["d1"].title == "Title: with a colon" and articles["d1"].date == "2023-09-26"
    assert articles["d1"].text == "First *body*." and articles["d/2"].title == "d/2"
    assert write_corpus_folder(eval_set, folder) == (0, 0)  # nothing changed, nothing rewritten
    (source / "corpus.jsonl").write_text(json.dumps(docs[0]) + "\n")
    assert write_corpus_folder(eval_set, folder) == (0, 1)  # a document gone from the set leaves the folder


def test_figures_by_question_type_show_where_a_system_loses():
    from hubchat.eval.summary import by_kind

    cases = [EvalCase("q1", "?", answers=("x",), kind="single"), EvalCase("q2", "?", answers=("y",), kind="followup"),
             EvalCase("q3", "?", expect_refusal=True, kind="refusal")]
    system = _Scripted("s", {"q1": _answer("x [1]"), "q2": _answer(REFUSAL, refused=True), "q3": _answer(REFUSAL, refused=True)})
    kinds = by_kind([run_case(system, c) for c in cases])
    assert kinds["single"]["s"] == {"questions": 1, "contains_answer": 1.0, "refused": 0.0}
    assert kinds["followup"]["s"]["contains_answer"] == 0.0 and kinds["followup"]["s"]["refused"] == 1.0
    assert kinds["refusal"]["s"]["contains_answer"] is None
