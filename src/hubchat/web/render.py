"""Turns answers, passages and records into the Markdown and HTML the web UI shows, with every text escaped.

Nothing from an article, a question or an answer reaches the page unescaped: HTML components get
`html.escape`d text, and Chatbot messages (rendered as Markdown) get `md_text`, which also neutralises the Markdown
syntax so a question cannot make links, images or headings. The only markup in the output is built here.

Citation links: an answer's marker [n] in sentence s of answer `key` is a link to `#cite-{key}-{s}-{n}`; the
sources panel holds `<details id="src-{key}-{n}">` cards whose highlighted spans carry `data-s` (the sentences
they support). The page script (CITATION_JS) opens the card and marks the clicked sentence's span.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from hubchat.types import FLAGGED_VERDICTS, AnswerResult, SentenceCheck, Source
from hubchat.web.passage_html import passage_html

# Characters that Markdown (GFM, as Gradio's Chatbot renders it) gives a meaning anywhere in a line.
_MD_INLINE = {c: f"&#{ord(c)};" for c in "\\`*_[]|~$!{}"}
# Characters that only mean something at the start of a line (lists, headings, quotes, setext rules).
_MD_LINE_START = re.compile(r"^([ \t]*)([-+=#>]|\d+(?=[.)]))", re.MULTILINE)
_MARKER = re.compile(r"\[(\d+)\]")
_SAFE_URL = re.compile(r"^https?://", re.IGNORECASE)

VERDICT_LABELS = {
    "supported": "supported",
    "weak": "weakly supported",
    "unsupported": "not supported",
    "uncited": "no citation",
    "not_a_claim": "not a claim",
}
REVIEW_LABEL_NAMES = {"supported": "Supported", "wrong_citation": "Wrong citation", "unsupported": "Unsupported"}


def esc(text: object) -> str:
    """HTML-escape any value for an HTML component (quotes too, so it is safe inside attributes)."""
    return html.escape(str(text), quote=True)


def md_text(text: str) -> str:
    """Text for a Markdown-rendering component that shows exactly as typed: no HTML, links, images or headings."""
    out = html.escape(text, quote=True)
    out = "".join(_MD_INLINE.get(c, c) for c in out)
    out = _MD_LINE_START.sub(lambda m: m.group(1) + "".join(f"&#{ord(c)};" for c in m.group(2)), out)
    # Bare URLs and e-mail addresses would become links (GFM autolinks).
    return out.replace("://", "&#58;//").replace("www.", "www&#46;").replace("@", "&#64;")


def safe_link(url: str) -> str | None:
    """The url if it is an http(s) link (never javascript: or data:), else None."""
    url = (url or "").strip()
    return url if _SAFE_URL.match(url) else None


# ---- the chat ------------------------------------------------------------------------------------------------


def answer_markdown(key: str, result: AnswerResult) -> str:
    """The checked answer as a Chatbot message: escaped text, each [n] a link that opens passage n's card."""
    report = result.report
    if result.refused or report is None:
        return md_text(result.text) + _notes_markdown(result.notes, refused=True)
    titles = {s.number: s.title for s in result.passages}
    text = report.text
    parts: list[str] = []
    cursor = 0
    for sentence in report.sentences:
        parts.append(md_text(text[cursor : sentence.start]))
        parts.append(_sentence_markdown(key, sentence, titles))
        cursor = sentence.end
    parts.append(md_text(text[cursor:]))
    return "".join(parts) + _notes_markdown(result.notes, refused=False)


def _sentence_markdown(key: str, sentence: SentenceCheck, titles: dict[int, str]) -> str:
    out: list[str] = []
    cursor = 0
    for m in _MARKER.finditer(sentence.text):
        out.append(md_text(sentence.text[cursor : m.start()]))
        n = int(m.group(1))
        title = esc(f"Source {n}: {titles.get(n, '')}".strip(": ")).replace("\\", "&#92;")
        out.append(f'[&#91;{n}&#93;](#cite-{key}-{sentence.index}-{n} "{title}")')
        cursor = m.end()
    out.append(md_text(sentence.text[cursor:]))
    if sentence.verdict in FLAGGED_VERDICTS:
        out.append(" ⚠︎")
    return "".join(out)


def _notes_markdown(notes: Sequence[str], refused: bool) -> str:
    if not notes:
        return ""
    icon = "ℹ️" if refused else "⚠️"
    return "\n\n" + "\n\n".join(f"> {icon} *{md_text(n)}*" for n in notes)


def streaming_markdown(partial: str, status: str = "") -> str:
    """The answer while it is being written (markers still plain text), or the current step before any text."""
    if partial.strip():
        return md_text(partial) + " ▍"
    return f"*{md_text(status or 'Working…')}*"


def error_markdown(message: str) -> str:
    """A failed answer: what happened and what to do, in the conversation."""
    return (
        f"⚠️ **The answer could not be made.** {md_text(message)}\n\n"
        "*Your conversation is kept: fix the problem above or try again in a moment, then ask again.*"
    )


def status_html(text: str) -> str:
    if not text:
        return '<div class="hc-status hc-idle" role="status" aria-live="polite"></div>'
    return (
        '<div class="hc-status hc-busy" role="status" aria-live="polite">'
        f'<span class="hc-spinner" aria-hidden="true"></span><span class="hc-status-text">{esc(text)}</span></div>'
    )


# ---- passages with highlighted spans -------------------------------------------------------------------------


def span_ranges(source: Source, sentences: Iterable[SentenceCheck]) -> list[tuple[int, int, int]]:
    """(start, end, sentence index) of every supporting span inside `source.text`, clipped to it.

    Span offsets index the article; the source's text starts at `source.start` in the article.
    """
    ranges = []
    for sentence in sentences:
        for sup in sentence.supports:
            if sup.number != source.number:
                continue
            start = max(0, sup.span_start - source.start)
            end = min(len(source.text), sup.span_end - source.start)
            if end > start:
                ranges.append((start, end, sentence.index))
    return ranges


def source_meta_html(source: Source) -> str:
    bits = []
    if source.date:
        bits.append(f'<span class="hc-date">{esc(source.date)}</span>')
    if source.tags:
        bits.append(" ".join(f'<span class="hc-tag">{esc(t)}</span>' for t in source.tags))
    link = safe_link(source.link)
    if link:
        bits.append(f'<a class="hc-link" href="{esc(link)}" target="_blank" rel="noopener noreferrer">{esc(link)}</a>')
    elif source.link:
        bits.append(f'<span class="hc-link">{esc(source.link)}</span>')
    section = f'<div class="hc-section">§ {esc(source.section)}</div>' if source.section else ""
    return f'<div class="hc-meta">{" · ".join(bits)}</div>{section}'


def source_card_html(key: str, source: Source, sentences: Sequence[SentenceCheck], open_: bool = False) -> str:
    ranges = span_ranges(source, sentences)
    return (
        f'<details class="hc-src" id="src-{esc(key)}-{source.number}"{" open" if open_ else ""}>'
        f'<summary><span class="hc-num">[{source.number}]</span> <span class="hc-title">{esc(source.title)}</span></summary>'
        f"{source_meta_html(source)}"
        f'<blockquote class="hc-passage">{passage_html(source.text, ranges)}</blockquote>'
        "</details>"
    )


@dataclass(frozen=True)
class TurnView:
    """What the sources panel needs of one answered question."""

    key: str
    question: str
    result: AnswerResult


@dataclass(frozen=True)
class ReadingView:
    """The answer being written: its question and the passages it draws on, before any of them is cited."""

    question: str
    passages: tuple[Source, ...]


# Card ids of the answer being written; its record id (the usual key) exists only once it is finished.
READING_KEY = "reading"


def sources_html(turns: Sequence[TurnView], reading: ReadingView | None = None) -> str:
    """The sources panel: the passages each answer cited (newest answer first, earlier ones folded).

    With `reading`, the passages of the answer being written come first, all of them and unhighlighted: which
    ones it cites is known only when it is finished, and then the panel is rendered again without them.
    """
    answered = [t for t in turns if t.result.sources]
    if not answered and reading is None:
        return (
            '<div class="hc-sources hc-empty"><h3>Sources</h3>'
            "<p>The passages an answer cites appear here. Click a [n] marker in an answer to open its passage, "
            "with the supporting sentence highlighted.</p></div>"
        )
    groups = [_reading_group(reading)] if reading is not None else []
    for turn in reversed(answered):
        sentences = turn.result.report.sentences if turn.result.report else ()
        latest = not groups
        cards = "".join(source_card_html(turn.key, s, sentences, open_=(latest and len(turn.result.sources) == 1)) for s in turn.result.sources)
        head = f'<span class="hc-q">{esc(_shorten(turn.question, 90))}</span>'
        if latest:
            groups.append(f'<section class="hc-group hc-latest" id="grp-{esc(turn.key)}"><h4>Sources for {head}</h4>{cards}</section>')
        else:
            groups.append(
                f'<details class="hc-group hc-older" id="grp-{esc(turn.key)}"><summary>Sources for {head}</summary>{cards}</details>'
            )
    return '<div class="hc-sources"><h3>Sources</h3>' + "".join(groups) + "</div>"


def _reading_group(reading: ReadingView) -> str:
    head = f'<span class="hc-q">{esc(_shorten(reading.question, 90))}</span>'
    cards = "".join(source_card_html(READING_KEY, s, ()) for s in reading.passages)
    return (
        f'<section class="hc-group hc-latest hc-reading" id="grp-{READING_KEY}"><h4>Passages for {head}</h4>'
        '<p class="hc-reading-note">The answer is being written from these passages; the ones it cites stay '
        f"here when it is done.</p>{cards}</section>"
    )


def _shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


# ---- export --------------------------------------------------------------------------------------------------


def conversation_markdown(turns: Sequence[tuple[str, AnswerResult | None, str]], exported_at: dt.datetime | None = None) -> str:
    """The conversation as a Markdown document with each answer's sources (for download, never rendered here).

    Args:
        turns: (question, result or None, error message) per exchange.
    """
    when = (exported_at or dt.datetime.now(dt.UTC)).strftime("%Y-%m-%d %H:%M UTC")
    lines = ["# Conversation with hubchat", "", f"Exported {when}.", ""]
    for i, (question, result, error) in enumerate(turns, 1):
        lines += [f"## {i}. {' '.join(question.split())}", ""]
        if result is None:
            lines += [f"*No answer: {error}*", ""]
            continue
        lines += [result.text, ""]
        for note in result.notes:
            lines += [f"> Note: {note}", ""]
        if result.sources:
            lines += ["**Sources**", ""]
            sentences = result.report.sentences if result.report else ()
            for s in result.sources:
                meta = ", ".join(x for x in (s.date, ", ".join(s.tags)) if x)
                lines.append(f"- [{s.number}] {s.title}" + (f" ({meta})" if meta else "") + f" — {s.link}")
                if s.section:
                    lines.append(f"  - Section: {s.section}")
                for start, end, _ in span_ranges(s, sentences):
                    lines.append(f"  - > {' '.join(s.text[start:end].split())}")
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


# ---- the editors' review page --------------------------------------------------------------------------------


def verdict_badge(verdict: str) -> str:
    return f'<span class="hc-badge hc-v-{esc(verdict)}">{esc(VERDICT_LABELS.get(verdict, verdict))}</span>'


def review_answer_html(record) -> str:
    """The header of one recorded answer: question, answer, checker verdict, reader feedback."""
    feedback = ""
    if record.feedback:
        items = "".join(
            f'<li>{"helpful" if f.helpful else "not helpful"}'
            + (f": “{esc(f.comment)}”" if f.comment else "")
            + f' <span class="hc-when">{esc(f.created_at[:16].replace("T", " "))}</span></li>'
            for f in record.feedback
        )
        feedback = f'<div class="hc-feedback"><b>Reader feedback</b><ul>{items}</ul></div>'
    notes = "".join(f'<div class="hc-note">{esc(n)}</div>' for n in record.notes)
    standalone = (
        f'<div class="hc-standalone">Searched as: {esc(record.standalone_question)}</div>'
        if record.standalone_question and record.standalone_question != record.question
        else ""
    )
    return (
        '<div class="hc-review-answer">'
        f'<div class="hc-meta">{esc(record.created_at[:19].replace("T", " "))} UTC · {esc(record.backend)} · '
        f'checker: {esc(record.verdict)}{" · flagged" if record.flagged else ""}</div>'
        f'<h3 class="hc-question">{esc(record.question)}</h3>{standalone}'
        f'<div class="hc-answer-text">{esc(record.answer_text)}</div>{notes}{feedback}</div>'
    )


def review_sentence_html(record, sentence: SentenceCheck) -> str:
    """One answer sentence for review: its text, the checker's verdict and score, each cited passage with the span."""
    review = record.reviews.get(sentence.index)
    blamed = review.blames(sentence.citations) if review is not None else ()
    # Say which passages a wrong citation blames only when it is not all of them (one, of several cited).
    of = (
        ' of <span class="hc-blamed">' + " ".join(f"[{n}]" for n in blamed) + "</span>"
        if blamed and len(blamed) < len(set(sentence.citations)) else ""
    )
    current = (
        f'<div class="hc-current">Editor verdict: <b>{esc(REVIEW_LABEL_NAMES.get(review.label, review.label))}</b>{of}'
        + (f" — {esc(review.note)}" if review.note else "")
        + f' <span class="hc-when">({esc(review.editor)}, {esc(review.created_at[:16].replace("T", " "))})</span></div>'
        if review
        else '<div class="hc-current hc-none">Not reviewed yet.</div>'
    )
    passages = []
    for sup in sentence.supports:
        source = record.source(sup.number)
        if source is None:
            continue
        ranges = [r for r in span_ranges(source, [sentence])]
        passages.append(
            f'<div class="hc-review-passage"><div class="hc-src-head"><span class="hc-num">[{sup.number}]</span> '
            f'<span class="hc-title">{esc(source.title)}</span> · support score <b>{sup.score:.2f}</b>'
            + (' · <i class="hc-by-checker">cited by the checker, not the model</i>' if sentence.attributed else "")
            + "</div>"
            f"{source_meta_html(source)}"
            f'<blockquote class="hc-passage">{passage_html(source.text, ranges)}</blockquote></div>'
        )
    if not passages:
        passages.append('<div class="hc-none">No citation.</div>')
    passages.extend(
        f'<div class="hc-pruned"><span class="hc-num">[{p.number}]</span> removed by the checker: its passage '
        f"does not support this sentence (score <b>{p.score:.2f}</b>) and the others do"
        + (f'; its closest sentence: <q>{esc(p.span_text)}</q>' if p.span_text else "")
        + "</div>"
        for p in sentence.pruned
    )
    unmatched = (
        '<div class="hc-unmatched">Stated by no cited passage: '
        + ", ".join(f"<b>{esc(u)}</b>" for u in sentence.unmatched)
        + "</div>"
        if sentence.unmatched
        else ""
    )
    return (
        f'<div class="hc-review-sentence" id="sentence-{sentence.index}">'
        f'<div class="hc-sentence"><span class="hc-idx">{sentence.index + 1}.</span> {esc(sentence.text)}</div>'
        f'<div class="hc-check">Checker: {verdict_badge(sentence.verdict)} score <b>{sentence.score:.2f}</b></div>'
        f"{unmatched}{current}{''.join(passages)}</div>"
    )


def csv_download_html(csv_text: str, filename: str) -> str:
    """A download link carrying the CSV itself (a data: URL), with a row count."""
    import base64

    rows = max(0, csv_text.count("\n") - 1)
    data = base64.b64encode(csv_text.encode("utf-8")).decode("ascii")
    return (
        f'<div class="hc-csv"><a class="hc-download" download="{esc(filename)}" href="data:text/csv;charset=utf-8;base64,{data}">'
        f"Download {esc(filename)}</a> <span class=\"hc-when\">({rows} verdict{'s' if rows != 1 else ''})</span></div>"
    )


def review_disabled_html(user_env: str, password_env: str) -> str:
    return (
        '<div class="hc-disabled"><h2>Editors’ review is not enabled</h2>'
        "<p>The review page needs a login, and hubchat never ships a default one. To enable it, set both "
        f"environment variables <code>{esc(user_env)}</code> (the editor’s user name) and "
        f"<code>{esc(password_env)}</code> (the password) for the hubchat process, then restart it, e.g.</p>"
        f"<pre>{esc(user_env)}=editor {esc(password_env)}='a long passphrase' hubchat serve</pre>"
        "<p>The variable names come from <code>ui.editor_user_env</code> and <code>ui.editor_password_env</code> "
        "in hubchat.toml.</p></div>"
    )
