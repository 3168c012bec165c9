"""Small helpers for the corpus, chunking, ingest and store tests: sample articles, settings, index checks."""

from __future__ import annotations

import shutil
import textwrap
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from hubchat.config import Settings, load_settings
from hubchat.index.lexical import LexicalIndex
from hubchat.index.store import ChunkStore
from hubchat.ingest.chunking import chunk_article
from hubchat.ingest.corpus import read_corpus
from hubchat.ingest.pipeline import version_key

PROJECT = Path(__file__).resolve().parents[1]
REAL_ARTICLES = PROJECT / "corpus" / "articles"

# Small chunks keep the embedding work of a test run small while still giving every article several chunks.
SMALL_CHUNKS = {"target_tokens": 64, "max_tokens": 96, "overlap_tokens": 16}
SMALL_CHUNKS_TOML = "[chunking]\n" + "\n".join(f"{k} = {v}" for k, v in SMALL_CHUNKS.items())


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


def html_page(canonical: str = "/alternatives/pinecone-alternatives-small-teams") -> str:
    """A page shaped like the site's real ones: header, nav, breadcrumbs, article, sidebar widgets, footer."""
    return textwrap.dedent(
        f"""\
        <!DOCTYPE html>
        <html lang="en">
        <head>
          <meta charset="utf-8">
          <title>Pinecone Alternatives for Small Teams | AI Tools Hub</title>
          <meta name="description" content="Open-source vector databases that cost less than Pinecone for a small team.">
          <meta name="keywords" content="vector-databases, rag, Open-Source">
          <meta name="author" content="Maya Lindqvist">
          <meta property="og:title" content="Pinecone Alternatives for Small Teams">
          <meta property="article:published_time" content="2025-03-14T09:00:00+00:00">
          <link rel="canonical" href="{canonical}">
          <link rel="stylesheet" href="/static/css/site.css">
        </head>
        <body class="article-page">
          <a class="skip-link" href="#content">Skip to content</a>
          <header class="site-header">
            <a class="brand" href="/"><img class="brand-logo" src="/static/img/logo.svg" alt="AI Tools Hub logo">
              <span class="brand-name">AI Tools Hub</span></a>
            <nav class="main-nav" aria-label="Main"><ul>
              <li><a href="/guides/">Guides</a></li><li><a href="/compare/">Comparisons</a></li>
              <li><a href="/alternatives/">Alternatives</a></li><li><a href="/use-cases/">Use cases</a></li>
              <li><a href="/insights/">Insights</a></li></ul></nav>
            <form class="site-search" action="/search" role="search">
              <label for="q">Search articles</label><input id="q" name="q" type="search"><button>Search</button></form>
          </header>
          <div class="page-layout">
            <main id="content">
              <nav class="breadcrumbs" aria-label="Breadcrumb"><a href="/">Home</a> &rsaquo; <a href="/alternatives/">Alternatives</a></nav>
              <article class="post">
                <header class="post-header">
                  <h1>Pinecone Alternatives for Small Teams</h1>
                  <p class="byline">By <a rel="author" href="/authors/maya">Maya Lindqvist</a> &middot; <time datetime="2025-03-14">14 March 2025</time></p>
                </header>
                <div class="post-body">
                  <p>Pinecone made managed vector search easy, but a small team often pays for capacity it never uses. This guide looks at open-source engines that run on one machine.</p>
                  <h2>Why look beyond Pinecone</h2>
                  <p>The main reason is cost predictability. A self-hosted engine runs on hardware you already own, and the bill does not grow with every namespace.</p>
                  <h2>The candidates</h2>
                  <h3>Chroma</h3>
                  <p>Chroma embeds in a Python process and stores its data in a local folder.</p>
                  <h3>Qdrant</h3>
                  <p>Qdrant is written in Rust and supports payload filtering alongside nearest-neighbour search.</p>
                  <ul><li>Single binary deployment.</li><li>Filtering on any payload field.</li></ul>
                  <table><thead><tr><th>Engine</th><th>Language</th></tr></thead>
                    <tbody><tr><td>Chroma</td><td>Python and Rust</td></tr><tr><td>Qdrant</td><td>Rust</td></tr></tbody></table>
                  <h2>Key takeaways</h2>
                  <ul><li>Start with an embedded engine for prototypes.</li><li>Move to a server when several services share the index.</li></ul>
                </div>
              </article>
            </main>
            <aside class="sidebar">
              <section class="widget tag-cloud"><h2>Topics</h2><ul>
                <li><a href="/tags/export-controls" rel="tag">export-controls</a></li><li><a href="/tags/gpus" rel="tag">gpus</a></li>
                <li><a href="/tags/speech" rel="tag">speech</a></li></ul></section>
              <section class="widget latest-articles"><h2>Latest articles</h2><ul>
                <li><a href="/insights/gpu-prices">Why GPU rental prices keep falling</a> <time datetime="2025-06-24">24 June 2025</time></li>
                <li><a href="/guides/whisper">Setting up Whisper for meeting notes</a></li></ul></section>
              <section class="widget newsletter"><h2>Get the weekly briefing</h2>
                <p>New guides and analysis, once a week. No spam.</p>
                <form action="/newsletter/subscribe" method="post"><input type="email" placeholder="you@example.com"><button>Subscribe</button></form>
              </section>
            </aside>
          </div>
          <footer class="site-footer"><p class="copyright">&copy; 2025 AI Tools Hub. All rights reserved.</p>
            <ul class="footer-links"><li><a href="/about">About</a></li><li><a href="/privacy">Privacy policy</a></li>
            <li><a href="/terms">Terms of use</a></li></ul></footer>
          <script src="/static/js/site.js" defer></script>
        </body>
        </html>
        """
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
    return ChunkStore(settings, embedder)


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


class CountingEmbedder:
    """The real embedder, counting what it is asked to embed (to prove that nothing was re-embedded)."""

    def __init__(self, inner):
        self.inner = inner
        self.texts = 0

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    @property
    def batch_size(self) -> int:
        return self.inner.batch_size

    def embed_array(self, texts):
        self.texts += len(texts)
        return self.inner.embed_array(texts)

    def embed_query(self, text):
        return self.inner.embed_query(text)
