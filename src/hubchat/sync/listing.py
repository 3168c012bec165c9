"""The pages a site lists: sitemaps (and sitemap indexes), RSS and Atom feeds, and the configured single pages.

A listing that cannot be read in full is reported as failed, never as empty: its pages keep their last good
versions instead of leaving the index.
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import defusedxml.ElementTree as SafeXML
import feedparser
from defusedxml import DefusedXmlException

from hubchat.config import SiteSettings
from hubchat.sync.fetch import Fetcher

URL_LIST = "site.urls"
# A sitemap index may list further indexes; deeper nesting than this is a mistake (or a loop) on the site.
MAX_SITEMAP_DEPTH = 3


@dataclass(frozen=True)
class Listing:
    """The pages one source lists, in its order.

    Attributes:
        source: the sitemap's or feed's address, or "site.urls" for the configured single pages.
        pages: page addresses (http and https only, without fragments, each once).
        failure: why the source could not be read in full ("" when it was).
    """

    source: str
    pages: tuple[str, ...] = ()
    failure: str = ""


class ListingError(Exception):
    """A sitemap or feed that cannot be read; the message is the reason shown in the summary."""


def list_sources(fetcher: Fetcher, settings: SiteSettings, report: Callable[[int, int], None]) -> list[Listing]:
    """Every configured source's pages; report(done, total) after each source."""
    readers: list[tuple[str, Callable[[], list[str]]]] = [(u, lambda u=u: _sitemap_pages(fetcher, u, 0)) for u in settings.sitemaps]
    readers += [(u, lambda u=u: _feed_pages(fetcher, u)) for u in settings.feeds]
    listings = []
    for i, (source, read) in enumerate(readers, 1):
        try:
            listings.append(Listing(source, _clean(read())))
        except ListingError as exc:
            listings.append(Listing(source, failure=str(exc)))
        report(i, len(readers))
    if settings.urls:
        listings.append(Listing(URL_LIST, _clean(list(settings.urls))))
    return listings


def _clean(urls: list[str]) -> tuple[str, ...]:
    out: dict[str, None] = {}
    for url in urls:
        url = url.strip().split("#", 1)[0]
        if urlsplit(url).scheme in ("http", "https"):
            out[url] = None
    return tuple(out)


def _get(fetcher: Fetcher, url: str) -> bytes:
    got = fetcher.fetch(url)
    if got.outcome != "ok":
        raise ListingError(got.reason or f"HTTP {got.status}")
    body = got.body
    if body[:2] == b"\x1f\x8b":  # sitemap.xml.gz: compressed as a file, not by Content-Encoding
        try:
            with gzip.GzipFile(fileobj=io.BytesIO(body)) as packed:
                body = packed.read(fetcher.settings.max_page_bytes + 1)
        except (OSError, EOFError) as exc:
            raise ListingError(f"not a readable gzip file ({exc})") from None
        if len(body) > fetcher.settings.max_page_bytes:
            raise ListingError(f"too large once decompressed (the limit is site.max_page_bytes = {fetcher.settings.max_page_bytes:,})")
    return body


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _sitemap_pages(fetcher: Fetcher, url: str, depth: int) -> list[str]:
    """The pages of a sitemap, or of every sitemap a sitemap index lists (any one failing fails them all)."""
    body = _get(fetcher, url)
    try:
        root = SafeXML.fromstring(body, forbid_dtd=True)
    except (SafeXML.ParseError, DefusedXmlException) as exc:
        raise ListingError(f"not a readable sitemap ({type(exc).__name__}: {exc})") from None
    locs = [urljoin(url, (el.text or "").strip()) for el in root.iter() if _local(el.tag) == "loc" and (el.text or "").strip()]
    kind = _local(root.tag)
    if kind == "urlset":
        return locs
    if kind != "sitemapindex":
        raise ListingError(f"not a sitemap: its root element is <{kind}>, not <urlset> or <sitemapindex>")
    if depth + 1 >= MAX_SITEMAP_DEPTH:
        raise ListingError(f"sitemap indexes nested more than {MAX_SITEMAP_DEPTH} deep")
    pages: list[str] = []
    for child in locs:
        try:
            pages += _sitemap_pages(fetcher, child, depth + 1)
        except ListingError as exc:
            raise ListingError(f"its sitemap {child}: {exc}") from None
    return pages


def _feed_pages(fetcher: Fetcher, url: str) -> list[str]:
    """The pages an RSS or Atom feed's entries link to."""
    # In a BytesIO: given bytes or a string, feedparser may take them for an address or a file name and open it.
    parsed = feedparser.parse(io.BytesIO(_get(fetcher, url)), response_headers={"content-location": url}, sanitize_html=False)
    if parsed.get("bozo") and not parsed.entries:
        raise ListingError(f"not a readable feed ({parsed.get('bozo_exception')})")
    return [urljoin(url, entry.link) for entry in parsed.entries if entry.get("link")]
