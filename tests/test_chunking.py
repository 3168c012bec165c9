"""Chunks are exact spans of the article, follow its headings, hold whole sentences and stay within their size."""

from __future__ import annotations

import re
import textwrap
from dataclasses import replace
from pathlib import Path

import pytest

from hubchat.config import ChunkingSettings
from hubchat.index.tokens import count_tokens
from hubchat.ingest.chunking import chunk_article, embedding_text
from hubchat.ingest.corpus import read_corpus
from hubchat.types import Article
from tests.helpers import REAL_ARTICLES

DEFAULT = ChunkingSettings()
SMALL = ChunkingSettings(target_tokens=64, max_tokens=96, overlap_tokens=16)
NO_OVERLAP = ChunkingSettings(target_tokens=64, max_tokens=96, overlap_tokens=0)

# What may end a sentence, a list item, a table row or a heading (closing quotes and brackets included).
SENTENCE_END = tuple('.!?:;"\')]*`|')


def article(text: str, article_id: str = "/guides/test", source_hash: str = "a" * 64) -> Article:
    text = textwrap.dedent(text).strip()
    return Article(id=article_id, title="Test Article", text=text, source_path="test.md", source_hash=source_hash, format="markdown")


def sentences(topic: str, n: int) -> str:
    """n distinct, ordinary sentences about a topic (about 14 tokens each)."""
    return " ".join(
        f"Point {i} about {topic} is that careful measurement beats intuition when tuning retrieval." for i in range(1, n + 1)
    )


NESTED = f"""
Intro paragraph. {sentences("the intro", 4)}

## Storage

{sentences("storage", 6)}

### Flash tiers

{sentences("flash", 6)}

### Object stores

{sentences("object stores", 6)}

## Networking

{sentences("networking", 6)}

### InfiniBand
Text right under the heading, with no blank line. {sentences("infiniband", 5)}

#### Adaptive routing

{sentences("routing", 5)}

## Key takeaways

- Measure before you buy.
- Size for throughput first.
"""


def starts_cleanly(text: str, start: int) -> bool:
    """At a sentence start: the text start, the start of a line, or after sentence-ending punctuation and a space."""
    if start == 0:
        return True
    if not text[start - 1].isspace() or text[start].isspace():
        return False
    before = text[:start].rstrip(" \t")
    return before.endswith("\n") or before.endswith(SENTENCE_END)


def ends_cleanly(text: str, end: int) -> bool:
    """At a sentence end: sentence-ending punctuation, or the end of a line (list item, heading, table row)."""
    if text[end - 1].isspace():
        return False
    if end == len(text):
        return True
    return text[end].isspace() and (text[end - 1] in SENTENCE_END or text[end:].lstrip(" \t").startswith("\n"))


def check_chunk_invariants(art: Article, settings: ChunkingSettings) -> list:
    chunks = chunk_article(art, settings)
    assert chunks, art.id
    assert [c.ordinal for c in chunks] == list(range(len(chunks)))
    assert len({c.id for c in chunks}) == len(chunks)
    for chunk in chunks:
        where = f"{art.id} chunk {chunk.ordinal}"
        assert chunk.text == art.text[chunk.start : chunk.end], where
        assert chunk.text.strip() == chunk.text and chunk.text, where
        assert starts_cleanly(art.text, chunk.start), f"{where} starts mid-sentence: {art.text[chunk.start - 30:chunk.start + 30]!r}"
        assert ends_cleanly(art.text, chunk.end), f"{where} ends mid-sentence: {art.text[chunk.end - 30:chunk.end + 30]!r}"
        assert not re.search(r"(^|\n)#{1,6} [^\n]*$", chunk.text) or chunk.end == len(art.text), (
            f"{where} ends with a heading whose text is in the next chunk"
        )
        assert (chunk.article_id, chunk.title, chunk.url, chunk.date, chunk.tags) == (art.id, art.title, art.url, art.date, art.tags)
    # Consecutive chunks move forward and together cover every unit of the article.
    for prev, nxt in zip(chunks, chunks[1:]):
        assert prev.start < nxt.start and prev.end < nxt.end
        gap = art.text[prev.end : nxt.start]
        assert not gap.strip(), f"{art.id}: text between chunks {prev.ordinal} and {nxt.ordinal} is in no chunk: {gap!r}"
    assert not art.text[: chunks[0].start].strip() and not art.text[chunks[-1].end :].strip()
    return chunks


def real_articles() -> list[Article]:
    articles, skipped = read_corpus(REAL_ARTICLES)
    assert articles and not skipped
    return articles


@pytest.mark.parametrize("settings", [DEFAULT, SMALL], ids=["default", "small"])
def test_every_real_article_chunks_into_exact_clean_spans(settings: ChunkingSettings):
    for art in real_articles():
        chunks = check_chunk_invariants(art, settings)
        for chunk in chunks:
            tokens = count_tokens(chunk.text)
            # Over the maximum only when one sentence, item or table alone is that long.
            if tokens > settings.max_tokens:
                body = "\n".join(line for line in chunk.text.split("\n") if not line.startswith("#")).strip()
                one_unit = "\n" not in body or body.startswith("```") or all(line.lstrip().startswith("|") for line in body.split("\n"))
                assert one_unit, (art.id, chunk.ordinal, tokens)


def test_the_real_corpus_fits_the_default_maximum():
    for art in real_articles():
        for chunk in chunk_article(art, DEFAULT):
            assert count_tokens(chunk.text) <= DEFAULT.max_tokens, (art.id, chunk.ordinal)


def test_heading_paths_follow_nested_sections():
    art = article(NESTED)
    chunks = check_chunk_invariants(art, SMALL)
    by_marker = {}
    for chunk in chunks:
        for marker in ("the intro", "storage", "flash", "object stores", "networking", "infiniband", "routing"):
            if f"Point 2 about {marker} is" in chunk.text:
                by_marker[marker] = chunk.heading_path
    assert by_marker == {
        "the intro": (),
        "storage": ("Storage",),
        "flash": ("Storage", "Flash tiers"),
        "object stores": ("Storage", "Object stores"),
        "networking": ("Networking",),
        "infiniband": ("Networking", "InfiniBand"),
        "routing": ("Networking", "InfiniBand", "Adaptive routing"),
    }
    assert "- Size for throughput first." in chunks[-1].text


def headings_inside(chunk) -> list[int]:
    """Offsets (in the chunk's text) of heading lines that do not open the chunk."""
    return [m.start() + 1 for m in re.finditer(r"\n#{1,6} ", chunk.text)]


@pytest.mark.parametrize("settings", [DEFAULT, SMALL], ids=["default", "small"])
def test_a_section_starts_a_new_chunk_unless_the_chunk_so_far_is_small(settings: ChunkingSettings):
    for art in [article(NESTED), *real_articles()]:
        for chunk in chunk_article(art, settings):
            for offset in headings_inside(chunk):
                before = count_tokens(chunk.text[:offset])
                assert before < settings.target_tokens // 2, (
                    f"{art.id} chunk {chunk.ordinal}: a heading follows {before} tokens instead of starting a new chunk"
                )


def test_the_sections_of_a_nested_article_each_open_a_chunk():
    starts = [c.text.split("\n", 1)[0] for c in chunk_article(article(NESTED), SMALL)]
    for heading in ("## Storage", "### Flash tiers", "### Object stores", "## Networking", "### InfiniBand", "#### Adaptive routing"):
        assert heading in starts, (heading, starts)


def test_text_right_under_a_heading_is_not_glued_to_it():
    first = "## First\nThe first section has its text on the very next line, right under the heading, with no blank line."
    second = "## Second\nThe second section does the same, so its heading must not become part of a sentence either."
    chunks = chunk_article(article(f"{first}\n\n{second}"), ChunkingSettings(target_tokens=32, max_tokens=40, overlap_tokens=0))
    assert [(c.heading_path, c.text) for c in chunks] == [(("First",), first), (("Second",), second)]


def test_without_overlap_chunks_stay_within_the_target():
    art = article(f"{sentences('packing', 40)}\n\n## More\n\n{sentences('more packing', 30)}")
    chunks = check_chunk_invariants(art, NO_OVERLAP)
    assert len(chunks) >= 10
    for chunk in chunks:
        assert count_tokens(chunk.text) <= NO_OVERLAP.target_tokens
    # Packed, not one sentence each: most chunks are over half the target.
    assert sum(count_tokens(c.text) > NO_OVERLAP.target_tokens // 2 for c in chunks) >= len(chunks) - 2
    # No overlap: chunks touch end to start.
    assert all(nxt.start > prev.end for prev, nxt in zip(chunks, chunks[1:]))


def test_overlap_repeats_whole_trailing_sentences_within_the_budget():
    art = article(sentences("overlap", 40))
    chunks = check_chunk_invariants(art, SMALL)
    assert len(chunks) >= 5
    overlapped = 0
    for prev, nxt in zip(chunks, chunks[1:]):
        assert count_tokens(nxt.text) <= SMALL.max_tokens
        if nxt.start < prev.end:
            overlapped += 1
            shared = art.text[nxt.start : prev.end]
            assert prev.text.endswith(shared) and nxt.text.startswith(shared)
            assert starts_cleanly(art.text, nxt.start) and shared.endswith(".")
            assert count_tokens(shared) <= SMALL.overlap_tokens
    # Each sentence is about 14 tokens, so a 16-token budget carries exactly one sentence into every next chunk.
    assert overlapped == len(chunks) - 1


def test_no_overlap_is_carried_across_a_section_boundary():
    # Seven sentences of about 14 tokens: section One ends with a chunk big enough that section Two starts afresh.
    art = article(f"## One\n\n{sentences('one', 7)}\n\n## Two\n\n{sentences('two', 7)}")
    chunks = chunk_article(art, SMALL)
    two = next(i for i, c in enumerate(chunks) if c.text.startswith("## Two"))
    assert "about one" not in chunks[two].text
    assert chunks[two - 1].text.endswith("Point 7 about one is that careful measurement beats intuition when tuning retrieval.")
    assert chunks[two].start > chunks[two - 1].end


def test_a_single_over_long_sentence_is_its_own_chunk():
    long_sentence = "This sentence " + " ".join(f"keeps going with clause number {i} and" for i in range(40)) + " finally ends."
    art = article(f"{sentences('before', 3)}\n\n{long_sentence}\n\n{sentences('after', 3)}")
    chunks = check_chunk_invariants(art, SMALL)
    assert count_tokens(long_sentence) > SMALL.max_tokens
    holder = [c for c in chunks if "clause number 20" in c.text]
    assert len(holder) == 1 and holder[0].text == long_sentence
    for chunk in chunks:
        if chunk is not holder[0]:
            assert count_tokens(chunk.text) <= SMALL.max_tokens


def test_list_items_and_tables_are_never_split():
    items = "\n".join(f"- Item {i} names a tool and says, in one sentence, why a small team might pick it." for i in range(12))
    table = "| Tool | Use |\n|---|---|\n" + "\n".join(f"| Tool {i} | Something useful |" for i in range(6))
    art = article(f"## Tools\n\n{items}\n\n## Table\n\n{table}\n\nAfter the table.")
    chunks = check_chunk_invariants(art, SMALL)
    for i in range(12):
        assert sum(f"- Item {i} names" in c.text and "why a small team might pick it." in c.text for c in chunks) >= 1
    assert sum(table in c.text for c in chunks) == 1


def test_chunk_ids_are_stable_and_change_with_the_article_version():
    art = article(NESTED)
    first = chunk_article(art, SMALL)
    again = chunk_article(article(NESTED), SMALL)
    assert [c.id for c in first] == [c.id for c in again]
    assert first == again
    edited = chunk_article(replace(art, source_hash="b" * 64), SMALL)
    assert not {c.id for c in first} & {c.id for c in edited}
    other = chunk_article(replace(art, id="/guides/other"), SMALL)
    assert not {c.id for c in first} & {c.id for c in other}
    keyed = chunk_article(art, SMALL, version_key="v2")
    assert [c.id for c in keyed] == [c.id for c in chunk_article(art, SMALL, version_key="v2")]
    assert not {c.id for c in first} & {c.id for c in keyed}


def test_the_embedder_sees_title_and_heading_path_before_the_text():
    chunks = chunk_article(article(NESTED), SMALL)
    routing = next(c for c in chunks if c.heading_path[-1:] == ("Adaptive routing",))
    assert embedding_text(routing) == f"Test Article > Networking > InfiniBand > Adaptive routing\n{routing.text}"


def test_an_article_of_one_short_line_is_one_chunk():
    chunks = chunk_article(article("Just one line."), DEFAULT)
    assert [(c.text, c.start, c.end) for c in chunks] == [("Just one line.", 0, 14)]


def test_a_custom_token_counter_is_used():
    calls = []

    def words(texts: list[str]) -> list[int]:
        calls.append(len(texts))
        return [len(t.split()) for t in texts]

    chunks = chunk_article(article(sentences("counting", 20)), ChunkingSettings(target_tokens=40, max_tokens=60, overlap_tokens=0), words)
    assert calls and all(len(c.text.split()) <= 40 for c in chunks)


@pytest.mark.parametrize("path", sorted(REAL_ARTICLES.glob("*.md"))[:1], ids=lambda p: Path(p).name)
def test_chunking_is_deterministic(path: Path):
    art = next(a for a in real_articles() if a.source_path == path.name)
    assert chunk_article(art, DEFAULT) == chunk_article(art, DEFAULT)
