"""sentences.attributed: whether the checker, not the model, wrote the sentence's citation (added where the model
wrote none, or moved from a passage that does not support the sentence), so the review page can tell editors.

Sentences recorded before it read as written by the model (false), as they were shown.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("sentences", sa.Column("attributed", sa.Boolean, nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("sentences") as batch:  # SQLite rebuilds the table to drop a column
        batch.drop_column("attributed")
