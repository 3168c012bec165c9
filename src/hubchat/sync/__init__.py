"""Sync: the site's own pages become articles in the index, and serving keeps the index current.

- `listing`: sitemaps (and sitemap indexes), RSS/Atom feeds and single addresses -> the pages to index.
- `fetch`: polite HTTP (robots.txt, for every redirect target too; rate and concurrency limits, retries, size,
  time and redirect caps, ETag and Last-Modified).
- `state`: what the last sync knew of each page (validators, body hash, the article read from it: what a rebuild
  re-embeds), in the index folder.
- `site`: one incremental sync, through the folder's HTML reader and the ingest pipeline's chunk-embed-write.
- `background`: `hubchat serve`'s interval sync and corpus-folder watcher, which never stop the server.

May import: hubchat.ingest (the HTML reader, the pipeline), hubchat.index, hubchat.text, hubchat.types,
hubchat.config, hubchat.errors. Never: retrieval, generation, answer, checking, web, runtime, cli.
"""
