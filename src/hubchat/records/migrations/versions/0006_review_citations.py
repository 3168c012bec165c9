"""reviews.citations: which of a sentence's cited passages a "wrong citation" verdict blames, by marker number.

A sentence citing [1][2] may be right about [1] and wrong about [2]; blaming both would demote a good passage.
NULL means every passage the sentence cites, which is what every verdict saved before this revision meant, so
old rows keep their meaning unchanged. Stored as JSON text, like the sentences' own citations.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("reviews", sa.Column("citations", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("reviews") as batch:  # SQLite rebuilds the table to drop a column
        batch.drop_column("citations")
