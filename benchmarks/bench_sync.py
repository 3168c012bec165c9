"""Site sync of 1,000 pages served on loopback, against the folder ingest of the same pages, in one run.

    .venv/bin/python benchmarks/bench_sync.py [--pages 1000] [--edits 10] [--rate 200] [--write-results]

The pages are the benchmark corpus of bench_ingest (paragraphs of the real articles remixed, each with its own
url), rendered as the site's HTML pages (header, navigation, sidebar, footer around the article) and served by
the tests' loopback site (tests/site_server.py: ETags and 304s as a real site), listed by one sitemap, behind a
robots.txt. One embedder, loaded and warmed first, serves every measurement:

1. first sync into an empty index: every page fetched, read, chunked and embedded;
2. no-change sync: every page costs one conditional request, answered 304; nothing is embedded;
3. a sync after `--edits` pages changed: those re-embedded, the rest 304;
4. the folder ingest of the same HTML files into a second empty index (the baseline), and its no-change re-run.

Prints one JSON object; `--write-results` records it in the "Site sync" section of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT))  # the loopback site and its page renderer are the tests' own
from bench_ingest import write_synthetic_corpus  # noqa: E402
from machine import machine_info  # noqa: E402
from results import write_section  # noqa: E402

from hubchat.config import Settings, load_settings  # noqa: E402
from hubchat.index.local_onnx import LocalOnnxEmbeddings  # noqa: E402
from hubchat.index.store import ChunkStore  # noqa: E402
from hubchat.ingest.pipeline import ingest  # noqa: E402
from hubchat.sync.site import sync_site  # noqa: E402
from tests.site_server import SiteServer, markdown_article_page  # noqa: E402

CACHE = Path(__file__).resolve().parent / ".cache"


class CountingEmbedder:
    """The warm embedder, counting the texts it embeds (the figure "chunks embedded" is what it was asked)."""

    def __init__(self, inner: LocalOnnxEmbeddings):
        self.inner = inner
        self.texts = 0
        self.name, self.dimension, self.batch_size = inner.name, inner.dimension, inner.batch_size

    def embed_array(self, texts):
        self.texts += len(texts)
        return self.inner.embed_array(texts)

    def embed_query(self, text):
        return self.inner.embed_query(text)


def bench_settings(folder: Path, corpus: Path, extra: str = "") -> Settings:
    config = folder / "hubchat.toml"
    config.write_text(f'[corpus]\npath = "{corpus}"\n\n[index]\ndir = "{folder / "index"}"\n\n{extra}\n', encoding="utf-8")
    return load_settings(config)


def build_site(work: Path, pages: int) -> tuple[SiteServer, dict[str, Path]]:
    """The site serving `pages` article pages (also written as HTML files for the folder baseline)."""
    markdown = work / "markdown"
    write_synthetic_corpus(markdown, pages)
    html_dir = work / "html"
    html_dir.mkdir()
    site = SiteServer().start()
    files: dict[str, Path] = {}
    for source in sorted(markdown.glob("*.md")):
        path, page = markdown_article_page(source)
        file = html_dir / f"{source.stem}.html"
        file.write_text(page, encoding="utf-8")
        site.page(path, file.read_bytes())
        files[path] = file
    site.robots("/private/")
    site.sitemap("/sitemap.xml", list(files))
    return site, files


def timed_sync(settings: Settings, embedder: CountingEmbedder, site: SiteServer) -> dict:
    site.clear_seen()
    embedder.texts = 0
    store = ChunkStore(settings, embedder)  # a new store each time, as a new `hubchat sync` process would open
    started, cpu = time.perf_counter(), time.process_time()
    s = sync_site(settings, store, embedder)
    seconds = time.perf_counter() - started
    return {
        "seconds": round(seconds, 2),
        "cpu_seconds": round(time.process_time() - cpu, 1),  # the loopback site's threads included
        "requests": s.requests,
        "answered_304": sum(r.status == 304 for r in site.seen),
        "fetched": s.fetched,
        "not_modified": s.not_modified,
        "pages_embedded": len(s.added) + len(s.updated),
        "chunks_embedded": embedder.texts,
        "failed": len(s.failed),
        "chunks_total": s.chunks_total,
    }


def timed_ingest(settings: Settings, embedder: CountingEmbedder) -> dict:
    embedder.texts = 0
    store = ChunkStore(settings, embedder)
    started, cpu = time.perf_counter(), time.process_time()
    s = ingest(settings, store, embedder)
    return {
        "seconds": round(time.perf_counter() - started, 2),
        "cpu_seconds": round(time.process_time() - cpu, 1),
        "pages_embedded": len(s.added) + len(s.updated),
        "chunks_embedded": embedder.texts,
        "chunks_total": s.chunks_total,
    }


def run(args) -> dict:
    work = Path(tempfile.mkdtemp(prefix="hubchat-bench-sync-"))
    try:
        site, files = build_site(work, args.pages)
        raw = LocalOnnxEmbeddings()
        raw.embed_array(["warm-up: the model loads once, before every measurement"])
        embedder = CountingEmbedder(raw)
        site_toml = (
            f'[site]\nsitemaps = ["{site.url("/sitemap.xml")}"]\nrate_per_s = {args.rate}\nconcurrency = {args.concurrency}\n'
        )
        (work / "sync").mkdir()
        (work / "empty").mkdir()
        sync_settings = bench_settings(work / "sync", work / "empty", site_toml)
        (work / "folder").mkdir()
        folder_settings = bench_settings(work / "folder", work / "html")
        if args.folder_first:  # the machine is shared: swapping the order shows what load did to either
            folder = timed_ingest(folder_settings, embedder)
            folder_noop = timed_ingest(folder_settings, embedder)
        first = timed_sync(sync_settings, embedder, site)
        noop = timed_sync(sync_settings, embedder, site)
        for path in list(files)[: args.edits]:
            site.page(path, files[path].read_bytes().replace(b"</article>", b"<p>An editor's late correction to this page.</p></article>"))
        edited = timed_sync(sync_settings, embedder, site)
        site.close()
        if not args.folder_first:
            folder = timed_ingest(folder_settings, embedder)
            folder_noop = timed_ingest(folder_settings, embedder)
        html_mb = sum(f.stat().st_size for f in files.values()) / 1e6
        return {
            "benchmark": "site sync vs folder ingest",
            "pages": args.pages,
            "html_mb": round(html_mb, 2),
            "rate_per_s": args.rate,
            "concurrency": args.concurrency,
            "edits": args.edits,
            "order": "folder ingest first" if args.folder_first else "sync first",
            "first_sync": first,
            "noop_sync": noop,
            "edited_sync": edited,
            "folder_ingest": folder,
            "folder_noop_ingest": folder_noop,
            "machine": machine_info(),
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)


def render_run(r: dict) -> list[str]:
    rows = [
        ("first sync (empty index)", r["first_sync"]),
        ("no-change sync", r["noop_sync"]),
        (f"sync after {r['edits']} pages were edited", r["edited_sync"]),
        ("folder ingest of the same HTML files (baseline)", r["folder_ingest"]),
        ("folder re-ingest, no change", r["folder_noop_ingest"]),
    ]
    lines = [
        f"#### {r.get('order', 'sync first')}",
        "",
        "| run | seconds | CPU seconds | requests | answered 304 | pages fetched | pages embedded | chunks embedded | failed |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, x in rows:
        lines.append(
            f"| {name} | {x['seconds']} | {x.get('cpu_seconds', '-')} | {x.get('requests', '-')} | {x.get('answered_304', '-')} | "
            f"{x.get('fetched', '-')} | {x['pages_embedded']} | {x['chunks_embedded']} | {x.get('failed', '-')} |"
        )
    first, folder = r["first_sync"], r["folder_ingest"]
    lines += [
        "",
        f"First sync against the folder ingest of the same pages: {first['seconds']} s against {folder['seconds']} s "
        f"(ratio {first['seconds'] / folder['seconds']:.2f}; both embed {folder['chunks_embedded']} chunks, most of the time). "
        f"Command: `nice .venv/bin/python benchmarks/bench_sync.py --pages {r['pages']} --edits {r['edits']} --rate {r['rate_per_s']:g}"
        f"{' --folder-first' if r.get('order') == 'folder ingest first' else ''} --write-results`. Machine: {r['machine']}.",
        "",
    ]
    return lines


def render_section(runs: list[dict]) -> str:
    r = runs[-1]
    lines = [
        f"{r['pages']} article pages ({r['html_mb']} MB of HTML: bench_ingest's remixed articles rendered with the site's "
        "header, navigation, sidebar and footer) served on loopback by tests/site_server.py (ETag and 304 like a real "
        f"site), listed by one sitemap, behind a robots.txt; `site.rate_per_s = {r['rate_per_s']:g}`, "
        f"`site.concurrency = {r['concurrency']}` (at the polite default of 4 requests per second any sync of "
        f"{r['pages']} pages lasts at least {r['pages'] / 4:.0f} s; at {r['rate_per_s']:g} a no-change sync cannot take less "
        f"than {r['pages'] / r['rate_per_s']:.1f} s). One warm embedder for every measurement; each run opens a new store, as "
        "a new process would. The no-change sync's requests are robots.txt, the sitemap and one conditional request per "
        "page. The machine is shared, so the runs are recorded in both orders.",
        "",
    ]
    for run in runs:
        lines += render_run(run)
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=1000)
    parser.add_argument("--edits", type=int, default=10, help="pages edited before the third sync")
    parser.add_argument("--rate", type=float, default=200.0, help="site.rate_per_s of the syncs")
    parser.add_argument("--concurrency", type=int, default=4, help="site.concurrency of the syncs")
    parser.add_argument("--folder-first", action="store_true", help="run the folder ingest before the syncs")
    parser.add_argument("--write-results", action="store_true", help="record the figures in the Site sync section of RESULTS.md")
    args = parser.parse_args()
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    result = run(args)
    print(json.dumps(result, indent=2))
    if args.write_results:
        CACHE.mkdir(exist_ok=True)
        # The last run of each order is kept, so the section shows both.
        (CACHE / f"sync-{'folder-first' if args.folder_first else 'sync-first'}.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
        runs = [json.loads(p.read_text(encoding="utf-8")) for p in (CACHE / "sync-sync-first.json", CACHE / "sync-folder-first.json") if p.exists()]
        write_section("Site sync", render_section(runs))


if __name__ == "__main__":
    main()
