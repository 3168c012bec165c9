"""The editors' desk as HTML: content gaps, article health, checker agreement and the charts (inline SVG drawn
here, from the records, so the page fetches nothing). Every text from a question, an article or a note is
escaped with render.esc; the only markup is built here."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from hubchat.desk.activity import DayActivity
from hubchat.desk.agreement import CHECKER_VERDICTS, Agreement, WeeklyAgreement
from hubchat.desk.gaps import GapGroup
from hubchat.desk.health import ArticleHealth
from hubchat.desk.lifts import LiftedPassage
from hubchat.records import REVIEW_LABELS
from hubchat.retrieval.demotion import Demotion
from hubchat.web.render import REVIEW_LABEL_NAMES, VERDICT_LABELS, esc, safe_link

CHART_W, CHART_H, PAD = 360, 150, 30


def _when(iso_time: str) -> str:
    return iso_time[:16].replace("T", " ")


def gaps_html(groups: Sequence[GapGroup], site_url: str = "") -> str:
    if not groups:
        return '<p class="hc-hint">No content gaps: no question was refused or answered with flagged sentences.</p>'
    items = []
    for g in groups:
        typical = "".join(f"<li>{esc(q)}</li>" for q in g.typical)
        closest = ", ".join(_article_link(a.title, a.url, site_url) + f' <span class="hc-when">({a.similarity:.2f})</span>' for a in g.closest)
        items.append(
            f'<li class="hc-gap" data-rank="{g.rank}" data-asked="{g.asked}">'
            f'<div class="hc-gap-head"><b>#{g.rank}</b> · asked <b>{g.asked}</b> time{"s" if g.asked != 1 else ""} by '
            f'<b>{g.readers}</b> reader{"s" if g.readers != 1 else ""} · {g.refused} refused, {g.flagged} flagged · '
            f'last {esc(_when(g.last_asked))}</div><ul class="hc-typical">{typical}</ul>'
            f'<div class="hc-closest">Closest articles: {closest or "none close: a subject for a new article"}</div></li>'
        )
    return f'<ol class="hc-gaps">{"".join(items)}</ol>'


def _article_link(title: str, url: str, site_url: str) -> str:
    link = safe_link(site_url.rstrip("/") + url if url.startswith("/") and site_url else url)
    if link:
        return f'<a href="{esc(link)}" target="_blank" rel="noopener noreferrer">{esc(title)}</a>'
    return f'<span class="hc-title">{esc(title)}</span>'


def demotions_html(demotions: Sequence[Demotion] | None, min_verdicts: int) -> str:
    """The passages ranked lower for editors' "wrong citation" verdicts; None: demotion is switched off."""
    if demotions is None:
        return '<p class="hc-hint">Demotion is off (<code>retrieval.demote_wrong_citations = false</code>): verdicts change no ranking.</p>'
    if not demotions:
        return (
            f'<p class="hc-hint">No passage is demoted: none was judged "wrong citation" for {min_verdicts} or more '
            "similar questions (or its demotion was lifted).</p>"
        )
    items = []
    for d in demotions:
        questions = "".join(f"<li>{esc(q)}</li>" for q in d.questions)
        section = f" · {esc(d.section)}" if d.section else ""
        items.append(
            f'<li class="hc-demotion" data-chunk="{esc(d.chunk_id)}"><div><b>{esc(d.title)}</b>{section} '
            f'<span class="hc-when">({esc(d.chunk_id)})</span> · judged wrong for <b>{len(d.questions)}</b> similar '
            f'questions, so ranked lower for questions like:</div><ul class="hc-typical">{questions}</ul></li>'
        )
    return f'<ul class="hc-demotions">{"".join(items)}</ul>'


def lifted_html(lifted: Sequence[LiftedPassage]) -> str:
    """The passages whose demotion is lifted now, each with its lift's note and the verdicts it sets aside."""
    if not lifted:
        return '<p class="hc-hint">No demotion is lifted.</p>'
    items = []
    for p in lifted:
        section = f" · {esc(p.section)}" if p.section else ""
        note = f": “{esc(p.lift.note)}”" if p.lift.note else ""
        items.append(
            f'<li class="hc-lifted" data-chunk="{esc(p.chunk_id)}"><b>{esc(p.title)}</b>{section} '
            f'<span class="hc-when">({esc(p.chunk_id)})</span> · lifted by {esc(p.lift.editor or "an editor")} '
            f'{esc(_when(p.lift.created_at))}{note} · sets aside the verdicts of <b>{p.set_aside}</b> '
            f'answer{"s" if p.set_aside != 1 else ""}</li>'
        )
    return f'<ul class="hc-lifts">{"".join(items)}</ul>'


HEALTH_HEADERS = ["Article", "Answers", "Citations", "Checker flagged", "Editor: wrong citation", "Editor: unsupported",
                  "Helpful", "Not helpful", "Needs update"]


def health_rows(rows: Sequence[ArticleHealth]) -> list[list[object]]:
    """The article health table for a Dataframe (which shows its cells as text, never as HTML)."""
    return [
        [r.title, r.answers, r.cited, r.checker_flagged, r.wrong_citation, r.unsupported, r.helpful, r.not_helpful,
         (f"yes: {r.mark.note}" if r.mark.note else "yes") if r.needs_update and r.mark else ""]
        for r in rows
    ]


def agreement_html(overall: Agreement, weekly: Sequence[WeeklyAgreement]) -> str:
    if overall.pairs == 0:
        return '<p class="hc-hint">No reviewed sentences yet: save verdicts on answers to measure the checker.</p>'
    head = "".join(f"<th>{esc(REVIEW_LABEL_NAMES[e])}</th>" for e in REVIEW_LABELS)
    body = "".join(
        f'<tr><th>{esc(VERDICT_LABELS.get(c, c))}</th>'
        + "".join(f'<td data-cell="{c}:{e}">{overall.confusion[(c, e)]}</td>' for e in REVIEW_LABELS) + "</tr>"
        for c in CHECKER_VERDICTS
    )
    weeks = "".join(
        f"<tr><td>{esc(w.week)}</td><td>{w.agreement.pairs}</td><td>{_figure(w.agreement.precision)}</td><td>{_figure(w.agreement.recall)}</td></tr>"
        for w in weekly
    )
    return (
        '<div class="hc-agreement">'
        f'<p><b id="hc-precision">precision {_figure(overall.precision)}</b> · <b id="hc-recall">recall {_figure(overall.recall)}</b> '
        f"of the checker’s “supported” over <b>{overall.pairs}</b> reviewed sentences "
        f"({overall.agreed} agreed on supported or not).</p>"
        f'<table class="hc-confusion"><caption>Checker (rows) vs editors (columns)</caption><tr><th></th>{head}</tr>{body}</table>'
        f'<table class="hc-weekly"><tr><th>Week</th><th>Sentences</th><th>Precision</th><th>Recall</th></tr>{weeks}</table></div>'
    )


def _figure(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def charts_html(days: Sequence[DayActivity]) -> str:
    if not days:
        return '<p class="hc-hint">No answers recorded yet.</p>'
    charts: list[tuple[str, str, Callable[[DayActivity], float | None], bool]] = [
        ("questions", "Questions per day", lambda d: float(d.questions), False),
        ("refusals", "Refusal rate", lambda d: d.refusal_rate, True),
        ("flagged", "Flagged rate (of answers not refused)", lambda d: d.flagged_rate, True),
        ("rating", "Reader rating (share helpful)", lambda d: d.rating, True),
    ]
    return '<div class="hc-charts">' + "".join(line_chart_svg(key, title, days, value, rate) for key, title, value, rate in charts) + "</div>"


def line_chart_svg(key: str, title: str, days: Sequence[DayActivity], value: Callable[[DayActivity], float | None], rate: bool) -> str:
    """One day-by-day line chart; a day without a value (no ratings, say) is a gap, not a zero."""
    values = [value(d) for d in days]
    known = [v for v in values if v is not None]
    top = 1.0 if rate else max(known + [1.0])
    inner_w, inner_h = CHART_W - 2 * PAD, CHART_H - 2 * PAD

    def x(i: int) -> float:
        return PAD + (inner_w * i / (len(days) - 1) if len(days) > 1 else inner_w / 2)

    def y(v: float) -> float:
        return PAD + inner_h * (1 - v / top)

    points = []
    for i, (d, v) in enumerate(zip(days, values)):
        if v is None:
            continue
        shown = f"{v:.0%}" if rate else f"{v:.0f}"
        points.append(
            f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="3" data-day="{esc(d.day)}" data-value="{v:.4f}"><title>{esc(d.day)}: {shown}</title></circle>'
        )
    segments, run = [], []
    for i, v in enumerate(values + [None]):  # a None ends the current stretch of line
        if v is not None:
            run.append(f"{x(i):.1f},{y(v):.1f}")
        elif run:
            segments.append(f'<polyline fill="none" stroke="currentColor" stroke-width="2" points="{" ".join(run)}"/>')
            run = []
    top_label = "100%" if rate else f"{top:.0f}"
    return (
        f'<figure class="hc-chart" id="hc-chart-{esc(key)}"><figcaption>{esc(title)}</figcaption>'
        f'<svg viewBox="0 0 {CHART_W} {CHART_H}" width="{CHART_W}" height="{CHART_H}" role="img" aria-label="{esc(title)}">'
        f'<line x1="{PAD}" y1="{PAD + inner_h}" x2="{PAD + inner_w}" y2="{PAD + inner_h}" stroke="#999"/>'
        f'<line x1="{PAD}" y1="{PAD}" x2="{PAD}" y2="{PAD + inner_h}" stroke="#999"/>'
        f'<text x="{PAD - 4}" y="{PAD + 4}" text-anchor="end" font-size="10">{top_label}</text>'
        f'<text x="{PAD - 4}" y="{PAD + inner_h}" text-anchor="end" font-size="10">0</text>'
        f'<text x="{PAD}" y="{CHART_H - 8}" font-size="10">{esc(days[0].day)}</text>'
        f'<text x="{PAD + inner_w}" y="{CHART_H - 8}" text-anchor="end" font-size="10">{esc(days[-1].day)}</text>'
        f'{"".join(segments)}{"".join(points)}</svg></figure>'
    )


def download_html(text: str, filename: str, mime: str, what: str) -> str:
    """A download link carrying the file itself (a data: URL), through the logged-in page only."""
    import base64

    data = base64.b64encode(text.encode("utf-8")).decode("ascii")
    return (
        f'<a class="hc-download" download="{esc(filename)}" href="data:{esc(mime)};charset=utf-8;base64,{data}">'
        f"Download {esc(filename)}</a> <span class=\"hc-when\">({esc(what)})</span>"
    )
