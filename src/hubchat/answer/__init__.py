"""Answer: the chain from a question to a checked, cited answer.

- `chain`: question -> standalone question -> passages -> streamed answer -> checked `AnswerResult`.
- `excerpts`: the prompt budget: the passages' sentences that bear on the question, all the model reads.
- `extractive`: the generator that quotes the passages' best sentences (no model); `instructions`: the sentences
  planted for a model that it never quotes.
- `questions`, `notes`, `embed_cache`: input cleaning, the reader-facing notes, cached sentence embeddings.

May import: hubchat.retrieval, hubchat.generation, hubchat.checking, hubchat.index (the Embedder protocol, token counting),
hubchat.types, hubchat.config, hubchat.errors. Never: web, cli, runtime.
"""
