"""Demoting passages editors judged wrongly cited for questions like the one asked.

A passage whose citation editors judged "wrong citation" for at least `retrieval.demotion_min_verdicts`
questions within cosine `retrieval.demotion_similarity` of a new question has its fused score multiplied by
`retrieval.demotion_factor` for that question. One stray verdict changes nothing, and a passage judged wrong for
one kind of question keeps its rank for the others.

The verdicts come from a `VerdictSource` (the records store, wired in by the runtime: retrieval never imports
it). `CitationDemoter` holds them in memory as one matrix of unit question vectors per passage, and asks the
source for its version at most every `retrieval.demotion_refresh_s` seconds, reloading only when it changed: a
question costs no database query, only a product with the few candidate passages' matrices.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Collection, Hashable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np

from hubchat.config import RetrievalSettings
from hubchat.errors import HubchatError
from hubchat.types import Passage

log = logging.getLogger(__name__)

Embed = Callable[[Sequence[str]], np.ndarray]


class WrongCitationVerdict(Protocol):
    """One passage judged wrongly cited in one answer (hubchat.records.WrongCitation has this shape)."""

    @property
    def chunk_id(self) -> str: ...
    @property
    def answer_id(self) -> str: ...
    @property
    def question(self) -> str: ...
    @property
    def article_id(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def section(self) -> str: ...


class VerdictSource(Protocol):
    """Where the verdicts in force come from (hubchat.records.Records is one)."""

    def verdicts_version(self) -> Hashable:
        """Changes whenever the verdicts in force may have changed; cheap, asked at most every refresh interval."""
        ...

    def wrong_citations(self) -> Sequence[WrongCitationVerdict]:
        """Every passage currently judged wrongly cited, lifted demotions left out."""
        ...


class Demoter(Protocol):
    """What HybridRetriever asks which of its candidates to demote for a question."""

    def demoted(self, vector: Sequence[float], chunk_ids: Collection[str]) -> frozenset[str]: ...


@dataclass(frozen=True)
class Demotion:
    """A passage demoted for questions like `questions` (each judged wrong for it, each with at least
    min_verdicts such questions, itself included, within the similarity threshold)."""

    chunk_id: str
    article_id: str
    title: str
    section: str
    questions: tuple[str, ...]
    answer_ids: tuple[str, ...]


@dataclass(frozen=True)
class _Judged:
    """One passage's verdicts: a unit question vector per answer judged wrong, and what to show for them."""

    vectors: np.ndarray
    answer_ids: tuple[str, ...]
    questions: tuple[str, ...]
    article_id: str
    title: str
    section: str


@dataclass(frozen=True)
class _Snapshot:
    version: Hashable
    by_chunk: dict[str, _Judged]


def demote(passages: Sequence[Passage], demoted: Collection[str], factor: float) -> list[Passage]:
    """The passages with the demoted ones' scores multiplied by `factor`, best score first (stable for ties)."""
    if not demoted:
        return list(passages)
    lowered = [replace(p, score=p.score * factor, demoted=True) if p.chunk.id in demoted else p for p in passages]
    return sorted(lowered, key=lambda p: -p.score)


class CitationDemoter:
    """The `Demoter` over a `VerdictSource`, reloaded when the source's version changes (see the module docstring).

    Safe to share between request threads: a reload builds a new snapshot and swaps it in; questions asked
    meanwhile use the previous one. A source that cannot be reached keeps the last snapshot and is asked again
    after the next interval, so an outage of the records never fails a question.

    Args:
        source: the verdicts.
        embed: texts -> unit vectors, the model the retriever embeds questions with (a cache in front of it
            keeps a reload from embedding the questions it has seen).
        settings: the `retrieval` section (demotion_min_verdicts, demotion_similarity, demotion_refresh_s).
        clock: seconds, monotonic (tests pass their own).
    """

    def __init__(self, source: VerdictSource, embed: Embed, settings: RetrievalSettings, clock: Callable[[], float] = time.monotonic):
        self.source = source
        self.embed = embed
        self.settings = settings
        self._clock = clock
        self._snapshot: _Snapshot | None = None
        self._checked_at = float("-inf")
        self._lock = threading.Lock()

    def demoted(self, vector: Sequence[float], chunk_ids: Collection[str]) -> frozenset[str]:
        """The chunk ids among `chunk_ids` judged wrong for at least min_verdicts questions near `vector`."""
        snapshot = self._current()
        judged = [(cid, snapshot.by_chunk[cid]) for cid in chunk_ids if cid in snapshot.by_chunk]
        if not judged:
            return frozenset()
        query = np.asarray(vector, dtype=np.float32)
        query = query / max(float(np.linalg.norm(query)), 1e-12)
        s = self.settings
        return frozenset(
            cid for cid, j in judged if int(np.count_nonzero(j.vectors @ query >= s.demotion_similarity)) >= s.demotion_min_verdicts
        )

    def active(self) -> tuple[Demotion, ...]:
        """Every passage some question would be demoted for now, with the questions that make it so; by title."""
        found = []
        s = self.settings
        for cid, j in self._current(force=True).by_chunk.items():
            near = (j.vectors @ j.vectors.T) >= s.demotion_similarity
            in_force = np.flatnonzero(near.sum(axis=1) >= s.demotion_min_verdicts)
            if in_force.size:
                found.append(Demotion(
                    cid, j.article_id, j.title, j.section,
                    tuple(j.questions[i] for i in in_force), tuple(j.answer_ids[i] for i in in_force),
                ))
        return tuple(sorted(found, key=lambda d: (d.title.casefold(), d.chunk_id)))

    def _current(self, force: bool = False) -> _Snapshot:
        snapshot = self._snapshot
        due = force or self._clock() - self._checked_at >= self.settings.demotion_refresh_s
        if snapshot is not None and not due:
            return snapshot
        # One thread reloads; the others keep answering with the snapshot they have (the first load waits).
        if not self._lock.acquire(blocking=snapshot is None or force):
            return snapshot  # type: ignore[return-value]
        try:
            self._checked_at = self._clock()
            self._snapshot = self._load(self._snapshot)
        finally:
            self._lock.release()
        return self._snapshot

    def _load(self, previous: _Snapshot | None) -> _Snapshot:
        try:
            version = self.source.verdicts_version()
            if previous is not None and version == previous.version:
                return previous
            verdicts = self.source.wrong_citations()
        except HubchatError as exc:
            log.warning("wrong-citation verdicts not reloaded, demoting by the last ones: %s", exc)
            return previous if previous is not None else _Snapshot(None, {})
        return _Snapshot(version, self._judged(verdicts))

    def _judged(self, verdicts: Sequence[WrongCitationVerdict]) -> dict[str, _Judged]:
        per_chunk: dict[str, dict[str, WrongCitationVerdict]] = defaultdict(dict)
        for v in verdicts:
            # One answer counts once for a passage, however many of its sentences cited it wrongly.
            per_chunk[v.chunk_id].setdefault(v.answer_id, v)
        questions = sorted({v.question for by_answer in per_chunk.values() for v in by_answer.values()})
        if not questions:
            return {}
        vectors = dict(zip(questions, np.asarray(self.embed(questions), dtype=np.float32)))
        judged = {}
        for cid, by_answer in per_chunk.items():
            rows = list(by_answer.values())
            first = rows[0]
            judged[cid] = _Judged(
                np.stack([vectors[v.question] for v in rows]), tuple(v.answer_id for v in rows),
                tuple(v.question for v in rows), first.article_id, first.title, first.section,
            )
        return judged
