"""Where the public evaluation sets are: $HUBCHAT_EVAL_DATA, else ../shared/data beside the repository.

They are read where they lie, never copied in. CI has them beside its checkout; a test that needs one fails
(rather than skips) when it is missing, so a missing set can never pass for a measured one.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def data_root() -> Path:
    return Path(os.environ.get("HUBCHAT_EVAL_DATA") or REPO.parent / "shared" / "data")


def eval_set_dir(name: str) -> Path:
    folder = data_root() / name
    if not (folder / "corpus.jsonl").is_file():
        pytest.fail(f"evaluation set {name!r} not found at {folder}: set HUBCHAT_EVAL_DATA to the folder holding it")
    return folder


def cut_beir(name: str, target: Path, queries: int, distractors: int, seed: int = 0) -> Path:
    """A smaller BEIR folder from a real one: a seeded sample of its judged queries, every document judged for
    them, and `distractors` other documents drawn with the same seed."""
    import csv
    import json
    import random

    source = eval_set_dir(name)
    with open(source / "qrels.tsv", encoding="utf-8", newline="") as fh:
        qrels = list(csv.DictReader(fh, delimiter="\t"))
    judged = sorted({r["query-id"] for r in qrels})
    rng = random.Random(seed)
    chosen = set(rng.sample(judged, queries))
    kept_qrels = [r for r in qrels if r["query-id"] in chosen]
    docs = {json.loads(line)["_id"]: line for line in open(source / "corpus.jsonl", encoding="utf-8")}
    keep = {r["corpus-id"] for r in kept_qrels}
    keep |= set(rng.sample(sorted(set(docs) - keep), distractors))
    target.mkdir(parents=True, exist_ok=True)
    (target / "corpus.jsonl").write_text("".join(docs[d] for d in sorted(keep)), encoding="utf-8")
    with open(source / "queries.jsonl", encoding="utf-8") as fh:
        lines = [line for line in fh if json.loads(line)["_id"] in chosen]
    (target / "queries.jsonl").write_text("".join(lines), encoding="utf-8")
    rows = ["query-id\tcorpus-id\tscore"] + [f"{r['query-id']}\t{r['corpus-id']}\t{r['score']}" for r in kept_qrels]
    (target / "qrels.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return target
