"""answers.seq: the order answers were recorded in, the tie-break of answers from the same millisecond.

The first releases used SQLite's rowid for it, which PostgreSQL has no equivalent of. Existing SQLite rows take
their rowid, so lists keep their order. The database numbers new rows itself: PostgreSQL with an identity
column, SQLite (which has none) with a trigger copying the new row's rowid.

SQLite: a batch operation (`op.batch_alter_table`) on `answers` rebuilds the table and drops the trigger; a
migration that does one must create `answers_seq_from_rowid` again.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_SQLITE_TRIGGER = """
CREATE TRIGGER answers_seq_from_rowid AFTER INSERT ON answers FOR EACH ROW WHEN NEW.seq IS NULL
BEGIN
    UPDATE answers SET seq = NEW.rowid WHERE rowid = NEW.rowid;
END
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.add_column("answers", sa.Column("seq", sa.BigInteger, nullable=True))
        answers = sa.table("answers", sa.column("seq"))
        op.execute(answers.update().values(seq=sa.literal_column("rowid")))
        op.execute(_SQLITE_TRIGGER)
    else:
        op.add_column("answers", sa.Column("seq", sa.BigInteger, sa.Identity(), nullable=False))
    op.create_index("answers_seq", "answers", ["seq"], unique=True)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER answers_seq_from_rowid")
    op.drop_index("answers_seq", "answers")
    op.drop_column("answers", "seq")
