"""The persistent record of what the chat answered, what readers thought of it, and what editors decided.

One SQLite file (settings.ui.db_path) in WAL mode. Every call opens its own connection, and every write runs in
a `BEGIN IMMEDIATE` transaction with synchronous=FULL, so concurrent requests from the web server's worker
threads queue on SQLite's lock instead of corrupting or dropping each other's rows, and a committed verdict
survives a crash. Editor verdicts and reader feedback are append-only: the latest row per sentence is the
current verdict, and nothing an editor saved is ever overwritten.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from hubchat.types import (
    FLAGGED_VERDICTS,
    AnswerResult,
    SentenceCheck,
    Source,
    SpanSupport,
)

ReviewLabel = Literal["supported", "wrong_citation", "unsupported"]
REVIEW_LABELS: tuple[str, ...] = ("supported", "wrong_citation", "unsupported")
ListFilter = Literal["all", "flagged", "unreviewed"]
_NEGATIVE_LABELS = ("wrong_citation", "unsupported")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
    id TEXT PRIMARY KEY,
    created_at TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    question TEXT NOT NULL,
    standalone_question TEXT NOT NULL,
    answer_text TEXT NOT NULL,
    backend TEXT NOT NULL,
    verdict TEXT NOT NULL,
    refused INTEGER NOT NULL,
    flagged INTEGER NOT NULL,
    notes TEXT NOT NULL,
    filters TEXT NOT NULL,
    sources TEXT NOT NULL,
    timings TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS answers_created ON answers (created_at);
CREATE TABLE IF NOT EXISTS sentences (
    answer_id TEXT NOT NULL REFERENCES answers (id),
    idx INTEGER NOT NULL,
    text TEXT NOT NULL,
    start_offset INTEGER NOT NULL,
    end_offset INTEGER NOT NULL,
    citations TEXT NOT NULL,
    verdict TEXT NOT NULL,
    score REAL NOT NULL,
    supports TEXT NOT NULL,
    pruned TEXT NOT NULL DEFAULT '[]',
    unmatched TEXT NOT NULL DEFAULT '[]',
    PRIMARY KEY (answer_id, idx)
);
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    answer_id TEXT NOT NULL REFERENCES answers (id),
    created_at TEXT NOT NULL,
    helpful INTEGER NOT NULL,
    comment TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS feedback_answer ON feedback (answer_id);
CREATE TABLE IF NOT EXISTS reviews (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    answer_id TEXT NOT NULL REFERENCES answers (id),
    sentence_idx INTEGER NOT NULL,
    label TEXT NOT NULL,
    note TEXT NOT NULL,
    editor TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS reviews_answer ON reviews (answer_id, sentence_idx);
"""

# Columns added after the first release, with the default an older database's rows get.
_ADDED_COLUMNS = {"sentences": (("pruned", "'[]'"), ("unmatched", "'[]'"))}

CSV_COLUMNS = (
    "answer_id", "answer_created_at", "question", "backend", "answer_verdict", "sentence_index", "sentence",
    "citations", "checker_verdict", "checker_score", "editor_label", "editor_note", "editor", "reviewed_at",
)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class Review:
    """An editor's verdict on one sentence of an answer."""

    answer_id: str
    sentence_index: int
    label: str
    note: str
    editor: str
    created_at: str


@dataclass(frozen=True)
class Feedback:
    """A reader's rating of an answer."""

    id: int
    answer_id: str
    helpful: bool
    comment: str
    created_at: str


@dataclass(frozen=True)
class AnswerRecord:
    """One recorded answer, as the editors' review page shows it.

    Attributes:
        sources: the passages the answer cited (what its [n] markers point to).
        sentences: the checker's sentences with their citations, support spans (article offsets) and scores.
        reviews: the current editor verdict per sentence index.
        flagged: the citation checker flagged at least one sentence, or a marker was removed.
    """

    id: str
    created_at: str
    conversation_id: str
    channel: str
    question: str
    standalone_question: str
    answer_text: str
    backend: str
    verdict: str
    refused: bool
    flagged: bool
    notes: tuple[str, ...]
    filters: dict
    sources: tuple[Source, ...]
    sentences: tuple[SentenceCheck, ...]
    reviews: dict[int, Review]
    feedback: tuple[Feedback, ...]

    def source(self, number: int) -> Source | None:
        return next((s for s in self.sources if s.number == number), None)


def _source_from_dict(d: dict) -> Source:
    return Source(**{**d, "tags": tuple(d.get("tags", ()))})


def _sentence_from_row(row: sqlite3.Row) -> SentenceCheck:
    supports = tuple(SpanSupport(**s) for s in json.loads(row["supports"]))
    return SentenceCheck(
        index=row["idx"], text=row["text"], start=row["start_offset"], end=row["end_offset"],
        citations=tuple(json.loads(row["citations"])), supports=supports, verdict=row["verdict"], score=row["score"],
        pruned=tuple(SpanSupport(**s) for s in json.loads(row["pruned"])),
        unmatched=tuple(json.loads(row["unmatched"])),
    )


def is_flagged(result: AnswerResult) -> bool:
    """Whether the citation check found something an editor should look at."""
    report = result.report
    if report is None or result.refused:
        return False
    return bool(report.issues) or any(s.verdict in FLAGGED_VERDICTS for s in report.sentences)


class Records:
    """The SQLite store of answers, reader feedback and editor verdicts.

    Args:
        path: the database file; its folder is created if needed.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as conn:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(_SCHEMA)
            for table, columns in _ADDED_COLUMNS.items():
                present = {r["name"] for r in conn.execute(f"PRAGMA table_info({table})")}
                for name, default in columns:
                    if name not in present:  # a database written before the column existed
                        conn.execute(f"ALTER TABLE {table} ADD COLUMN {name} TEXT NOT NULL DEFAULT {default}")

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        # autocommit mode: transactions are opened explicitly by _write, reads see the latest commit.
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
            yield conn
        finally:
            conn.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    # ---- writing -------------------------------------------------------------------------------------------

    def record_answer(self, result: AnswerResult, *, conversation_id: str = "", channel: str = "chat") -> str:
        """Store one answer with its checked sentences and cited passages.

        Returns:
            The new answer's id.
        """
        answer_id = uuid.uuid4().hex
        sentences = result.report.sentences if result.report is not None and not result.refused else ()
        with self._write() as conn:
            conn.execute(
                "INSERT INTO answers VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    answer_id, _now(), conversation_id, channel, result.question, result.standalone_question,
                    result.text, result.backend, result.verdict, int(result.refused), int(is_flagged(result)),
                    json.dumps(list(result.notes), ensure_ascii=False),
                    json.dumps(asdict(result.filters), ensure_ascii=False),
                    json.dumps([asdict(s) for s in result.sources], ensure_ascii=False),
                    json.dumps(result.timings),
                ),
            )
            conn.executemany(
                "INSERT INTO sentences (answer_id, idx, text, start_offset, end_offset, citations, verdict, score, "
                "supports, pruned, unmatched) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                [
                    (
                        answer_id, s.index, s.text, s.start, s.end, json.dumps(list(s.citations)), s.verdict,
                        float(s.score), json.dumps([asdict(sp) for sp in s.supports], ensure_ascii=False),
                        json.dumps([asdict(sp) for sp in s.pruned], ensure_ascii=False),
                        json.dumps(list(s.unmatched), ensure_ascii=False),
                    )
                    for s in sentences
                ],
            )
        return answer_id

    def record_feedback(self, answer_id: str, helpful: bool, comment: str = "") -> int:
        """Store a reader's rating of an answer; returns the feedback id (to attach a comment later)."""
        with self._write() as conn:
            self._require_answer(conn, answer_id)
            cur = conn.execute(
                "INSERT INTO feedback (answer_id, created_at, helpful, comment) VALUES (?,?,?,?)",
                (answer_id, _now(), int(bool(helpful)), comment.strip()),
            )
            return int(cur.lastrowid)

    def set_feedback_comment(self, feedback_id: int, comment: str) -> None:
        with self._write() as conn:
            cur = conn.execute("UPDATE feedback SET comment = ? WHERE id = ?", (comment.strip(), int(feedback_id)))
            if cur.rowcount != 1:
                raise KeyError(f"no feedback with id {feedback_id}")

    def set_verdict(self, answer_id: str, sentence_index: int, label: str, note: str = "", editor: str = "") -> Review:
        """Record an editor's verdict on one sentence. Earlier verdicts stay in the table; the latest one counts.

        Raises:
            ValueError: unknown label. KeyError: no such answer or sentence.
        """
        if label not in REVIEW_LABELS:
            raise ValueError(f"unknown verdict {label!r}; valid: {', '.join(REVIEW_LABELS)}")
        review = Review(answer_id, int(sentence_index), label, note.strip(), editor, _now())
        with self._write() as conn:
            self._require_answer(conn, answer_id)
            found = conn.execute(
                "SELECT 1 FROM sentences WHERE answer_id = ? AND idx = ?", (answer_id, review.sentence_index)
            ).fetchone()
            if not found:
                raise KeyError(f"answer {answer_id} has no sentence {sentence_index}")
            conn.execute(
                "INSERT INTO reviews (answer_id, sentence_idx, label, note, editor, created_at) VALUES (?,?,?,?,?,?)",
                (review.answer_id, review.sentence_index, review.label, review.note, review.editor, review.created_at),
            )
        return review

    @staticmethod
    def _require_answer(conn: sqlite3.Connection, answer_id: str) -> None:
        if not conn.execute("SELECT 1 FROM answers WHERE id = ?", (answer_id,)).fetchone():
            raise KeyError(f"no answer with id {answer_id}")

    # ---- reading -------------------------------------------------------------------------------------------

    def answer(self, answer_id: str) -> AnswerRecord | None:
        with self._connect() as conn:
            row = conn.execute("SELECT * FROM answers WHERE id = ?", (answer_id,)).fetchone()
            return self._record(conn, row) if row else None

    def find_answer_id(self, prefix: str) -> str | None:
        """The id of the one answer whose id starts with `prefix` (None if none or several)."""
        if not prefix or not re.fullmatch(r"[0-9a-f]+", prefix):
            return None
        with self._connect() as conn:
            rows = conn.execute("SELECT id FROM answers WHERE id LIKE ? LIMIT 2", (prefix + "%",)).fetchall()
        return rows[0]["id"] if len(rows) == 1 else None

    def answers(self, which: ListFilter = "all", limit: int = 50) -> list[AnswerRecord]:
        """Recent answers, newest first.

        Args:
            which: "all"; "flagged": the checker flagged it, a reader found it not helpful, or an editor marked a
                sentence wrong_citation/unsupported; "unreviewed": no editor verdict on any of its sentences yet.
            limit: at most this many.
        """
        where = {
            "all": "1",
            "flagged": (
                "(a.flagged = 1 OR EXISTS (SELECT 1 FROM feedback f WHERE f.answer_id = a.id AND f.helpful = 0)"
                " OR EXISTS (SELECT 1 FROM reviews r WHERE r.answer_id = a.id AND r.label IN (?, ?)"
                "  AND r.id = (SELECT MAX(r2.id) FROM reviews r2 WHERE r2.answer_id = r.answer_id"
                "   AND r2.sentence_idx = r.sentence_idx)))"
            ),
            "unreviewed": "NOT EXISTS (SELECT 1 FROM reviews r WHERE r.answer_id = a.id)",
        }
        if which not in where:
            raise ValueError(f"unknown filter {which!r}; valid: {', '.join(where)}")
        params: tuple = _NEGATIVE_LABELS if which == "flagged" else ()
        with self._connect() as conn:
            rows = conn.execute(
                f"SELECT * FROM answers a WHERE {where[which]} ORDER BY a.created_at DESC, a.rowid DESC LIMIT ?",
                (*params, int(limit)),
            ).fetchall()
            return [self._record(conn, row) for row in rows]

    def _record(self, conn: sqlite3.Connection, row: sqlite3.Row) -> AnswerRecord:
        sentences = conn.execute("SELECT * FROM sentences WHERE answer_id = ? ORDER BY idx", (row["id"],)).fetchall()
        reviews = conn.execute(
            "SELECT * FROM reviews WHERE answer_id = ? ORDER BY id", (row["id"],)
        ).fetchall()
        feedback = conn.execute("SELECT * FROM feedback WHERE answer_id = ? ORDER BY id", (row["id"],)).fetchall()
        current = {
            r["sentence_idx"]: Review(r["answer_id"], r["sentence_idx"], r["label"], r["note"], r["editor"], r["created_at"])
            for r in reviews  # ordered by id: the latest verdict per sentence wins
        }
        return AnswerRecord(
            id=row["id"],
            created_at=row["created_at"],
            conversation_id=row["conversation_id"],
            channel=row["channel"],
            question=row["question"],
            standalone_question=row["standalone_question"],
            answer_text=row["answer_text"],
            backend=row["backend"],
            verdict=row["verdict"],
            refused=bool(row["refused"]),
            flagged=bool(row["flagged"]),
            notes=tuple(json.loads(row["notes"])),
            filters=json.loads(row["filters"]),
            sources=tuple(_source_from_dict(d) for d in json.loads(row["sources"])),
            sentences=tuple(_sentence_from_row(s) for s in sentences),
            reviews=current,
            feedback=tuple(
                Feedback(f["id"], f["answer_id"], bool(f["helpful"]), f["comment"], f["created_at"]) for f in feedback
            ),
        )

    def review_history(self, answer_id: str) -> list[Review]:
        """Every verdict ever saved for an answer, oldest first."""
        with self._connect() as conn:
            rows = conn.execute("SELECT * FROM reviews WHERE answer_id = ? ORDER BY id", (answer_id,)).fetchall()
        return [Review(r["answer_id"], r["sentence_idx"], r["label"], r["note"], r["editor"], r["created_at"]) for r in rows]

    def verdicts_csv(self) -> str:
        """The current editor verdicts, one row per reviewed sentence (newest answer first), as CSV text."""
        with self._connect() as conn:
            rows = conn.execute(
                """
                SELECT a.id AS answer_id, a.created_at AS answer_created_at, a.question, a.backend,
                       a.verdict AS answer_verdict, s.idx AS sentence_index, s.text AS sentence, s.citations,
                       s.verdict AS checker_verdict, s.score AS checker_score, r.label AS editor_label,
                       r.note AS editor_note, r.editor, r.created_at AS reviewed_at
                FROM reviews r
                JOIN answers a ON a.id = r.answer_id
                JOIN sentences s ON s.answer_id = r.answer_id AND s.idx = r.sentence_idx
                WHERE r.id = (SELECT MAX(r2.id) FROM reviews r2
                              WHERE r2.answer_id = r.answer_id AND r2.sentence_idx = r.sentence_idx)
                ORDER BY a.created_at DESC, s.idx
                """
            ).fetchall()
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for r in rows:
            values = dict(r)
            values["citations"] = " ".join(f"[{n}]" for n in json.loads(values["citations"]))
            values["checker_score"] = f"{values['checker_score']:.3f}"
            writer.writerow([_csv_safe(values[c]) for c in CSV_COLUMNS])
        return out.getvalue()

    def export_verdicts_csv(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(self.verdicts_csv(), encoding="utf-8")
        return path


def _csv_safe(value) -> object:
    # A cell starting with = + - @ runs as a formula in spreadsheet apps; questions come from anyone.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value
