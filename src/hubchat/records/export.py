"""The editors' current verdicts as CSV, safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from typing import Any

CSV_COLUMNS = (
    "answer_id", "answer_created_at", "question", "backend", "answer_verdict", "sentence_index", "sentence",
    "citations", "checker_verdict", "checker_score", "editor_label", "editor_note", "editor", "reviewed_at",
)


def verdicts_csv(rows: Iterable[Mapping[str, Any]]) -> str:
    """CSV text with a header of CSV_COLUMNS and one line per row.

    Args:
        rows: one mapping per reviewed sentence with every CSV column; `citations` a list of passage numbers,
            `checker_score` a number.
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        values = dict(row)
        values["citations"] = " ".join(f"[{n}]" for n in values["citations"])
        values["checker_score"] = f"{values['checker_score']:.3f}"
        writer.writerow([_csv_safe(values[c]) for c in CSV_COLUMNS])
    return out.getvalue()


def _csv_safe(value: object) -> object:
    # A cell starting with = + - @ runs as a formula in spreadsheet apps; questions come from anyone.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value
