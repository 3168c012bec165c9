"""The desk tab of the review page: content gaps, article health with "needs update" marks, the checker against
editors, and the charts, all computed from the records when the tab loads or is refreshed (hubchat.desk)."""

from __future__ import annotations

from collections.abc import Callable

import gradio as gr

from hubchat.desk import export as X
from hubchat.desk.activity import daily_activity
from hubchat.desk.agreement import agreement, reviewed_pairs, weekly_agreement
from hubchat.desk.gaps import DenseSearch, Embed, find_gaps
from hubchat.desk.health import SORT_KEYS, article_health, filter_health, sort_health
from hubchat.records import Records
from hubchat.web import desk_render as D

QUICK = dict(api_visibility="private", show_progress="hidden")


def build_desk(records: Records, embed: Embed, search: DenseSearch | None, site_url: str) -> Callable[[gr.Blocks], None]:
    """The desk's components, inside an open Blocks and Tab; returns what loads them with the page (`wire(page)`)."""
    refresh = gr.Button("Refresh the desk", size="sm", elem_id="hc-desk-refresh")
    gr.Markdown("### Over time")
    charts = gr.HTML("", elem_id="hc-desk-charts", js_on_load=None)
    gr.Markdown("### Content gaps: what readers asked that the articles do not answer")
    with gr.Row(equal_height=True):
        gaps_csv = gr.Button("Export gaps as CSV", size="sm", elem_id="hc-gaps-csv")
        gaps_json = gr.Button("Export gaps as JSON", size="sm", elem_id="hc-gaps-json")
    gaps_link = gr.HTML("", elem_id="hc-gaps-download", js_on_load=None)
    gaps = gr.HTML("", elem_id="hc-desk-gaps", js_on_load=None)
    gr.Markdown("### Article health")
    with gr.Row(equal_height=True):
        sort = gr.Dropdown([(title, key) for key, title in SORT_KEYS], value="problems", label="Sort by", elem_id="hc-health-sort", scale=2)
        find = gr.Textbox(label="Title contains", elem_id="hc-health-find", scale=2)
        marked_only = gr.Checkbox(label="Needs update only", elem_id="hc-health-marked", scale=1)
        failing_only = gr.Checkbox(label="With failed citations only", elem_id="hc-health-failing", scale=1)
        health_csv = gr.Button("Export as CSV", size="sm", elem_id="hc-health-csv", scale=1)
    health_link = gr.HTML("", elem_id="hc-health-download", js_on_load=None)
    table = gr.Dataframe(
        headers=D.HEALTH_HEADERS, interactive=False, wrap=True, latex_delimiters=[], max_height=360, elem_id="hc-health",
        label="Per article: answers citing it, its citations, failed ones, reader ratings, editors' mark",
    )
    with gr.Row(equal_height=True):
        article = gr.Dropdown([], label="Article", elem_id="hc-mark-article", scale=3)
        needs_update = gr.Checkbox(value=True, label="Needs update", elem_id="hc-mark-needs", scale=1)
        note = gr.Textbox(label="Why (note)", elem_id="hc-mark-note", scale=3)
        save_mark = gr.Button("Save mark", elem_id="hc-mark-save", scale=1)
    gr.Markdown("### The checker measured by editors")
    agreement_box = gr.HTML("", elem_id="hc-desk-agreement", js_on_load=None)

    def health(sort_: str, find_: str, marked_: bool, failing_: bool):
        rows = article_health(records.answers_since(), records.article_marks())
        return filter_health(sort_health(rows, sort_ or "problems"), find_ or "", needs_update=marked_, failing=failing_), rows

    def show_health(sort_: str, find_: str, marked_: bool, failing_: bool):
        shown, every = health(sort_, find_, marked_, failing_)
        choices = [(f"{r.title} ({r.article_id})", r.article_id) for r in sort_health(every, "title")]
        return gr.update(value=D.health_rows(shown) or None), gr.update(choices=choices)

    def load_all(sort_: str, find_: str, marked_: bool, failing_: bool):
        answers = records.answers_since()
        pairs = reviewed_pairs(answers)
        groups = find_gaps(records.unanswered_questions(), embed, search)
        return (
            D.charts_html(daily_activity(answers)), D.gaps_html(groups, site_url),
            D.agreement_html(agreement(pairs), weekly_agreement(pairs)), *show_health(sort_, find_, marked_, failing_),
        )

    filters = [sort, find, marked_only, failing_only]
    outputs = [charts, gaps, agreement_box, table, article]
    refresh.click(load_all, filters, outputs, **QUICK)
    for control in (sort, marked_only, failing_only):
        control.change(show_health, filters, [table, article], **QUICK)
    find.submit(show_health, filters, [table, article], **QUICK)

    def export_gaps(as_json: bool):
        groups = find_gaps(records.unanswered_questions(), embed, search)
        if as_json:
            return D.download_html(X.gaps_json(groups), "hubchat-gaps.json", "application/json", f"{len(groups)} groups")
        return D.download_html(X.gaps_csv(groups), "hubchat-gaps.csv", "text/csv", f"{len(groups)} groups")

    gaps_csv.click(lambda: export_gaps(False), None, [gaps_link], **QUICK)
    gaps_json.click(lambda: export_gaps(True), None, [gaps_link], **QUICK)

    def export_health(sort_: str, find_: str, marked_: bool, failing_: bool):
        shown, _ = health(sort_, find_, marked_, failing_)
        return D.download_html(X.health_csv(shown), "hubchat-article-health.csv", "text/csv", f"{len(shown)} articles")

    health_csv.click(export_health, filters, [health_link], **QUICK)

    def mark(article_id: str | None, needs: bool, note_: str, sort_: str, find_: str, marked_: bool, failing_: bool, request: gr.Request):
        if not article_id:
            raise gr.Error("Choose an article first.", print_exception=False)
        editor = request.username if request is not None and request.username else ""
        records.mark_article(article_id, needs, note_ or "", editor=editor)
        gr.Info("Mark saved." if needs else "Mark cleared.")
        return show_health(sort_, find_, marked_, failing_)[0]

    save_mark.click(mark, [article, needs_update, note, *filters], [table], **QUICK)

    def wire_load(page: gr.Blocks) -> None:
        page.load(load_all, filters, outputs, **QUICK)

    return wire_load
