"""The desk's tables as CSV (safe to open in a spreadsheet) and JSON."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence

from hubchat.desk.gaps import GapGroup
from hubchat.desk.health import ArticleHealth

GAP_CSV_COLUMNS = (
    "rank", "typical_questions", "asked", "readers", "refused", "flagged", "first_asked", "last_asked",
    "closest_articles", "questions",
)


def gaps_csv(groups: Sequence[GapGroup]) -> str:
    """One line per gap group; lists (questions, articles) joined with " | "."""
    return _csv(GAP_CSV_COLUMNS, ([
        g.rank, " | ".join(g.typical), g.asked, g.readers, g.refused, g.flagged, g.first_asked, g.last_asked,
        " | ".join(f"{a.title} ({a.url or a.article_id}, {a.similarity:.2f})" for a in g.closest),
        " | ".join(" ".join(q.question.split()) for q in g.questions),
    ] for g in groups))


def gaps_json(groups: Sequence[GapGroup]) -> str:
    """The groups with every question and article, as a JSON array (UTF-8 text, indented)."""
    return json.dumps([
        {
            "rank": g.rank, "typical_questions": list(g.typical), "asked": g.asked, "readers": g.readers,
            "refused": g.refused, "flagged": g.flagged, "first_asked": g.first_asked, "last_asked": g.last_asked,
            "closest_articles": [
                {"article_id": a.article_id, "title": a.title, "url": a.url, "similarity": a.similarity} for a in g.closest
            ],
            "questions": [
                {"answer_id": q.answer_id, "asked_at": q.created_at, "question": q.question, "refused": q.refused, "flagged": q.flagged}
                for q in g.questions
            ],
        }
        for g in groups
    ], ensure_ascii=False, indent=2)


def _csv(columns: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_csv_safe(v) for v in row])
    return out.getvalue()


def _csv_safe(value: object) -> object:
    # A cell starting with = + - @ runs as a formula in spreadsheet apps; questions come from anyone.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


HEALTH_CSV_COLUMNS = (
    "article_id", "title", "url", "answers", "cited", "checker_flagged", "editor_supported", "editor_wrong_citation",
    "editor_unsupported", "helpful", "not_helpful", "needs_update", "mark_note", "marked_by", "marked_at",
)


def health_csv(rows: Sequence[ArticleHealth]) -> str:
    """One line per article, in the order given (the page's sort and filter)."""
    return _csv(HEALTH_CSV_COLUMNS, ([
        r.article_id, r.title, r.url, r.answers, r.cited, r.checker_flagged, r.supported, r.wrong_citation,
        r.unsupported, r.helpful, r.not_helpful, "yes" if r.needs_update else "no",
        r.mark.note if r.mark else "", r.mark.editor if r.mark else "", r.mark.created_at if r.mark else "",
    ] for r in rows))
