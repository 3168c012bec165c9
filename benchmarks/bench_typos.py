"""Misspelt questions: how often retrieval still finds the article, with and without spelling correction.

Every single-turn gold question is asked once as written and once with a typo: the two middle letters of its
longest lower-case word of 6+ letters swapped ("retrieval" -> "retireval"), the commonest slip
of a fast typist; questions with no such word are left out. Each version is searched by the product's retriever
with `retrieval.correct_spelling` off and on, in the same run over the same index. For answerable questions the
figures are the share that clears the relevance floor and the share whose top passage comes from a gold article;
for refusal questions, the share that (wrongly) clears the floor, so a correction that turns an absent thing into
a present one shows up here.

Usage (from the repository root):

    .venv/bin/python benchmarks/bench_typos.py [--write-results]

The corpus is ingested into a temporary index (nothing is written to the project's own index or records);
--write-results replaces the "Misspelt questions" section of RESULTS.md.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.bench_gold_retrieval import load_gold, supporting_articles  # noqa: E402  (run as a script)
from benchmarks.corpus_runtime import corpus_runtime, short_commit  # noqa: E402
from benchmarks.machine import machine_info  # noqa: E402
from benchmarks.results import write_section  # noqa: E402
from hubchat.retrieval.hybrid import HybridRetriever  # noqa: E402
from hubchat.runtime import Runtime  # noqa: E402

SECTION = "Misspelt questions"
_WORD = re.compile(r"(?<!\w)[a-z]{6,}(?!\w)")


def with_typo(question: str) -> str | None:
    """The question with the middle two letters of its longest lower-case word of 6+ letters swapped; None if it
    has no such word (or the swap changes nothing, as in "committee")."""
    words = sorted(_WORD.finditer(question), key=lambda m: (-len(m.group(0)), m.start()))
    if not words:
        return None
    m = words[0]
    w = m.group(0)
    i = len(w) // 2 - 1
    typo = w[:i] + w[i + 1] + w[i] + w[i + 2 :]
    return None if typo == w else question[: m.start()] + typo + question[m.end() :]


def measure(runtime: Runtime) -> dict[str, dict[str, list[bool]]]:
    """Per (kind, version, correction) the per-question outcomes: kind "answerable" or "refusal", version "as
    written" or "misspelt", correction "off" or "on"; outcomes "floor" (cleared it) and "top" (gold article first)."""
    retrievers = {
        flag: HybridRetriever(
            runtime.store, runtime.embeddings, runtime.settings.retrieval.model_copy(update={"correct_spelling": flag == "on"})
        )
        for flag in ("off", "on")
    }
    out: dict[str, dict[str, list[bool]]] = {}
    for q in load_gold():
        if q.get("history"):
            continue
        typo = with_typo(q["question"])
        if typo is None:
            continue
        kind = "refusal" if q["type"] == "refusal" else "answerable"
        gold = set(supporting_articles(q)) if kind == "answerable" else set()
        for version, text in (("as written", q["question"]), ("misspelt", typo)):
            for flag, retriever in retrievers.items():
                r = retriever.retrieve(text)
                row = out.setdefault(f"{kind}|{version}|{flag}", {"floor": [], "top": []})
                row["floor"].append(r.relevant)
                row["top"].append(bool(r.relevant and r.passages and r.passages[0].chunk.article_id in gold))
    return out


def _share(values: list[bool]) -> str:
    return f"{sum(values)}/{len(values)}"


def table(figures: dict[str, dict[str, list[bool]]]) -> str:
    lines = [
        "| questions | version | n | correction off: clears floor | top passage gold | correction on: clears floor | top passage gold |",
        "|---|---|---|---|---|---|---|",
    ]
    for kind in ("answerable", "refusal"):
        for version in ("as written", "misspelt"):
            off, on = figures.get(f"{kind}|{version}|off"), figures.get(f"{kind}|{version}|on")
            if off is None or on is None:
                continue
            n = len(off["floor"])
            top = (_share(off["top"]), _share(on["top"])) if kind == "answerable" else ("–", "–")
            lines.append(f"| {kind} | {version} | {n} | {_share(off['floor'])} | {top[0]} | {_share(on['floor'])} | {top[1]} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write-results", action="store_true", help="replace this benchmark's RESULTS.md section")
    args = parser.parse_args()
    with corpus_runtime() as runtime:
        figures = measure(runtime)
    commit = short_commit()
    body = "\n".join([
        "- command: `python benchmarks/bench_typos.py`",
        f"- commit: {commit}",
        f"- machine: {machine_info()}",
        "- typo: the two middle letters of each single-turn gold question's longest lower-case word (6+ letters) "
        "swapped; the same retriever and index with `retrieval.correct_spelling` off and on",
        "",
        table(figures),
    ])
    print(body)
    if args.write_results:
        write_section(SECTION, body)


if __name__ == "__main__":
    main()
