"""The sync's memory of each page, kept in the index folder: what to send in a conditional request, the article
the page became (its extracted text and metadata), and the hash of the body it was built from.

The article is kept so that `hubchat ingest --rebuild` can re-chunk and re-embed the site's pages into the new
generation without the network (the site may be down, and a rebuild must not depend on it); the validators then
still describe what the new generation holds, so the next sync is a conditional one. Otherwise only ever a
shortcut: a page whose article the store does not hold (a deleted index) is fetched in full.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from hubchat.config import Settings
from hubchat.types import Article

# 2: each page keeps its article. A format 1 file (without) is read, and the next sync asks for each page's body
# once to read its article (an unchanged page is not embedded again); a file of any other format is ignored.
FORMAT = 2
READABLE = (1, FORMAT)


@dataclass(frozen=True)
class PageState:
    """One page as the last sync that read it left it.

    Attributes:
        url: the address the page is listed under (the key: redirects may end elsewhere).
        source: the sitemap, feed or "site.urls" that listed it (a listing that fails protects its pages).
        article_id: the article the page became.
        sha256: of the body the article was built from.
        etag, last_modified: the page's validators, sent back in the next request.
        article: the article as read from that body (what a rebuild re-embeds).
    """

    url: str
    source: str
    article_id: str
    sha256: str
    etag: str = ""
    last_modified: str = ""
    article: Article | None = None


def state_path(settings: Settings) -> Path:
    return Path(settings.index.dir) / f"site-sync-{settings.index.collection}.json"


def load_page_states(path: Path) -> dict[str, PageState]:
    """The saved states by address (without articles from a format 1 file); none when the file is missing,
    unreadable or of another format (every page is then fetched in full once)."""
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
        if payload.get("format") not in READABLE:
            return {}
        return {p["url"]: _page_state(p) for p in payload["pages"]}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def _page_state(saved: dict) -> PageState:
    article = saved.pop("article", None)
    if article is not None:
        article = Article(**{**article, "tags": tuple(article.get("tags", ()))})
    return PageState(**saved, article=article)


def kept_articles(settings: Settings) -> list[Article]:
    """The article of every page the last sync left in the index, as it was read (for a rebuild)."""
    return [p.article for p in load_page_states(state_path(settings)).values() if p.article is not None]


def save_page_states(path: Path, pages: Iterable[PageState]) -> None:
    """Write the states atomically (a reader sees the old file or the new one, never half of one)."""
    payload = {"format": FORMAT, "pages": [asdict(p) for p in sorted(pages, key=lambda p: p.url)]}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(json.dumps(payload, ensure_ascii=False, indent=0), encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)  # a half-written copy on a full disk only takes the room the next try needs
        raise
