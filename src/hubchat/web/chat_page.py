"""The reader chat page's layout and the wiring of its events; `hubchat.web.chat` holds what the events do."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import gradio as gr

from hubchat.errors import BackendError
from hubchat.records import Records
from hubchat.web import assets as A
from hubchat.web import render as R
from hubchat.web.chat import (
    ANSWER_CONCURRENCY_ID,
    ChatApp,
    Conversation,
    IndexExamples,
    new_conversation,
)

log = logging.getLogger(__name__)

# Events that only touch the page: never queued behind answers, never part of the public API.
QUICK = dict(concurrency_limit=None, show_progress="hidden", api_visibility="private")


@dataclass(frozen=True)
class ChatPage:
    """The page's components, as the event wiring needs them."""

    conv: gr.State  # a Conversation, created by the first answer (a callable default would be a public API)
    pending: gr.State
    feedback_id: gr.State
    chatbot: gr.Chatbot
    status: gr.HTML
    question: gr.Textbox
    ask: gr.Button
    comment_row: gr.Row
    comment: gr.Textbox
    send_comment: gr.Button
    new_conv: gr.Button
    export: gr.DownloadButton
    tag_filter: gr.Dropdown
    since: gr.Textbox
    until: gr.Textbox
    sources: gr.HTML


def _layout(examples: list[str], tags: list[str]) -> ChatPage:
    conv, pending, feedback_id = gr.State(None), gr.State(""), gr.State(None)
    gr.HTML(A.CHAT_HEADER_HTML, elem_id="hc-header", js_on_load=None)
    with gr.Row(equal_height=False, elem_id="hc-main"):
        with gr.Column(scale=3, min_width=360):
            chatbot = gr.Chatbot(
                elem_id="hc-chat",
                label="Conversation",
                show_label=False,
                height=560,
                sanitize_html=True,
                render_markdown=True,
                latex_delimiters=[],
                allow_tags=False,
                feedback_options=("Like", "Dislike"),
                # Gradio's copy button copies the escaped Markdown source; selecting the text copies it cleanly.
                buttons=[],
                layout="bubble",
                placeholder=A.CHAT_PLACEHOLDER_MD,
                examples=_example_messages(examples),
            )
            status = gr.HTML(R.status_html(""), elem_id="hc-status", js_on_load=None)
            with gr.Row(elem_id="hc-ask-row"):
                question = gr.Textbox(
                    show_label=False, placeholder="Ask a question about the articles…", lines=1, max_lines=6,
                    scale=6, elem_id="hc-question", autofocus=True,
                )
                ask = gr.Button("Ask", variant="primary", scale=1, min_width=90, elem_id="hc-ask")
            with gr.Row(visible=False, elem_id="hc-comment-row") as comment_row:
                comment = gr.Textbox(show_label=False, placeholder="Thanks! Anything to add? (optional)", scale=6, elem_id="hc-comment")
                send_comment = gr.Button("Send", scale=1, min_width=90, elem_id="hc-send-comment")
            with gr.Row(elem_id="hc-tools"):
                new_conv = gr.Button("New conversation", size="sm", elem_id="hc-new")
                export = gr.DownloadButton("Export as Markdown", size="sm", interactive=False, elem_id="hc-export")
            with gr.Accordion("Filters", open=False, elem_id="hc-filters"):
                tag_filter = gr.Dropdown(tags, multiselect=True, label="Only articles tagged", elem_id="hc-tags")
                with gr.Row():
                    since = gr.Textbox(label="From (date)", placeholder="YYYY-MM-DD", elem_id="hc-since")
                    until = gr.Textbox(label="To (date)", placeholder="YYYY-MM-DD", elem_id="hc-until")
        with gr.Column(scale=2, min_width=320):
            sources = gr.HTML(R.sources_html([]), elem_id="hc-sources", js_on_load=None)
    return ChatPage(
        conv, pending, feedback_id, chatbot, status, question, ask, comment_row, comment, send_comment, new_conv,
        export, tag_filter, since, until, sources,
    )


def _wire_answering(page: ChatPage, app: ChatApp, concurrency_limit: int) -> None:
    """Asking (button, Enter, example): show the question at once, then stream the answer on the shared queue."""

    def accept(text: str, c: Conversation | None):
        c = c or new_conversation()
        text = (text or "").strip()
        if not text:
            raise gr.Error("Please type a question first.", duration=5, print_exception=False)
        waiting = c.messages() + [
            {"role": "user", "content": R.md_text(text)},
            {"role": "assistant", "content": R.streaming_markdown("", "Waiting for a free slot…")},
        ]
        return waiting, R.status_html("Waiting for a free slot…"), "", text, gr.update(visible=False)

    def accept_example(c: Conversation | None, evt: gr.SelectData):
        return accept((evt.value or {}).get("text", ""), c)

    accept_outputs = [page.chatbot, page.status, page.question, page.pending, page.comment_row]
    respond = dict(
        fn=app.respond,
        inputs=[page.pending, page.conv, page.tag_filter, page.since, page.until],
        outputs=[page.chatbot, page.status, page.sources, page.conv, page.export],
        concurrency_limit=concurrency_limit,
        concurrency_id=ANSWER_CONCURRENCY_ID,
        show_progress="hidden",
        api_visibility="private",
    )
    for trigger in (page.question.submit, page.ask.click):
        trigger(accept, [page.question, page.conv], accept_outputs, **QUICK).success(**respond)
    page.chatbot.example_select(accept_example, [page.conv], accept_outputs, **QUICK).success(**respond)


def _wire_reset(page: ChatPage) -> None:
    """"New conversation" and the Chatbot's own trash button start over."""

    def start_over():
        return (None, [], R.sources_html([]), R.status_html(""), gr.update(value=None, interactive=False),
                gr.update(visible=False), "", None)

    outputs = [page.conv, page.chatbot, page.sources, page.status, page.export, page.comment_row, page.comment, page.feedback_id]
    page.new_conv.click(start_over, None, outputs, **QUICK)
    page.chatbot.clear(start_over, None, outputs, **QUICK)


def _wire_feedback(page: ChatPage, records: Records) -> None:
    """A like or dislike on an answer is recorded at once; an optional comment follows."""

    def rate(c: Conversation | None, data: gr.LikeData):
        c = c or new_conversation()
        index = data.index if isinstance(data.index, int) else data.index[0]
        turn = c.turns[index // 2] if 0 <= index // 2 < len(c.turns) else None
        if turn is None or turn.result is None:
            gr.Info("Only answers can be rated.")
            return None, gr.update(visible=False)
        helpful = data.liked is True or data.liked == "Like"
        fid = records.record_feedback(turn.key, helpful)
        gr.Info("Thanks for the feedback!")
        return fid, gr.update(visible=True)

    page.chatbot.like(rate, [page.conv], [page.feedback_id, page.comment_row], **QUICK)

    def add_comment(fid, text):
        if fid is not None and (text or "").strip():
            records.set_feedback_comment(fid, text)
            gr.Info("Comment saved. Thank you!")
        return "", gr.update(visible=False)

    for trigger in (page.send_comment.click, page.comment.submit):
        trigger(add_comment, [page.feedback_id, page.comment], [page.comment, page.comment_row], **QUICK)


def _example_messages(questions: list[str]) -> list[dict] | None:
    return [{"text": q} for q in questions] or None


def index_choices(runtime, examples: IndexExamples) -> tuple[list[str], list[str]]:
    """The tags and example questions of the index as it is now (after a cheap check for another process's
    ingest): what each page load offers."""
    try:
        runtime.store.refresh()  # a cheap check, at most every index.refresh_s
    except BackendError as exc:  # the page still opens, offering what was last read
        log.warning("could not check the index for changes on a page load: %s", exc)
    return runtime.store.tags(), examples()


def _wire_index_choices(chat: gr.Blocks, page: ChatPage, runtime, examples: IndexExamples) -> None:
    """Each page load offers the tags and example questions the index holds now: a background sync or folder
    ingest (or another process's ingest, followed through `refresh`) may have added articles since the app started.
    Both are cached per lexical index, so a load rebuilds nothing unless the index changed."""

    def current_choices():
        tags, questions = index_choices(runtime, examples)
        return gr.update(choices=tags), gr.update(examples=_example_messages(questions))

    chat.load(current_choices, None, [page.tag_filter, page.chatbot], **QUICK)


def build_chat(runtime, records: Records) -> gr.Blocks:
    """The reader chat page and its API endpoints (/ask, /feedback)."""
    app = ChatApp(runtime, records)
    limit = runtime.settings.ui.concurrency_limit
    age = runtime.settings.ui.export_max_age_s
    # Gradio keeps its own copy of every exported file: checked every min(age, 10 min), deleted once older than age.
    with gr.Blocks(title="hubchat", analytics_enabled=False, delete_cache=(min(age, 600), age)) as chat:
        examples = IndexExamples(runtime.store)
        page = _layout(examples(), runtime.store.tags())
        _wire_answering(page, app, limit)
        _wire_reset(page)
        _wire_feedback(page, records)
        _wire_index_choices(chat, page, runtime, examples)
        gr.api(app.ask_api, api_name="ask", concurrency_limit=limit, concurrency_id=ANSWER_CONCURRENCY_ID)
        gr.api(app.feedback_api, api_name="feedback", concurrency_limit=None)
    return chat
