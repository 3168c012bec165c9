"""Each evaluation set gets its own index, built by the product's own ingest and kept between runs.

A BEIR corpus is written out once as a folder of Markdown files (front matter: the document id as its url, its
title and date), so the very pipeline readers' articles go through (reader, chunker, embedder, Chroma, BM25)
indexes it too. The folder is rewritten only where a document changed, and the ingest is incremental, so a second
run embeds nothing and a changed corpus re-embeds only what changed.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import frontmatter

from hubchat.config import Settings
from hubchat.eval.datasets import EvalSet, iter_beir_corpus

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def with_section(settings: Settings, section: str, **values) -> Settings:
    """A copy of `settings` with some fields of one section replaced (the values are already typed)."""
    block = getattr(settings, section).model_copy(update=values)
    return settings.model_copy(update={section: block})


def set_dir(settings: Settings, name: str) -> Path:
    return Path(settings.eval.cache_dir) / _UNSAFE.sub("_", name)


def collection_name(name: str, suffix: str = "") -> str:
    """A Chroma-valid collection name for a set (3-512 characters of [A-Za-z0-9._-])."""
    return f"eval-{_UNSAFE.sub('-', name).strip('-._') or 'set'}{suffix}"[:500]


def file_name(doc_id: str) -> str:
    """A file name for a document id: readable where the id is, and unique where it is not."""
    safe = _UNSAFE.sub("_", doc_id).strip("._")[:80] or "doc"
    if safe != doc_id:
        safe += "-" + hashlib.sha1(doc_id.encode()).hexdigest()[:10]
    return safe + ".md"


def _markdown(doc: dict) -> str:
    meta = {"url": str(doc["_id"]), "title": str(doc.get("title") or "").strip() or str(doc["_id"])}
    date = str(doc.get("published_at") or doc.get("date") or "")[:10]
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", date):
        meta["date"] = date
    return frontmatter.dumps(frontmatter.Post(str(doc.get("text") or ""), **meta)) + "\n"


def write_corpus_folder(eval_set: EvalSet, folder: Path) -> tuple[int, int]:
    """Write the set's documents as Markdown files in `folder`, touching only files whose content changed and
    removing files of documents the corpus no longer has.

    Returns:
        (documents written or rewritten, files removed).
    """
    folder.mkdir(parents=True, exist_ok=True)
    wanted: set[str] = set()
    written = 0
    for doc in iter_beir_corpus(eval_set.source):
        if not str(doc.get("text") or "").strip():
            continue  # an empty document (Cranfield has two) is nothing to index
        name = file_name(str(doc["_id"]))
        wanted.add(name)
        path = folder / name
        content = _markdown(doc)
        if not path.is_file() or path.read_text(encoding="utf-8") != content:
            path.write_text(content, encoding="utf-8")
            written += 1
    removed = 0
    for path in folder.glob("*.md"):
        if path.name not in wanted:
            path.unlink()
            removed += 1
    return written, removed


def settings_for_set(settings: Settings, eval_set: EvalSet) -> Settings:
    """The settings hubchat answers the set with: the set's own corpus folder, index folder and collection.

    The project's gold set keeps the project's corpus folder but still gets its own index, so an evaluation
    never writes into the index the app serves. It gets its own records too: the retriever demotes passages by
    the editors' verdicts in the records, and figures must not move with whatever a checkout's records hold
    (`hubchat eval --from-reviews` and `benchmarks/bench_demotion.py` measure the verdicts' effect).
    """
    root = set_dir(settings, eval_set.name)
    corpus = eval_set.corpus_dir if eval_set.corpus_dir is not None else root / "corpus"
    settings = with_section(settings, "corpus", path=Path(corpus))
    settings = with_section(settings, "ui", db_path=root / "records.sqlite", records_url="")
    return with_section(settings, "index", dir=root / "index", collection=collection_name(eval_set.name))
