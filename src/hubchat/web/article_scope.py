"""Which indexed article a page of the site is: the widget's "ask about this article" scope.

A site's article page knows its own address; the index knows each article's `url` (a site path such as
`/guides/rag`, or an absolute address). The two are matched on the path alone, so the same article is found
whether the page is served from the live site, a staging host or a test server.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from hubchat.types import Chunk


@dataclass(frozen=True)
class ArticleRef:
    """One article, as the widget names it."""

    article_id: str
    title: str
    url: str


def page_path(url: str) -> str:
    """The path of a page address, without query, fragment or trailing slash: "/guides/rag"."""
    path = unquote(urlsplit(url.strip()).path) or "/"
    return path.rstrip("/") or "/"


class ArticleDirectory:
    """Articles by page path, built from the index's chunks (one entry per article)."""

    def __init__(self, chunks: Iterable[Chunk]):
        self._by_path: dict[str, ArticleRef] = {}
        for chunk in chunks:
            if chunk.url and (path := page_path(chunk.url)) not in self._by_path:
                self._by_path[path] = ArticleRef(chunk.article_id, chunk.title, chunk.url)

    def __len__(self) -> int:
        return len(self._by_path)

    def find(self, page_url: str) -> ArticleRef | None:
        """The article at `page_url` (any origin), or None when the page is not an indexed article."""
        if not page_url or not page_url.strip():
            return None
        return self._by_path.get(page_path(page_url))
