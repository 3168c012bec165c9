"""Web: the Gradio app, the only stage that imports gradio.

- `server`: one FastAPI app with the chat at / and the editors' review at /review/; `start` and `launch`.
- `chat_page`, `chat`: the reader chat's layout, and what its events and API endpoints do.
- `review`: the editors' review page; `render`, `assets`: escaped HTML and Markdown, page furniture.
- `records`: the SQLite record of answers, reader feedback and editors' verdicts.

May import any stage below it (answer and the records it returns). Only hubchat.cli imports web.
"""
