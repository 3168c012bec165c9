"""Retrieval quality on SciFact (BEIR test split): nDCG@10 and recall@100 for BM25, dense and hybrid.

What is measured is the product's own code: documents become `hubchat.schema.Chunk`s (title + abstract, one
passage per document, chunk id = document id), their vectors come from `LocalOnnxEmbeddings` over
`hubchat.chunking.embedding_text`, they are written to a real Chroma collection with `hubchat.store`'s metadata,
the BM25 index is `hubchat.lexical.LexicalIndex` over `lexical_text`, and the three rankings come from
`hubchat.retrieval.HybridRetriever` (`lexical`, `dense`, `retrieve`) with the product's `RetrievalSettings`.

Usage (from the repository root):

    .venv/bin/python benchmarks/bench_retrieval_quality.py [DATA_DIR] [--write-results]

DATA_DIR defaults to ../shared/data/scifact relative to the repository root. Document vectors are cached in
benchmarks/.cache/ (keyed by model, truncation and corpus hash), so only the first run embeds (a few minutes).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import hashlib
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hubchat.chunking import embedding_text
from hubchat.config import RetrievalSettings, Settings
from hubchat.embeddings import LocalOnnxEmbeddings
from hubchat.lexical import LexicalIndex
from hubchat.retrieval import HybridRetriever, ndcg_at_k, recall_at_k
from hubchat.schema import Chunk
from hubchat.store import ChunkStore, chunk_metadata

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data" / "scifact"
CACHE_DIR = Path(__file__).resolve().parent / ".cache"
RESULTS_FILE = Path(__file__).resolve().parent / "RESULTS.md"
_WRITE_BATCH = 1000


@dataclass(frozen=True)
class BeirSet:
    """A BEIR-layout data set: documents as chunks, queries, and binary/graded judgements."""

    name: str
    chunks: tuple[Chunk, ...]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]


def load_beir(directory: Path) -> BeirSet:
    """Read corpus.jsonl, queries.jsonl and qrels.tsv; only queries with judgements are kept."""
    directory = Path(directory)
    for name in ("corpus.jsonl", "queries.jsonl", "qrels.tsv"):
        if not (directory / name).is_file():
            raise SystemExit(f"{directory / name} not found: give the SciFact folder as the first argument")
    chunks = []
    with open(directory / "corpus.jsonl", encoding="utf-8") as fh:
        for line in fh:
            doc = json.loads(line)
            text = doc.get("text") or ""
            chunks.append(Chunk(id=doc["_id"], article_id=doc["_id"], ordinal=0, text=text, start=0, end=len(text), title=doc.get("title") or ""))
    qrels: dict[str, dict[str, int]] = {}
    with open(directory / "qrels.tsv", encoding="utf-8") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            qrels.setdefault(row["query-id"], {})[row["corpus-id"]] = int(row["score"])
    queries = {}
    with open(directory / "queries.jsonl", encoding="utf-8") as fh:
        for line in fh:
            q = json.loads(line)
            if q["_id"] in qrels:
                queries[q["_id"]] = q["text"]
    return BeirSet(directory.name, tuple(chunks), queries, qrels)


def corpus_hash(chunks: Sequence[Chunk], text_fn: Callable[[Chunk], str]) -> str:
    digest = hashlib.sha256()
    for c in chunks:
        digest.update(c.id.encode())
        digest.update(b"\0")
        digest.update(text_fn(c).encode())
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def cached_document_vectors(data: BeirSet, max_tokens: int = 256, threads: int = 2) -> np.ndarray:
    """The documents' vectors from the packaged embedder, computed once and cached on disk.

    The cache key is the model name, the truncation length and a hash of the exact texts embedded, so a change
    to any of them (or to `embedding_text`) embeds again rather than reusing stale vectors.
    """
    embedder = LocalOnnxEmbeddings(threads=threads, batch_size=32, max_tokens=max_tokens)
    key = f"{data.name}-{embedder.name}-t{max_tokens}-{corpus_hash(data.chunks, embedding_text)}"
    path = CACHE_DIR / f"{key}.npy"
    if path.is_file():
        vectors = np.load(path)
        if vectors.shape == (len(data.chunks), embedder.dimension):
            return vectors
    print(f"embedding {len(data.chunks)} documents (cached afterwards in {path.name}) ...", file=sys.stderr, flush=True)
    started = time.perf_counter()
    vectors = embedder.embed_array([embedding_text(c) for c in data.chunks])
    print(f"embedded in {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, vectors)
    os.replace(tmp, path)
    return vectors


# ---- building the product's store over the documents -----------------------------------------------------


def bench_settings(workdir: Path, collection: str, retrieval: RetrievalSettings | None = None) -> Settings:
    return Settings(
        index={"dir": workdir, "collection": collection},
        store={"mode": "embedded"},
        retrieval=(retrieval or RetrievalSettings()).model_dump(),
    )


def build_store(chunks: Sequence[Chunk], vectors: np.ndarray, settings: Settings, embedder) -> ChunkStore:
    """A real embedded Chroma collection holding the chunks with hubchat's metadata, plus the lexical index.

    Vectors are written directly (they are cached), in batches, with the same metadata `write_article` writes;
    the lexical index is then built by the store from what Chroma holds, as after an ingest.
    """
    store = ChunkStore(settings, embedder.name, embedder, dimension=embedder.dimension)
    for start in range(0, len(chunks), _WRITE_BATCH):
        part = chunks[start : start + _WRITE_BATCH]
        store.collection.upsert(
            ids=[c.id for c in part],
            documents=[c.text for c in part],
            embeddings=np.asarray(vectors[start : start + len(part)], dtype=np.float32),
            metadatas=[chunk_metadata(c, source_path=c.article_id, version_key="bench", n_chunks=1) for c in part],
        )
    store.sync_lexical(force=True)
    return store


# ---- scoring ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scores:
    ndcg10: float
    recall100: float


def score_runs(runs: dict[str, list[str]], qrels: dict[str, dict[str, int]], only: Sequence[str] | None = None) -> Scores:
    """Mean nDCG@10 and recall@100 over the judged queries (a query missing from `runs` scores 0)."""
    qids = list(only) if only is not None else list(qrels)
    ndcg = [ndcg_at_k(runs.get(q, []), qrels[q], 10) for q in qids]
    rec = [recall_at_k(runs.get(q, []), qrels[q], 100) for q in qids]
    return Scores(float(np.mean(ndcg)), float(np.mean(rec)))


def product_runs(retriever: HybridRetriever, queries: dict[str, str], depth: int = 100) -> dict[str, dict[str, list[str]]]:
    """The three rankings per query, from the product's retriever: BM25 only, dense only, and hybrid."""
    runs: dict[str, dict[str, list[str]]] = {"bm25": {}, "dense": {}, "hybrid": {}}
    for qid, text in queries.items():
        runs["bm25"][qid] = [c.id for c, _ in retriever.lexical(text, depth)]
        runs["dense"][qid] = [c.id for c, _ in retriever.dense(text, depth)]
        runs["hybrid"][qid] = [p.chunk.id for p in retriever.retrieve(text, top_k=depth).passages]
    return runs


# ---- exploring what could be tuned -----------------------------------------------------------------------


def lexical_variant(chunks: Sequence[Chunk], k1: float, b: float, method: str) -> LexicalIndex:
    """hubchat's LexicalIndex (same tokenizer and indexed text) with other BM25 parameters."""
    import bm25s

    from hubchat.lexical import lexical_text, tokenize

    retriever = bm25s.BM25(k1=k1, b=b, method=method)
    retriever.index(tokenize([lexical_text(c) for c in chunks]), show_progress=False)
    return LexicalIndex(chunks, retriever)


def two_fold(qids: Sequence[str]) -> tuple[list[str], list[str]]:
    """Alternate queries into two halves (file order), for tuning on one and scoring on the other."""
    return list(qids[0::2]), list(qids[1::2])


def explore(store: ChunkStore, embedder, data: BeirSet, base: RetrievalSettings) -> list[str]:
    """Sweep BM25 parameters and fusion settings on precomputed rankings; returns Markdown lines.

    Rankings are computed once per retriever (dense from Chroma at depth 200, BM25 per parameter set), then
    fused with `hubchat.retrieval.fuse` for each fusion setting, which is what `retrieve` does for one passage
    per document.
    """
    from hubchat.retrieval import fuse

    qids = list(data.queries)
    depth = 200
    qvecs = embedder.embed_array([data.queries[q] for q in qids])
    dense = {q: [c.id for c, _ in store.dense_search(v, depth)] for q, v in zip(qids, qvecs)}
    lines = ["", "Exploration (every number is nDCG@10 / recall@100 over the 300 test queries):", ""]

    def fused(lex: dict[str, list[str]], rrf_k: int, wd: float, wl: float, dk: int, lk: int) -> dict[str, list[str]]:
        return {q: [i for i, _ in fuse([dense[q][:dk], lex[q][:lk]], [wd, wl], rrf_k)][:100] for q in qids}

    bm25_rows = []
    lexical_runs: dict[tuple, dict[str, list[str]]] = {}
    for method in ("lucene", "robertson", "atire", "bm25+", "bm25l"):
        for k1 in (0.9, 1.2, 1.5):
            for b in (0.4, 0.6, 0.75, 0.9):
                if method != "lucene" and (k1, b) != (1.2, 0.75):
                    continue
                index = lexical_variant(data.chunks, k1, b, method)
                lex = {q: [c.id for c, _ in index.search(data.queries[q], depth)] for q in qids}
                lexical_runs[(method, k1, b)] = lex
                alone = score_runs({q: r[:100] for q, r in lex.items()}, data.qrels)
                hyb = score_runs(fused(lex, base.rrf_k, base.dense_weight, base.lexical_weight, base.dense_k, base.lexical_k), data.qrels)
                bm25_rows.append(((method, k1, b), alone, hyb))
    lines += ["| BM25 (method, k1, b) | BM25 alone | hybrid at the current fusion settings |", "|---|---|---|"]
    for (method, k1, b), alone, hyb in bm25_rows:
        lines.append(f"| {method}, {k1}, {b} | {alone.ndcg10:.4f} / {alone.recall100:.4f} | {hyb.ndcg10:.4f} / {hyb.recall100:.4f} |")

    grid = []
    for key, lex in lexical_runs.items():
        if key[0] != "lucene":
            continue
        for rrf_k in (5, 10, 20, 30, 60, 100):
            for wl in (0.7, 1.0, 1.2, 1.5, 2.0):
                for depth_k in (20, 40, 60, 100, 200):
                    runs = fused(lex, rrf_k, 1.0, wl, depth_k, depth_k)
                    grid.append(((key, rrf_k, wl, depth_k), runs))
    half_a, half_b = two_fold(qids)
    scored = [(cfg, score_runs(runs, data.qrels), score_runs(runs, data.qrels, half_a), score_runs(runs, data.qrels, half_b)) for cfg, runs in grid]
    scored.sort(key=lambda row: -row[1].ndcg10)
    lines += ["", "Best fusion settings over the grid (BM25 lucene k1 x b, RRF k, lexical weight with dense weight 1, "
              "equal dense/lexical depth):", "",
              "| BM25 k1, b | RRF k | lexical weight | depth | nDCG@10 | recall@100 |", "|---|---|---|---|---|---|"]
    for (key, rrf_k, wl, dk), full, _, _ in scored[:12]:
        lines.append(f"| {key[1]}, {key[2]} | {rrf_k} | {wl} | {dk} | {full.ndcg10:.4f} | {full.recall100:.4f} |")
    # Honesty check: the grid's best on one half of the queries, scored on the other half.
    for name, tune_idx, test_idx in (("A", 2, 3), ("B", 3, 2)):
        best = max(scored, key=lambda row: row[tune_idx].ndcg10)
        (key, rrf_k, wl, dk) = best[0]
        lines.append("")
        lines.append(
            f"Two-fold check {name}: tuned on one half (nDCG@10 {best[tune_idx].ndcg10:.4f}) picks k1 {key[1]}, b {key[2]}, "
            f"RRF k {rrf_k}, lexical weight {wl}, depth {dk}; on the held-out half it scores {best[test_idx].ndcg10:.4f}."
        )
    return lines


# ---- the relevance floor on the product corpus ------------------------------------------------------------


@dataclass(frozen=True)
class FloorCase:
    id: str
    kind: str  # "refusal" or the gold type of an answerable question; "probe" for extra out-of-corpus questions
    query: str
    best_dense: float
    coverage: float


def floor_cases(settings: Settings, gold_files: Sequence[Path], workdir: Path, extra_refusals: Sequence[str]) -> list[FloorCase]:
    """Ingest the product corpus into a fresh store and record both floor signals for every gold question.

    Follow-ups are condensed with `condense_heuristic` first, as the extractive backend does.
    """
    from hubchat.ingest import ingest
    from hubchat.retrieval import condense_heuristic
    from hubchat.schema import Turn

    embedder = LocalOnnxEmbeddings(threads=settings.embeddings.threads, max_tokens=settings.embeddings.max_tokens)
    local = settings.model_copy(update={"index": settings.index.model_copy(update={"dir": workdir, "collection": "floor-bench"})})
    store = ChunkStore(local, embedder.name, embedder, dimension=embedder.dimension)
    summary = ingest(local, store, embedder)
    print(f"ingested {len(summary.added)} articles, {summary.chunks_total} chunks in {summary.seconds:.0f} s", file=sys.stderr)
    retriever = HybridRetriever(store, embedder, settings.retrieval)
    cases = []
    for path in gold_files:
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            item = json.loads(line)
            history = [Turn(h["question"], h.get("answer", "")) for h in item.get("history", [])]
            query = condense_heuristic(item["question"], history)
            r = retriever.retrieve(query)
            cases.append(FloorCase(item["id"], item["type"], query, r.best_dense_score or -1.0, r.lexical_coverage))
    for i, question in enumerate(extra_refusals):
        r = retriever.retrieve(question)
        cases.append(FloorCase(f"probe-{i}", "probe", question, r.best_dense_score or -1.0, r.lexical_coverage))
    return cases


def refusal_scores(cases: Sequence[FloorCase], dense_floor: float, coverage_floor: float) -> tuple[float, float, int, int]:
    """Refusal precision and recall over gold cases, and how many answerable / probe questions were refused."""
    refused = {c.id for c in cases if not (c.best_dense >= dense_floor or c.coverage >= coverage_floor)}
    gold_refusals = {c.id for c in cases if c.kind == "refusal"}
    answerable = {c.id for c in cases if c.kind not in ("refusal", "probe")}
    tp = len(refused & gold_refusals)
    precision = tp / len(refused - {c.id for c in cases if c.kind == "probe"}) if refused - {c.id for c in cases if c.kind == "probe"} else 1.0
    recall = tp / len(gold_refusals) if gold_refusals else 1.0
    probes_passed = sum(1 for c in cases if c.kind == "probe" and c.id not in refused)
    return precision, recall, len(refused & answerable), probes_passed


# ---- reporting -------------------------------------------------------------------------------------------


def machine_info() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()} {platform.release()}, "
        f"{dt.date.today().isoformat()}"
    )


NOTES_MARKER = "<!-- hand-written notes below: kept when the numbers above are regenerated -->"


def replace_section(path: Path, heading: str, body: str) -> None:
    """Put `body` under `## heading` in the Markdown file, replacing only that section (other sections stay).

    Lines from NOTES_MARKER to the end of the old section are kept after the new body.
    """
    text = path.read_text(encoding="utf-8") if path.is_file() else "# hubchat benchmark results\n"
    lines = text.splitlines()
    title = f"## {heading}"
    new_section = [title, "", *body.strip("\n").splitlines(), ""]
    if title in lines:
        start = lines.index(title)
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        old = lines[start:end]
        if NOTES_MARKER in old:
            new_section += old[old.index(NOTES_MARKER):]
        lines[start:end] = new_section
    else:
        if lines and lines[-1].strip():
            lines.append("")
        lines += new_section
    path.write_text("\n".join(lines).rstrip("\n") + "\n", encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data_dir", nargs="?", type=Path, default=DEFAULT_DATA, help="the SciFact folder (BEIR layout)")
    parser.add_argument("--config", type=Path, default=REPO_ROOT / "hubchat.toml", help="settings to measure")
    parser.add_argument("--explore", action="store_true", help="also sweep BM25 and fusion settings")
    parser.add_argument("--write-results", action="store_true", help=f"write the section of {RESULTS_FILE.name}")
    args = parser.parse_args(argv)

    from hubchat.config import load_settings

    settings = load_settings(args.config)
    data = load_beir(args.data_dir)
    embedder = LocalOnnxEmbeddings(threads=settings.embeddings.threads, batch_size=settings.embeddings.batch_size,
                                   max_tokens=settings.embeddings.max_tokens)
    vectors = cached_document_vectors(data, max_tokens=settings.embeddings.max_tokens, threads=settings.embeddings.threads)
    with tempfile.TemporaryDirectory(prefix="hubchat-scifact-") as workdir:
        started = time.perf_counter()
        store = build_store(data.chunks, vectors, bench_settings(Path(workdir), "scifact-bench", settings.retrieval), embedder)
        print(f"store built in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        retriever = HybridRetriever(store, embedder, settings.retrieval)
        started = time.perf_counter()
        runs = product_runs(retriever, data.queries)
        seconds = time.perf_counter() - started
        table = {name: score_runs(r, data.qrels) for name, r in runs.items()}
        explored = explore(store, embedder, data, settings.retrieval) if args.explore else []

    r = settings.retrieval
    lines = [
        f"SciFact test ({len(data.queries)} queries, {len(data.chunks)} abstracts, one passage each: title + text). "
        f"Model {embedder.name} (max {settings.embeddings.max_tokens} tokens), BM25 from hubchat.lexical, "
        f"real embedded Chroma (HNSW, cosine).",
        f"Settings: dense_k {r.dense_k}, lexical_k {r.lexical_k}, rrf_k {r.rrf_k}, dense_weight {r.dense_weight}, "
        f"lexical_weight {r.lexical_weight}; BM25-only and dense-only at depth 100.",
        "",
        "| retriever | nDCG@10 | recall@100 |",
        "|---|---|---|",
    ]
    for name, label in (("bm25", "BM25 only"), ("dense", "dense only"), ("hybrid", "hybrid (HybridRetriever.retrieve)")):
        lines.append(f"| {label} | {table[name].ndcg10:.4f} | {table[name].recall100:.4f} |")
    lines += ["", f"Command: `.venv/bin/python benchmarks/bench_retrieval_quality.py{' --explore' if args.explore else ''} "
              f"--write-results` (from the repository root; data from ../shared/data/scifact).",
              f"Machine: {machine_info()}. Scoring 3 x 300 queries took {seconds:.1f} s."]
    lines += explored
    report = "\n".join(lines)
    print(report)
    if args.write_results:
        replace_section(RESULTS_FILE, "Retrieval quality (SciFact)", report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
