"""Generation: whatever writes an answer from numbered passages, behind the `Generator` protocol.

- `generator`: the protocol; `chat_generator`: its chat-model implementation (the extractive one is in answer/).
- `backends`: the one place choosing and configuring a chat model (local, openai, openai-compatible).
- `chat_endpoint`, `failures`: where a chat backend is, and what its failures mean to the user.
- `llama_server`, `model_files`: the in-process llama.cpp server and the packaged chat models.
- `prompts`: the templates from prompts/, checked for their variables when they load.

May import: hubchat.types, hubchat.config, hubchat.endpoints, hubchat.errors. Never: index, retrieval, answer, web.
"""
