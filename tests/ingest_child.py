"""An ingest in a child process, to test what other processes see and what a kill leaves behind.

The child prints each embedding step; `die_at` makes it SIGKILL itself at a chosen point (between two writes),
and `hold:FILE` keeps it mid-ingest, holding the index, until the test creates FILE.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

# Runs one ingest in a fresh interpreter, printing each embedding step; DIE_AT makes it SIGKILL itself at a
# chosen point, to test exactly the moments between two writes.
INGEST_SCRIPT = r"""
import os, signal, sys
from hubchat.config import load_settings
from hubchat.index.embedder import build_embeddings
from hubchat.ingest.pipeline import GROUP_BATCHES, ingest
from hubchat.index.store import ChunkStore

config, die_at = sys.argv[1], sys.argv[2]

def die(*args, **kwargs):
    print("dying", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)

if die_at == "lexical-save":
    from hubchat.index.lexical import LexicalIndex
    LexicalIndex.save = die
elif die_at == "chunk-delete":
    from chromadb.api.models.Collection import Collection
    Collection.delete = die

settings = load_settings(config)
emb = build_embeddings(settings.embeddings)
store = ChunkStore(settings, emb)

def progress(stage, done, total):
    if stage == "embed" and done:
        print(f"embedded {done} of {total}", flush=True)
        if die_at.startswith("hold:"):  # stay mid-ingest until the test creates the file named after "hold:"
            import time
            for _ in range(1200):
                if os.path.exists(die_at[5:]):
                    break
                time.sleep(0.1)

summary = ingest(settings, store, emb, progress=progress, rebuild=os.environ.get("HUBCHAT_TEST_REBUILD") == "1")
print(f"finished {summary.chunks_written}", flush=True)
"""


def start_ingest(config: Path, die_at: str = "never", rebuild: bool = False) -> subprocess.Popen:
    env = dict(os.environ, ANONYMIZED_TELEMETRY="False", PYTHONUNBUFFERED="1", HUBCHAT_TEST_REBUILD="1" if rebuild else "0")
    return subprocess.Popen(
        [sys.executable, "-c", INGEST_SCRIPT, str(config), die_at],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def read_until(proc: subprocess.Popen, wanted: str, timeout: float) -> list[str]:
    """Lines the child printed up to and including the first one starting with `wanted` (or its exit)."""
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.2)
        if ready:
            line = proc.stdout.readline()
            if not line:  # the child exited
                break
            lines.append(line.strip())
            if line.startswith(wanted):
                return lines
        elif proc.poll() is not None:
            break
    return lines


def finish(proc: subprocess.Popen, timeout: float = 120) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def run_ingest_child(config: Path, die_at: str = "never") -> tuple[int, str]:
    code, out, err = finish(start_ingest(config, die_at))
    if die_at == "never":
        assert code == 0 and "finished" in out, err[-3000:]
    else:
        assert code == -signal.SIGKILL and "dying" in out and "finished" not in out, (code, out, err[-3000:])
    return code, out


def corpus_in_groups(folder: Path, embedder_name: str, articles: int):
    """Real articles in folder/corpus, with embedder batches small enough that an ingest embeds and writes them in
    about three groups, so a child can be caught (or killed) between two writes.

    Returns:
        (corpus folder, config file for the child, settings for this process, chunks the corpus makes).
    """
    from hubchat.ingest.pipeline import GROUP_BATCHES
    from tests.helpers import copy_real_articles, expected_chunk_ids, settings_for, write_config

    corpus = Path(folder) / "corpus"
    copy_real_articles(corpus, articles)
    total = sum(len(ids) for ids in expected_chunk_ids(settings_for(folder, corpus), embedder_name, corpus).values())
    batches = f"[embeddings]\nbatch_size = {max(1, total // (3 * GROUP_BATCHES))}"
    return corpus, write_config(folder, corpus, batches), settings_for(folder, corpus, batches), total
