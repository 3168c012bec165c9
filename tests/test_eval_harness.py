"""`hubchat eval` end to end on real parts: a small SQuAD 2.0 set cut from the real one, ingested by the product's
pipeline into embedded Chroma, answered by hubchat's chain, its retrieval variants and the LangChain baseline;
the results folder; the cached index; the command line; and the chat-model path through a real llama.cpp server.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hubchat.cli import app
from hubchat.config import Settings
from hubchat.eval.harness import SYSTEMS, EvalOptions, run_eval
from hubchat.eval.report import write_results
from hubchat.eval.set_index import set_dir
from tests.eval_data import eval_set_dir

PNG = b"\x89PNG\r\n\x1a\n"


def cut_squad(target: Path, answerable: int = 6, unanswerable: int = 4, distractors: int = 14, seed: int = 1) -> Path:
    """A BEIR folder holding a few real SQuAD 2.0 questions, their paragraphs and some other paragraphs."""
    source = eval_set_dir("squad2-dev-500")
    queries = [json.loads(line) for line in (source / "queries.jsonl").open(encoding="utf-8")]
    rng = random.Random(seed)
    chosen = rng.sample([q for q in queries if not q["is_impossible"]], answerable)
    chosen += rng.sample([q for q in queries if q["is_impossible"]], unanswerable)
    docs = {json.loads(line)["_id"]: line for line in (source / "corpus.jsonl").open(encoding="utf-8")}
    keep = {q["gold_passage_id"] for q in chosen}
    keep |= set(rng.sample(sorted(set(docs) - keep), distractors))
    target.mkdir(parents=True, exist_ok=True)
    (target / "corpus.jsonl").write_text("".join(docs[d] for d in sorted(keep)), encoding="utf-8")
    (target / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in chosen), encoding="utf-8")
    qrels = ["query-id\tcorpus-id\tscore"] + [f"{q['_id']}\t{q['gold_passage_id']}\t1" for q in chosen]
    (target / "qrels.tsv").write_text("\n".join(qrels) + "\n", encoding="utf-8")
    return target


def eval_settings(root: Path, **chat) -> Settings:
    return Settings(
        chat={"backend": "extractive", **chat},
        eval={"cache_dir": root / "cache", "results_dir": root / "results"},
        corpus={"path": root / "unused-corpus"},
        index={"dir": root / "unused-index"},
        ui={"db_path": root / "app-records.sqlite"},  # the app's records: an evaluation keeps its own
    )


@pytest.fixture(scope="module")
def squad_small(tmp_path_factory) -> Path:
    return cut_squad(tmp_path_factory.mktemp("squad-small"))


@pytest.fixture(scope="module")
def first_run(squad_small, tmp_path_factory):
    root = tmp_path_factory.mktemp("eval-run")
    settings = eval_settings(root)
    stages: set[str] = set()
    report = run_eval(settings, EvalOptions(source=squad_small, systems=SYSTEMS), lambda stage, done, total: stages.add(stage))
    return settings, report, stages


def test_every_system_answers_every_question(first_run):
    _, report, _ = first_run
    assert report.cases == 10
    assert len(report.records) == len(SYSTEMS) * 10
    assert {r.system for r in report.records} == set(SYSTEMS)
    assert all(r.error == "" for r in report.records), [r.error for r in report.records if r.error]
    assert list(report.summary) == list(SYSTEMS)


def test_the_full_passage_variant_shows_the_model_every_top_passage_and_the_budget_fewer(first_run):
    settings, report, _ = first_run
    shown = {(r.system, r.case.id): len(r.answer.shown) for r in report.records if r.answer and r.answer.shown}
    full = [n for (system, _), n in shown.items() if system == "hubchat-full"]
    assert full and all(n == settings.retrieval.top_k for n in full)
    budgeted = [n for (system, _), n in shown.items() if system == "hubchat"]
    assert sum(budgeted) < sum(full), "passages that carry no evidence for the question are left out under the budget"


def test_the_sets_own_index_is_built_by_the_products_ingest(first_run, squad_small):
    settings, report, stages = first_run
    documents = sum(1 for _ in (squad_small / "corpus.jsonl").open())
    assert report.ingest["added"] == documents and report.ingest["chunks"] >= documents
    assert {"embed", "retrieval", "answers", "baseline index"} <= stages
    # the index lives under the evaluation cache, never in the app's index folder
    assert (set_dir(settings, report.set_name) / "index" / "chroma").is_dir()
    assert not Path(settings.index.dir).exists()
    # and so do the records the retriever's demotions read: a checkout's own verdicts never move the figures
    assert (set_dir(settings, report.set_name) / "records.sqlite").is_file()
    assert not Path(settings.ui.db_path).exists()


def test_retrieval_is_measured_for_three_retrievers_and_matches_our_measures(first_run):
    _, report, _ = first_run
    figures = report.retrieval
    assert set(figures.means) == {"bm25", "dense", "hybrid"}
    assert figures.queries == 10
    assert figures.largest_difference < 1e-9
    # each question's own paragraph is among 24: hybrid retrieval finds most of them in its top 5
    assert figures.means["hybrid"]["recall@5"] >= 0.8


def test_the_summary_reports_answers_refusals_citations_and_speed(first_run):
    _, report, _ = first_run
    hubchat = report.summary["hubchat"]
    assert hubchat["answer"]["answerable"] == 6
    assert hubchat["refusal"]["unanswerable"] == 4
    assert hubchat["speed"]["first_token_median_s"] > 0
    assert hubchat["citations"]["article_precision"] is not None
    # on the extractive backend every sentence is a passage's own, so the checker rates them all supported
    assert hubchat["checker"]["verdict_rates"].get("supported", 0) > 0.9


def test_records_charts_and_summary_are_written_with_command_commit_and_machine(first_run, tmp_path):
    _, report, _ = first_run
    files = write_results(report, tmp_path / "out", "hubchat eval squad-small")
    rows = [json.loads(line) for line in files["records"].read_text(encoding="utf-8").splitlines()]
    assert len(rows) == len(report.records)
    answered = [r for r in rows if not r["refused"]]
    assert answered and all({"answer", "cited", "first_token_s", "scores"} <= set(r) for r in answered)
    summary = files["summary"].read_text(encoding="utf-8")
    assert "hubchat eval squad-small" in summary and "cores" in summary and "commit:" in summary
    assert "| refusal F1 |" in summary and "| hybrid |" in summary
    for chart in ("retrieval", "answers", "speed"):
        assert files[chart].read_bytes().startswith(PNG) and files[chart].stat().st_size > 5000
    meta = json.loads(files["json"].read_text(encoding="utf-8"))["meta"]
    assert meta["chat_backend"] == "extractive" and meta["questions"] == 10


def test_a_second_run_reuses_the_index_and_a_changed_document_is_re_embedded(first_run, squad_small):
    settings, _, _ = first_run
    again = run_eval(settings, EvalOptions(source=squad_small, systems=("langchain-baseline",), retrieval=False))
    assert again.ingest["added"] == 0 and again.ingest["updated"] == 0 and again.ingest["unchanged"] > 0
    lines = (squad_small / "corpus.jsonl").read_text(encoding="utf-8").splitlines()
    doc = json.loads(lines[0])
    doc["text"] += " An added closing sentence."
    lines[0] = json.dumps(doc)
    (squad_small / "corpus.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    changed = run_eval(settings, EvalOptions(source=squad_small, systems=(), retrieval=False))
    assert changed.ingest["updated"] == 1 and changed.ingest["added"] == 0


def test_the_command_line_runs_an_evaluation_and_prints_its_summary(squad_small, tmp_path, monkeypatch):
    config = tmp_path / "hubchat.toml"
    config.write_text(f'[eval]\ncache_dir = "{tmp_path / "cache"}"\nresults_dir = "{tmp_path / "unused"}"\n[chat]\nbackend = "local"\n', encoding="utf-8")
    out = tmp_path / "results"
    result = CliRunner().invoke(app, ["eval", str(squad_small), "--backend", "extractive", "--systems", "hubchat",
                                      "--limit", "4", "--out", str(out), "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert "## Answers" in result.output and "| measure | hubchat |" in result.output
    rows = [json.loads(line) for line in (out / "records.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 4
    # Each answer keeps its chain's stage times, so a slow first token can be taken apart from the records.
    assert all({"retrieve", "total"} <= set(r["stages"]) for r in rows if not r["error"])
    assert "--limit 4" in (out / "summary.md").read_text(encoding="utf-8")


def test_the_command_line_refuses_what_is_not_an_evaluation_set_and_leaves_nothing(tmp_path, squad_small):
    config = tmp_path / "hubchat.toml"
    config.write_text(f'[eval]\ncache_dir = "{tmp_path / "cache"}"\nresults_dir = "{tmp_path / "results"}"\n', encoding="utf-8")
    empty = tmp_path / "empty"
    empty.mkdir()
    result = CliRunner().invoke(app, ["eval", str(empty), "--config", str(config)])
    assert result.exit_code == 2
    assert "neither a BEIR-style folder" in result.output
    result = CliRunner().invoke(app, ["eval", str(squad_small), "--systems", "hubchat,gpt5", "--config", str(config)])
    assert result.exit_code == 2
    assert "unknown system(s) gpt5" in result.output
    assert not (tmp_path / "results").exists() and not (tmp_path / "cache").exists()


@pytest.mark.server
def test_chat_model_answers_and_the_baseline_go_through_a_real_llama_server(squad_small, tmp_path, local_chat_settings):
    settings = eval_settings(tmp_path, **local_chat_settings.model_dump())
    report = run_eval(settings, EvalOptions(source=squad_small, systems=("hubchat", "langchain-baseline"), limit=3, retrieval=False))
    assert len(report.records) == 6 and all(r.error == "" for r in report.records), [r.error for r in report.records]
    baseline = [r for r in report.records if r.system == "langchain-baseline"]
    # the recipe always calls the model, and llama.cpp reports the tokens it read and wrote
    assert all(r.answer.prompt_tokens and r.answer.completion_tokens for r in baseline)
    assert all(r.answer.first_token_s is not None and r.answer.first_token_s <= r.answer.total_s for r in baseline)


def test_a_stopped_runs_records_alone_give_the_same_answer_figures(first_run, tmp_path):
    from hubchat.eval.report import answer_tables, summary_from_records

    _, report, _ = first_run
    folder = tmp_path / "stopped"
    write_results(report, folder, "hubchat eval squad-small")
    text = summary_from_records(folder)
    assert "\n".join(answer_tables(report.summary)) in text
    assert (folder / "summary-partial.md").read_text(encoding="utf-8") == text
    lines = (folder / "records.jsonl").read_text(encoding="utf-8").splitlines()
    (folder / "records.jsonl").write_text("\n".join(lines[:8]) + "\n", encoding="utf-8")  # cut short, as by a kill
    assert "records: 8 (" in summary_from_records(folder)


# Paraphrases of one question about the UI test corpus (cosine above 0.75 with MiniLM).
FEEDING = (
    "How often should I feed my sourdough starter?",
    "How often does a sourdough starter need feeding?",
    "How frequently should a sourdough starter be fed?",
)


def test_the_evaluated_chain_demotes_by_the_sets_own_records_as_the_app_does(tmp_path):
    """`hubchat eval`'s hubchat systems are the app's chain, demoter included: "wrong citation" verdicts in the
    records they read (the set's own, see settings_for_set) demote the passage for a similar question."""
    from hubchat.answer.chain import source_of
    from hubchat.eval.harness import build_systems
    from hubchat.eval.set_index import with_section
    from hubchat.runtime import Runtime
    from hubchat.types import AnswerResult, CitationReport, SentenceCheck
    from tests.conftest_ui import ui_test_settings

    runtime = Runtime(with_section(ui_test_settings(tmp_path), "retrieval", demotion_refresh_s=0))
    runtime.ingest()
    systems = build_systems(runtime, ["hubchat", "hubchat-bm25", "hubchat-dense"], None, lambda done, total: None)
    tops = {s.name: s.answerer.retriever.retrieve(FEEDING[2]).passages[0].chunk.id for s in systems}
    top = runtime.retriever.retrieve(FEEDING[0]).passages[0]
    for question in FEEDING[:2]:
        source = source_of(1, top, "")
        sentence = SentenceCheck(0, "Feed it daily [1].", 0, 18, (1,), (), "supported", 0.9)
        answer_id = runtime.records.record_answer(AnswerResult(
            question=question, standalone_question=question, text=sentence.text, raw_text=sentence.text, refused=False,
            verdict="supported", report=CitationReport(sentence.text, (sentence,), (), (1,), "supported"),
            passages=(source,), sources=(source,), notes=(), timings={}, prompt_tokens=None, completion_tokens=None,
            backend="extractive",
        ))
        runtime.records.set_verdict(answer_id, 0, "wrong_citation", editor="ed")

    assert tops["hubchat"] == top.chunk.id  # the passage the third question found first, before the verdicts
    for system in systems:
        assert system.answerer.retriever.demoter is runtime.demoter, system.name
        passages = system.answerer.retriever.retrieve(FEEDING[2]).passages
        # Every variant demotes it (a demoted passage may also fall out of the list, after its article's cap).
        assert all(p.demoted for p in passages if p.chunk.id == top.chunk.id), system.name
        assert passages[0].chunk.id != top.chunk.id, system.name
