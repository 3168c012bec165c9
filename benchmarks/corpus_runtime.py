"""A Runtime over the project's corpus, ingested into a temporary folder: the benchmarks that measure retrieval
and the prompt on the real articles, without touching the project's own index or records."""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hubchat.config import Settings
from hubchat.runtime import Runtime

REPO_ROOT = Path(__file__).resolve().parent.parent


@contextmanager
def corpus_runtime() -> Iterator[Runtime]:
    """The corpus ingested with the default settings and the extractive backend; the folder goes at exit."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            corpus={"path": REPO_ROOT / "corpus"}, index={"dir": Path(tmp) / "index"},
            ui={"db_path": Path(tmp) / "records.sqlite"}, chat={"backend": "extractive"},
        )
        runtime = Runtime(settings)
        runtime.ingest()
        yield runtime


def short_commit() -> str:
    """The checkout's commit, as the results name it."""
    return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO_ROOT).stdout.strip()
