"""The index stage: chunks with their vectors in Chroma, and the persisted BM25 index kept consistent with them.

Modules: store (ChunkStore, the stage's entry point), chroma_client, chroma_embedding, metadata (chunk <->
Chroma record), articles (article versions and states), manifest (the ingest manifest), filters (one filter
definition for both searches), lexical (the BM25 index) with postings (its term presence), embeddings.

May import: hubchat.types, config, errors, endpoints and its own modules; never retrieval, answer or web.
"""
