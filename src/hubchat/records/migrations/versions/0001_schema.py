"""The schema of the last release without migrations: answers, their checked sentences, feedback and verdicts.

That release, like the ones before it, ran CREATE TABLE IF NOT EXISTS on every start. A database it wrote already
holds these tables: they are kept as they are, rows and all, and given only what they lack (the sentences'
`pruned` and `unmatched` columns arrived in a later release than the tables). A new database gets them created.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Columns added to `sentences` after the first release, with the value older rows get.
_ADDED_SENTENCE_COLUMNS = ("pruned", "unmatched")


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    present = set(inspector.get_table_names())
    if "answers" not in present:
        _create_answers()
    if "sentences" not in present:
        _create_sentences()
    else:
        columns = {c["name"] for c in inspector.get_columns("sentences")}
        for name in _ADDED_SENTENCE_COLUMNS:
            if name not in columns:
                op.add_column("sentences", sa.Column(name, sa.Text, nullable=False, server_default="[]"))
    if "feedback" not in present:
        _create_feedback()
    if "reviews" not in present:
        _create_reviews()


def downgrade() -> None:
    for table in ("reviews", "feedback", "sentences", "answers"):
        op.drop_table(table)


def _create_answers() -> None:
    op.create_table(
        "answers",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("created_at", sa.Text, nullable=False),
        sa.Column("conversation_id", sa.Text, nullable=False),
        sa.Column("channel", sa.Text, nullable=False),
        sa.Column("question", sa.Text, nullable=False),
        sa.Column("standalone_question", sa.Text, nullable=False),
        sa.Column("answer_text", sa.Text, nullable=False),
        sa.Column("backend", sa.Text, nullable=False),
        sa.Column("verdict", sa.Text, nullable=False),
        sa.Column("refused", sa.Boolean, nullable=False),
        sa.Column("flagged", sa.Boolean, nullable=False),
        sa.Column("notes", sa.Text, nullable=False),
        sa.Column("filters", sa.Text, nullable=False),
        sa.Column("sources", sa.Text, nullable=False),
        sa.Column("timings", sa.Text, nullable=False),
    )
    op.create_index("answers_created", "answers", ["created_at"])


def _create_sentences() -> None:
    op.create_table(
        "sentences",
        sa.Column("answer_id", sa.Text, sa.ForeignKey("answers.id"), primary_key=True),
        sa.Column("idx", sa.Integer, primary_key=True),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("start_offset", sa.Integer, nullable=False),
        sa.Column("end_offset", sa.Integer, nullable=False),
        sa.Column("citations", sa.Text, nullable=False),
        sa.Column("verdict", sa.Text, nullable=False),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("supports", sa.Text, nullable=False),
        sa.Column("pruned", sa.Text, nullable=False, server_default="[]"),
        sa.Column("unmatched", sa.Text, nullable=False, server_default="[]"),
    )


def _create_feedback() -> None:
    op.create_table(
        "feedback",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("answer_id", sa.Text, sa.ForeignKey("answers.id"), nullable=False),
        sa.Column("created_at", sa.Text, nullable=False),
        sa.Column("helpful", sa.Boolean, nullable=False),
        sa.Column("comment", sa.Text, nullable=False, server_default=""),
        sqlite_autoincrement=True,
    )
    op.create_index("feedback_answer", "feedback", ["answer_id"])


def _create_reviews() -> None:
    op.create_table(
        "reviews",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("answer_id", sa.Text, sa.ForeignKey("answers.id"), nullable=False),
        sa.Column("sentence_idx", sa.Integer, nullable=False),
        sa.Column("label", sa.Text, nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("editor", sa.Text, nullable=False),
        sa.Column("created_at", sa.Text, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("reviews_answer", "reviews", ["answer_id", "sentence_idx"])
