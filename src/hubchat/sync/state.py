"""The sync's memory of each page, kept in the index folder: what to send in a conditional request, the article
the page became (its extracted text and metadata), and the hash of the body it was built from.

The article is kept so that `hubchat ingest --rebuild` can re-chunk and re-embed the site's pages into the new
generation without the network (the site may be down, and a rebuild must not depend on it); the validators then
still describe what the new generation holds, so the next sync is a conditional one. Otherwise only ever a
shortcut: a page whose article the store does not hold (a deleted index) is fetched in full.

Layout (format 3): the state file holds one small record per page; each article lives in its own
gzip-compressed file in a folder beside it, named by the hash of its content. The site's text is most of the
state: in format 2 it was all inline (5.7 MB for bench_sync's 1000 pages, 4.5 MB of it article text), and every
sync, a no-change one included, parsed and wrote it whole. Now the state file is 0.4 MB and the articles 2.6 MB
of files; loading a state reads no article (a sync of unchanged pages never needs the text, only a rebuild
does), and a save writes only the articles that changed. A save writes the new article files first, then
replaces the state file (the commit point), then removes the files no page names any more: an interrupted save
leaves the old state file, whose files are all still there (at worst a few orphans, removed by the next save).
"""

from __future__ import annotations

import contextlib
import dataclasses
import gzip
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from hubchat.config import Settings
from hubchat.types import Article

# 3: each page's article in its own compressed file beside the state (see the module docstring). A format 2 file
# (articles inline) is read as it is and rewritten as format 3 by the next sync. A format 1 file (no articles) is
# read, and the next sync asks for each page's body once to read its article (an unchanged page is not embedded
# again); a file of any other format is ignored.
FORMAT = 3
READABLE = (1, 2, FORMAT)
_ARTICLE_SUFFIX = ".json.gz"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PageState:
    """One page as the last sync that read it left it.

    Attributes:
        url: the address the page is listed under (the key: redirects may end elsewhere).
        source: the sitemap, feed or "site.urls" that listed it (a listing that fails protects its pages).
        article_id: the article the page became.
        sha256: of the body the article was built from.
        etag, last_modified: the page's validators, sent back in the next request.
        article: the article as read from that body, in memory: one this sync read (saved by the next save), or
            one from a format 2 file.
        article_file: the file a save keeps the article in (format 3). Loading a state does not read it: a sync
            of unchanged pages never needs the text, only a rebuild does (`read_article`).
    """

    url: str
    source: str
    article_id: str
    sha256: str
    etag: str = ""
    last_modified: str = ""
    article: Article | None = None
    article_file: Path | None = None

    @property
    def has_article(self) -> bool:
        """Whether the state keeps the page's article (else the next sync asks for the body once to read it)."""
        return self.article is not None or self.article_file is not None

    def read_article(self) -> Article | None:
        """The kept article; None when there is none or its file cannot be read (logged)."""
        if self.article is not None or self.article_file is None:
            return self.article
        raw = _read_article(self.article_file)
        return None if raw is None else _article(raw)


def state_path(settings: Settings) -> Path:
    return Path(settings.index.dir) / f"site-sync-{settings.index.collection}.json"


def articles_dir(path: Path) -> Path:
    """The folder of the article files of the state file at `path`."""
    return path.with_name(path.stem + ".articles")


def load_page_states(path: Path) -> dict[str, PageState]:
    """The saved states by address (articles inline from a format 2 file, none from a format 1 file, a file to
    read from format 3); none when the file is missing, unreadable or of another format (every page is then
    fetched in full once). A page whose article file is missing keeps no article (one full request mends it)."""
    folder = articles_dir(path)
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
        if payload.get("format") not in READABLE:
            return {}
        present = {f.name for f in folder.iterdir()} if payload["format"] == FORMAT and folder.is_dir() else set()
        return {p["url"]: _page_state(p, folder, present) for p in payload["pages"]}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def _page_state(saved: dict, folder: Path, present: set[str]) -> PageState:
    article = saved.pop("article", None)  # format 2: inline
    name = saved.pop("article_file", "")  # format 3: a file in `folder`
    return PageState(
        **saved,
        article=None if article is None else _article(article),
        article_file=folder / name if name and name in present else None,
    )


def _article(raw: dict) -> Article:
    return Article(**{**raw, "tags": tuple(raw.get("tags", ()))})


def _read_article(path: Path) -> dict | None:
    try:
        return json.loads(gzip.decompress(path.read_bytes()))
    except (OSError, ValueError, EOFError) as exc:
        log.warning("the sync's copy of an article, %s, cannot be read (%s): a rebuild leaves its page out", path, exc)
        return None


def kept_articles(settings: Settings) -> list[Article]:
    """The article of every page the last sync left in the index, as it was read (for a rebuild)."""
    articles = (p.read_article() for p in load_page_states(state_path(settings)).values())
    return [a for a in articles if a is not None]


def save_page_states(path: Path, pages: Iterable[PageState]) -> None:
    """Write the states so that a reader sees the old ones or the new ones, never half of either (see the module
    docstring): new article files, then the state file by an atomic rename, then unused article files go.

    A page's article in memory is written (unless a file of the same content is there); one kept in a file of
    this folder is named again without being read or written, so an unchanged site costs one small file."""
    folder = articles_dir(path)
    folder.mkdir(parents=True, exist_ok=True)
    present = {f.name for f in folder.iterdir()}
    records = []
    for page in sorted(pages, key=lambda p: p.url):
        if page.article is not None:
            name = _write_article(folder, page.article, present)
        elif page.article_file is not None and page.article_file.parent == folder and page.article_file.name in present:
            name = page.article_file.name
        else:
            name = ""
        records.append({
            "url": page.url, "source": page.source, "article_id": page.article_id, "sha256": page.sha256,
            "etag": page.etag, "last_modified": page.last_modified, "article_file": name,
        })
    _write_atomically(path, json.dumps({"format": FORMAT, "pages": records}, ensure_ascii=False, indent=0).encode("utf-8"))
    named = {r["article_file"] for r in records}
    for stale in present | {f.name for f in folder.iterdir()}:
        # Only after the state file names its files; a temporary file of a save that was killed goes too.
        if stale not in named:
            with contextlib.suppress(OSError):
                (folder / stale).unlink()


def _write_article(folder: Path, article: Article, present: set[str]) -> str:
    """The article's file name in `folder`, writing the file unless it is there: named by its content's hash, a
    name always means the same content, and an article read again unchanged is not written again."""
    data = json.dumps(dataclasses.asdict(article), ensure_ascii=False, sort_keys=True).encode("utf-8")
    name = hashlib.sha256(data).hexdigest()[:32] + _ARTICLE_SUFFIX
    if name not in present:
        # mtime=0: the same article compresses to the same bytes.
        _write_atomically(folder / name, gzip.compress(data, compresslevel=6, mtime=0))
        present.add(name)
    return name


def _write_atomically(path: Path, data: bytes) -> None:
    """`data` at `path` through a synced temporary file and a rename: the old file or the new one, whole."""
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
