"""`Records`: the store of answers, reader feedback and editor verdicts, on SQLite or PostgreSQL.

Every call takes its own connection from the engine and every write is one transaction, so concurrent requests
from the web server's worker threads, or from several app processes sharing a PostgreSQL server, queue instead
of dropping each other's rows. Editor verdicts and reader feedback are append-only: the latest verdict per
sentence is the current one, and nothing an editor saved is ever overwritten.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from sqlalchemy import (
    URL,
    Alias,
    ColumnElement,
    Connection,
    Row,
    Select,
    and_,
    exists,
    func,
    insert,
    or_,
    select,
    true,
    update,
)

from hubchat.config import UISettings
from hubchat.records import export, migrate
from hubchat.records.database import create_records_engine, parse_location, reading, shown, writing
from hubchat.records.models import (
    NEGATIVE_LABELS,
    REVIEW_LABELS,
    AnswerRecord,
    ArticleMark,
    AskedQuestion,
    DemotionLift,
    Feedback,
    ListFilter,
    RecordsVersion,
    Review,
    WrongCitation,
    is_flagged,
)
from hubchat.records.schema import answers, article_marks, demotion_lifts, feedback, reviews, sentences
from hubchat.types import AnswerResult, SentenceCheck, Source, SpanSupport

LIST_FILTERS: tuple[str, ...] = ("all", "flagged", "unreviewed")
# Answer ids per IN (...) list when reading many answers' sentences: well under SQLite's bound-parameter limit.
_IDS_PER_QUERY = 500


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


def open_records(ui: UISettings) -> Records:
    """The store the settings name: `ui.records_url` if set, else the SQLite file `ui.db_path`."""
    return Records(ui.records_url or ui.db_path, connect_timeout_s=ui.records_connect_timeout_s)


class Records:
    """The store of answers, reader feedback and editor verdicts; its schema is migrated to the newest on opening.

    Args:
        location: an SQLite file (a path; its folder is created if needed), or an SQLAlchemy URL such as
            `postgresql+psycopg://hubchat@127.0.0.1:5432/hubchat` (a URL object, or text containing `://`).
        connect_timeout_s: PostgreSQL only: how long to wait for the server to accept a connection.

    Raises:
        BackendError: the database cannot be reached or migrated. ConfigError: the URL is not usable.
    """

    def __init__(self, location: str | Path | URL, *, connect_timeout_s: float = 5.0):
        self.url = parse_location(location)
        self._engine = create_records_engine(self.url, connect_timeout_s)
        try:
            migrate.upgrade(self._engine)
        except BaseException:
            self._engine.dispose()
            raise

    @property
    def location(self) -> str:
        """The database, as logs and messages name it: a file path, or the URL with any password hidden."""
        if self.url.get_backend_name() == "sqlite":
            return str(self.url.database)
        return shown(self.url)

    def __repr__(self) -> str:
        return f"Records({self.location!r})"

    def close(self) -> None:
        """Close the connections held open (PostgreSQL's pool); the store reconnects if used again."""
        self._engine.dispose()

    def __enter__(self) -> Records:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # ---- writing -------------------------------------------------------------------------------------------

    def record_answer(self, result: AnswerResult, *, conversation_id: str = "", channel: str = "chat") -> str:
        """Store one answer with its checked sentences and cited passages.

        Returns:
            The new answer's id.
        """
        answer_id = uuid.uuid4().hex
        checked = result.report.sentences if result.report is not None and not result.refused else ()
        with writing(self._engine) as conn:
            conn.execute(
                insert(answers).values(
                    id=answer_id, created_at=_now(), conversation_id=conversation_id, channel=channel,
                    question=result.question, standalone_question=result.standalone_question, answer_text=result.text,
                    backend=result.backend, verdict=result.verdict, refused=result.refused, flagged=is_flagged(result),
                    notes=list(result.notes), filters=asdict(result.filters),
                    sources=[asdict(s) for s in result.sources], timings=result.timings,
                )
            )
            if checked:
                conn.execute(insert(sentences), [_sentence_row(answer_id, s) for s in checked])
        return answer_id

    def record_feedback(self, answer_id: str, helpful: bool, comment: str = "") -> int:
        """Store a reader's rating of an answer; returns the feedback id (to attach a comment later).

        Raises:
            KeyError: no such answer.
        """
        with writing(self._engine) as conn:
            _require_answer(conn, answer_id)
            done = conn.execute(
                insert(feedback).values(answer_id=answer_id, created_at=_now(), helpful=bool(helpful), comment=comment.strip())
            )
            return int(done.inserted_primary_key[0])

    def set_feedback_comment(self, feedback_id: int, comment: str) -> None:
        """Attach (or replace) the comment of a reader's rating.

        Raises:
            KeyError: no feedback with that id.
        """
        with writing(self._engine) as conn:
            done = conn.execute(update(feedback).where(feedback.c.id == int(feedback_id)).values(comment=comment.strip()))
            if done.rowcount != 1:
                raise KeyError(f"no feedback with id {feedback_id}")

    def set_verdict(
        self, answer_id: str, sentence_index: int, label: str, note: str = "", editor: str = "",
        citations: Sequence[int] | None = None,
    ) -> Review:
        """Record an editor's verdict on one sentence. Earlier verdicts stay in the table; the latest one counts.

        Args:
            citations: for "wrong citation" only: the marker numbers of the sentence's cited passages it blames.
                None, or every one the sentence cites: all of them (stored as None, so the two read alike).

        Raises:
            ValueError: unknown label; citations named for another label, none named, or one the sentence does not
                cite. KeyError: no such answer or sentence.
        """
        if label not in REVIEW_LABELS:
            raise ValueError(f"unknown verdict {label!r}; valid: {', '.join(REVIEW_LABELS)}")
        if citations is not None and label != "wrong_citation":
            raise ValueError(f"only a wrong_citation verdict names the passages it blames, not {label!r}")
        with writing(self._engine) as conn:
            _require_answer(conn, answer_id)
            cited = conn.execute(
                select(sentences.c.citations).where(sentences.c.answer_id == answer_id, sentences.c.idx == int(sentence_index))
            ).scalar()
            if cited is None:
                raise KeyError(f"answer {answer_id} has no sentence {sentence_index}")
            blamed = _blamed(citations, cited)
            review = Review(answer_id, int(sentence_index), label, note.strip(), editor, _now(), blamed)
            conn.execute(
                insert(reviews).values(
                    answer_id=review.answer_id, sentence_idx=review.sentence_index, label=review.label,
                    note=review.note, editor=review.editor, created_at=review.created_at,
                    citations=None if blamed is None else list(blamed),
                )
            )
        return review

    def mark_article(self, article_id: str, needs_update: bool, note: str = "", editor: str = "") -> ArticleMark:
        """Set (or clear, with needs_update False) an article's "needs update" mark; earlier marks stay in the table.

        Raises:
            ValueError: no article id.
        """
        if not article_id.strip():
            raise ValueError("an article mark needs the article's id")
        mark = ArticleMark(article_id.strip(), bool(needs_update), note.strip(), editor, _now())
        with writing(self._engine) as conn:
            conn.execute(insert(article_marks).values(**asdict(mark)))
        return mark

    def lift_demotion(self, chunk_id: str, lifted: bool = True, note: str = "", editor: str = "") -> DemotionLift:
        """Lift (or, with lifted False, restore) the demotion of a passage for its "wrong citation" verdicts so far.

        Earlier lifts stay in the table; verdicts saved after a lift count again.

        Raises:
            ValueError: no chunk id.
        """
        if not chunk_id.strip():
            raise ValueError("a demotion lift needs the passage's chunk id")
        lift = DemotionLift(chunk_id.strip(), bool(lifted), note.strip(), editor, _now())
        with writing(self._engine) as conn:
            conn.execute(insert(demotion_lifts).values(**asdict(lift)))
        return lift

    # ---- reading -------------------------------------------------------------------------------------------

    def version(self) -> RecordsVersion:
        """The newest id of each table, in one query of primary-key lookups: what caches of the records key on."""
        newest = [
            select(func.coalesce(func.max(column), 0)).scalar_subquery()
            for column in (answers.c.seq, feedback.c.id, reviews.c.id, article_marks.c.id, demotion_lifts.c.id)
        ]
        with reading(self._engine) as conn:
            row = conn.execute(select(*newest)).one()
        return RecordsVersion(*(int(v) for v in row))

    def verdicts_version(self) -> tuple[int, int]:
        """The newest verdict and demotion lift ids: changes whenever `wrong_citations` may have (new answers do not)."""
        version = self.version()
        return version.reviews, version.demotion_lifts

    def demotion_lifts(self) -> dict[str, DemotionLift]:
        """The current lift of every passage whose demotion was ever lifted (the latest row per chunk)."""
        current: dict[str, DemotionLift] = {}
        with reading(self._engine) as conn:
            for row in conn.execute(select(demotion_lifts).order_by(demotion_lifts.c.id)):
                current[row.chunk_id] = DemotionLift(row.chunk_id, bool(row.lifted), row.note, row.editor, row.created_at)
        return current

    def lifted_demotions(self) -> list[DemotionLift]:
        """The passages whose demotion is lifted now (their latest lift row says lifted), oldest lift first: what an
        editor may withdraw (`lift_demotion(chunk_id, False, note)`) so their verdicts count again."""
        return sorted((lift for lift in self.demotion_lifts().values() if lift.lifted), key=lambda lift: lift.created_at)

    def wrong_citations(self, *, include_lifted: bool = False) -> list[WrongCitation]:
        """The passages whose citing sentence's current verdict is "wrong citation", oldest verdict first.

        Args:
            include_lifted: also those set aside by a current lift (see `lift_demotion`).
        """
        r = reviews.alias("r")
        query = (
            select(
                r.c.answer_id, r.c.sentence_idx, r.c.editor, r.c.created_at, r.c.citations.label("blamed"),
                sentences.c.citations, answers.c.sources, answers.c.question, answers.c.standalone_question,
            )
            .select_from(
                r.join(answers, answers.c.id == r.c.answer_id).join(
                    sentences, and_(sentences.c.answer_id == r.c.answer_id, sentences.c.idx == r.c.sentence_idx)
                )
            )
            .where(r.c.label == "wrong_citation", r.c.id == _latest_review_id(r))
            .order_by(r.c.id)
        )
        with reading(self._engine) as conn:
            rows = conn.execute(query).all()
        lifts = {} if include_lifted else self.demotion_lifts()
        found = []
        for row in rows:
            by_number = {d["number"]: d for d in row.sources}
            # Only the passages the verdict names; NULL (a verdict from before 0006, or naming them all) blames every one.
            for number in dict.fromkeys(row.citations):
                if row.blamed is not None and number not in row.blamed:
                    continue
                source = by_number.get(number)
                if source is None:
                    continue
                lift = lifts.get(source["chunk_id"])
                if lift is not None and lift.lifted and row.created_at <= lift.created_at:
                    continue
                found.append(WrongCitation(
                    answer_id=row.answer_id, sentence_index=row.sentence_idx, chunk_id=source["chunk_id"],
                    article_id=source["article_id"], title=source["title"], section=source.get("section", ""),
                    question=(row.standalone_question or row.question).strip(), editor=row.editor,
                    created_at=row.created_at,
                ))
        return found

    def article_marks(self) -> dict[str, ArticleMark]:
        """The current mark of every article that was ever marked (the latest row per article)."""
        current: dict[str, ArticleMark] = {}
        with reading(self._engine) as conn:
            for row in conn.execute(select(article_marks).order_by(article_marks.c.id)):
                current[row.article_id] = ArticleMark(row.article_id, bool(row.needs_update), row.note, row.editor, row.created_at)
        return current

    def answers_since(self, since: str | None = None) -> list[AnswerRecord]:
        """Every answer (with its sentences, current verdicts and feedback), oldest first: what the desk counts.

        Args:
            since: only those recorded at or after this ISO 8601 UTC time.
        """
        query = select(answers)
        if since:
            query = query.where(answers.c.created_at >= since)
        with reading(self._engine) as conn:
            return _answer_records(conn, query.order_by(answers.c.created_at, answers.c.seq))

    def answer(self, answer_id: str) -> AnswerRecord | None:
        with reading(self._engine) as conn:
            found = _answer_records(conn, select(answers).where(answers.c.id == answer_id))
        return found[0] if found else None

    def find_answer_id(self, prefix: str) -> str | None:
        """The id of the one answer whose id starts with `prefix` (None if none or several)."""
        if not prefix or not re.fullmatch(r"[0-9a-f]+", prefix):
            return None
        with reading(self._engine) as conn:
            ids = conn.scalars(select(answers.c.id).where(answers.c.id.startswith(prefix, autoescape=True)).limit(2)).all()
        return ids[0] if len(ids) == 1 else None

    def answers(self, which: ListFilter = "all", limit: int = 50) -> list[AnswerRecord]:
        """Recent answers, newest first.

        Args:
            which: "all"; "flagged": the checker flagged it, a reader found it not helpful, or an editor's current
                verdict on a sentence is wrong_citation/unsupported; "unreviewed": no editor verdict on any of its
                sentences yet.
            limit: at most this many.
        """
        if which not in LIST_FILTERS:
            raise ValueError(f"unknown filter {which!r}; valid: {', '.join(LIST_FILTERS)}")
        query = select(answers).where(_list_filter(which)).order_by(*_newest_first()).limit(int(limit))
        with reading(self._engine) as conn:
            return _answer_records(conn, query)

    def unanswered_questions(self, since: str | None = None) -> list[AskedQuestion]:
        """Questions refused or answered with flagged sentences, oldest first: the raw material of content gaps.

        Args:
            since: only those recorded at or after this ISO 8601 UTC time (text compares as time: fixed width).
        """
        query = select(
            answers.c.id, answers.c.created_at, answers.c.conversation_id, answers.c.channel, answers.c.question,
            answers.c.standalone_question, answers.c.refused, answers.c.flagged,
        ).where(or_(answers.c.refused.is_(True), answers.c.flagged.is_(True)))
        if since:
            query = query.where(answers.c.created_at >= since)
        with reading(self._engine) as conn:
            rows = conn.execute(query.order_by(answers.c.created_at, answers.c.seq)).all()
        return [
            AskedQuestion(r.id, r.created_at, r.conversation_id, r.channel, r.question, r.standalone_question, bool(r.refused), bool(r.flagged))
            for r in rows
        ]

    def review_history(self, answer_id: str) -> list[Review]:
        """Every verdict ever saved for an answer, oldest first."""
        with reading(self._engine) as conn:
            rows = conn.execute(select(reviews).where(reviews.c.answer_id == answer_id).order_by(reviews.c.id)).all()
        return [_review(r) for r in rows]

    def verdicts_csv(self) -> str:
        """The current editor verdicts, one row per reviewed sentence (newest answer first), as CSV text."""
        r = reviews.alias("r")
        query = (
            select(
                answers.c.id.label("answer_id"), answers.c.created_at.label("answer_created_at"), answers.c.question,
                answers.c.backend, answers.c.verdict.label("answer_verdict"), sentences.c.idx.label("sentence_index"),
                sentences.c.text.label("sentence"), sentences.c.citations, sentences.c.verdict.label("checker_verdict"),
                sentences.c.score.label("checker_score"), r.c.label.label("editor_label"), r.c.note.label("editor_note"),
                r.c.editor, r.c.created_at.label("reviewed_at"), r.c.citations.label("editor_citations"),
            )
            .select_from(
                r.join(answers, answers.c.id == r.c.answer_id).join(
                    sentences, and_(sentences.c.answer_id == r.c.answer_id, sentences.c.idx == r.c.sentence_idx)
                )
            )
            .where(r.c.id == _latest_review_id(r))
            .order_by(*_newest_first(), sentences.c.idx)
        )
        with reading(self._engine) as conn:
            rows = conn.execute(query).mappings().all()
        return export.verdicts_csv(rows)

    def export_verdicts_csv(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(self.verdicts_csv(), encoding="utf-8")
        return path


# ---- queries ---------------------------------------------------------------------------------------------------


def _require_answer(conn: Connection, answer_id: str) -> None:
    if conn.execute(select(answers.c.id).where(answers.c.id == answer_id)).first() is None:
        raise KeyError(f"no answer with id {answer_id}")


def _newest_first() -> tuple[ColumnElement[Any], ...]:
    return answers.c.created_at.desc(), answers.c.seq.desc()


def _latest_review_id(r: Alias) -> ColumnElement[Any]:
    """The id of the current verdict on r's sentence: the newest row for it (verdicts are only ever appended)."""
    later = reviews.alias("later")
    return (
        select(func.max(later.c.id))
        .where(later.c.answer_id == r.c.answer_id, later.c.sentence_idx == r.c.sentence_idx)
        .scalar_subquery()
    )


def _list_filter(which: str) -> ColumnElement[bool]:
    if which == "flagged":
        r = reviews.alias("r")
        return or_(
            answers.c.flagged.is_(True),
            exists().where(feedback.c.answer_id == answers.c.id, feedback.c.helpful.is_(False)),
            exists().where(r.c.answer_id == answers.c.id, r.c.label.in_(NEGATIVE_LABELS), r.c.id == _latest_review_id(r)),
        )
    if which == "unreviewed":
        return ~exists().where(reviews.c.answer_id == answers.c.id)
    return true()


def _answer_records(conn: Connection, query: Select[Any]) -> list[AnswerRecord]:
    rows = conn.execute(query).all()
    ids = [row.id for row in rows]
    checked: dict[str, list[SentenceCheck]] = defaultdict(list)
    current: dict[str, dict[int, Review]] = defaultdict(dict)
    rated: dict[str, list[Feedback]] = defaultdict(list)
    for chunk in _chunks(ids):
        for s in conn.execute(select(sentences).where(sentences.c.answer_id.in_(chunk)).order_by(sentences.c.idx)):
            checked[s.answer_id].append(_sentence(s))
        for r in conn.execute(select(reviews).where(reviews.c.answer_id.in_(chunk)).order_by(reviews.c.id)):
            current[r.answer_id][r.sentence_idx] = _review(r)  # in id order: the latest verdict per sentence wins
        for f in conn.execute(select(feedback).where(feedback.c.answer_id.in_(chunk)).order_by(feedback.c.id)):
            rated[f.answer_id].append(Feedback(f.id, f.answer_id, bool(f.helpful), f.comment, f.created_at))
    return [_answer(row, checked[row.id], current[row.id], rated[row.id]) for row in rows]


def _chunks(ids: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(ids), _IDS_PER_QUERY):
        yield ids[start : start + _IDS_PER_QUERY]


# ---- rows <-> records --------------------------------------------------------------------------------------------


def _sentence_row(answer_id: str, s: SentenceCheck) -> dict[str, Any]:
    return {
        "answer_id": answer_id, "idx": s.index, "text": s.text, "start_offset": s.start, "end_offset": s.end,
        "citations": list(s.citations), "verdict": s.verdict, "score": float(s.score),
        "supports": [asdict(sp) for sp in s.supports], "pruned": [asdict(sp) for sp in s.pruned],
        "unmatched": list(s.unmatched), "attributed": s.attributed,
    }


def _sentence(row: Row[Any]) -> SentenceCheck:
    return SentenceCheck(
        index=row.idx, text=row.text, start=row.start_offset, end=row.end_offset, citations=tuple(row.citations),
        supports=tuple(SpanSupport(**sp) for sp in row.supports), verdict=row.verdict, score=row.score,
        pruned=tuple(SpanSupport(**sp) for sp in row.pruned), unmatched=tuple(row.unmatched), attributed=bool(row.attributed),
    )


def _review(row: Row[Any]) -> Review:
    blamed = None if row.citations is None else tuple(row.citations)
    return Review(row.answer_id, row.sentence_idx, row.label, row.note, row.editor, row.created_at, blamed)


def _blamed(named: Sequence[int] | None, cited: Sequence[int]) -> tuple[int, ...] | None:
    """The markers a wrong citation names, checked against the sentence's; None when it names all of them."""
    if named is None:
        return None
    chosen = tuple(sorted({int(n) for n in named}))
    if not chosen:
        raise ValueError("name at least one cited passage the verdict blames (or none at all, to blame every one)")
    stray = [n for n in chosen if n not in cited]
    if stray:
        listed = " ".join(f"[{n}]" for n in cited) or "nothing"
        raise ValueError(f"the sentence does not cite {' '.join(f'[{n}]' for n in stray)}; it cites {listed}")
    return None if set(chosen) == set(cited) else chosen


def _source(d: dict[str, Any]) -> Source:
    return Source(**{**d, "tags": tuple(d.get("tags", ()))})


def _answer(row: Row[Any], checked: list[SentenceCheck], current: dict[int, Review], rated: list[Feedback]) -> AnswerRecord:
    return AnswerRecord(
        id=row.id, created_at=row.created_at, conversation_id=row.conversation_id, channel=row.channel,
        question=row.question, standalone_question=row.standalone_question, answer_text=row.answer_text,
        backend=row.backend, verdict=row.verdict, refused=bool(row.refused), flagged=bool(row.flagged),
        notes=tuple(row.notes), filters=row.filters, sources=tuple(_source(d) for d in row.sources),
        sentences=tuple(checked), reviews=current, feedback=tuple(rated),
    )
