"""Ingest: the corpus folder becomes chunks in the index, incrementally.

- `corpus`: files -> `Article`s (Markdown with front matter, HTML pages, plain text), with reasons for skipped files.
- `chunking`: an article -> structure-aware `Chunk`s with exact character spans.
- `pipeline`: only new or changed articles are chunked, embedded and written; deleted ones are removed. Its
  chunk-embed-write step also serves the site sync (`hubchat.sync`), whose articles the folder ingest leaves alone.

May import: hubchat.index (where chunks go), hubchat.text, hubchat.types, hubchat.config, hubchat.errors.
Never: retrieval, generation, answer, checking, web.
"""
