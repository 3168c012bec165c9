"""The prompt budget without a model: how many of the gold questions' key facts reach the model's prompt.

For every answerable gold question, the product's retriever finds the passages (a follow-up searched as
`condense_heuristic` rewrites it) and `select_excerpts` cuts them to each budget; the figure is the share of the
question's key facts (normalised as SQuAD does) that occur in what the model would read, against the whole
passages. A fact the prompt lacks is a fact no model can state, so this bounds "key facts found" from above, in
a minute instead of an hour of `hubchat eval` with the local model: use it to choose a budget or a selection
rule, then confirm the choice with `hubchat eval`.

Usage (from the repository root):

    .venv/bin/python benchmarks/bench_excerpts.py [--budgets 160,240,320,400] [--write-results]

The corpus is ingested into a temporary index (nothing is written to the project's own index or records);
--write-results replaces the "Prompt budget: key facts in the prompt" section of RESULTS.md.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.bench_gold_retrieval import load_gold  # noqa: E402  (run as a script from the repository root)
from benchmarks.corpus_runtime import corpus_runtime, short_commit  # noqa: E402
from benchmarks.machine import machine_info  # noqa: E402
from benchmarks.results import write_section  # noqa: E402
from hubchat.answer.excerpts import select_excerpts  # noqa: E402
from hubchat.eval.answer_metrics import normalize_answer  # noqa: E402
from hubchat.index.tokens import count_tokens_batch  # noqa: E402
from hubchat.retrieval.condense import condense_heuristic  # noqa: E402
from hubchat.runtime import Runtime  # noqa: E402
from hubchat.types import Turn  # noqa: E402

SECTION = "Prompt budget: key facts in the prompt"


def fact_share(facts: list[str], texts: list[str]) -> float:
    """The share of `facts` that occur, normalised, in the joined `texts`."""
    body = normalize_answer(" ".join(texts))
    return sum(normalize_answer(f) in body for f in facts) / len(facts)


def measure(runtime: Runtime, budgets: list[int]) -> dict[str, dict[str, list[float]]]:
    """Per question type ("followup" split into first and second questions): per budget ("full" for the whole
    passages), the key-fact share of every question, and under "tokens:<budget>" the prompt's passage tokens."""
    out: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for question in load_gold():
        if question["type"] == "refusal" or not question.get("key_facts"):
            continue
        history = [Turn(t["question"], t["answer"]) for t in question.get("history") or ()]
        query = condense_heuristic(question["question"], history) if history else question["question"]
        passages = runtime.retriever.retrieve(query).passages
        kind = question["type"] + (" (second)" if history else "")
        facts = question["key_facts"]
        out[kind]["full"].append(fact_share(facts, [p.chunk.text for p in passages]))
        out[kind]["tokens:full"].append(sum(count_tokens_batch([p.chunk.text for p in passages])))
        for budget in budgets:
            excerpts = select_excerpts(query, passages, budget, runtime.embed_cache)
            out[kind][str(budget)].append(fact_share(facts, [e.text for e in excerpts]))
            out[kind][f"tokens:{budget}"].append(sum(count_tokens_batch([e.text for e in excerpts])))
    return out


def table(figures: dict[str, dict[str, list[float]]], budgets: list[int]) -> str:
    columns = [str(b) for b in budgets] + ["full"]
    every: dict[str, list[float]] = defaultdict(list)
    lines = [
        "| questions | n | " + " | ".join(f"budget {c}" if c != "full" else "whole passages" for c in columns) + " |",
        "|---|---|" + "---|" * len(columns),
    ]
    for kind in sorted(figures):
        row = figures[kind]
        for key, values in row.items():
            every[key] += values
        lines.append(f"| {kind} | {len(row['full'])} | " + " | ".join(f"{statistics.mean(row[c]):.2f}" for c in columns) + " |")
    lines.append(f"| all | {len(every['full'])} | " + " | ".join(f"**{statistics.mean(every[c]):.3f}**" for c in columns) + " |")
    lines.append("| median passage tokens | | " + " | ".join(f"{statistics.median(every['tokens:' + c]):.0f}" for c in columns) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budgets", default="160,240,320,400", help="comma-separated prompt budgets, in tokens")
    parser.add_argument("--write-results", action="store_true", help="replace this benchmark's RESULTS.md section")
    args = parser.parse_args()
    budgets = [int(b) for b in args.budgets.split(",")]
    with corpus_runtime() as runtime:
        figures = measure(runtime, budgets)
    commit = short_commit()
    body = "\n".join([
        f"- command: `python benchmarks/bench_excerpts.py --budgets {args.budgets}`",
        f"- commit: {commit}",
        f"- machine: {machine_info()}",
        "- measure: share of each answerable gold question's key facts present in the passage text the model reads "
        "(retrieval as the product does it; follow-ups condensed by the heuristic)",
        "",
        table(figures, budgets),
    ])
    print(body)
    if args.write_results:
        write_section(SECTION, body)


if __name__ == "__main__":
    main()
