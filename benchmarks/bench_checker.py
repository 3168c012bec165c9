"""The citation checker on labelled pairs, this checkout against an earlier commit, on the same pairs in one run.

    .venv/bin/python benchmarks/bench_checker.py [--before 81cb518] [--limit 300] [--data ../shared/data]

The pairs are built by this checkout (`hubchat.eval.sentence_pairs`, `hubchat.eval.checker_pairs`): sentences a
right answer would write (gold reference answers, SQuAD answer sentences, SciFact rationales), each against its
passage, and the same sentences with one figure, unit, currency, scale, date or name swapped; plus SciFact's
claim/abstract pairs. The `--before` commit's `src/` is unpacked into a temporary folder and rates the very same
pairs in a child process with its own checker, so the two columns differ only by the checker. Both use the
packaged embedder. The table goes into the "Citation checker: before and after" section of RESULTS.md.

Targets (issue 10): swapped sentences rated "supported" <= 5%; original sentences rated "supported" >= 90%.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.machine import machine_info  # noqa: E402
from benchmarks.results import write_section  # noqa: E402

# Run in the child with the earlier commit's package on sys.path: pairs (JSON lines) in, verdicts (JSON lines) out.
_RATE_BEFORE = """
import dataclasses, json, sys
from hubchat.answer.embed_cache import CachedEmbedder
from hubchat.config import EmbeddingSettings
from hubchat.eval.checker_pairs import LabelledPair, rate_pairs
from hubchat.index.embedder import build_embeddings
names = {f.name for f in dataclasses.fields(LabelledPair)}
pairs = [LabelledPair(**{k: v for k, v in json.loads(line).items() if k in names}) for line in sys.stdin if line.strip()]
for r in rate_pairs(pairs, CachedEmbedder(build_embeddings(EmbeddingSettings()))):
    print(json.dumps([r.verdict, r.score]))
"""


def load_pairs(data: Path, limit: int) -> dict[str, list]:
    from hubchat.eval import sentence_pairs as sp
    from hubchat.eval.checker_pairs import load_scifact_pairs

    return {
        "gold reference answers": sp.load_gold_sentence_pairs(ROOT / "tests/data/gold.jsonl", ROOT / "corpus", limit=limit),
        "SQuAD answer sentences": sp.load_squad_sentence_pairs(data / "squad2-dev-500", limit=limit),
        "SciFact rationales": sp.load_scifact_sentence_pairs(data / "scifact", limit=limit),
        "SciFact claims": load_scifact_pairs(data / "scifact", limit=limit),
    }


def rate_now(pairs: list) -> list[str]:
    from hubchat.answer.embed_cache import CachedEmbedder
    from hubchat.config import EmbeddingSettings
    from hubchat.eval.checker_pairs import rate_pairs
    from hubchat.index.embedder import build_embeddings

    return [r.verdict for r in rate_pairs(pairs, CachedEmbedder(build_embeddings(EmbeddingSettings())))]


def rate_before(pairs: list, commit: str) -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit, "src"], check=True, capture_output=True).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(tmp, filter="data")
        lines = "\n".join(json.dumps(dataclasses.asdict(p)) for p in pairs)
        # cwd is the checkout, so the earlier code finds the same model files and settings.
        out = subprocess.run([sys.executable, "-c", _RATE_BEFORE], input=lines, text=True, capture_output=True, cwd=ROOT,
                             env={**os.environ, "PYTHONPATH": str(Path(tmp) / "src")})
        if out.returncode != 0:
            raise SystemExit(f"the checker of {commit} failed:\n{out.stderr[-3000:]}")
        return [json.loads(line)[0] for line in out.stdout.splitlines() if line.strip()]


def table(groups: dict[str, list], before: dict[str, list[str]], after: dict[str, list[str]]) -> list[str]:
    out = ["| pairs | kind | pairs | rated supported, before | rated supported, after |", "|---|---|---|---|---|"]
    totals: dict[str, Counter] = defaultdict(Counter)
    for source, pairs in groups.items():
        kinds: dict[str, list[int]] = defaultdict(list)
        for i, p in enumerate(pairs):
            kinds[p.kind].append(i)
        for kind, rows in kinds.items():
            b = sum(before[source][i] == "supported" for i in rows)
            a = sum(after[source][i] == "supported" for i in rows)
            out.append(f"| {source} | {kind} | {len(rows)} | {b} ({b / len(rows):.1%}) | {a} ({a / len(rows):.1%}) |")
            if kind == "sentence" or kind.startswith("sentence_swapped_"):
                group = "original sentences" if kind == "sentence" else "swapped sentences"
                totals[group].update(n=len(rows), before=b, after=a)
    out += ["", "| all sets | pairs | rated supported, before | rated supported, after | target |", "|---|---|---|---|---|"]
    targets = {"original sentences": ">= 90%", "swapped sentences": "<= 5%"}
    for group, c in totals.items():
        out.append(f"| {group} | {c['n']} | {c['before'] / c['n']:.1%} | {c['after'] / c['n']:.1%} | {targets[group]} |")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", default="81cb518", help="the commit whose checker is the baseline")
    parser.add_argument("--limit", type=int, default=300, help="questions or claims sampled per set")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data", help="the public benchmark sets")
    args = parser.parse_args()
    started = time.perf_counter()
    groups = load_pairs(args.data, args.limit)
    flat = [p for pairs in groups.values() for p in pairs]
    print(f"{len(flat)} pairs; rating with this checkout, then with {args.before}", flush=True)
    now, then = rate_now(flat), rate_before(flat, args.before)
    after, before, at = {}, {}, 0
    for source, pairs in groups.items():
        after[source], before[source] = now[at : at + len(pairs)], then[at : at + len(pairs)]
        at += len(pairs)
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    body = [
        f"- command: `.venv/bin/python benchmarks/bench_checker.py --before {args.before} --limit {args.limit}`",
        f"- after: {commit} (this checkout); before: {args.before}",
        f"- machine: {machine_info()}",
        f"- run time {time.perf_counter() - started:.0f} s",
        "",
        *table(groups, before, after),
    ]
    write_section("Citation checker: before and after", "\n".join(body))
    print("\n".join(body))


if __name__ == "__main__":
    main()
