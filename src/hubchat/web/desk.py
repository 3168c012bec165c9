"""The desk tab of the review page: content gaps, article health with "needs update" marks, the checker against
editors, the charts, and the passages demoted for editors' "wrong citation" verdicts (with lifting a demotion and
withdrawing a lift). The figures come from hubchat.desk's cache, recomputed only when the records or the index
changed since the last load."""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING

import gradio as gr

from hubchat.desk import export as X
from hubchat.desk.figures import DeskCache
from hubchat.desk.gaps import DenseSearch, Embed
from hubchat.desk.health import SORT_KEYS, filter_health, sort_health
from hubchat.desk.lifts import lifted_passages
from hubchat.errors import HubchatError
from hubchat.records import Records
from hubchat.retrieval.demotion import CitationDemoter
from hubchat.web import desk_render as D

if TYPE_CHECKING:  # the runtime opens the store; importing it here would load Chroma with the page module
    from hubchat.index.store import ChunkStore

log = logging.getLogger(__name__)
QUICK = dict(api_visibility="private", show_progress="hidden")


def index_version_of(store: ChunkStore) -> Callable[[], Hashable]:
    """What the desk keys the gaps' closest articles on: the store's live generation and the fingerprint of its
    chunk ids (the one the lexical index is checked against on loading; chunk ids carry the article's content
    hash, so an added, changed or removed article moves it). This process's ingests and syncs update them in
    place; another process's are followed by the store's own cheap pointer check, at most every index.refresh_s,
    as the chat does. Nothing is rebuilt per request."""

    def version() -> Hashable:
        try:
            store.refresh()
        except HubchatError as exc:  # the index unreachable: key on what this process last saw
            log.warning("index not checked for changes before the desk: %s", exc)
        return store.generation, store.lexical.fingerprint

    return version


def build_desk(
    records: Records, embed: Embed, search: DenseSearch | None, site_url: str, demoter: CitationDemoter | None = None,
    index_version: Callable[[], Hashable] | None = None,
) -> Callable[[gr.Blocks], None]:
    """The desk's components, inside an open Blocks and Tab; returns what loads them with the page (`wire(page)`).

    Args:
        demoter: the retriever's (its demotions are listed and lifted here); None: demotion is switched off.
        index_version: see `DeskCache` (`index_version_of(store)` for the runtime's store).
    """
    cache = DeskCache(records, embed, search, index_version)
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
    gr.Markdown("### Passages demoted for wrong citations")
    demotions = gr.HTML("", elem_id="hc-desk-demotions", js_on_load=None)
    with gr.Row(equal_height=True):
        demoted = gr.Dropdown([], label="Demoted passage", elem_id="hc-lift-chunk", scale=3)
        lift_note = gr.Textbox(label="Why lift it (note)", elem_id="hc-lift-note", scale=3)
        lift = gr.Button("Lift the demotion", elem_id="hc-lift", scale=1)
    gr.Markdown("#### Lifted demotions")
    lifted_box = gr.HTML("", elem_id="hc-desk-lifted", js_on_load=None)
    with gr.Row(equal_height=True):
        lifted = gr.Dropdown([], label="Lifted passage", elem_id="hc-unlift-chunk", scale=3)
        unlift_note = gr.Textbox(label="Why withdraw the lift (note)", elem_id="hc-unlift-note", scale=3)
        unlift = gr.Button("Withdraw the lift", elem_id="hc-unlift", scale=1)
    min_verdicts = demoter.settings.demotion_min_verdicts if demoter is not None else 0

    def _choice(title: str, section: str, chunk_id: str) -> tuple[str, str]:
        return (f"{title} · {section} ({chunk_id})" if section else f"{title} ({chunk_id})", chunk_id)

    def show_demotions():
        active = demoter.active() if demoter is not None else None
        # Listed even with demotion off: the lifts are in the records and count again when it is switched on.
        now_lifted = lifted_passages(records.lifted_demotions(), records.wrong_citations(include_lifted=True))
        return (
            D.demotions_html(active, min_verdicts),
            gr.update(choices=[_choice(d.title, d.section, d.chunk_id) for d in active or ()], value=None),
            D.lifted_html(now_lifted),
            gr.update(choices=[_choice(p.title, p.section, p.chunk_id) for p in now_lifted], value=None),
        )

    def health(sort_: str, find_: str, marked_: bool, failing_: bool):
        rows = cache.figures().health
        return filter_health(sort_health(rows, sort_ or "problems"), find_ or "", needs_update=marked_, failing=failing_), rows

    def show_health(sort_: str, find_: str, marked_: bool, failing_: bool):
        shown, every = health(sort_, find_, marked_, failing_)
        choices = [(f"{r.title} ({r.article_id})", r.article_id) for r in sort_health(every, "title")]
        return gr.update(value=D.health_rows(shown) or None), gr.update(choices=choices)

    def load_all(sort_: str, find_: str, marked_: bool, failing_: bool):
        f = cache.figures()
        return (
            D.charts_html(f.activity), D.gaps_html(f.gaps, site_url), D.agreement_html(f.agreement, f.weekly),
            *show_health(sort_, find_, marked_, failing_), *show_demotions(),
        )

    filters = [sort, find, marked_only, failing_only]
    demotion_outputs = [demotions, demoted, lifted_box, lifted]
    outputs = [charts, gaps, agreement_box, table, article, *demotion_outputs]
    refresh.click(load_all, filters, outputs, **QUICK)
    for control in (sort, marked_only, failing_only):
        control.change(show_health, filters, [table, article], **QUICK)
    find.submit(show_health, filters, [table, article], **QUICK)

    def export_gaps(as_json: bool):
        groups = cache.figures().gaps
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

    def lift_demotion(chunk_id: str | None, note_: str, request: gr.Request):
        if not chunk_id:
            raise gr.Error("Choose a demoted passage first.", print_exception=False)
        editor = request.username if request is not None and request.username else ""
        records.lift_demotion(chunk_id, True, note_ or "", editor=editor)
        gr.Info("Demotion lifted: its verdicts so far no longer count; new ones will.")
        return show_demotions()

    lift.click(lift_demotion, [demoted, lift_note], demotion_outputs, **QUICK)

    def withdraw_lift(chunk_id: str | None, note_: str, request: gr.Request):
        if not chunk_id:
            raise gr.Error("Choose a lifted passage first.", print_exception=False)
        editor = request.username if request is not None and request.username else ""
        records.lift_demotion(chunk_id, False, note_ or "", editor=editor)
        gr.Info("Lift withdrawn: the passage's verdicts count again.")
        return show_demotions()

    unlift.click(withdraw_lift, [lifted, unlift_note], demotion_outputs, **QUICK)

    def wire_load(page: gr.Blocks) -> None:
        page.load(load_all, filters, outputs, **QUICK)

    return wire_load
