"""Latency of HybridRetriever.retrieve at about 1k, 10k and 100k chunks (no chat model).

Chunks are synthesised cheaply from SciFact: the 5,183 abstracts (with their real cached MiniLM vectors, see
bench_retrieval_quality.py) and then windows of 3 to 6 consecutive abstract sentences, whose vectors are random
unit vectors (embedding 100k texts would take over an hour on two cores). The texts are all real, so the BM25
index has realistic vocabulary and posting lengths; random vectors are, if anything, harder for HNSW than
clustered real ones. Chunks are grouped into "articles" of 8 with tags and dates, so the filtered path is
measured too. Queries are the 300 SciFact claims, embedded per query as in the product.

Usage (from the repository root):

    .venv/bin/python benchmarks/bench_retrieval_latency.py [DATA_DIR] [--sizes 1000,10000,100000] [--queries 200]
                                                            [--write-results]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_retrieval_quality import (  # noqa: E402  (a sibling script, not a package)
    DEFAULT_DATA,
    RESULTS_FILE,
    BeirSet,
    bench_settings,
    build_store,
    cached_document_vectors,
    load_beir,
)
from machine import machine_info  # noqa: E402
from results import write_section  # noqa: E402

from hubchat.config import RetrievalSettings, load_settings  # noqa: E402
from hubchat.index.local_onnx import LocalOnnxEmbeddings  # noqa: E402
from hubchat.index.store import ChunkStore  # noqa: E402
from hubchat.retrieval.hybrid import HybridRetriever  # noqa: E402
from hubchat.types import Chunk, Filters  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parent.parent
CHUNKS_PER_ARTICLE = 8
TAGS = ("gpus", "rag", "local-llm", "speech", "regulation", "storage", "agents", "coding")
WARMUP = 10


def synthesise(data: BeirSet, data_dir: Path, real_vectors: np.ndarray, size: int, seed: int = 7) -> tuple[list[Chunk], np.ndarray, int]:
    """`size` chunks: the real abstracts first (real vectors), then sentence windows (random unit vectors).

    Returns:
        The chunks, their vectors, and how many of them carry a real embedding.
    """
    import json

    rng = random.Random(seed)
    texts = [(c.title, c.text) for c in data.chunks]
    if size > len(texts):
        windows = []
        with open(Path(data_dir) / "corpus.jsonl", encoding="utf-8") as fh:
            for line in fh:
                doc = json.loads(line)
                sentences = doc.get("sentences") or []
                for width in (3, 4, 5, 6):
                    for start in range(0, max(0, len(sentences) - width + 1)):
                        windows.append((doc.get("title", ""), " ".join(sentences[start : start + width])))
        rng.shuffle(windows)
        texts += windows
    if size > len(texts):
        raise SystemExit(f"only {len(texts)} distinct texts can be made from {data.name}; ask for fewer chunks")
    real = min(size, len(data.chunks))
    vectors = np.empty((size, real_vectors.shape[1]), dtype=np.float32)
    vectors[:real] = real_vectors[:real]
    if size > real:
        noise = np.random.default_rng(seed).standard_normal((size - real, real_vectors.shape[1])).astype(np.float32)
        vectors[real:] = noise / np.linalg.norm(noise, axis=1, keepdims=True)
    chunks = []
    for i, (title, text) in enumerate(texts[:size]):
        article = i // CHUNKS_PER_ARTICLE
        day = 1 + article % 28
        month = 1 + (article // 28) % 12
        chunks.append(
            Chunk(
                id=f"c{i:06d}",
                article_id=f"/synthetic/a{article:05d}",
                ordinal=i % CHUNKS_PER_ARTICLE,
                text=text,
                start=0,
                end=len(text),
                title=title,
                date=f"{2024 + article % 3}-{month:02d}-{day:02d}",
                tags=(TAGS[article % len(TAGS)], TAGS[(article * 3 + 1) % len(TAGS)]),
            )
        )
    return chunks, vectors, real


def chroma_filtered(settings):
    """The same settings with filtered dense search left to Chroma's filtered query."""
    return settings.model_copy(update={"index": settings.index.model_copy(update={"exact_filtered_search": False})})


def percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=np.float64), q))


def measure(retriever: HybridRetriever, queries: Sequence[str], filters: Sequence[Filters | None]) -> dict[str, list[float]]:
    """Timings of retrieve() per query (`filters[i]` for query i), after a warm-up with the first filters."""
    for q in queries[:WARMUP]:
        retriever.retrieve(q, filters[0])
    samples: dict[str, list[float]] = {"total": [], "embed": [], "dense": [], "lexical": [], "fuse": [], "floor": [], "no_embed": []}
    for q, f in zip(queries, filters):
        started = time.perf_counter()
        result = retriever.retrieve(q, f)
        total = time.perf_counter() - started
        samples["total"].append(total)
        samples["no_embed"].append(total - result.timings["embed"])
        for stage in ("embed", "dense", "lexical", "fuse", "floor"):
            samples[stage].append(result.timings[stage])
    return samples


def same_results(a: HybridRetriever, b: HybridRetriever, queries: Sequence[str], filters: Sequence[Filters | None]) -> float:
    """Share of queries whose retrieved passages (ids, in order) are the same through both retrievers."""
    same = 0
    for q, f in zip(queries, filters):
        same += [p.chunk.id for p in a.retrieve(q, f).passages] == [p.chunk.id for p in b.retrieve(q, f).passages]
    return same / len(queries)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data_dir", nargs="?", type=Path, default=DEFAULT_DATA, help="the SciFact folder (BEIR layout)")
    parser.add_argument("--config", type=Path, default=REPO_ROOT / "hubchat.toml")
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--queries", type=int, default=200, help="timed queries per size (after a warm-up of 10)")
    parser.add_argument("--write-results", action="store_true")
    args = parser.parse_args(argv)

    settings = load_settings(args.config)
    data = load_beir(args.data_dir)
    real_vectors = cached_document_vectors(data, max_tokens=settings.embeddings.max_tokens, threads=settings.embeddings.threads)
    embedder = LocalOnnxEmbeddings(threads=settings.embeddings.threads, max_tokens=settings.embeddings.max_tokens)
    queries = list(data.queries.values())
    queries = (queries * (1 + args.queries // len(queries)))[: args.queries]
    sizes = [int(s) for s in args.sizes.split(",")]
    r: RetrievalSettings = settings.retrieval

    rows = []
    fusion = ""
    for size in sizes:
        chunks, vectors, real = synthesise(data, args.data_dir, real_vectors, size)
        with tempfile.TemporaryDirectory(prefix="hubchat-latency-") as workdir:
            started = time.perf_counter()
            store = build_store(chunks, vectors, bench_settings(Path(workdir), f"latency-{size}", r), embedder)
            build_s = time.perf_counter() - started
            exact = HybridRetriever(store, embedder, r)
            # The same index through Chroma's filtered query: the path filtered questions took before.
            by_chroma = HybridRetriever(ChunkStore(chroma_filtered(store.settings), embedder), embedder, r)
            fusion = exact.fusion
            articles = sorted({c.article_id for c in chunks})
            plans = {
                "none": [None] * len(queries),
                "tag + since": [Filters(tags=("rag",), since="2025-01-01")] * len(queries),
                # The widget's scope: each question filtered to one article, a different one each time.
                "article": [Filters(article_ids=(articles[(i * 37) % len(articles)],)) for i in range(len(queries))],
            }
            for label, filters in plans.items():
                paths = [("HNSW", exact)] if label == "none" else [("Chroma filter", by_chroma), ("exact, in memory", exact)]
                agree = None if label == "none" else same_results(exact, by_chroma, queries, filters)
                for path, retriever in paths:
                    load = os.getloadavg()[0]
                    s = measure(retriever, queries, filters)
                    rows.append((size, real, label, path, build_s, load, s, agree))
                    print(
                        f"{size:>7} chunks, filters {label}, {path}: p50 {percentile(s['total'], 50) * 1000:.1f} ms, "
                        f"p95 {percentile(s['total'], 95) * 1000:.1f} ms (dense p50 {percentile(s['dense'], 50) * 1000:.1f} ms), "
                        f"built in {build_s:.0f} s, load {load:.1f}",
                        file=sys.stderr,
                        flush=True,
                    )
            del exact, by_chroma, store

    ms = lambda values, q: f"{percentile(values, q) * 1000:.1f}"  # noqa: E731
    lines = [
        f"HybridRetriever.retrieve, {args.queries} SciFact claims per row after {WARMUP} warm-up queries, one at a time; "
        f"settings dense_k {r.dense_k}, lexical_k {r.lexical_k}, top_k {r.top_k}, fusion {fusion!r} (fuse includes reading "
        "the cosines of lexical-only candidates from Chroma; floor is the relevance check). Real embedded Chroma (HNSW) and "
        "hubchat's BM25 index, built fresh per size in a temporary folder. Chunk texts are real SciFact abstracts and "
        "3-6 sentence windows of them; only the abstracts (at most 5,183) have real MiniLM vectors, the rest are "
        "random unit vectors. Filtered rows run twice on the same index: through Chroma's filtered HNSW query (the "
        "path before `index.exact_filtered_search`) and exactly over the vectors held in memory (the default; the "
        "first filtered query reads them, inside the warm-up). 'Same passages': share of questions whose retrieved "
        "passages, in order, are identical through both paths. The article rows filter each question to a "
        "different article of 8 chunks, as the widget does. All times in ms.",
        "",
        "| chunks (real vectors) | filters | dense path | total p50 | total p95 | without embedding p50 | without embedding p95 "
        "| embed p50 | dense p50 | lexical p50 | fuse p50 | floor p50 | same passages as Chroma filter | load avg |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for size, real, label, path, _build_s, load, s, agree in rows:
        lines.append(
            f"| {size:,} ({real:,}) | {label} | {path} | {ms(s['total'], 50)} | {ms(s['total'], 95)} | {ms(s['no_embed'], 50)} | "
            f"{ms(s['no_embed'], 95)} | {ms(s['embed'], 50)} | {ms(s['dense'], 50)} | {ms(s['lexical'], 50)} | "
            f"{ms(s['fuse'], 50)} | {ms(s['floor'], 50)} | {'' if agree is None else f'{agree:.1%}'} | {load:.1f} |"
        )
    builds = ", ".join(f"{size:,}: {row[1]:.0f} s" for size, _, label, *row in rows if label == "none")
    lines += [
        "",
        f"Store build (Chroma upsert of cached vectors + BM25 index): {builds}.",
        f"Command: `.venv/bin/python benchmarks/bench_retrieval_latency.py --sizes {args.sizes} --queries {args.queries} "
        "--write-results` (from the repository root; data from ../shared/data/scifact).",
        f"Machine: {machine_info()}. The load average column is the 1-minute load when the row started: other "
        "processes shared the two cores, so treat the numbers as upper bounds.",
    ]
    report = "\n".join(lines)
    print(report)
    if args.write_results:
        write_section("Retrieval latency", report, RESULTS_FILE)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
