"""Gold-set retrieval: recall@5 of the gold questions' supporting articles, with the product's HybridRetriever over
the real corpus.

For every answerable gold question (single, multi, both questions of a follow-up pair), recall@5 is the share of
its supporting articles found among the articles of the top-5 passages. The second question of a follow-up pair
is searched the way the product searches it without a chat model: rewritten by
`hubchat.retrieval.condense.condense_heuristic` from its history. The same questions are also searched raw, without their
history, to show what condensing is worth. For refusal questions the figure is how often retrieval itself says
"nothing relevant" (`RetrievalResult.relevant` is False); for the answerable ones, how often it says relevant.

`evaluate_gold` is the reusable part (tests/test_gold_set.py runs it on the session's corpus index).

Usage (from the repository root):

    .venv/bin/python benchmarks/bench_gold_retrieval.py [--config hubchat.toml] [--write-results]

The corpus is ingested into a temporary index with the config's chunking and embedding settings (nothing is
written to the project's own index); --write-results replaces the "Gold set retrieval" section of RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.machine import (
    machine_info,  # noqa: E402  (run as a script from the repository root)
)
from benchmarks.results import write_section  # noqa: E402
from hubchat.retrieval.condense import condense_heuristic
from hubchat.retrieval.hybrid import HybridRetriever
from hubchat.types import Turn

REPO_ROOT = Path(__file__).resolve().parent.parent
GOLD_FILE = REPO_ROOT / "tests" / "data" / "gold.jsonl"
RESULTS_FILE = Path(__file__).resolve().parent / "RESULTS.md"
SECTION = "Gold set retrieval"
K = 5
# Kept when the section is regenerated (the same convention as the other benchmarks' sections).


# ---- the gold set --------------------------------------------------------------------------------------------


def load_gold(path: Path = GOLD_FILE) -> list[dict]:
    """The gold questions, in file order (one JSON object a line; blank lines ignored)."""
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def role(question: dict) -> str:
    """single, multi, refusal, followup-first or followup-second (a follow-up with history)."""
    if question["type"] == "followup":
        return "followup-second" if question["history"] else "followup-first"
    return question["type"]


def search_query(question: dict) -> str:
    """What the product searches for this question: follow-ups condensed from their history, others as asked."""
    history = [Turn(h["question"], h["answer"]) for h in question["history"]]
    return condense_heuristic(question["question"], history)


def supporting_articles(question: dict) -> tuple[str, ...]:
    return tuple(dict.fromkeys(s["article"] for s in question["support"]))


# ---- measuring -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class QuestionResult:
    """One gold question searched once.

    Attributes:
        query: the text searched (the condensed question for a follow-up second, unless searched raw).
        support: the supporting article ids ((): a refusal).
        retrieved: the article ids of the top-k passages, best first, without repeats.
        relevant: the retriever's own verdict that the corpus covers the question.
        best_dense_score, lexical_coverage: the two signals behind that verdict.
    """

    id: str
    role: str
    query: str
    support: tuple[str, ...]
    retrieved: tuple[str, ...]
    relevant: bool
    best_dense_score: float | None = None
    lexical_coverage: float | None = None

    @property
    def recall(self) -> float:
        if not self.support:
            return 0.0
        return len(set(self.support) & set(self.retrieved)) / len(self.support)


def _mean(values: Iterable[float]) -> float:
    values = list(values)
    return sum(values) / len(values) if values else float("nan")


@dataclass(frozen=True)
class GoldReport:
    """Every gold question's retrieval, plus the follow-up seconds searched raw.

    Attributes:
        results: one per gold question, follow-up seconds searched with their condensed query.
        raw_followups: the follow-up seconds searched as asked, without their history.
        k: passages taken per question.
        seconds: wall time of all the searches.
    """

    results: tuple[QuestionResult, ...]
    raw_followups: tuple[QuestionResult, ...]
    k: int
    seconds: float

    @property
    def answerable(self) -> tuple[QuestionResult, ...]:
        return tuple(r for r in self.results if r.role != "refusal")

    @property
    def refusals(self) -> tuple[QuestionResult, ...]:
        return tuple(r for r in self.results if r.role == "refusal")

    @property
    def recall(self) -> float:
        """Mean recall@k over the answerable questions (follow-up seconds condensed)."""
        return _mean(r.recall for r in self.answerable)

    def recall_of(self, which: str) -> float:
        return _mean(r.recall for r in self.results if r.role == which)

    @property
    def raw_followup_recall(self) -> float:
        return _mean(r.recall for r in self.raw_followups)

    @property
    def refusal_accuracy(self) -> float:
        """Share of refusal questions that retrieval marks not relevant (the correct refusal)."""
        return _mean(float(not r.relevant) for r in self.refusals)

    @property
    def answerable_relevant_rate(self) -> float:
        """Share of answerable questions that retrieval marks relevant."""
        return _mean(float(r.relevant) for r in self.answerable)

    @property
    def rewritten(self) -> int:
        """How many follow-up seconds the heuristic condenser changed."""
        raw = {r.id: r.query for r in self.raw_followups}
        return sum(1 for r in self.results if r.role == "followup-second" and r.query != raw[r.id])

    def misses(self) -> list[QuestionResult]:
        """Answerable questions with a supporting article outside the top k."""
        return [r for r in self.answerable if r.recall < 1.0]


def _search(retriever: HybridRetriever, question: dict, query: str, k: int) -> QuestionResult:
    result = retriever.retrieve(query, top_k=k)
    retrieved = tuple(dict.fromkeys(p.chunk.article_id for p in result.passages))
    return QuestionResult(
        question["id"], role(question), query, supporting_articles(question), retrieved, result.relevant,
        getattr(result, "best_dense_score", None), getattr(result, "lexical_coverage", None),
    )


def evaluate_gold(retriever: HybridRetriever, questions: Sequence[dict], k: int = K) -> GoldReport:
    """Search every gold question with the retriever and score the top k.

    Args:
        retriever: a HybridRetriever over an index of the corpus the gold set was written for.
        questions: gold questions as `load_gold` returns them.
        k: passages per question (recall@k).

    Returns:
        The report: per-question results and the aggregate figures as properties.
    """
    started = time.perf_counter()
    results = tuple(_search(retriever, q, search_query(q), k) for q in questions)
    raw = tuple(_search(retriever, q, " ".join(q["question"].split()), k) for q in questions if role(q) == "followup-second")
    return GoldReport(results, raw, k, time.perf_counter() - started)


# ---- reporting -----------------------------------------------------------------------------------------------


def _signals(result: QuestionResult) -> str:
    dense = "-" if result.best_dense_score is None else f"{result.best_dense_score:.2f}"
    lexical = "-" if result.lexical_coverage is None else f"{result.lexical_coverage:.2f}"
    return f"{dense} / {lexical}"


def format_report(report: GoldReport, settings, ingest: str = "", command: str = "") -> str:
    """The Markdown body of the RESULTS.md section.

    Args:
        report: what `evaluate_gold` measured.
        settings: the Settings the index and retriever were built with (their figures are quoted).
        ingest: a short note on the ingest run (time, load), or "".
        command: the command line that produced the figures.
    """
    k = report.k
    count = lambda which: sum(1 for r in report.results if r.role == which)  # noqa: E731
    r = settings.retrieval
    lines = [
        f"{len(report.results)} gold questions (tests/data/gold.jsonl) over the real corpus "
        f"({len({a for q in report.answerable for a in q.support})} articles cited), indexed with the config's "
        f"chunking ({settings.chunking.target_tokens}/{settings.chunking.max_tokens}/{settings.chunking.overlap_tokens} "
        f"tokens) and {settings.embeddings.backend} embeddings; `HybridRetriever.retrieve(query, top_k={k})` with "
        f"{r.fusion} fusion, dense_k {r.dense_k}, lexical_k {r.lexical_k}, per_article_cap {r.per_article_cap}, "
        f"min_dense_score {r.min_dense_score}, min_lexical_coverage {r.min_lexical_coverage}.",
        f"recall@{k}: share of a question's supporting articles among the articles of the top-{k} passages, averaged.",
        "",
        f"| questions | n | recall@{k} |",
        "|---|---|---|",
        f"| all answerable (follow-ups condensed) | {len(report.answerable)} | {report.recall:.3f} |",
        f"| single | {count('single')} | {report.recall_of('single'):.3f} |",
        f"| multi (2+ articles) | {count('multi')} | {report.recall_of('multi'):.3f} |",
        f"| follow-up, first question | {count('followup-first')} | {report.recall_of('followup-first'):.3f} |",
        f"| follow-up, second, condensed by `condense_heuristic` | {count('followup-second')} | "
        f"{report.recall_of('followup-second'):.3f} |",
        f"| follow-up, second, raw (no history) | {len(report.raw_followups)} | {report.raw_followup_recall:.3f} |",
        "",
        f"The heuristic rewrote {report.rewritten} of {len(report.raw_followups)} follow-up seconds (the others do "
        "not read as follow-ups to it and are searched as asked).",
        "",
        "| relevance verdict (`RetrievalResult.relevant`) | n | rate |",
        "|---|---|---|",
        f"| refusal questions marked not relevant (correct refusal) | {len(report.refusals)} | {report.refusal_accuracy:.3f} |",
        f"| answerable questions marked relevant | {len(report.answerable)} | {report.answerable_relevant_rate:.3f} |",
        "",
    ]
    misses = report.misses()
    if misses:
        lines.append(f"Questions with a supporting article outside the top {k}: "
                     + ", ".join(f"{m.id} ({m.recall:.2f})" for m in misses) + ".")
    wrong_refusals = [x for x in report.refusals if x.relevant]
    if wrong_refusals:
        lines.append("Refusal questions marked relevant (best cosine / lexical coverage): "
                     + ", ".join(f"{x.id} ({_signals(x)})" for x in wrong_refusals) + ".")
    unmarked = [x.id for x in report.answerable if not x.relevant]
    if unmarked:
        lines.append("Answerable questions marked not relevant: " + ", ".join(unmarked) + ".")
    timing = f"All {len(report.results) + len(report.raw_followups)} searches took {report.seconds:.1f} s"
    if ingest:
        timing += f"; {ingest}"
    lines += [
        "",
        f"Command: `{command or '.venv/bin/python benchmarks/bench_gold_retrieval.py --write-results'}` "
        "(from the repository root).",
        f"Machine: {machine_info()}. {timing}. Measured {dt.date.today().isoformat()}.",
    ]
    return "\n".join(lines)


# ---- command line --------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, default=REPO_ROOT / "hubchat.toml", help="settings to measure")
    parser.add_argument("--gold", type=Path, default=GOLD_FILE, help="the gold questions (JSONL)")
    parser.add_argument("--write-results", action="store_true", help=f"write the {SECTION!r} section of {RESULTS_FILE.name}")
    args = parser.parse_args(argv)

    from hubchat.config import load_settings
    from hubchat.runtime import Runtime

    questions = load_gold(args.gold)
    with tempfile.TemporaryDirectory(prefix="hubchat-gold-") as workdir:
        settings = load_settings(
            args.config,
            corpus={"path": str(REPO_ROOT / "corpus")},
            index={"dir": workdir, "collection": "hubchat-gold-bench"},
            store={"mode": "embedded"},
        )
        runtime = Runtime(settings)
        load = os.getloadavg()[0]
        cpu = time.process_time()
        summary = runtime.ingest()
        cpu = time.process_time() - cpu
        print(f"ingested {len(summary.added)} articles, {summary.chunks_total} chunks in {summary.seconds:.1f} s", file=sys.stderr)
        report = evaluate_gold(runtime.retriever, questions)
        del runtime  # Chroma keeps files open; release them before the folder goes

    command = ".venv/bin/python benchmarks/bench_gold_retrieval.py" + (" --write-results" if args.write_results else "")
    # Wall time alone misleads on a shared machine; CPU time and the load show how busy it was.
    ingest = (f"ingesting the corpus ({len(summary.added)} articles, {summary.chunks_total} chunks) took "
              f"{summary.seconds:.1f} s wall, {cpu:.1f} s CPU, at a load average of {load:.1f}")
    body = format_report(report, settings, ingest, command)
    print(body)
    if args.write_results:
        write_section(SECTION, body, RESULTS_FILE)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
