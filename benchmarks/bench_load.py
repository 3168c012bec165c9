"""Load on the web app: N simulated users asking over gradio_client for a bounded time.

The real app (`hubchat serve` in its own process: Gradio queue, concurrency limit and queue size from the config)
serves the real corpus on a loopback port with the `extractive` chat backend, so the figures measure the app, retrieval and
citation checking, not a language model. Each user has its own gradio_client `Client` and asks the gold
questions (tests/data/gold.jsonl: single, multi-article, follow-up with history, refusal) in its own order,
back to back (no think time unless --think), until the time is up. A request counts as an error if it raises or
returns no answer text. Afterwards the recorded answers in the SQLite file are counted against the successes.

Usage (from the repository root):

    .venv/bin/python benchmarks/bench_load.py [--users 20] [--seconds 60] [--think 0] [--write-results]

The index is built once into benchmarks/.cache/load-index (about 1 to 2 minutes) and reused.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import machine_info  # noqa: E402  (sibling modules, not a package import)
from results import write_section  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
GOLD = REPO / "tests" / "data" / "gold.jsonl"
INDEX = REPO / "benchmarks" / ".cache" / "load-index"


@dataclass
class UserLog:
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    refusals: int = 0


def load_questions() -> list[tuple[str, str]]:
    """(question, history JSON) for every gold question."""
    out = []
    for line in GOLD.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            history = [{"question": t["question"], "answer": t["answer"]} for t in row.get("history", [])]
            out.append((row["question"], json.dumps(history)))
    return out


def user(urls: Sequence[str], questions: list[tuple[str, str]], seed: int, deadline: float, think: float, log: UserLog) -> None:
    """One simulated user: asks the questions in its own order until `deadline`, round-robin over `urls` (one
    gradio_client per app process; each question goes to the next process)."""
    from gradio_client import Client

    rng = random.Random(seed)
    order = questions[:]
    rng.shuffle(order)
    try:
        clients = [Client(url, verbose=False) for url in urls]
    except Exception as exc:  # noqa: BLE001 - a user that cannot connect is an error of the run
        log.errors.append(f"connect: {type(exc).__name__}: {exc}")
        return
    i = 0
    while time.monotonic() < deadline:
        question, history = order[i % len(order)]
        client = clients[(i + seed) % len(clients)]
        i += 1
        start = time.perf_counter()
        try:
            answer, _sources, details = client.predict(question, history, "{}", api_name="/ask")
            if not answer.strip():
                raise ValueError("empty answer")
            log.refusals += bool(json.loads(details)["refused"])
            log.latencies.append(time.perf_counter() - start)
        except Exception as exc:  # noqa: BLE001 - counted and reported
            log.errors.append(f"{type(exc).__name__}: {str(exc)[:200]}")
        if think:
            time.sleep(rng.uniform(0.5, 1.5) * think)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    import os

    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def serve(port: int, db_path: Path, log_path: Path):
    """`hubchat serve` in its own process (ingesting the corpus into the cache first if needed)."""
    import os
    import subprocess
    import urllib.request

    env = dict(
        os.environ,
        HUBCHAT_CONFIG=str(REPO / "hubchat.toml"),
        HUBCHAT_CHAT__BACKEND="extractive",
        HUBCHAT_INDEX__DIR=str(INDEX),
        HUBCHAT_UI__DB_PATH=str(db_path),
        ANONYMIZED_TELEMETRY="False",
    )
    hubchat = Path(sys.executable).with_name("hubchat")
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([str(hubchat), "serve", "--host", "127.0.0.1", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"hubchat serve exited with {proc.returncode}; see {log_path}")
        try:
            with urllib.request.urlopen(url + "config", timeout=2) as response:
                if response.status == 200:
                    return proc, url
        except OSError:
            time.sleep(0.5)
    proc.terminate()
    raise SystemExit(f"hubchat serve did not come up within 900 s; see {log_path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--think", type=float, default=0.0, help="mean pause between a user's questions, seconds")
    parser.add_argument("--write-results", action="store_true", help="write the Load section of benchmarks/RESULTS.md")
    args = parser.parse_args()

    from hubchat.config import load_settings
    from hubchat.records import Records

    defaults = load_settings(REPO / "hubchat.toml")
    work = Path(tempfile.mkdtemp(prefix="hubchat-load-"))
    db_path, log_path = work / "load.sqlite", work / "serve.log"
    t0 = time.perf_counter()
    proc, url = serve(free_port(), db_path, log_path)
    print(f"serving {url} (up after {time.perf_counter() - t0:.1f} s; log {log_path})", flush=True)
    questions = load_questions()
    print(f"{args.users} users for {args.seconds:.0f} s, {len(questions)} gold questions", flush=True)

    logs = [UserLog() for _ in range(args.users)]
    cpu0, wall0 = cpu_seconds(proc.pid), time.perf_counter()
    deadline = time.monotonic() + args.seconds
    threads = [
        threading.Thread(target=user, args=([url], questions, n, deadline, args.think, logs[n]), daemon=True)
        for n in range(args.users)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(args.seconds + 300)
    wall = time.perf_counter() - wall0
    cpu = cpu_seconds(proc.pid) - cpu0
    proc.terminate()
    proc.wait(30)

    latencies = [x for log in logs for x in log.latencies]
    errors = [e for log in logs for e in log.errors]
    recorded = len(Records(db_path).answers("all", limit=10**9))
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
        "mean_s": round(statistics.fmean(latencies), 2) if latencies else None,
        "recorded_answers": recorded,
        "server_cpu_s": round(cpu, 1),
        "concurrency_limit": defaults.ui.concurrency_limit,
        "max_queue": defaults.ui.max_queue,
    }
    print(json.dumps(stats, indent=2))
    for e in sorted(set(errors))[:10]:
        print("error:", e)

    if args.write_results:
        think = f"{args.think:g} s mean think time" if args.think else "no think time (each user asks again as soon as it has its answer)"
        body = f"""
{args.users} simulated users, each its own `gradio_client.Client` in a thread of the benchmark process, asked the 98 gold questions (single, multi-article, follow-up with history, refusal) through the `/ask` endpoint for {args.seconds:.0f} s, {think}. The server was `hubchat serve` in its own process, on loopback, over the real corpus with the `extractive` chat backend, so this measures the app, hybrid retrieval, citation checking and recording, not a language model. The Gradio queue ran with the default `ui.concurrency_limit` = {stats['concurrency_limit']} and `ui.max_queue` = {stats['max_queue']}; latency is seen from the client, so it includes the wait in the queue.

| users | requests | errors | answers/s | p50 latency | p95 latency | max latency | refusals | answers recorded in SQLite |
|---|---|---|---|---|---|---|---|---|
| {stats['users']} | {stats['requests']} | {stats['errors']} | {stats['answers_per_s']} | {stats['p50_s']} s | {stats['p95_s']} s | {stats['max_s']} s | {stats['refusals']} | {stats['recorded_answers']} of {stats['answers']} |

With at most {stats['concurrency_limit']} answers in flight and {args.users} users always waiting, a request spends most of its time in the queue: p50 is about users / throughput. Requests still in flight at {args.seconds:.0f} s were let finish ({stats['seconds']} s in all). The server process used {stats['server_cpu_s']} s of CPU, {stats['server_cpu_s'] / max(1, stats['answers']):.2f} s per answer; the client threads ran on the same cores, and the load average below includes other jobs sharing the machine.

Command: `.venv/bin/python benchmarks/bench_load.py --users {args.users} --seconds {args.seconds:g}{f' --think {args.think:g}' if args.think else ''} --write-results` (from the repository root).
Machine: {machine_info()}.
"""
        write_section("Load", body)
        print("wrote the Load section of benchmarks/RESULTS.md")
    if errors:
        sys.exit(1)


if __name__ == "__main__":
    main()
