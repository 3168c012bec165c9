"""Read the corpus folder into Articles: Markdown with front matter, HTML pages, plain text.

Files that cannot be used (binary, undecodable, empty, malformed front matter, too large) are reported as
skipped with a reason; they never stop a run.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import frontmatter
import yaml

from hubchat.types import Article

MARKDOWN_SUFFIXES = {".md", ".markdown"}
HTML_SUFFIXES = {".html", ".htm"}
TEXT_SUFFIXES = {".txt"}
SUPPORTED_SUFFIXES = MARKDOWN_SUFFIXES | HTML_SUFFIXES | TEXT_SUFFIXES
# When the same article exists in several formats, the most structured source wins.
FORMAT_PREFERENCE = {"markdown": 0, "html": 1, "text": 2}


def format_of(rel_path: str) -> str:
    """The article format a file's suffix says: "markdown", "html" or "text"."""
    suffix = Path(rel_path).suffix.lower()
    return "markdown" if suffix in MARKDOWN_SUFFIXES else "html" if suffix in HTML_SUFFIXES else "text"


def source_rank(fmt: str, rel_path: str) -> tuple[int, str]:
    """Sort key among files holding the same article: the lowest is indexed (format first, then path)."""
    return FORMAT_PREFERENCE[fmt], rel_path


@dataclass(frozen=True)
class SourceFile:
    """A corpus file before parsing: enough to decide whether it changed since the last ingest."""

    path: Path
    rel_path: str
    sha256: str
    data: bytes


@dataclass(frozen=True)
class Skipped:
    rel_path: str
    reason: str


class UnreadableFile(Exception):
    """Raised for a file that cannot become an article; the message is the reason shown to the user."""


def list_source_files(root: Path) -> list[Path]:
    """Every supported file below root, in a stable order; hidden files and folders are ignored."""
    files = [
        p
        for p in root.rglob("*")
        if p.is_file() and p.suffix.lower() in SUPPORTED_SUFFIXES and not any(part.startswith(".") for part in p.relative_to(root).parts)
    ]
    return sorted(files, key=lambda p: p.relative_to(root).as_posix())


def read_source(path: Path, root: Path, max_bytes: int) -> SourceFile:
    """A corpus file's bytes. Nothing outside the corpus folder is ever read: a symbolic link (or a link in a
    folder above the file) that leads outside it is refused, and the bytes come from the checked target itself,
    so a link swapped in between the check and the read cannot redirect it."""
    real = path.resolve()
    if not real.is_relative_to(root.resolve()):
        raise UnreadableFile("a link to a file outside the corpus folder: not read")
    size = real.stat().st_size
    if size > max_bytes:
        raise UnreadableFile(f"too large ({size:,} bytes; the limit is corpus.max_file_bytes = {max_bytes:,})")
    data = real.read_bytes()
    return SourceFile(path=path, rel_path=path.relative_to(root).as_posix(), sha256=hashlib.sha256(data).hexdigest(), data=data)


def _decode(data: bytes) -> str:
    if not data.strip():
        raise UnreadableFile("empty file")
    if b"\x00" in data[:8192]:
        raise UnreadableFile("binary file (contains NUL bytes)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UnreadableFile(f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    # Control characters other than whitespace mean this is not an article.
    controls = sum(1 for ch in text[:8192] if ord(ch) < 32 and ch not in "\n\r\t\f")
    if controls > 8:
        raise UnreadableFile("binary file (control characters)")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def clean_text(text: str) -> str:
    """Normalise whitespace so spans are stable: no trailing spaces, at most one blank line in a row."""
    lines = [line.rstrip() for line in text.split("\n")]
    cleaned = re.sub(r"\n{3,}", "\n\n", "\n".join(lines))
    return cleaned.strip("\n")


def _as_date(value: object) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()[:10]
    text = str(value).strip()
    try:
        return dt.date.fromisoformat(text[:10]).isoformat()
    except ValueError:
        raise UnreadableFile(f"front matter 'date' is not an ISO date: {text!r}") from None


def _as_tags(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        items = [t for t in re.split(r"[,;]", value)]
    elif isinstance(value, (list, tuple)):
        items = [str(t) for t in value]
    else:
        raise UnreadableFile(f"front matter 'tags' must be a list, got {type(value).__name__}")
    return tuple(dict.fromkeys(t.strip().lower() for t in items if t.strip()))


_MD_LINK = re.compile(r"!?\[([^\]\n]+)\]\((?:[^()\s]+)(?:\s+\"[^\"]*\")?\)")


def strip_links(text: str) -> str:
    """Keep a Markdown link's words, drop its target: readers see the words, and [..] must not look like a citation."""
    return _MD_LINK.sub(r"\1", text)


def _strip_title_heading(body: str, title: str) -> str:
    """Drop a leading '# Title' line: the title is metadata, not body text."""
    match = re.match(r"\s*#\s+(.+)\n", body)
    if match and title and match.group(1).strip().lower() == title.strip().lower():
        return body[match.end():]
    return body


def _front_matter(text: str) -> tuple[dict, str]:
    """(metadata, body) of a Markdown file.

    Done here rather than with `frontmatter.loads`, which silently takes a front matter block that is not a
    mapping, or one that is never closed, as no front matter at all (its raw lines would become article text).
    """
    text = text.strip()
    handler = frontmatter.detect_format(text, frontmatter.handlers)
    if handler is None:
        return {}, text
    try:
        fm, content = handler.split(text)
    except ValueError:
        raise UnreadableFile(f"malformed front matter: no closing '{handler.END_DELIMITER}' line") from None
    try:
        meta = handler.load(fm)
    except (yaml.YAMLError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UnreadableFile(f"malformed front matter: {first}") from None
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        raise UnreadableFile(f"malformed front matter: expected 'key: value' lines, got a {type(meta).__name__}")
    return meta, content


def parse_markdown(src: SourceFile) -> Article:
    meta, content = _front_matter(_decode(src.data))
    title = str(meta.get("title") or "").strip() or Path(src.rel_path).stem.replace("-", " ").title()
    body = clean_text(strip_links(_strip_title_heading(content, title)))
    if not body.strip():
        raise UnreadableFile("no article text after the front matter")
    url = str(meta.get("url") or "").strip()
    return Article(
        id=url or src.rel_path,
        title=title,
        text=body,
        source_path=src.rel_path,
        source_hash=src.sha256,
        format="markdown",
        url=url,
        date=_as_date(meta.get("date")),
        tags=_as_tags(meta.get("tags")),
        summary=str(meta.get("summary") or "").strip(),
        author=str(meta.get("author") or "").strip(),
    )


def _site_path(url: str) -> str:
    """The site path of a canonical link: `https://site/guides/x/` and `/guides/x` name the same article."""
    from urllib.parse import urlsplit

    path = urlsplit(url).path if "://" in url else url.split("#", 1)[0].split("?", 1)[0]
    return path.rstrip("/") or "/"


def _html_meta(html: str) -> dict[str, str]:
    """Canonical url and article metadata from <head>, which trafilatura does not return for relative links."""
    import lxml.html

    try:
        tree = lxml.html.fromstring(html)
    except Exception:  # lxml raises several types on garbage; the caller reports "no article text"
        return {}
    out: dict[str, str] = {}
    canonical = tree.xpath("//link[@rel='canonical']/@href")
    if canonical and canonical[0].strip():
        out["url"] = _site_path(canonical[0].strip())
    for key, xp in {
        "title": "//meta[@property='og:title']/@content",
        "date": "//meta[@property='article:published_time']/@content",
        "tags": "//meta[@name='keywords']/@content",
        "summary": "//meta[@name='description']/@content",
        "author": "//meta[@name='author']/@content",
    }.items():
        values = tree.xpath(xp)
        if values and values[0].strip():
            out[key] = values[0].strip()
    return out


def parse_html(src: SourceFile) -> Article:
    import trafilatura

    html = _decode(src.data)
    extracted = trafilatura.extract(
        html,
        output_format="markdown",
        include_tables=True,
        include_comments=False,
        include_links=False,
        include_images=False,
        favor_precision=True,
        with_metadata=False,
    )
    if not extracted or not extracted.strip():
        raise UnreadableFile("no article text found in the HTML page")
    meta = _html_meta(html)
    found = trafilatura.extract_metadata(html)
    title = meta.get("title") or (found.title if found and found.title else "") or Path(src.rel_path).stem
    title = re.sub(r"\s*[|\-–]\s*AI Tools Hub\s*$", "", title).strip()
    url = meta.get("url", "")
    return Article(
        id=url or src.rel_path,
        title=title,
        text=clean_text(_strip_title_heading(extracted, title)),
        source_path=src.rel_path,
        source_hash=src.sha256,
        format="html",
        url=url,
        date=_as_date(meta.get("date") or (found.date if found else "")),
        tags=_as_tags(meta.get("tags", "")),
        summary=meta.get("summary", ""),
        author=meta.get("author") or (found.author if found and found.author else ""),
    )


def parse_text(src: SourceFile) -> Article:
    text = clean_text(_decode(src.data))
    if not text.strip():
        raise UnreadableFile("empty file")
    first_line = text.split("\n", 1)[0].strip()
    title = first_line if 0 < len(first_line) <= 120 else Path(src.rel_path).stem.replace("-", " ").title()
    return Article(id=src.rel_path, title=title, text=text, source_path=src.rel_path, source_hash=src.sha256, format="text")


def parse_source(src: SourceFile) -> Article:
    """Parse one file into an Article. Raises UnreadableFile with the reason."""
    suffix = Path(src.rel_path).suffix.lower()
    if suffix in MARKDOWN_SUFFIXES:
        return parse_markdown(src)
    if suffix in HTML_SUFFIXES:
        return parse_html(src)
    return parse_text(src)


def read_corpus(root: Path, max_bytes: int = 2_000_000) -> tuple[list[Article], list[Skipped]]:
    """Read every article below root, dropping duplicates of the same article id.

    Returns:
        (articles, skipped): the articles in a stable order, and the files not used with the reason why.
    """
    articles: list[Article] = []
    skipped: list[Skipped] = []
    for path in list_source_files(root):
        rel = path.relative_to(root).as_posix()
        try:
            articles.append(parse_source(read_source(path, root, max_bytes)))
        except (UnreadableFile, OSError) as exc:
            skipped.append(Skipped(rel, str(exc)))
    unique, dupes = deduplicate(articles)
    return unique, skipped + dupes


def deduplicate(articles: Iterable[Article]) -> tuple[list[Article], list[Skipped]]:
    """Keep one article per id: the one in the preferred format (Markdown over HTML over text)."""
    best: dict[str, Article] = {}
    for art in articles:
        current = best.get(art.id)
        if current is None or source_rank(art.format, art.source_path) < source_rank(current.format, current.source_path):
            best[art.id] = art
    kept_paths = {a.source_path for a in best.values()}
    dupes = [
        Skipped(a.source_path, f"duplicate of article {a.id} (indexed from {best[a.id].source_path})")
        for a in articles
        if a.source_path not in kept_paths
    ]
    return sorted(best.values(), key=lambda a: a.source_path), dupes


def iter_sources(root: Path, max_bytes: int) -> Iterator[tuple[Path, SourceFile | Skipped]]:
    """Each corpus file read to bytes, or the reason it could not be read."""
    for path in list_source_files(root):
        try:
            yield path, read_source(path, root, max_bytes)
        except (UnreadableFile, OSError) as exc:
            yield path, Skipped(path.relative_to(root).as_posix(), str(exc))
