"""The sync's memory of each page, kept in the index folder: what to send in a conditional request, which article
the page became, and the hash of the body it was built from.

Only ever a shortcut: a page whose article the store does not hold (a rebuilt or deleted index) is fetched in full.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from hubchat.config import Settings

FORMAT = 1


@dataclass(frozen=True)
class PageState:
    """One page as the last sync that read it left it.

    Attributes:
        url: the address the page is listed under (the key: redirects may end elsewhere).
        source: the sitemap, feed or "site.urls" that listed it (a listing that fails protects its pages).
        article_id: the article the page became.
        sha256: of the body the article was built from.
        etag, last_modified: the page's validators, sent back in the next request.
    """

    url: str
    source: str
    article_id: str
    sha256: str
    etag: str = ""
    last_modified: str = ""


def state_path(settings: Settings) -> Path:
    return Path(settings.index.dir) / f"site-sync-{settings.index.collection}.json"


def load_page_states(path: Path) -> dict[str, PageState]:
    """The saved states by address; none when the file is missing, unreadable or of another format (every page
    is then fetched in full once)."""
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
        if payload.get("format") != FORMAT:
            return {}
        return {p["url"]: PageState(**p) for p in payload["pages"]}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def save_page_states(path: Path, pages: Iterable[PageState]) -> None:
    """Write the states atomically (a reader sees the old file or the new one, never half of one)."""
    payload = {"format": FORMAT, "pages": [asdict(p) for p in sorted(pages, key=lambda p: p.url)]}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(payload, ensure_ascii=False, indent=0), encoding="utf-8")
    os.replace(tmp, path)
