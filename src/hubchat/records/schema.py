"""The records' tables as SQLAlchemy Core objects: what the store queries, and what autogenerate compares.

The tables themselves are created and changed only by the migrations in `migrations/versions/`; this module
describes the newest revision. The column types keep the first release's SQLite files readable as they are:
timestamps are fixed-width ISO 8601 text in UTC (so they sort as text, under any collation), and lists and
objects are JSON text.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Dialect,
    Float,
    ForeignKey,
    Identity,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    false,
)
from sqlalchemy.types import TypeDecorator


class JSONText(TypeDecorator[Any]):
    """A JSON value stored as text, with non-ASCII characters kept readable (as the first release wrote it)."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else json.dumps(value, ensure_ascii=False)

    def process_result_value(self, value: str | None, dialect: Dialect) -> Any:
        return None if value is None else json.loads(value)


metadata = MetaData()

answers = Table(
    "answers",
    metadata,
    Column("id", Text, primary_key=True),
    Column("created_at", Text, nullable=False),
    Column("conversation_id", Text, nullable=False),
    Column("channel", Text, nullable=False),
    Column("question", Text, nullable=False),
    Column("standalone_question", Text, nullable=False),
    Column("answer_text", Text, nullable=False),
    Column("backend", Text, nullable=False),
    Column("verdict", Text, nullable=False),
    Column("refused", Boolean, nullable=False),
    Column("flagged", Boolean, nullable=False),
    Column("notes", JSONText, nullable=False),
    Column("filters", JSONText, nullable=False),
    Column("sources", JSONText, nullable=False),
    Column("timings", JSONText, nullable=False),
    # Insertion order, the tie-break of answers recorded in the same millisecond. The database numbers it
    # (PostgreSQL: an identity column; SQLite: a trigger copying the rowid), so no writer has to.
    Column("seq", BigInteger, Identity(), nullable=True),
    Index("answers_created", "created_at"),
    Index("answers_seq", "seq", unique=True),
)

sentences = Table(
    "sentences",
    metadata,
    Column("answer_id", Text, ForeignKey("answers.id"), primary_key=True),
    Column("idx", Integer, primary_key=True),
    Column("text", Text, nullable=False),
    Column("start_offset", Integer, nullable=False),
    Column("end_offset", Integer, nullable=False),
    Column("citations", JSONText, nullable=False),
    Column("verdict", Text, nullable=False),
    Column("score", Float, nullable=False),
    Column("supports", JSONText, nullable=False),
    Column("pruned", JSONText, nullable=False, server_default="[]"),
    Column("unmatched", JSONText, nullable=False, server_default="[]"),
    Column("attributed", Boolean, nullable=False, server_default=false()),
)

feedback = Table(
    "feedback",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("answer_id", Text, ForeignKey("answers.id"), nullable=False),
    Column("created_at", Text, nullable=False),
    Column("helpful", Boolean, nullable=False),
    Column("comment", Text, nullable=False, server_default=""),
    Index("feedback_answer", "answer_id"),
    sqlite_autoincrement=True,
)

# Append-only: a verdict is never updated; the row with the highest id per (answer, sentence) is the current one.
reviews = Table(
    "reviews",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("answer_id", Text, ForeignKey("answers.id"), nullable=False),
    Column("sentence_idx", Integer, nullable=False),
    Column("label", Text, nullable=False),
    Column("note", Text, nullable=False),
    Column("editor", Text, nullable=False),
    Column("created_at", Text, nullable=False),
    # The marker numbers a "wrong citation" blames; NULL: every passage the sentence cites (see migration 0006).
    Column("citations", JSONText, nullable=True),
    Index("reviews_answer", "answer_id", "sentence_idx"),
    sqlite_autoincrement=True,
)

# Append-only: the row with the highest id per article is its current mark (see migration 0003).
article_marks = Table(
    "article_marks",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("article_id", Text, nullable=False),
    Column("needs_update", Boolean, nullable=False),
    Column("note", Text, nullable=False),
    Column("editor", Text, nullable=False),
    Column("created_at", Text, nullable=False),
    Index("article_marks_article", "article_id"),
    sqlite_autoincrement=True,
)

# Append-only: the row with the highest id per chunk is its current lift (see migration 0004).
demotion_lifts = Table(
    "demotion_lifts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("chunk_id", Text, nullable=False),
    Column("lifted", Boolean, nullable=False),
    Column("note", Text, nullable=False),
    Column("editor", Text, nullable=False),
    Column("created_at", Text, nullable=False),
    Index("demotion_lifts_chunk", "chunk_id"),
    sqlite_autoincrement=True,
)
