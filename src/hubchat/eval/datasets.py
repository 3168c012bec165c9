"""Evaluation sets: a BEIR-style folder, or the project's corpus with its gold question set, as typed cases.

A BEIR folder holds `corpus.jsonl`, `queries.jsonl` and `qrels.tsv`. Where its queries carry answers (SQuAD 2.0's
`answers` / `is_impossible`, MultiHop-RAG's `answer` / `evidence`) the set is also an answer set; where they do not
(SciFact, Cranfield) it is a retrieval set only. The gold set (`tests/data/gold.jsonl`) is answered over the
project's own corpus folder, follow-ups with their history.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from hubchat.errors import InputError
from hubchat.types import Turn

BEIR_FILES = ("corpus.jsonl", "queries.jsonl", "qrels.tsv")
# MultiHop-RAG's answer for a question its articles cannot answer.
MULTIHOP_NO_ANSWER = "Insufficient information."


@dataclass(frozen=True)
class Evidence:
    """One unit of gold evidence: a passage is on it when it comes from `article_id`, lies under `heading` (when
    given) and holds one of `texts` (when given; compared after answer normalisation, see answer_metrics), or
    holds one of `facts` wherever it lies (the gold set's key facts: an article's summary states them too)."""

    article_id: str
    texts: tuple[str, ...] = ()
    heading: str = ""
    facts: tuple[str, ...] = ()


@dataclass(frozen=True)
class EvalCase:
    """One question of an evaluation set.

    Attributes:
        answers: acceptable reference answers (empty for a retrieval-only set or a refusal question).
        key_facts: short phrases a full answer must contain (the gold set's `key_facts`).
        expect_refusal: the articles do not answer it; the right reply is a refusal.
        relevance: article id -> judged grade (the qrels); empty when nothing is relevant.
        evidence: the gold evidence units, for citation precision and recall at passage level.
        kind: the question's type in its set ("single", "followup", "comparison_query", "answerable", ...).
    """

    id: str
    question: str
    history: tuple[Turn, ...] = ()
    answers: tuple[str, ...] = ()
    key_facts: tuple[str, ...] = ()
    expect_refusal: bool = False
    relevance: dict[str, int] | None = None
    evidence: tuple[Evidence, ...] = ()
    kind: str = ""

    @property
    def gold_articles(self) -> frozenset[str]:
        return frozenset(a for a, grade in (self.relevance or {}).items() if grade > 0)


@dataclass(frozen=True)
class EvalSet:
    """Cases plus where their articles come from.

    Attributes:
        name: a short name for reports and for the set's own index ("scifact", "gold", ...).
        source: the BEIR folder, or the gold JSONL file.
        corpus_dir: the project corpus folder the gold set is asked over (None for a BEIR set).
        has_answers: whether answer metrics apply (False for retrieval-only sets).
    """

    name: str
    source: Path
    cases: tuple[EvalCase, ...]
    has_answers: bool
    corpus_dir: Path | None = None

    @property
    def is_beir(self) -> bool:
        return self.corpus_dir is None


def is_beir_folder(path: Path) -> bool:
    return path.is_dir() and all((path / name).is_file() for name in BEIR_FILES)


def _jsonl(path: Path) -> Iterator[dict]:
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"{path}:{number}: not valid JSON ({exc.msg})") from None
            if not isinstance(record, dict):
                raise InputError(f"{path}:{number}: expected a JSON object, got {type(record).__name__}")
            yield record


def read_qrels(path: Path) -> dict[str, dict[str, int]]:
    """query id -> {corpus id: grade}, from a tab-separated file with a `query-id corpus-id score` header."""
    qrels: dict[str, dict[str, int]] = {}
    with open(path, encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            try:
                qrels.setdefault(row["query-id"], {})[row["corpus-id"]] = int(row["score"])
            except (KeyError, TypeError, ValueError):
                raise InputError(f"{path}: expected columns query-id, corpus-id, score; got {row}") from None
    return qrels


def iter_beir_corpus(directory: Path) -> Iterator[dict]:
    """The folder's documents, as their JSON records (`_id`, `title`, `text`, and any extra metadata)."""
    for doc in _jsonl(directory / "corpus.jsonl"):
        if "_id" not in doc:
            raise InputError(f"{directory / 'corpus.jsonl'}: a document has no '_id'")
        yield doc


def _beir_case(query: dict, relevance: dict[str, int]) -> EvalCase:
    """One BEIR query as a case, reading whichever answer fields its set has."""
    qid = str(query["_id"])
    if "answers" in query or "is_impossible" in query:  # SQuAD 2.0
        impossible = bool(query.get("is_impossible"))
        answers = () if impossible else tuple(dict.fromkeys(str(a) for a in query.get("answers") or ()))
        gold = query.get("gold_passage_id")
        evidence = (Evidence(str(gold), texts=answers),) if gold and answers else ()
        return EvalCase(qid, query["text"], answers=answers, expect_refusal=impossible, relevance=relevance,
                        evidence=evidence, kind="unanswerable" if impossible else "answerable")
    if "answer" in query:  # MultiHop-RAG
        answer = str(query["answer"]).strip()
        refusal = answer == MULTIHOP_NO_ANSWER
        hops = query.get("evidence") or []
        evidence = tuple(Evidence(str(h["corpus_id"]), texts=(str(h.get("fact") or ""),)) for h in hops if h.get("corpus_id"))
        return EvalCase(qid, query["text"], answers=() if refusal else (answer,), expect_refusal=refusal,
                        relevance=relevance, evidence=evidence, kind=str(query.get("question_type") or ""))
    return EvalCase(qid, query["text"], relevance=relevance, kind="retrieval")


def load_beir_set(directory: Path, name: str | None = None) -> EvalSet:
    """A BEIR folder's judged queries as cases, and its unjudged queries whose answer is a refusal.

    Raises:
        InputError: a file is missing or malformed.
    """
    directory = Path(directory)
    missing = [n for n in BEIR_FILES if not (directory / n).is_file()]
    if missing:
        raise InputError(f"{directory} is not a BEIR-style folder: missing {', '.join(missing)}")
    qrels = read_qrels(directory / "qrels.tsv")
    cases = []
    for query in _jsonl(directory / "queries.jsonl"):
        if "_id" not in query or "text" not in query:
            raise InputError(f"{directory / 'queries.jsonl'}: a query lacks '_id' or 'text'")
        judged = qrels.get(str(query["_id"]))
        case = _beir_case(query, judged or {})
        # Unjudged queries are left out, as BEIR does, unless they are answer questions: a question whose right
        # reply is a refusal has no relevant document (MultiHop-RAG's null queries).
        if judged is not None or case.expect_refusal:
            cases.append(case)
    has_answers = any(c.answers or c.expect_refusal for c in cases)
    return EvalSet(name or directory.name, directory, tuple(cases), has_answers)


def _gold_case(record: dict, path: Path) -> EvalCase:
    try:
        support = record.get("support") or []
        history = tuple(Turn(t["question"], t["answer"]) for t in record.get("history") or [])
        refusal = record.get("type") == "refusal"
        reference = str(record.get("reference_answer") or "")
        return EvalCase(
            id=str(record["id"]),
            question=str(record["question"]),
            history=history,
            answers=(reference,) if reference and not refusal else (),
            key_facts=tuple(str(f) for f in record.get("key_facts") or ()),
            expect_refusal=refusal,
            relevance={s["article"]: 1 for s in support},
            evidence=tuple(
                Evidence(s["article"], heading=str(s.get("heading") or ""), facts=tuple(str(f) for f in record.get("key_facts") or ()))
                for s in support
            ),
            kind=str(record.get("type") or ""),
        )
    except (KeyError, TypeError) as exc:
        raise InputError(f"{path}: a gold question lacks a field ({exc}): {str(record)[:200]}") from None


def load_gold_set(path: Path, corpus_dir: Path, name: str | None = None) -> EvalSet:
    """A JSONL of questions over a corpus folder: `id`, `question`, `type` ("refusal" for questions the
    articles cannot answer), optional `history` [{question, answer}], `reference_answer`, `key_facts`, and
    `support` [{article: article id, heading}].

    Raises:
        InputError: the file or the corpus folder is missing, or a record is malformed.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"question file not found: {path}")
    if not Path(corpus_dir).is_dir():
        raise InputError(f"corpus folder not found: {corpus_dir}")
    cases = tuple(_gold_case(r, path) for r in _jsonl(path))
    if not cases:
        raise InputError(f"{path} holds no questions")
    return EvalSet(name or path.stem, path, cases, has_answers=True, corpus_dir=Path(corpus_dir))
