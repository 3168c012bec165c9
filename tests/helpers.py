"""Small helpers for the corpus, chunking, ingest and store tests: sample articles, settings, index checks."""

from __future__ import annotations

import shutil
import textwrap
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from hubchat.chunking import chunk_article
from hubchat.config import Settings, load_settings
from hubchat.corpus import read_corpus
from hubchat.ingest import version_key
from hubchat.lexical import LexicalIndex
from hubchat.store import ChunkStore

PROJECT = Path(__file__).resolve().parents[1]
REAL_ARTICLES = PROJECT / "corpus" / "articles"

# Small chunks keep the embedding work of a test run small while still giving every article several chunks.
SMALL_CHUNKS = {"target_tokens": 64, "max_tokens": 96, "overlap_tokens": 16}


@dataclass(frozen=True)
class Sample:
    slug: str
    title: str
    url: str
    tags: tuple[str, ...]
    body: str


SAMPLES = (
    Sample(
        "chroma-small-projects",
        "Chroma for Small Projects",
        "/guides/chroma-small-projects",
        ("vector-databases", "rag"),
        """
        Chroma runs inside a Python process and keeps its data in a local folder. That makes it the quickest way to
        prototype retrieval for a documentation site.

        ## Why an embedded database

        An embedded database needs no server, no port and no credentials. The index lives next to the code that
        queries it, so a laptop demo and a test suite behave the same way. Backups are a matter of copying a folder.

        ## Persisting the index

        A persistent client writes every change to disk as it happens. Restarting the process loads the collection
        again without re-embedding anything.

        ### Moving to a server

        When several services need the same index, the same collection can be served by a Chroma server. The
        client code changes in one line: the persistent client becomes an HTTP client.
        """,
    ),
    Sample(
        "whisper-meeting-notes",
        "Whisper for Meeting Notes",
        "/use-cases/whisper-meeting-notes",
        ("speech", "productivity"),
        """
        Whisper turns a meeting recording into a transcript on an ordinary laptop. The small models are fast enough
        for a one-hour call, and the large ones are noticeably better with accents and jargon.

        ## Preparing the audio

        Convert the recording to mono at sixteen kilohertz before transcribing it. Long silences and music waste
        time, so trim them first. A clean input matters more than the choice of model size.

        ## From transcript to notes

        A transcript is not a summary. Split it by speaker turns, then ask a language model for decisions, owners
        and deadlines. Keep the timestamps, so every action item can be checked against the recording.
        """,
    ),
    Sample(
        "gpu-rental-prices",
        "Why GPU Rental Prices Keep Falling",
        "/insights/gpu-rental-prices",
        ("gpus", "cloud"),
        """
        Hourly prices for renting data-centre GPUs have fallen steadily as new capacity comes online. Smaller cloud
        providers compete hard on price, and older accelerators lose value when a new generation ships.

        ## Supply catches up

        Several years of heavy investment in accelerators are now arriving in data centres. More supply means
        shorter waiting lists and lower hourly rates for customers who can commit to long reservations.

        ## What it means for buyers

        Renting becomes the sensible choice for bursty training jobs. Owning hardware still pays off for steady
        inference workloads that keep the cards busy around the clock.
        """,
    ),
)


def front_matter(
    *, title: str, url: str | None, date: str = "2025-03-14", tags=("rag", "search"), summary: str = "", author: str = "Maya Lindqvist"
) -> str:
    lines = ["---", f'title: "{title}"']
    if url is not None:
        lines.append(f"url: {url}")
    lines += [f"date: {date}", f"tags: [{', '.join(tags)}]", f'summary: "{summary or "A short summary."}"', f'author: "{author}"', "---"]
    return "\n".join(lines) + "\n\n"


def write_article(folder: Path, name: str, body: str, **meta) -> Path:
    """Write a Markdown article with front matter; `name` may include sub-folders. Returns its path."""
    path = Path(folder) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(front_matter(**meta) + textwrap.dedent(body).strip() + "\n", encoding="utf-8")
    return path


def write_samples(folder: Path, samples=SAMPLES) -> list[Path]:
    """The sample articles as Markdown files in `folder`."""
    return [write_article(folder, f"{s.slug}.md", s.body, title=s.title, url=s.url, tags=s.tags) for s in samples]


def copy_real_articles(folder: Path, count: int) -> list[Path]:
    """The first `count` articles of the real corpus, copied into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    sources = sorted(REAL_ARTICLES.glob("*.md"))[:count]
    assert len(sources) == count, f"the real corpus has only {len(sources)} articles"
    return [Path(shutil.copy(src, folder / src.name)) for src in sources]


def write_config(folder: Path, corpus: Path, extra: str = "") -> Path:
    """A hubchat.toml in `folder` whose corpus is `corpus` and whose index is folder/index."""
    path = Path(folder) / "hubchat.toml"
    path.write_text(
        f'[corpus]\npath = "{corpus}"\n\n[index]\ndir = "index"\n\n' + textwrap.dedent(extra).strip() + "\n", encoding="utf-8"
    )
    return path


def settings_for(folder: Path, corpus: Path, extra: str = "", **overrides) -> Settings:
    """Settings read from a fresh config file in `folder` (never the project's hubchat.toml)."""
    return load_settings(write_config(folder, corpus, extra), **overrides)


def open_store(settings: Settings, embedder) -> ChunkStore:
    return ChunkStore(settings, embedder.name, embedder, embedder.dimension)


def chroma_records(store: ChunkStore) -> list[tuple[str, dict]]:
    """Every (chunk id, metadata) in the store's Chroma collection."""
    data = store.collection.get(include=["metadatas"])
    return list(zip(data["ids"], data["metadatas"]))


def expected_chunk_ids(settings: Settings, embedding_name: str, corpus: Path) -> dict[str, set[str]]:
    """Per article id, the chunk ids a fresh ingest of `corpus` must leave in the store."""
    articles, _ = read_corpus(corpus, settings.corpus.max_file_bytes)
    out = {}
    for article in articles:
        key = version_key(article.source_hash, settings, embedding_name)
        out[article.id] = {c.id for c in chunk_article(article, settings.chunking, version_key=key)}
    return out


def assert_index_matches_corpus(store: ChunkStore, settings: Settings, corpus: Path) -> None:
    """Every article present exactly once in its current version, nothing else, and BM25 agreeing with Chroma.

    Checks: no duplicate chunk (same article and ordinal), no orphan (chunk of an article not in the corpus, or of
    a stale version), the chunk ids are exactly those a fresh chunking of the corpus gives, and the lexical index
    saved on disk holds exactly Chroma's ids.
    """
    records = chroma_records(store)
    ids = [cid for cid, _ in records]
    assert len(ids) == len(set(ids))
    positions = Counter((meta["article_id"], meta["ordinal"]) for _, meta in records)
    duplicates = {pos: n for pos, n in positions.items() if n > 1}
    assert not duplicates, f"duplicate chunks (article, ordinal): {duplicates}"

    expected = expected_chunk_ids(settings, store.embedding_name, corpus)
    stored_articles = {meta["article_id"] for _, meta in records}
    assert stored_articles == set(expected), (
        f"orphans: {sorted(stored_articles - set(expected))}; missing: {sorted(set(expected) - stored_articles)}"
    )
    for article_id, want in expected.items():
        have = {cid for cid, meta in records if meta["article_id"] == article_id}
        assert have == want, f"{article_id}: stale or missing chunks: extra {sorted(have - want)}, missing {sorted(want - have)}"

    saved = LexicalIndex.load(store.lexical_dir)
    assert saved is not None, "no readable lexical index on disk"
    assert sorted(saved.ids) == sorted(ids), "the saved lexical index does not hold exactly Chroma's chunk ids"
