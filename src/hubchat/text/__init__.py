"""Plain-text utilities shared by ingest and checking.

Imports nothing of hubchat but hubchat.types (if needed), so both stages can use it without depending on each other.

- `sentences.sentence_spans`: pysbd sentences with exact offsets.
- `markdown.read_blocks`: Markdown leaf blocks (headings, paragraphs, list items, tables, code) with exact offsets.
"""
