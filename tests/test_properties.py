"""Invariants of the corpus readers, the Markdown blocks and the chunker on random text and markup (Hypothesis):
whatever a file holds, reading it either gives an article or a reason, and every span slices the text exactly."""

from __future__ import annotations

import hashlib
import os
import unicodedata
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from hubchat.config import ChunkingSettings
from hubchat.ingest.chunking import chunk_article
from hubchat.ingest.corpus import SourceFile, UnreadableFile, parse_source
from hubchat.text.markdown import read_blocks
from hubchat.text.sentences import sentence_spans
from hubchat.types import Article

# Pieces of Markdown and HTML that stress the readers: headings, lists, quotes, fences, tables, entities, tags.
PIECES = st.sampled_from([
    "# ", "## ", "### ", "- ", "* ", "1. ", "> ", "```", "~~~", "    ", "| a | b |\n|---|---|\n| 1 | 2 |", "---",
    "<div>", "</div>", "<script>alert(1)</script>", "<p>", "&amp;", "[x](http://e)", "**", "_", "\n", "\n\n", "\t",
    "Word.", "A sentence ends here. Another one starts", " e.g. ", "3.5 GB", "日本語", "é", "\u00a0", "\r\n",
])
TEXT = st.lists(st.one_of(PIECES, st.text(max_size=40)), max_size=60).map("".join)
SMALL = ChunkingSettings(target_tokens=40, max_tokens=60, overlap_tokens=8)
FAST = settings(max_examples=int(os.environ.get("HUBCHAT_PROPERTY_EXAMPLES", "60")), deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _words(texts: list[str]) -> list[int]:
    # A stand-in token count (whitespace words plus one): the chunker's logic, not the tokenizer, is under test.
    return [len(t.split()) + 1 for t in texts]


@FAST
@given(TEXT)
def test_markdown_blocks_slice_the_text_and_cover_every_word(text):
    blocks = read_blocks(text)
    for b in blocks:
        assert 0 <= b.start <= b.body_start <= b.body_end <= b.end <= len(text)
        assert text[b.start:b.end] == text[b.start:b.end].strip()
    for earlier, later in zip(blocks, blocks[1:]):
        assert earlier.end <= later.start
    covered = "\n".join(text[b.start:b.end] for b in blocks)
    assert sorted(covered.split()) == sorted(text.split())  # every word is in exactly one block


@FAST
@given(TEXT)
def test_sentence_spans_are_trimmed_ordered_slices(text):
    spans = sentence_spans(text)
    for start, end in spans:
        assert 0 <= start < end <= len(text)
        assert text[start:end] == text[start:end].strip()
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))


@FAST
@given(TEXT, st.sampled_from(["a.md", "a.html", "a.txt"]))
def test_reading_any_file_gives_an_article_or_a_one_line_reason(text, name):
    data = text.encode("utf-8", "surrogatepass")  # lone surrogates make undecodable bytes: a case of its own
    src = SourceFile(path=Path(name), rel_path=name, sha256=hashlib.sha256(data).hexdigest(), data=data)
    try:
        article = parse_source(src)
    except UnreadableFile as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    assert article.text.strip() and article.source_path == name


@FAST
@given(TEXT)
@example("\x1b")  # found by Hypothesis: a lone control character is no word and gives no chunk
@example("a\x1b b")
def test_chunks_slice_the_article_cover_it_in_order_and_are_never_empty(text):
    article = Article(id="/a", title="T", text=text, source_path="a.md", source_hash="h", format="markdown")
    chunks = chunk_article(article, SMALL, count_tokens=_words)
    for c in chunks:
        assert c.text == text[c.start:c.end] and c.text.strip()
    assert [c.ordinal for c in chunks] == list(range(len(chunks)))
    assert all(a.start <= b.start for a, b in zip(chunks, chunks[1:]))
    assert len({c.id for c in chunks}) == len(chunks)
    # Control characters (ESC, BEL, NUL...) are no words: the chunker leaves them out, so text of nothing else
    # gives no chunk.
    if any(not ch.isspace() and unicodedata.category(ch) != "Cc" for ch in text):
        assert chunks, "an article with words must give at least one chunk"
