"""Demoting wrongly cited passages, measured on the gold set with `hubchat eval` before and after editors' verdicts.

The gold set has almost no pairs of similar questions (4 pairs at cosine 0.75 or more, in 98), so its own
questions cannot teach each other. The protocol instead plays the editors' part on readers' earlier questions:

1. `hubchat eval tests/data/gold.jsonl --backend extractive --systems hubchat --out BEFORE` (its own records store,
   empty: no demotion).
2. `seed --before BEFORE`: the gold questions listed in benchmarks/gold_paraphrases.jsonl (the first twelve
   `single` questions whose answer in BEFORE cites a passage off the gold evidence, in the set's order) each come
   with two paraphrases written for this benchmark. Each paraphrase is asked through the set's own answer chain
   (the runtime `hubchat eval` builds, `extractive` backend) and recorded in the set's records store; every
   sentence citing a passage that holds none of the original question's gold evidence (the eval's own passage-level
   test, `answer_metrics.on_evidence`) gets a "wrong citation" verdict naming those passages only. The gold
   questions themselves are never recorded or judged: they are the held-out similar questions.
3. `hubchat eval ... --out AFTER`: the same run, now demoting by those verdicts.
4. `compare --before BEFORE --after AFTER`: passage citation precision of the held-out questions, and of every
   other gold question (the controls, which must not lose), before and after.
5. `clear`: removes the seeded records store, so later `hubchat eval` runs of the gold set are undisturbed.

Run from the repository root:
    .venv/bin/python benchmarks/bench_demotion_gold.py seed --before DIR
    .venv/bin/python benchmarks/bench_demotion_gold.py compare --before DIR --after DIR [--write-results]
    .venv/bin/python benchmarks/bench_demotion_gold.py clear
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.results import write_section  # noqa: E402
from hubchat.config import Settings, load_settings  # noqa: E402
from hubchat.eval.answer_metrics import on_evidence  # noqa: E402
from hubchat.eval.harness import load_set  # noqa: E402
from hubchat.eval.set_index import settings_for_set, with_section  # noqa: E402
from hubchat.eval.systems import cited_passage  # noqa: E402
from hubchat.runtime import Runtime  # noqa: E402

GOLD = REPO / "tests" / "data" / "gold.jsonl"
PARAPHRASES = Path(__file__).resolve().with_name("gold_paraphrases.jsonl")
EDITOR = "bench-gold"


def _settings() -> Settings:
    settings = load_settings(REPO / "hubchat.toml")
    return with_section(settings, "chat", backend="extractive")


def _paraphrases() -> dict[str, list[str]]:
    with PARAPHRASES.open(encoding="utf-8") as fh:
        return {row["id"]: row["paraphrases"] for row in map(json.loads, fh) if row}


def seed(before: Path) -> None:
    settings = _settings()
    eval_set = load_set(GOLD, None, settings)
    cases = {c.id: c for c in eval_set.cases}
    runtime = Runtime(settings_for_set(settings, eval_set))
    records = runtime.records
    if records.version().answers or records.version().reviews:
        sys.exit(f"{records.location} already holds answers or verdicts: run `clear` first")
    before_rows = {r["id"]: r for r in _rows(before)}
    judged = 0
    similar = []
    for case_id, paraphrases in _paraphrases().items():
        case = cases[case_id]
        assert not case.history and case.evidence, case_id
        # What makes a paraphrase teach its question: cosine of the questions as the demoter embeds them.
        vectors = runtime.embeddings.embed_array([case.question, *paraphrases])
        similar.append(min(float(np.dot(vectors[0], v)) for v in vectors[1:]))
        for question in paraphrases:
            result = runtime.answerer.answer(question)
            answer_id = records.record_answer(result, conversation_id="bench", channel="bench")
            by_number = {s.number: s for s in result.sources}
            for sentence in result.report.sentences if result.report is not None and not result.refused else ():
                wrong = [
                    n for n in dict.fromkeys(sentence.citations)
                    if n in by_number and not any(on_evidence(cited_passage(by_number[n]), u) for u in case.evidence)
                ]
                if wrong:
                    records.set_verdict(answer_id, sentence.index, "wrong_citation", f"not the evidence for {case_id}",
                                        editor=EDITOR, citations=wrong)
                    judged += 1
        shown = before_rows.get(case_id, {}).get("scores", {}).get("citations", {}).get("passage_precision")
        print(f"{case_id}: before {shown}, paraphrases asked and judged", flush=True)
    active = runtime.demoter.active()
    print(f"{judged} wrong-citation verdicts; {len(active)} passages demoted for some question; "
          f"paraphrase-to-question cosine: min {min(similar):.2f}, median {statistics.median(similar):.2f}")


def _rows(folder: Path) -> list[dict]:
    with (Path(folder) / "records.jsonl").open(encoding="utf-8") as fh:
        return [row for row in map(json.loads, fh) if row.get("system") == "hubchat"]


def _precision(row: dict) -> float | None:
    """Passage precision of an answer that cites something and is not a refusal (None otherwise), as the summary
    averages it."""
    if "answer" not in row or row.get("refused"):
        return None
    citations = (row.get("scores") or {}).get("citations") or {}
    return citations.get("passage_precision") if citations.get("cited") else None


def _facts(rows) -> list[float]:
    return [f for r in rows if (f := (r.get("scores") or {}).get("key_fact_recall")) is not None]


def _mean(values: list[float]) -> str:
    return f"{statistics.mean(values):.3f}" if values else "n/a"


def compare(before: Path, after: Path, write: bool) -> None:
    seeded = set(_paraphrases())
    old = {r["id"]: r for r in _rows(before)}
    new = {r["id"]: r for r in _rows(after)}
    lines = [
        f"`hubchat eval tests/data/gold.jsonl --backend extractive --systems hubchat`, before and after the verdicts "
        f"`benchmarks/bench_demotion_gold.py seed` records ({len(seeded)} gold questions, two paraphrases each, "
        "judged by the gold evidence; the gold questions themselves are held out). Passage citation precision is "
        "the mean over answers that cite and are not refusals, as `hubchat eval` reports it.",
        "",
        "| questions | answers citing (before / after) | passage precision before | after | key facts found before | after | answers changed |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, ids in (("held-out, similar to judged ones", sorted(seeded)), ("every other gold question (controls)",
                                                                              sorted(set(old) - seeded))):
        b = [p for i in ids if (p := _precision(old[i])) is not None]
        a = [p for i in ids if i in new and (p := _precision(new[i])) is not None]
        changed = sum(1 for i in ids if i in new and (old[i].get("answer"), old[i].get("refused")) != (new[i].get("answer"), new[i].get("refused")))
        facts_b, facts_a = _facts(old[i] for i in ids), _facts(new[i] for i in ids if i in new)
        lines.append(f"| {label} ({len(ids)}) | {len(b)} / {len(a)} | {_mean(b)} | {_mean(a)} | {_mean(facts_b)} | {_mean(facts_a)} | {changed} |")
    every_b = [p for r in old.values() if (p := _precision(r)) is not None]
    every_a = [p for r in new.values() if (p := _precision(r)) is not None]
    lines += [
        f"| all ({len(old)}) | {len(every_b)} / {len(every_a)} | {_mean(every_b)} | {_mean(every_a)} | "
        f"{_mean(_facts(old.values()))} | {_mean(_facts(new.values()))} | |",
        "",
        "Key facts found: the share of a gold question's key facts in the answer, over the questions that list some "
        "(a refusal finds none), as `hubchat eval` reports it: what a precision gain may cost.",
        "",
    ]
    lines.append("Per held-out question (passage precision, then key facts found, before -> after):")
    lines.append("")

    def shown(row: dict) -> str:
        if row.get("refused"):
            return "refused"
        precision = _precision(row)
        facts = (row.get("scores") or {}).get("key_fact_recall")
        return f"{'n/a' if precision is None else f'{precision:.2f}'}, {'n/a' if facts is None else f'{facts:.2f}'}"

    for i in sorted(seeded):
        lines.append(f"- {i}: {shown(old[i])} -> {shown(new[i])}")
    moved = sorted(i for i in set(old) - seeded if i in new and old[i].get("answer") != new[i].get("answer"))
    lines += ["", f"Controls whose answer changed: {', '.join(moved) or 'none'}."]
    body = "\n".join(lines)
    print(body)
    if write:
        write_section("Demotion on the gold set (bench_demotion_gold.py)", body)


def clear() -> None:
    settings = _settings()
    eval_set = load_set(GOLD, None, settings)
    path = Path(settings_for_set(settings, eval_set).ui.db_path)
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    print(f"removed {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="step", required=True)
    seed_p = sub.add_parser("seed")
    seed_p.add_argument("--before", type=Path, required=True)
    compare_p = sub.add_parser("compare")
    compare_p.add_argument("--before", type=Path, required=True)
    compare_p.add_argument("--after", type=Path, required=True)
    compare_p.add_argument("--write-results", action="store_true")
    sub.add_parser("clear")
    args = parser.parse_args()
    if args.step == "seed":
        seed(args.before)
    elif args.step == "compare":
        compare(args.before, args.after, args.write_results)
    else:
        clear()


if __name__ == "__main__":
    main()
