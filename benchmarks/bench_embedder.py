"""Raw throughput of the local embedder: the ceiling that ingest speed is measured against.

Used as a module by the ingest benchmark (`raw_embedder_throughput`), and runnable alone:

    python benchmarks/bench_embedder.py --n 300 --threads 2 --batch-size 32
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections.abc import Sequence
from pathlib import Path

from hubchat.index.local_onnx import LocalOnnxEmbeddings
from hubchat.index.tokens import count_tokens_batch, load_tokenizer

DEFAULT_CORPUS = Path(__file__).resolve().parents[2] / "shared" / "data" / "scifact" / "corpus.jsonl"


def raw_embedder_throughput(
    texts: Sequence[str], threads: int = 2, batch_size: int = 32, max_tokens: int = 256
) -> dict:
    """Passages per second of `LocalOnnxEmbeddings.embed_array` on `texts`, after a warm-up.

    Args:
        texts: the passages, embedded in one call (the embedder sorts them by length into batches).
        threads: onnxruntime intra-op threads.
        batch_size: passages per inference run.
        max_tokens: truncation length.

    Returns:
        A dict with passages, mean_tokens (with [CLS]/[SEP], after truncation), seconds (wall), passages_per_s,
        tokens_per_s, cpu_seconds, threads, batch_size, max_tokens and model.
    """
    texts = list(texts)
    if not texts:
        raise ValueError("no texts to embed")
    embedder = LocalOnnxEmbeddings(threads=threads, batch_size=batch_size, max_tokens=max_tokens)
    # Warm-up: session creation and onnxruntime's first-run allocations are not throughput.
    embedder.embed_array(texts[: min(len(texts), batch_size)])
    start, cpu_start = time.perf_counter(), time.process_time()
    vectors = embedder.embed_array(texts)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    assert vectors.shape == (len(texts), embedder.dimension)
    tokens = [min(n + 2, max_tokens) for n in count_tokens_batch(texts)]
    return {
        "passages": len(texts),
        "mean_tokens": round(sum(tokens) / len(tokens), 1),
        "seconds": round(seconds, 3),
        "passages_per_s": round(len(texts) / seconds, 2),
        "tokens_per_s": round(sum(tokens) / seconds, 1),
        # CPU time of all threads: on a busy machine, wall time overstates the cost and this does not.
        "cpu_seconds": round(cpu_seconds, 3),
        "threads": threads,
        "batch_size": batch_size,
        "max_tokens": max_tokens,
        "model": embedder.name,
    }


def sample_passages(
    corpus: Path = DEFAULT_CORPUS, n: int = 300, min_tokens: int = 150, max_tokens: int = 250, seed: int = 0
) -> list[str]:
    """`n` passages of `min_tokens`..`max_tokens` tokens cut from SciFact abstracts (title + text).

    Abstracts shorter than `min_tokens` are skipped; longer ones are cut at a token boundary to a length drawn
    uniformly from the range, so the mix of lengths resembles ingest chunks.
    """
    rng = random.Random(seed)
    docs = [json.loads(line) for line in corpus.read_text(encoding="utf-8").splitlines() if line.strip()]
    rng.shuffle(docs)
    tokenizer = load_tokenizer()
    passages: list[str] = []
    for doc in docs:
        text = f"{doc.get('title', '')}\n{doc.get('text', '')}".strip()
        offsets = tokenizer.encode(text, add_special_tokens=False).offsets
        if len(offsets) < min_tokens:
            continue
        keep = min(len(offsets), rng.randint(min_tokens, max_tokens))
        passages.append(text[: offsets[keep - 1][1]])
        if len(passages) == n:
            return passages
    raise ValueError(f"{corpus} has only {len(passages)} abstracts of at least {min_tokens} tokens; asked for {n}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-tokens", type=int, default=256)
    args = parser.parse_args()
    texts = sample_passages(args.corpus, n=args.n)
    result = raw_embedder_throughput(texts, threads=args.threads, batch_size=args.batch_size, max_tokens=args.max_tokens)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
