"""A real HTTP site on loopback for the sync tests and benchmark: article pages, robots.txt, sitemaps and feeds,
whose answers a test changes between syncs (edit, delete, 404/410, 500, slow, huge, redirect loop).

Pages get an ETag (from their body) and, when given, a Last-Modified date, and answer conditional requests with
304 as a real site does. Every request is recorded with its conditional headers, so a test can count them.
"""

from __future__ import annotations

import hashlib
import html
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import frontmatter
from markdown_it import MarkdownIt

from tests.loopback_http import LoopbackServer


@dataclass
class Route:
    """How the site answers one path.

    Attributes:
        status: 200 for a page; anything else is sent with an empty body (404, 410, 500 ...).
        delay_s: wait this long before answering (a slow page).
        location: answer with a 301 to this path (a redirect).
        etag: send an ETag and honour If-None-Match.
        last_modified: send this Last-Modified date and honour If-Modified-Since.
        declare_length: send Content-Length (without it the body ends when the connection closes).
    """

    body: bytes = b""
    content_type: str = "text/html; charset=utf-8"
    status: int = 200
    delay_s: float = 0.0
    location: str = ""
    etag: bool = True
    last_modified: str = ""
    declare_length: bool = True


@dataclass(frozen=True)
class Seen:
    """One request the site answered."""

    path: str
    if_none_match: str
    if_modified_since: str
    user_agent: str
    status: int
    at: float  # time.monotonic() when it arrived


class SiteServer(LoopbackServer):
    """The site. Set `routes[path]`; read `seen` (every request, in order)."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        super().__init__(_SiteHandler)

    @property
    def origin(self) -> str:
        return self.base_url.removesuffix("/v1")

    def url(self, path: str) -> str:
        return self.origin + path

    def page(self, path: str, body: str | bytes, **options) -> None:
        self.routes[path] = Route(body.encode() if isinstance(body, str) else body, **options)

    def sitemap(self, path: str, pages: list[str]) -> None:
        """A `<urlset>` sitemap at `path` listing these paths."""
        locs = "".join(f"<url><loc>{html.escape(self.url(p))}</loc></url>" for p in pages)
        self.page(path, f'<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{locs}</urlset>', content_type="application/xml")

    def sitemap_index(self, path: str, sitemaps: list[str]) -> None:
        locs = "".join(f"<sitemap><loc>{html.escape(self.url(p))}</loc></sitemap>" for p in sitemaps)
        self.page(path, f'<?xml version="1.0" encoding="UTF-8"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{locs}</sitemapindex>', content_type="application/xml")

    def rss(self, path: str, pages: list[str]) -> None:
        items = "".join(f"<item><title>{p}</title><link>{html.escape(self.url(p))}</link></item>" for p in pages)
        self.page(path, f'<?xml version="1.0"?><rss version="2.0"><channel><title>AI Tools Hub</title><link>{self.origin}/</link><description>Latest</description>{items}</channel></rss>', content_type="application/rss+xml")

    def robots(self, *disallowed: str) -> None:
        self.page("/robots.txt", "User-agent: *\n" + "".join(f"Disallow: {d}\n" for d in disallowed), content_type="text/plain")

    def requests_to(self, path: str) -> list[Seen]:
        with self._lock:
            return [s for s in self.seen if s.path == path]

    def clear_seen(self) -> None:
        with self._lock:
            self.seen.clear()

    def _record(self, seen: Seen) -> None:
        with self._lock:
            self.seen.append(seen)


class _SiteHandler(BaseHTTPRequestHandler):
    owner: SiteServer

    def do_GET(self) -> None:
        arrived = time.monotonic()
        route = self.owner.routes.get(self.path.split("?", 1)[0], Route(status=404))
        if route.delay_s:
            time.sleep(route.delay_s)
        etag = f'"{hashlib.sha256(route.body).hexdigest()[:16]}"' if route.etag else ""
        status = route.status
        if route.location:
            status = 301
        elif status == 200 and (
            (etag and self.headers.get("If-None-Match") == etag)
            or (route.last_modified and self.headers.get("If-Modified-Since") == route.last_modified)
        ):
            status = 304
        self.owner._record(Seen(self.path, self.headers.get("If-None-Match", ""), self.headers.get("If-Modified-Since", ""), self.headers.get("User-Agent", ""), status, arrived))
        body = route.body if status == 200 else b""
        try:
            self.send_response(status)
            if route.location:
                self.send_header("Location", route.location)
            if status in (200, 304):
                if etag:
                    self.send_header("ETag", etag)
                if route.last_modified:
                    self.send_header("Last-Modified", route.last_modified)
            if status == 200:
                self.send_header("Content-Type", route.content_type)
            if route.declare_length or status != 200:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout or the size cap): that is what the test is about

    def log_message(self, *args: object) -> None:
        pass


# ---- article pages --------------------------------------------------------------------------------------------

_MARKDOWN = MarkdownIt("commonmark").enable("table")


@dataclass(frozen=True)
class PageMeta:
    title: str
    canonical: str
    date: str = "2025-03-14"
    tags: tuple[str, ...] = ()
    author: str = "Maya Lindqvist"
    summary: str = ""


def article_page(meta: PageMeta, body_markdown: str) -> str:
    """A page shaped like the site's real ones (header, nav, breadcrumbs, article, sidebar widgets, footer), with
    the article's Markdown rendered as its body."""
    e = html.escape
    body = _MARKDOWN.render(body_markdown)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>{e(meta.title)} | AI Tools Hub</title>
  <meta name="description" content="{e(meta.summary)}">
  <meta name="keywords" content="{e(', '.join(meta.tags))}">
  <meta name="author" content="{e(meta.author)}">
  <meta property="og:title" content="{e(meta.title)}">
  <meta property="article:published_time" content="{e(meta.date)}">
  <link rel="canonical" href="{e(meta.canonical)}">
</head>
<body class="article-page">
  <header class="site-header">
    <a class="brand" href="/"><span class="brand-name">AI Tools Hub</span></a>
    <nav class="main-nav" aria-label="Main"><ul><li><a href="/guides/">Guides</a></li><li><a href="/compare/">Comparisons</a></li>
      <li><a href="/insights/">Insights</a></li></ul></nav>
    <form class="site-search" action="/search" role="search"><label for="q">Search articles</label><input id="q" name="q" type="search"><button>Search</button></form>
  </header>
  <div class="page-layout">
    <main id="content">
      <nav class="breadcrumbs" aria-label="Breadcrumb"><a href="/">Home</a> &rsaquo; <a href="/guides/">Guides</a></nav>
      <article class="post">
        <header class="post-header"><h1>{e(meta.title)}</h1>
          <p class="byline">By {e(meta.author)} &middot; <time datetime="{e(meta.date)}">{e(meta.date)}</time></p></header>
        <div class="post-body">
{body}
        </div>
      </article>
    </main>
    <aside class="sidebar">
      <section class="widget latest-articles"><h2>Latest articles</h2><ul><li><a href="/insights/gpu-prices">Why GPU rental prices keep falling</a></li></ul></section>
      <section class="widget newsletter"><h2>Get the weekly briefing</h2><p>New guides and analysis, once a week. No spam.</p>
        <form action="/newsletter/subscribe" method="post"><input type="email" placeholder="you@example.com"><button>Subscribe</button></form></section>
    </aside>
  </div>
  <footer class="site-footer"><p class="copyright">&copy; 2025 AI Tools Hub. All rights reserved.</p>
    <ul class="footer-links"><li><a href="/about">About</a></li><li><a href="/privacy">Privacy policy</a></li></ul></footer>
</body>
</html>
"""


def markdown_article_page(path: Path) -> tuple[str, str]:
    """(site path, page HTML) of one of the corpus's Markdown articles, rendered as the site would show it."""
    post = frontmatter.load(path)
    tags = post.get("tags") or []
    meta = PageMeta(
        title=str(post["title"]), canonical=str(post["url"]), date=str(post.get("date", "")), tags=tuple(str(t) for t in tags),
        author=str(post.get("author", "")), summary=str(post.get("summary", "")),
    )
    return meta.canonical, article_page(meta, post.content)
