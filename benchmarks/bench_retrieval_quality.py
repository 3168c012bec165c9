"""Retrieval quality on SciFact (BEIR test split): nDCG@10 and recall@100 for BM25, dense and hybrid.

What is measured is the product's own code: documents become `hubchat.types.Chunk`s (title + abstract, one
passage per document, chunk id = document id), their vectors come from `LocalOnnxEmbeddings` over
`hubchat.chunking.embedding_text`, they are written to a real Chroma collection with `hubchat.index.metadata`'s metadata,
the BM25 index is `hubchat.index.lexical.LexicalIndex` over `lexical_text`, and the three rankings come from
`hubchat.retrieval.hybrid.HybridRetriever` (`lexical`, `dense`, `retrieve`) with the product's `RetrievalSettings`.

Usage (from the repository root):

    .venv/bin/python benchmarks/bench_retrieval_quality.py [DATA_DIR] [--write-results]

DATA_DIR defaults to ../shared/data/scifact relative to the repository root. Document vectors are cached in
benchmarks/.cache/ (keyed by model, truncation and corpus hash), so only the first run embeds (a few minutes).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.machine import (
    machine_info,  # noqa: E402  (run as a script from the repository root)
)
from benchmarks.results import write_section  # noqa: E402
from hubchat.config import RetrievalSettings, Settings
from hubchat.eval.metrics import ndcg_at_k, recall_at_k
from hubchat.index.lexical import LexicalIndex
from hubchat.index.local_onnx import LocalOnnxEmbeddings
from hubchat.index.metadata import chunk_metadata
from hubchat.index.store import ChunkStore
from hubchat.ingest.chunking import embedding_text
from hubchat.retrieval.fusion import FUSIONS
from hubchat.retrieval.hybrid import HybridRetriever
from hubchat.types import Chunk

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
    ignore = CACHE_DIR / ".gitignore"
    if not ignore.exists():  # the cache is machine-local: keep it out of git
        ignore.write_text("*\n!.gitignore\n", encoding="utf-8")
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

    Vectors are written directly (they are cached), in batches, with the same metadata `write_articles` writes;
    the lexical index is then built by the store from what Chroma holds, as after an ingest.
    """
    store = ChunkStore(settings, embedder)
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


def product_runs(retrievers: dict[str, HybridRetriever], queries: dict[str, str], depth: int = 100) -> dict[str, dict[str, list[str]]]:
    """The rankings per query from the product's retrievers: BM25 only and dense only (from the first), and
    `retrieve` of each retriever (one per fusion method)."""
    first = next(iter(retrievers.values()))
    runs: dict[str, dict[str, list[str]]] = {"bm25": {}, "dense": {}, **{name: {} for name in retrievers}}
    for qid, text in queries.items():
        runs["bm25"][qid] = [c.id for c, _ in first.lexical(text, depth)]
        runs["dense"][qid] = [c.id for c, _ in first.dense(text, depth)]
        for name, retriever in retrievers.items():
            runs[name][qid] = [p.chunk.id for p in retriever.retrieve(text, top_k=depth).passages]
    return runs


# ---- exploring what could be tuned -----------------------------------------------------------------------


def lexical_variant(chunks: Sequence[Chunk], k1: float, b: float, method: str) -> LexicalIndex:
    """hubchat's LexicalIndex (same tokenizer and indexed text) with other BM25 parameters."""
    return LexicalIndex.build(chunks, k1=k1, b=b, method=method)


def two_fold(qids: Sequence[str]) -> tuple[list[str], list[str]]:
    """Alternate queries into two halves (file order), for tuning on one and scoring on the other."""
    return list(qids[0::2]), list(qids[1::2])


def per_query(runs: dict[str, list[str]], qrels: dict[str, dict[str, int]], qids: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """nDCG@10 and recall@100 of every query, in `qids` order."""
    return (
        np.array([ndcg_at_k(runs.get(q, []), qrels[q], 10) for q in qids]),
        np.array([recall_at_k(runs.get(q, []), qrels[q], 100) for q in qids]),
    )


def explore(store: ChunkStore, embedder, data: BeirSet, vectors: np.ndarray, base: RetrievalSettings) -> list[str]:
    """Sweep BM25 parameters and both fusion methods on precomputed rankings; returns Markdown lines.

    Rankings are computed once per retriever (dense from the Chroma store at depth 200, BM25 per parameter
    set), then fused with `hubchat.retrieval.fusion.fuse` / `fuse_scores` exactly as `retrieve` does (cosines of
    lexical-only candidates from the document vectors, BM25 floor 0). With one passage per document the
    per-article cap never binds.
    """
    from hubchat.retrieval.fusion import fuse, fuse_scores

    qids = list(data.queries)
    half_a, half_b = two_fold(qids)
    pos = {q: i for i, q in enumerate(qids)}
    ia, ib = [pos[q] for q in half_a], [pos[q] for q in half_b]
    depth = 200
    qvecs = embedder.embed_array([data.queries[q] for q in qids])
    by_id = {c.id: v for c, v in zip(data.chunks, vectors)}
    qvec = dict(zip(qids, qvecs))
    dense = {q: [(c.id, s) for c, s in store.dense_search(v, depth)] for q, v in zip(qids, qvecs)}

    def rrf(lex, rrf_k, wl, dk):
        return {q: [i for i, _ in fuse([[d for d, _ in dense[q][:dk]], [c for c, _ in lex[q][:dk]]], [1.0, wl], rrf_k)][:100]
                for q in qids}

    def scores(lex, dense_share, dk):
        runs = {}
        for q in qids:
            d = dict(dense[q][:dk])
            lx = dict(lex[q][:dk])
            d.update({c: float(by_id[c] @ qvec[q]) for c in lx if c not in d})
            runs[q] = [i for i, _ in fuse_scores([d, lx], [dense_share, 1 - dense_share], [None, 0.0])][:100]
        return runs

    fmt = lambda n, r: f"{n.mean():.4f} / {r.mean():.4f}"  # noqa: E731
    share = base.dense_weight / (base.dense_weight + base.lexical_weight)
    lines = ["", "### What was tried (nDCG@10 / recall@100 over the 300 queries unless said otherwise)", ""]

    lexical_runs = {}
    variants = [("lucene", k1, b) for k1 in (0.9, 1.2, 1.5, 2.0) for b in (0.4, 0.75, 1.0)]
    variants += [(m, 1.2, 0.75) for m in ("robertson", "atire", "bm25l", "bm25+")]
    lines += [f"BM25 parameters (hubchat's tokenizer and indexed text; hubchat.index.lexical uses lucene, k1 1.2, b 0.75), "
              f"alone and in both hybrids at the configured depths ({base.dense_k}/{base.lexical_k}), weights and RRF k "
              f"({base.rrf_k}):", "",
              "| method, k1, b | BM25 alone | hybrid, score fusion | hybrid, RRF |", "|---|---|---|---|"]
    for method, k1, b in variants:
        index = lexical_variant(data.chunks, k1, b, method)
        lex = {q: [(c.id, s) for c, s in index.search(data.queries[q], depth)] for q in qids}
        lexical_runs[(method, k1, b)] = lex
        alone = per_query({q: [c for c, _ in r[:100]] for q, r in lex.items()}, data.qrels, qids)
        by_scores = per_query(scores(lex, share, base.dense_k), data.qrels, qids)
        by_rrf = per_query(rrf(lex, base.rrf_k, base.lexical_weight / max(base.dense_weight, 1e-9), base.dense_k), data.qrels, qids)
        lines.append(f"| {method}, {k1}, {b} | {fmt(*alone)} | {fmt(*by_scores)} | {fmt(*by_rrf)} |")

    keys = (("lucene", 1.2, 0.75), ("lucene", 1.5, 0.75), ("lucene", 1.2, 1.0))
    rrf_grid = [((key[1], key[2], rrf_k, wl, dk), *per_query(rrf(lexical_runs[key], rrf_k, wl, dk), data.qrels, qids))
                for key in keys for rrf_k in (5, 10, 20, 30, 60, 100) for wl in (0.8, 1.0, 1.2, 1.5, 2.0) for dk in (20, 40, 60, 100, 200)]
    score_grid = [((key[1], key[2], ds, dk), *per_query(scores(lexical_runs[key], ds, dk), data.qrels, qids))
                  for key in keys for ds in (0.3, 0.4, 0.5, 0.6, 0.7) for dk in (20, 40, 60, 100, 200)]

    def held_out(grid, current):
        out = []
        for name, tune, test in (("odd", ia, ib), ("even", ib, ia)):
            best = max(grid, key=lambda row: row[1][tune].mean())
            now = next(row for row in grid if row[0] == current)
            out.append(f"tuned on the {name} queries: picks {best[0]}, {best[1][tune].mean():.4f} there, "
                       f"{best[1][test].mean():.4f} held out (current settings held out: {now[1][test].mean():.4f})")
        return "; ".join(out)

    rrf_grid.sort(key=lambda row: -row[1].mean())
    score_grid.sort(key=lambda row: -row[1].mean())
    lines += ["", f"RRF grid ({len(rrf_grid)} settings: BM25 k1, b x RRF k x lexical weight (dense 1) x depth), best 5:", "",
              "| k1, b | RRF k | lexical weight | depth | nDCG@10 | recall@100 |", "|---|---|---|---|---|---|"]
    for (k1, b, rrf_k, wl, dk), n, r in rrf_grid[:5]:
        lines.append(f"| {k1}, {b} | {rrf_k} | {wl} | {dk} | {n.mean():.4f} | {r.mean():.4f} |")
    lines += ["", "Two-fold check, RRF (settings as (k1, b, RRF k, lexical weight, depth)): "
              + held_out(rrf_grid, (1.2, 0.75, base.rrf_k, 1.0, base.dense_k)) + "."]
    lines += ["", f"Score-fusion grid ({len(score_grid)} settings: BM25 k1, b x dense share of the weight x depth), best 5:", "",
              "| k1, b | dense share | depth | nDCG@10 | recall@100 |", "|---|---|---|---|---|"]
    for (k1, b, ds, dk), n, r in score_grid[:5]:
        lines.append(f"| {k1}, {b} | {ds} | {dk} | {n.mean():.4f} | {r.mean():.4f} |")
    lines += ["", "Two-fold check, score fusion (settings as (k1, b, dense share, depth)): "
              + held_out(score_grid, (1.2, 0.75, 0.5, base.dense_k)) + "."]
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
    from hubchat.ingest.pipeline import ingest
    from hubchat.retrieval.condense import condense_heuristic
    from hubchat.types import Turn

    embedder = LocalOnnxEmbeddings(threads=settings.embeddings.threads, max_tokens=settings.embeddings.max_tokens)
    local = settings.model_copy(update={"index": settings.index.model_copy(update={"dir": workdir, "collection": "floor-bench"})})
    store = ChunkStore(local, embedder)
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


def floor_report(cases: Sequence[FloorCase], dense_floor: float, coverage_floor: float) -> list[str]:
    """Markdown: refusal precision/recall at the configured floor and at nearby settings."""
    answerable = sum(1 for c in cases if c.kind not in ("refusal", "probe"))
    refusals = sum(1 for c in cases if c.kind == "refusal")
    probes = sum(1 for c in cases if c.kind == "probe")
    lines = [
        f"Relevance floor on the product corpus ({answerable} answerable gold questions, {refusals} gold refusals, "
        f"{probes} extra out-of-corpus probes: the 300 SciFact claims plus two everyday questions). A question is "
        "refused when its best dense cosine < min_dense_score and no lexical candidate holds >= min_lexical_coverage "
        "of its IDF mass. Follow-ups are condensed with condense_heuristic first.",
        "",
        "| min_dense_score | min_lexical_coverage | refusal precision | refusal recall | answerable refused | probes passed |",
        "|---|---|---|---|---|---|",
    ]
    grid = sorted({dense_floor, 0.30, 0.35, 0.40, 0.42, 0.45, 0.50})
    for d in grid:
        for cov in sorted({coverage_floor, 0.6, 1.01}):
            precision, recall, wrong, passed = refusal_scores(cases, d, cov)
            mark = " **(configured)**" if (d, cov) == (dense_floor, coverage_floor) else ""
            cov_label = "never" if cov > 1 else f"{cov:.2f}"
            lines.append(f"| {d:.2f}{mark} | {cov_label} | {precision:.2f} | {recall:.2f} | {wrong}/{answerable} | {passed}/{probes} |")
    lines += ["", "Per question (refusals, and answerable questions below the dense floor):", "",
              "| id | type | best dense cosine | lexical coverage | refused |", "|---|---|---|---|---|"]
    for c in cases:
        refused = not (c.best_dense >= dense_floor or c.coverage >= coverage_floor)
        if c.kind == "refusal" or (c.kind != "probe" and c.best_dense < dense_floor):
            lines.append(f"| {c.id} | {c.kind} | {c.best_dense:.3f} | {c.coverage:.2f} | {'yes' if refused else 'no'} |")
    return lines


# ---- reporting -------------------------------------------------------------------------------------------




def parse_overrides(pairs: Sequence[str]) -> dict[str, dict]:
    """["embeddings.max_tokens=512", ...] -> {"embeddings": {"max_tokens": 512}} (values parsed as JSON if they can be)."""
    out: dict[str, dict] = {}
    for pair in pairs:
        key, _, raw = pair.partition("=")
        section, _, name = key.partition(".")
        if not (section and name and raw):
            raise SystemExit(f"--also expects SECTION.KEY=VALUE, got {pair!r}")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        out.setdefault(section, {})[name] = value
    return out


def measure(settings: Settings, data: BeirSet) -> tuple[dict[str, Scores], dict[str, str], float, tuple]:
    """BM25-only, dense-only and one hybrid per fusion method, all through the product's HybridRetriever."""
    embedder = LocalOnnxEmbeddings(threads=settings.embeddings.threads, batch_size=settings.embeddings.batch_size,
                                   max_tokens=settings.embeddings.max_tokens)
    vectors = cached_document_vectors(data, max_tokens=settings.embeddings.max_tokens, threads=settings.embeddings.threads)
    with tempfile.TemporaryDirectory(prefix="hubchat-scifact-") as workdir:
        started = time.perf_counter()
        store = build_store(data.chunks, vectors, bench_settings(Path(workdir), "scifact-bench", settings.retrieval), embedder)
        print(f"store built in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        product = HybridRetriever(store, embedder, settings.retrieval)
        retrievers = {f"hybrid-{product.fusion}": product}
        for fusion in FUSIONS:
            if fusion != product.fusion:
                retrievers[f"hybrid-{fusion}"] = HybridRetriever(store, embedder, settings.retrieval, fusion=fusion)
        started = time.perf_counter()
        runs = product_runs(retrievers, data.queries)
        seconds = time.perf_counter() - started
        table = {name: score_runs(r, data.qrels) for name, r in runs.items()}
        labels = {"bm25": "BM25 only", "dense": "dense only"}
        for name, retriever in retrievers.items():
            what = "weighted RRF" if retriever.fusion == "rrf" else "weighted min-max score fusion"
            labels[name] = f"hybrid, {what}" + (" (the product's default)" if retriever is product else f" (fusion={retriever.fusion!r})")
        return table, labels, seconds, (store, embedder, vectors, product.fusion)


def settings_line(settings: Settings, fusion: str) -> str:
    r = settings.retrieval
    return (
        f"embeddings.max_tokens {settings.embeddings.max_tokens}; dense_k {r.dense_k}, lexical_k {r.lexical_k}, "
        f"rrf_k {r.rrf_k}, dense_weight {r.dense_weight}, lexical_weight {r.lexical_weight}, fusion {fusion!r}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data_dir", nargs="?", type=Path, default=DEFAULT_DATA, help="the SciFact folder (BEIR layout)")
    parser.add_argument("--config", type=Path, default=REPO_ROOT / "hubchat.toml", help="settings to measure")
    parser.add_argument("--also", nargs="*", default=[], metavar="SECTION.KEY=VALUE",
                        help="measure a second time with these settings changed (e.g. embeddings.max_tokens=512)")
    parser.add_argument("--explore", action="store_true", help="also sweep BM25 and fusion settings")
    parser.add_argument("--floor", action="store_true", help="also calibrate the relevance floor on the product corpus")
    parser.add_argument("--gold", type=Path, default=REPO_ROOT / "tests" / "data" / "gold.jsonl", help="gold questions (JSONL)")
    parser.add_argument("--write-results", action="store_true", help=f"write the section of {RESULTS_FILE.name}")
    args = parser.parse_args(argv)

    from hubchat.config import load_settings

    settings = load_settings(args.config)
    data = load_beir(args.data_dir)
    configs = [("as configured", settings)]
    if args.also:
        configs.append(("with " + ", ".join(args.also), load_settings(args.config, **parse_overrides(args.also))))

    command = " ".join(["`.venv/bin/python benchmarks/bench_retrieval_quality.py", *(["--also", *args.also] if args.also else []),
                        *(["--explore"] if args.explore else []), *(["--floor"] if args.floor else []), "--write-results`"])
    lines = [
        f"SciFact test ({len(data.queries)} queries, {len(data.chunks)} abstracts, one passage each: title + text, "
        f"id = document id). Everything runs through the product's code: {LocalOnnxEmbeddings().name} vectors of "
        "`embedding_text`, a real embedded Chroma collection (HNSW, cosine) with hubchat's metadata, "
        "`hubchat.index.lexical.LexicalIndex`, and `HybridRetriever.lexical` / `.dense` / `.retrieve` (depth 100).",
        "",
        "| settings | retriever | nDCG@10 | recall@100 |",
        "|---|---|---|---|",
    ]
    explored: list[str] = []
    total_seconds = 0.0
    settings_lines = []
    for name, cfg in configs:
        table, labels, seconds, (store, embedder, vectors, fusion) = measure(cfg, data)
        total_seconds += seconds
        settings_lines.append(f"- {name}: {settings_line(cfg, fusion)}")
        for key, label in labels.items():
            lines.append(f"| {name} | {label} | {table[key].ndcg10:.4f} | {table[key].recall100:.4f} |")
        if args.explore and not explored:
            with tempfile.TemporaryDirectory(prefix="hubchat-scifact-") as workdir:
                store = build_store(data.chunks, vectors, bench_settings(Path(workdir), "scifact-explore", cfg.retrieval), embedder)
                explored = explore(store, embedder, data, vectors, cfg.retrieval)
    lines += ["", *settings_lines, "",
              f"Command: {command} (from the repository root; data from ../shared/data/scifact).",
              f"Machine: {machine_info()}. Querying took {total_seconds:.0f} s in all. Chroma's HNSW build is not "
              "deterministic, so dense and hybrid numbers move by about 0.003 between runs."]
    lines += explored
    if args.floor:

        floor_settings = configs[-1][1]
        probes = ["What is the capital of Peru?", "How do I bake sourdough bread?", *data.queries.values()]
        with tempfile.TemporaryDirectory(prefix="hubchat-floor-") as workdir:
            cases = floor_cases(floor_settings, [args.gold], Path(workdir), probes)
        coverage_floor = float(floor_settings.retrieval.min_lexical_coverage)
        lines += ["", "### Relevance floor", ""]
        lines += floor_report(cases, floor_settings.retrieval.min_dense_score, coverage_floor)
    report = "\n".join(lines)
    print(report)
    if args.write_results:
        write_section("Retrieval quality (SciFact)", report, RESULTS_FILE)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
