"""Soak: simulated users for a long stretch against two app processes sharing a Chroma server and PostgreSQL,
while an ingest of changed articles runs in the middle.

The benchmark starts everything itself, the way the scale-out test does (tests/server_processes.py,
tests/app_process.py): a `chroma run` server and a PostgreSQL server in a temporary folder, a copy of corpus/
ingested once, then two `hubchat serve` processes on the `extractive` backend (so it measures the app, not a
language model), each with its own index folder, both recording into the one PostgreSQL database. The users are
bench_load's: each its own gradio_client per process, asking the gold questions through `/ask` back to back,
every question going to the next process in turn. At each of `--ingests` points spread over the run, a few
articles of the copy are edited and `hubchat ingest` runs through the first process's configuration; both
processes must follow it.

Reported: errors (target 0), p50/p95 latency, resident memory of each app process at the start and the end, the
answers recorded in PostgreSQL against the successful requests, and each ingest's duration.

Usage (from the repository root):

    .venv/bin/python benchmarks/bench_soak.py [--users 20] [--seconds 300] [--ingests 2] [--write-results]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import textwrap
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(REPO))  # the tests' server starters, shared with the scale-out test

from bench_load import UserLog, load_questions, percentile, user  # noqa: E402  (sibling modules)
from machine import machine_info  # noqa: E402
from results import write_section  # noqa: E402

from tests.app_process import AppProcess, child_env, run_hubchat, start_app, wait_ready  # noqa: E402
from tests.server_processes import ChromaProcess, free_port, start_chroma, start_postgres  # noqa: E402

EDITED_PER_INGEST = 3


@dataclass
class IngestRun:
    at_s: float
    seconds: float
    ok: bool
    summary: str


def _config(folder: Path, chroma: ChromaProcess) -> Path:
    path = folder / "hubchat.toml"
    path.write_text(textwrap.dedent(f"""
        [corpus]
        path = "corpus"

        [store]
        mode = "server"
        host = "{chroma.host}"
        port = {chroma.port}

        [chat]
        backend = "extractive"
    """), encoding="utf-8")
    return path


def _edit_articles(corpus: Path, round_: int) -> list[str]:
    """Append a sentence to a few articles (different ones each round), so the next ingest re-embeds them."""
    files = sorted(corpus.rglob("*.md"))
    chosen = files[round_ * EDITED_PER_INGEST % len(files):][:EDITED_PER_INGEST]
    for path in chosen:
        with open(path, "a", encoding="utf-8") as out:
            out.write(f"\n\nEditor's note {round_}: this article was revised during the soak benchmark.\n")
    return [p.name for p in chosen]


def _summary_line(stdout: str) -> str:
    wanted = ("added", "updated", "deleted", "chunks embedded", "seconds")
    rows = [" ".join(line.replace("│", " ").split()) for line in stdout.splitlines()]
    return "; ".join(r for r in rows if r.startswith(wanted))


def _ingests(env: dict[str, str], corpus: Path, count: int, t0: float, seconds: float, runs: list[IngestRun]) -> None:
    for n in range(count):
        at = seconds * (n + 1) / (count + 1)
        time.sleep(max(0.0, t0 + at - time.monotonic()))
        edited = _edit_articles(corpus, n)
        start = time.monotonic()
        done = run_hubchat(env, "ingest")
        took = time.monotonic() - start
        runs.append(IngestRun(round(start - t0, 1), round(took, 1), done.returncode == 0, _summary_line(done.stdout)))
        print(f"ingest {n + 1} at {start - t0:.0f} s: {took:.1f} s, edited {edited}, exit {done.returncode}", flush=True)
        if done.returncode != 0:
            print(done.stderr[-2000:], flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--ingests", type=int, default=2, help="ingests of edited articles, spread over the run")
    parser.add_argument("--write-results", action="store_true", help="write the Soak section of benchmarks/RESULTS.md")
    args = parser.parse_args()

    from hubchat.config import load_settings
    from hubchat.records import Records

    work = Path(tempfile.mkdtemp(prefix="hubchat-soak-"))
    postgres = start_postgres(work)
    chroma = start_chroma(work / "chroma")
    apps: list[AppProcess] = []
    try:
        records_url = postgres.create_database(f"soak_{uuid.uuid4().hex[:8]}")
        shutil.copytree(REPO / "corpus", work / "corpus")
        config = _config(work, chroma)
        envs = [
            child_env(config, {"HUBCHAT_INDEX__DIR": str(work / f"index-{name}"), "HUBCHAT_UI__RECORDS_URL": records_url})
            for name in ("a", "b")
        ]
        start = time.monotonic()
        first = run_hubchat(envs[0], "ingest")
        if first.returncode != 0:
            raise SystemExit(f"the first ingest failed:\n{first.stderr[-3000:]}")
        first_ingest_s = time.monotonic() - start
        ports = [free_port(), free_port()]
        procs = [start_app(env, port, work / f"serve-{port}.log") for env, port in zip(envs, ports)]
        apps = [wait_ready(proc, port, work / f"serve-{port}.log") for proc, port in zip(procs, ports)]
        print(f"first ingest {first_ingest_s:.1f} s; serving {[a.url for a in apps]} (work folder {work})", flush=True)

        questions = load_questions()
        urls = [a.url for a in apps]
        logs = [UserLog() for _ in range(args.users)]
        ingests: list[IngestRun] = []
        rss_start = [a.rss_bytes() for a in apps]
        t0 = time.monotonic()
        deadline = t0 + args.seconds
        threads = [
            threading.Thread(target=user, args=(urls, questions, n, deadline, 0.0, logs[n]), daemon=True)
            for n in range(args.users)
        ]
        threads.append(threading.Thread(target=_ingests, args=(envs[0], work / "corpus", args.ingests, t0, args.seconds, ingests), daemon=True))
        for t in threads:
            t.start()
        for t in threads:
            t.join(args.seconds + 300)
        wall = time.monotonic() - t0
        rss_end = [a.rss_bytes() for a in apps]
        with Records(records_url) as records:
            recorded = len(records.answers("all", limit=10**9))
        defaults = load_settings(config)
    finally:
        for app in apps:
            app.stop()
        chroma.stop()
        postgres.stop()

    latencies = [x for log in logs for x in log.latencies]
    errors = [e for log in logs for e in log.errors]
    mib = 1024 * 1024
    stats = {
        "users": args.users,
        "seconds": round(wall, 1),
        "requests": len(latencies) + len(errors),
        "answers": len(latencies),
        "errors": len(errors),
        "refusals": sum(log.refusals for log in logs),
        "answers_per_s": round(len(latencies) / wall, 2),
        "p50_s": round(percentile(latencies, 0.50), 2),
        "p95_s": round(percentile(latencies, 0.95), 2),
        "max_s": round(max(latencies), 2) if latencies else None,
        "recorded_answers": recorded,
        "rss_start_mib": [round(r / mib) for r in rss_start],
        "rss_end_mib": [round(r / mib) for r in rss_end],
        "first_ingest_s": round(first_ingest_s, 1),
        "ingests": [vars(i) for i in ingests],
        "concurrency_limit": defaults.ui.concurrency_limit,
    }
    print(json.dumps(stats, indent=2))
    for e in sorted(set(errors))[:10]:
        print("error:", e)

    if args.write_results:
        ingest_rows = "\n".join(
            f"| {n + 1} | {i.at_s} s | {i.seconds} s | {'ok' if i.ok else 'failed'} | {i.summary} |" for n, i in enumerate(ingests)
        )
        memory = ", ".join(f"process {n + 1}: {a} MiB → {b} MiB" for n, (a, b) in enumerate(zip(stats["rss_start_mib"], stats["rss_end_mib"])))
        body = f"""
{args.users} simulated users (bench_load's: each its own `gradio_client.Client` per app process, asking the gold questions through `/ask` back to back, each question to the next process in turn) for {args.seconds:.0f} s against two `hubchat serve` processes on the `extractive` backend, each with its own index folder, sharing one `chroma run` server and one PostgreSQL database (`ui.records_url`), all on this machine's loopback. {args.ingests} ingests of edited articles ({EDITED_PER_INGEST} articles of a copy of corpus/ given a new sentence each time) ran through the first process's configuration during the run; both processes follow them through the shared index pointer. Each process answers at most `ui.concurrency_limit` = {stats['concurrency_limit']} at once, so latency is mostly the wait in the queue.

| users | requests | errors | answers/s | p50 latency | p95 latency | max latency | answers recorded in PostgreSQL |
|---|---|---|---|---|---|---|---|
| {stats['users']} | {stats['requests']} | {stats['errors']} | {stats['answers_per_s']} | {stats['p50_s']} s | {stats['p95_s']} s | {stats['max_s']} s | {stats['recorded_answers']} of {stats['answers']} |

Resident memory at the start and the end: {memory}. The first ingest of the copy took {stats['first_ingest_s']} s before the run.

| ingest | started at | took | result | summary |
|---|---|---|---|---|
{ingest_rows}

Command: `.venv/bin/python benchmarks/bench_soak.py --users {args.users} --seconds {args.seconds:g} --ingests {args.ingests} --write-results` (from the repository root).
Machine: {machine_info()}.
"""
        write_section("Soak", body)
        print("wrote the Soak section of benchmarks/RESULTS.md")
    if errors or recorded != len(latencies):
        sys.exit(1)


if __name__ == "__main__":
    main()
