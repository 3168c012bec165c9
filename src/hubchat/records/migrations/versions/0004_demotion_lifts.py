"""demotion_lifts: editors lifting a passage's demotion for its "wrong citation" verdicts, each with a note.

Append-only like the marks: lifting or withdrawing a lift adds a row, and the row with the highest id per chunk
is the current state. A lift covers the verdicts saved before it, so the history says who lifted what, and why.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "demotion_lifts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("chunk_id", sa.Text, nullable=False),
        sa.Column("lifted", sa.Boolean, nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("editor", sa.Text, nullable=False),
        sa.Column("created_at", sa.Text, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("demotion_lifts_chunk", "demotion_lifts", ["chunk_id"])


def downgrade() -> None:
    op.drop_index("demotion_lifts_chunk", "demotion_lifts")
    op.drop_table("demotion_lifts")
