"""Records: the persistent store of what the chat answered, what readers thought of it, and what editors decided.

- `store`: `Records`, the store's one public class (answers, sentences, reader feedback, editor verdicts,
  editors' marks on articles, lifts of passages' demotions) and its version (the newest id of each table).
- `models`: the frozen records it returns (`AnswerRecord`, `Review`, `Feedback`, `AskedQuestion`, `ArticleMark`,
  `WrongCitation`, `DemotionLift`, `RecordsVersion`) and the verdict labels.
- `schema`: the tables as SQLAlchemy Core objects; `export`: the verdicts as CSV.
- `database`: engines for the two backends (an SQLite file by default, a PostgreSQL URL to scale out), their
  durability settings, and clear errors when a database cannot be reached.
- `migrate`, `migrations/`: Alembic schema migrations, run up to the newest whenever a store opens.

May import only hubchat.types, hubchat.config and hubchat.errors: the web app writes the records and the
evaluation reads them, so both sit above it.
"""

from hubchat.records.export import CSV_COLUMNS
from hubchat.records.models import (
    REVIEW_LABELS,
    AnswerRecord,
    ArticleMark,
    AskedQuestion,
    DemotionLift,
    Feedback,
    ListFilter,
    RecordsVersion,
    Review,
    ReviewLabel,
    WrongCitation,
    is_flagged,
)
from hubchat.records.store import Records, open_records

__all__ = [
    "CSV_COLUMNS",
    "REVIEW_LABELS",
    "AnswerRecord",
    "ArticleMark",
    "AskedQuestion",
    "DemotionLift",
    "Feedback",
    "ListFilter",
    "Records",
    "RecordsVersion",
    "Review",
    "ReviewLabel",
    "WrongCitation",
    "is_flagged",
    "open_records",
]
