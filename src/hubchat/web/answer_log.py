"""Recording an answer for the editors without ever costing the reader it."""

from __future__ import annotations

import logging
import uuid

from hubchat.records import Records
from hubchat.types import AnswerResult

log = logging.getLogger(__name__)


def record_or_log(records: Records, result: AnswerResult, conversation_id: str, channel: str) -> str:
    """The new record's id; when the store fails, a fresh id and a logged error (the reader still gets the answer,
    the log says which record is missing)."""
    try:
        return records.record_answer(result, conversation_id=conversation_id, channel=channel)
    except Exception:
        log.exception("could not record an answer from %s in %s", channel, records.location)
        return uuid.uuid4().hex
