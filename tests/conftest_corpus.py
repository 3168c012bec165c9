"""Fixtures over the real site corpus (pytest plugin; register with pytest_plugins).

The corpus is ingested once per test session, with the project's hubchat.toml settings and the real packaged
embedder, into a temporary index; the corpus tests and the gold-set tests share that one index.

Fixtures:
    corpus_dir: the project's corpus/ folder.
    corpus_index: a `CorpusIndex`: the settings used, the Runtime (embeddings, store, retriever) and the ingest
        summary of the one ingest run.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from hubchat.config import Settings, load_settings
from hubchat.runtime import Runtime
from hubchat.types import IngestSummary

REPO_ROOT = Path(__file__).resolve().parent.parent
CORPUS_DIR = REPO_ROOT / "corpus"


@dataclass(frozen=True)
class CorpusIndex:
    """The session's index of the real corpus.

    Attributes:
        settings: hubchat.toml with the index moved to a temporary folder.
        runtime: builds (once) the embeddings, the store and the retriever for those settings.
        summary: what the one ingest run over corpus/ reported.
        seconds: wall time of that ingest run.
    """

    settings: Settings
    runtime: Runtime
    summary: IngestSummary
    seconds: float


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    return CORPUS_DIR


@pytest.fixture(scope="session")
def corpus_index(tmp_path_factory, corpus_dir: Path) -> Iterator[CorpusIndex]:
    index_dir = tmp_path_factory.mktemp("corpus-index")
    settings = load_settings(
        REPO_ROOT / "hubchat.toml",
        corpus={"path": str(corpus_dir)},
        index={"dir": str(index_dir), "collection": "hubchat-corpus-test"},
        store={"mode": "embedded"},
        # Its own records: the retriever's demotions read them, and a developer's own verdicts must not count.
        ui={"db_path": str(index_dir / "hubchat.sqlite")},
    )
    runtime = Runtime(settings)
    started = time.perf_counter()
    summary = runtime.ingest()
    yield CorpusIndex(settings, runtime, summary, time.perf_counter() - started)
