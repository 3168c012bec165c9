"""Web: the Gradio app, the only stage that imports gradio.

- `server`: one FastAPI app with the chat at / and the editors' review at /review/; `start` and `launch`.
- `chat_page`, `chat`: the reader chat's layout, and what its events and API endpoints do.
- `review`: the editors' review page; `render`, `assets`: escaped HTML and Markdown, page furniture.

May import any stage below it (answer and the results it returns, and `hubchat.records`, where answers,
reader feedback and editors' verdicts are stored). Only hubchat.cli imports web.
"""
