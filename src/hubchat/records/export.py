"""The editors' current verdicts as CSV, safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from typing import Any

CSV_COLUMNS = (
    "answer_id", "answer_created_at", "question", "backend", "answer_verdict", "sentence_index", "sentence",
    "citations", "checker_verdict", "checker_score", "editor_label", "editor_note", "editor", "reviewed_at",
    "blamed_citations",
)


def verdicts_csv(rows: Iterable[Mapping[str, Any]]) -> str:
    """CSV text with a header of CSV_COLUMNS and one line per row.

    Args:
        rows: one mapping per reviewed sentence with every CSV column except blamed_citations; `citations` a list
            of passage numbers, `checker_score` a number, and `editor_citations` the numbers a wrong citation
            names (None: all it cites).
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        values = dict(row)
        named = values.pop("editor_citations")
        if values["editor_label"] != "wrong_citation":
            blamed: list[int] = []
        else:
            blamed = [n for n in values["citations"] if named is None or n in named]
        values["blamed_citations"] = " ".join(f"[{n}]" for n in blamed)
        values["citations"] = " ".join(f"[{n}]" for n in values["citations"])
        values["checker_score"] = f"{values['checker_score']:.3f}"
        writer.writerow([_csv_safe(values[c]) for c in CSV_COLUMNS])
    return out.getvalue()


def _csv_safe(value: object) -> object:
    # A cell starting with = + - @ runs as a formula in spreadsheet apps; questions come from anyone.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value
