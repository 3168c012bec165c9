"""The editors' review page (mounted at /review/): recent answers, each sentence with its cited passage, and
the editors' verdicts (supported / wrong citation / unsupported, with a note; a wrong citation on a sentence
citing several passages names which), stored in `hubchat.records`; and the editors' desk tab (hubchat.web.desk).

The page sits behind Gradio's login. The credentials come only from the environment variables named by
`ui.editor_user_env` and `ui.editor_password_env`; when either is unset the page only explains how to enable it.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Callable

import gradio as gr

from hubchat.config import Settings
from hubchat.records import REVIEW_LABELS, Records
from hubchat.web import assets as A
from hubchat.web import render as R
from hubchat.web.desk import build_desk, index_version_of

LIST_LIMIT = 200
LIST_HEADERS = ["ID", "When (UTC)", "Question", "Checker", "Flags", "Reviewed"]
ID_CHARS = 8
FILTER_CHOICES = [("Flagged", "flagged"), ("Unreviewed", "unreviewed"), ("All", "all")]
QUICK = dict(api_visibility="private", show_progress="hidden")
LABEL_CHOICES = [(R.REVIEW_LABEL_NAMES[label], label) for label in REVIEW_LABELS]


def editor_credentials(settings: Settings) -> tuple[str, str] | None:
    """(user, password) from the environment, or None when the review is not enabled."""
    user = os.environ.get(settings.ui.editor_user_env, "")
    password = os.environ.get(settings.ui.editor_password_env, "")
    return (user, password) if user and password else None


def make_auth(settings: Settings) -> Callable[[str, str], bool]:
    """Gradio's login check, comparing in constant time against the environment at each login."""

    def check(username: str, password: str) -> bool:
        creds = editor_credentials(settings)
        if creds is None:
            return False
        user_ok = hmac.compare_digest(username.encode(), creds[0].encode())
        password_ok = hmac.compare_digest(password.encode(), creds[1].encode())
        return user_ok and password_ok

    return check


def _row(record) -> list[str]:
    flags = []
    if record.refused:
        flags.append("refusal")
    if record.flagged:
        flags.append("checker")
    if any(not f.helpful for f in record.feedback):
        flags.append("reader: not helpful")
    if any(r.label != "supported" for r in record.reviews.values()):
        flags.append("editor")
    claims = [s for s in record.sentences if s.citations or s.verdict != "not_a_claim"]
    reviewed = f"{sum(1 for s in claims if s.index in record.reviews)}/{len(claims)}"
    when = record.created_at[:16].replace("T", " ")
    return [record.id[:ID_CHARS], when, " ".join(record.question.split()), record.verdict, ", ".join(flags), reviewed]


def build_review(settings: Settings, records: Records, runtime) -> tuple[gr.Blocks, Callable[[str, str], bool] | None]:
    """The review page and its login check (None when no credentials are configured: the page says how).

    Two tabs: the answers to review one by one, and the desk (hubchat.web.desk), whose content gaps embed the
    questions with `runtime.embeddings` and find their closest articles in `runtime.store`.
    """
    ui = settings.ui
    if editor_credentials(settings) is None:
        with gr.Blocks(title="hubchat · editors' review", analytics_enabled=False) as page:
            gr.HTML(R.review_disabled_html(ui.editor_user_env, ui.editor_password_env), js_on_load=None)
        return page, None
    with gr.Blocks(title="hubchat · editors' review", analytics_enabled=False) as page:
        gr.HTML(A.REVIEW_HEADER_HTML, js_on_load=None)
        with gr.Tabs():
            with gr.Tab("Answers", id="answers", elem_id="hc-tab-answers"):
                selected = _answer_list(page, records)
                _sentence_reviews(selected, records)
            with gr.Tab("Desk", id="desk", elem_id="hc-tab-desk"):
                load_desk = build_desk(
                    records, runtime.embeddings.embed_array, runtime.store.dense_search, settings.corpus.site_url, runtime.demoter,
                    index_version_of(runtime.store),
                )
        load_desk(page)
    return page, make_auth(settings)


def _answer_list(page: gr.Blocks, records: Records) -> gr.State:
    """The list of recent answers with its filter, refresh and CSV export; returns the selected answer's id."""
    with gr.Row(equal_height=True):
        which = gr.Radio(FILTER_CHOICES, value="flagged", label="Show", scale=3, elem_id="hc-which")
        refresh = gr.Button("Refresh", size="sm", scale=1, elem_id="hc-refresh")
        export = gr.Button("Export verdicts as CSV", size="sm", scale=1, elem_id="hc-export-csv")
    csv_link = gr.HTML("", elem_id="hc-csv", js_on_load=None)
    table = gr.Dataframe(
        headers=LIST_HEADERS, datatype=["str"] * len(LIST_HEADERS), interactive=False, wrap=True,
        latex_delimiters=[], max_height=320, elem_id="hc-answers", label="Recent answers (newest first); click one to review it",
        column_widths=["9%", "13%", "44%", "12%", "13%", "9%"],
    )
    ids = gr.State([])
    selected = gr.State(None)

    def list_answers(which_: str):
        found = records.answers(which_ or "all", limit=LIST_LIMIT)
        return gr.update(value=[_row(r) for r in found] or None), [r.id for r in found]

    for trigger in (page.load, which.change, refresh.click):
        trigger(list_answers, [which], [table, ids], **QUICK)

    def pick(ids_: list[str], evt: gr.SelectData):
        # The clicked row's own ID cell decides, not its position: the list may have been refreshed meanwhile.
        prefix = str((evt.row_value or [""])[0])
        if not prefix:
            return None
        return next((i for i in ids_ if i.startswith(prefix)), None) or records.find_answer_id(prefix)

    table.select(pick, [ids], [selected], **QUICK)

    def export_csv():
        # Inline, through this logged-in page: a file handed to Gradio would land in its cache folder, which
        # every mounted Gradio app (the public chat too) serves.
        return R.csv_download_html(records.verdicts_csv(), "hubchat-verdicts.csv")

    export.click(export_csv, None, [csv_link], **QUICK)
    return selected


def _sentence_reviews(selected: gr.State, records: Records) -> None:
    """The selected answer, sentence by sentence, each with its cited passages and a verdict form."""

    # No component keys: returning to an answer shows its saved verdicts, never an earlier unsaved choice.
    @gr.render(inputs=[selected])
    def show(answer_id):
        record = records.answer(answer_id) if answer_id else None
        if record is None:
            gr.HTML('<p class="hc-hint">Pick an answer in the list to review its sentences.</p>', js_on_load=None)
            return
        gr.HTML(R.review_answer_html(record), elem_id="hc-review-answer", js_on_load=None)
        if not record.sentences:
            gr.HTML('<p class="hc-hint">This answer has no sentences to review (a refusal).</p>', js_on_load=None)
        for sentence in record.sentences:
            _verdict_form(record, sentence, records)


def _verdict_form(record, sentence, records: Records) -> None:
    """One sentence's review box: what the checker found, and the editor's verdict with a note; for a sentence
    citing several passages, which of them a "wrong citation" blames (all by default, as before the choice)."""
    answer_id = record.id
    cited = tuple(dict.fromkeys(sentence.citations))
    with gr.Group(elem_classes="hc-sentence-box"):
        info = gr.HTML(R.review_sentence_html(record, sentence), js_on_load=None)
        current = record.reviews.get(sentence.index)
        with gr.Row(equal_height=True):
            label = gr.Radio(
                LABEL_CHOICES, value=current.label if current else None, label="Editor verdict", scale=3,
                elem_id=f"hc-label-{sentence.index}",
            )
            note = gr.Textbox(value=current.note if current else "", label="Note", scale=3, elem_id=f"hc-note-{sentence.index}")
            save = gr.Button("Save verdict", scale=1, elem_id=f"hc-save-{sentence.index}")
        blame = None
        if len(cited) > 1:
            blamed = current.blames(cited) if current is not None and current.label == "wrong_citation" else cited
            blame = gr.CheckboxGroup(
                [(_marker_choice(record, n), str(n)) for n in cited], value=[str(n) for n in blamed],
                label="Wrong citation of (only these passages are blamed and demoted)", elem_id=f"hc-blame-{sentence.index}",
                interactive=True,  # inside gr.render Gradio would otherwise show it disabled
            )

    def store(label_: str | None, note_: str, blame_: list[str] | None, request: gr.Request):
        if not label_:
            raise gr.Error("Choose a verdict first.", print_exception=False)
        named = None
        if label_ == "wrong_citation" and blame_ is not None:
            if not blame_:
                raise gr.Error("Tick the cited passage (or passages) the citation is wrong for.", print_exception=False)
            named = [int(n) for n in blame_]
        editor = request.username if request is not None and request.username else ""
        records.set_verdict(answer_id, sentence.index, label_, note_ or "", editor=editor, citations=named)
        fresh = records.answer(answer_id)
        gr.Info("Verdict saved.")
        return R.review_sentence_html(fresh, fresh.sentences[sentence.index])

    if blame is None:
        def save_verdict(label_: str | None, note_: str, request: gr.Request):
            return store(label_, note_, None, request)

        save.click(save_verdict, [label, note], [info], **QUICK)
    else:
        def save_naming(label_: str | None, note_: str, blame_: list[str], request: gr.Request):
            return store(label_, note_, list(blame_ or []), request)

        save.click(save_naming, [label, note, blame], [info], **QUICK)


def _marker_choice(record, number: int) -> str:
    # The section too: two passages of one article are often cited together.
    source = record.source(number)
    if source is None:
        return f"[{number}]"
    return f"[{number}] {source.title} · {source.section}" if source.section else f"[{number}] {source.title}"
