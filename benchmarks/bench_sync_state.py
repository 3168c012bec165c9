"""Size and cost of the site sync's state for bench_sync's 1,000-page site: format 3 against format 2, one run.

    .venv/bin/python benchmarks/bench_sync_state.py [--pages 1000] [--write-results]

A real sync of the loopback site (tests/site_server.py, the pages of bench_sync.build_site) into embedded Chroma,
then a no-change sync, writes the state as the sync does (format 3: a small state file and one compressed file
per article). The same states are then written as format 2 wrote them (state.py at ca624b1: every article inline
in one JSON file) and read back through the format 2 reader. The embedder is a hash of each text: the state does
not depend on the vectors, and this measures the state, not the model (bench_sync measures the embedding).

Prints one JSON object; `--write-results` records it in the "Sync state" section of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT))
from bench_sync import bench_settings, build_site  # noqa: E402
from machine import machine_info  # noqa: E402
from results import write_section  # noqa: E402

from hubchat.index.store import ChunkStore  # noqa: E402
from hubchat.sync import state as S  # noqa: E402
from hubchat.sync.site import sync_site  # noqa: E402

RESULTS_FILE = Path(__file__).resolve().parent / "RESULTS.md"


class HashEmbedder:
    """Deterministic unit vectors from each text's hash: enough for Chroma, instant, and never a model."""

    name, dimension, batch_size = "hash-bench", 16, 64

    def embed_array(self, texts):
        out = np.array([np.frombuffer(hashlib.sha256(t.encode()).digest()[:16], np.uint8) + 1.0 for t in texts], np.float32)
        return out / np.linalg.norm(out, axis=1, keepdims=True)

    def embed_documents(self, texts):
        return self.embed_array(texts).tolist()

    def embed_query(self, text):
        return self.embed_array([text])[0].tolist()


def timed(fn):
    started = time.perf_counter()
    value = fn()
    return value, round(time.perf_counter() - started, 3)


def run(pages: int) -> dict:
    work = Path(tempfile.mkdtemp(prefix="hubchat-bench-state-"))
    try:
        site, files = build_site(work, pages)
        (work / "sync").mkdir()
        (work / "empty").mkdir()
        settings = bench_settings(work / "sync", work / "empty", f'[site]\nsitemaps = ["{site.url("/sitemap.xml")}"]\nrate_per_s = 1000\n')
        embedder = HashEmbedder()
        first = sync_site(settings, ChunkStore(settings, embedder), embedder)
        noop = sync_site(settings, ChunkStore(settings, embedder), embedder)
        site.close()
        path = S.state_path(settings)
        article_files = list(S.articles_dir(path).iterdir())
        known, load_s = timed(lambda: S.load_page_states(path))
        _, save_s = timed(lambda: S.save_page_states(path, known.values()))
        articles, read_s = timed(lambda: S.kept_articles(settings))
        by_url = sorted(known.values(), key=lambda p: p.url)
        old = path.with_name("format-2.json")
        payload = {"format": 2, "pages": [
            {**{k: v for k, v in asdict(p).items() if k not in ("article", "article_file")}, "article": asdict(p.read_article())} for p in by_url
        ]}
        _, old_save_s = timed(lambda: old.write_text(json.dumps(payload, ensure_ascii=False, indent=0), encoding="utf-8"))
        migrated, old_load_s = timed(lambda: S.load_page_states(old))
        assert [migrated[p.url].read_article() for p in by_url] == [p.read_article() for p in by_url], "format 2 reads the same"
        return {
            "benchmark": "site sync state, format 3 against format 2",
            "pages": pages,
            "first_sync_pages": first.fetched,
            "noop_sync_not_modified": noop.not_modified,
            "html_mb": round(sum(f.stat().st_size for f in files.values()) / 1e6, 2),
            "article_text_mb": round(sum(len(a.text.encode()) for a in articles) / 1e6, 2),
            "format3_state_file_mb": round(path.stat().st_size / 1e6, 2),
            "format3_article_files": len(article_files),
            "format3_article_files_mb": round(sum(f.stat().st_size for f in article_files) / 1e6, 2),
            "format3_load_s": load_s,
            "format3_no_change_save_s": save_s,
            "format3_read_every_article_s": read_s,
            "format2_file_mb": round(old.stat().st_size / 1e6, 2),
            "format2_save_s": old_save_s,
            "format2_load_s": old_load_s,
            "machine": machine_info(),
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)


def render(r: dict) -> str:
    return "\n".join([
        f"The sync's state after a real sync of bench_sync's {r['pages']} pages ({r['html_mb']} MB of HTML, "
        f"{r['article_text_mb']} MB of article text) from the loopback site, then a no-change sync "
        f"({r['noop_sync_not_modified']} pages answered 304), with a hash embedder (the state does not depend on the vectors). "
        "Format 2 is the same states written as state.py at ca624b1 wrote them, in the same run.",
        "",
        "| layout | on disk | load (every sync) | save after a no-change sync | read every article (a rebuild) |",
        "|---|---|---|---|---|",
        f"| format 2: one JSON file, articles inline | {r['format2_file_mb']} MB | {r['format2_load_s']} s | {r['format2_save_s']} s "
        "(everything, each sync) | (in the load) |",
        f"| format 3: state file + one gzip file per article | {r['format3_state_file_mb']} MB + {r['format3_article_files']} files, "
        f"{r['format3_article_files_mb']} MB | {r['format3_load_s']} s | {r['format3_no_change_save_s']} s (the state file only) | "
        f"{r['format3_read_every_article_s']} s |",
        "",
        f"Command: `.venv/bin/python benchmarks/bench_sync_state.py --pages {r['pages']} --write-results`. Machine: {r['machine']}.",
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=1000)
    parser.add_argument("--write-results", action="store_true")
    args = parser.parse_args()
    result = run(args.pages)
    print(json.dumps(result, indent=2))
    if args.write_results:
        write_section("Sync state", render(result), RESULTS_FILE)


if __name__ == "__main__":
    main()
