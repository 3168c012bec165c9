"""article_marks: editors' "needs update" marks on articles, each with a note.

Append-only like the reviews: setting or clearing a mark adds a row, and the row with the highest id per article
is the current state, so the history of who asked for an update, and why, is kept.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "article_marks",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("article_id", sa.Text, nullable=False),
        sa.Column("needs_update", sa.Boolean, nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("editor", sa.Text, nullable=False),
        sa.Column("created_at", sa.Text, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("article_marks_article", "article_marks", ["article_id"])


def downgrade() -> None:
    op.drop_index("article_marks_article", "article_marks")
    op.drop_table("article_marks")
