"""The evaluations recorded in RESULTS.md, run as the `hubchat eval` commands a user would type.

    .venv/bin/python benchmarks/bench_eval.py run [--local-limit 100] [--skip-local] [--data ../shared/data]
    .venv/bin/python benchmarks/bench_eval.py record RESULTS_FOLDER [RESULTS_FOLDER ...]

`run` runs each evaluation into its own results folder under .hubchat/eval/results/ and copies its summary into
a section of benchmarks/RESULTS.md; `record` copies the summaries of runs made by hand. Each section carries the
command, the commit and the machine the run printed. The local model takes about 20 s a question and system, so
its runs take about an hour a set at --local-limit 100.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.results import write_section  # noqa: E402
from hubchat.config import ChatSettings  # noqa: E402

HUBCHAT = [str(Path(sys.executable).parent / "hubchat"), "eval"]
DEFAULT_LOCAL_MODEL = ChatSettings.model_fields["model"].default


def runs(data: Path, local_limit: int, skip_local: bool) -> list[list[str]]:
    both = "hubchat,langchain-baseline"
    commands = [
        [str(data / "scifact"), "--systems", "none", "--checker-pairs", "1000"],
        ["tests/data/gold.jsonl", "--backend", "extractive"],
        [str(data / "squad2-dev-500"), "--backend", "extractive", "--checker-pairs", "0"],
        [str(data / "multihop-rag-500"), "--backend", "extractive", "--checker-pairs", "0"],
    ]
    if not skip_local:
        commands += [
            ["tests/data/gold.jsonl", "--backend", "local", "--systems", both, "--no-retrieval"],
            [str(data / "squad2-dev-500"), "--backend", "local", "--systems", both, "--limit", str(local_limit), "--no-retrieval"],
            [str(data / "multihop-rag-500"), "--backend", "local", "--systems", both, "--limit", str(local_limit), "--no-retrieval"],
        ]
    return commands


def record(folder: Path) -> None:
    """Copy one results folder's summary into its RESULTS.md section (named by set and backend)."""
    meta = json.loads((folder / "summary.json").read_text(encoding="utf-8"))["meta"]
    summary = (folder / "summary.md").read_text(encoding="utf-8").splitlines()
    body = "\n".join(line.replace("## ", "### ", 1) if line.startswith("## ") else line for line in summary[1:])
    answered = json.loads((folder / "summary.json").read_text(encoding="utf-8"))["answers"]
    kind = f"{meta['chat_backend']} backend" if answered else "retrieval and checker"
    if answered and meta["chat_backend"] == "local" and meta.get("chat_model") != DEFAULT_LOCAL_MODEL:
        kind += f", {meta['chat_model']}"  # the fast profile's model gets its own section beside the default's
    write_section(f"hubchat eval: {meta['set']}, {kind}", body)
    print(f"recorded {folder}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="action", required=True)
    run = sub.add_parser("run", help="run every evaluation and record it")
    run.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data", help="folder of the public sets")
    run.add_argument("--local-limit", type=int, default=100, help="questions a set for the local model")
    run.add_argument("--skip-local", action="store_true", help="only the extractive and retrieval runs")
    rec = sub.add_parser("record", help="record results folders made by hand")
    rec.add_argument("folders", type=Path, nargs="+")
    args = parser.parse_args()
    if args.action == "record":
        for folder in args.folders:
            record(folder)
        return
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    # Paths relative to the repository, so the commands recorded in RESULTS.md name no folder of this machine.
    data = Path(os.path.relpath(args.data.resolve(), ROOT))
    for i, command in enumerate(runs(data, args.local_limit, args.skip_local), 1):
        out = Path(".hubchat") / "eval" / "results" / f"bench-{stamp}-{i}"
        subprocess.run([*HUBCHAT, *command, "--out", str(out)], cwd=ROOT, check=True)
        record(ROOT / out)


if __name__ == "__main__":
    main()
