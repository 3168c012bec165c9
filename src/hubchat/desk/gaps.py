"""Content gaps: readers' unanswered questions grouped into topics, each with its typical questions and the
articles closest to it.

Grouping is agglomerative clustering of the questions' unit embeddings with average linkage and a cosine
distance threshold: no number of topics has to be guessed, and the result depends only on the questions (no
random start), so the same records always give the same groups.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from sklearn.cluster import AgglomerativeClustering

from hubchat.records import AskedQuestion
from hubchat.types import Chunk

# Questions further apart than this (1 - cosine similarity, averaged over the pairs of two groups) stay in
# separate topics. MiniLM puts paraphrases of one question at about 0.1-0.3 and unrelated ones above 0.7.
DISTANCE_THRESHOLD = 0.5
TYPICAL_QUESTIONS = 3
CLOSEST_ARTICLES = 3
# Articles less similar than this to a group are not offered as close: a topic no article touches is a gap to
# write a new article for, not one to extend (MiniLM scores unrelated texts around 0 to 0.15).
MIN_SIMILARITY = 0.2
# Chunks fetched per group to find its closest articles: several chunks of one article often rank together.
_CHUNKS_SEARCHED = 30

Embed = Callable[[Sequence[str]], np.ndarray]
DenseSearch = Callable[[Sequence[float], int], list[tuple[Chunk, float]]]


@dataclass(frozen=True)
class ClosestArticle:
    """An article near a gap: the best cosine similarity of any of its chunks to the group's centroid (at least
    MIN_SIMILARITY)."""

    article_id: str
    title: str
    url: str
    similarity: float


@dataclass(frozen=True)
class GapGroup:
    """One topic readers asked about and the articles did not answer well.

    Attributes:
        typical: the questions closest to the group's centroid, most typical first (its label).
        questions: every question of the group, oldest first.
        readers: distinct readers that asked (one conversation asking three times counts once; see
            AskedQuestion.reader).
        refused, flagged: how many of the questions were refused / answered with flagged sentences.
        last_asked: the newest question's time (ISO 8601 UTC).
    """

    rank: int
    typical: tuple[str, ...]
    questions: tuple[AskedQuestion, ...]
    readers: int
    refused: int
    flagged: int
    first_asked: str
    last_asked: str
    closest: tuple[ClosestArticle, ...]
    # The unit centroid the closest articles are searched with, kept so they can be searched again when the index
    # changes without embedding the questions again (see `with_closest`); not part of what a group is.
    centroid: tuple[float, ...] = field(default=(), compare=False, repr=False)

    @property
    def asked(self) -> int:
        return len(self.questions)


def find_gaps(
    questions: Sequence[AskedQuestion],
    embed: Embed,
    search: DenseSearch | None = None,
    *,
    distance_threshold: float = DISTANCE_THRESHOLD,
) -> tuple[GapGroup, ...]:
    """The content gaps in these questions, most asked first (more readers, then more questions, then newer).

    Args:
        questions: from `Records.unanswered_questions`.
        embed: texts -> unit vectors (the runtime's embedder's `embed_array`), the model the index uses, so a
            group's centroid can be searched against the articles.
        search: (vector, k) -> chunks with their similarity (the store's `dense_search`); None: no articles.
        distance_threshold: see DISTANCE_THRESHOLD.
    """
    return with_closest(group_gaps(questions, embed, distance_threshold=distance_threshold), search)


def group_gaps(
    questions: Sequence[AskedQuestion], embed: Embed, *, distance_threshold: float = DISTANCE_THRESHOLD,
) -> tuple[GapGroup, ...]:
    """`find_gaps` without the articles: the questions embedded, clustered and ranked (the costly part)."""
    if not questions:
        return ()
    vectors = np.asarray(embed([_searched(q) for q in questions]), dtype=np.float32)
    labels = _cluster(vectors, distance_threshold)
    groups = []
    for label in sorted(set(labels.tolist())):
        members = np.flatnonzero(labels == label)
        groups.append(_group([questions[i] for i in members], vectors[members]))
    groups.sort(key=lambda g: (-g.readers, -g.asked, _descending(g.last_asked), g.typical))
    return tuple(_ranked(g, rank) for rank, g in enumerate(groups, 1))


def with_closest(groups: Sequence[GapGroup], search: DenseSearch | None) -> tuple[GapGroup, ...]:
    """The groups with their closest articles searched (again) by their centroids: one search per group, no
    embedding, so an index that changed under unchanged questions costs only this. None: no articles."""
    return tuple(
        replace(g, closest=_closest_articles(np.asarray(g.centroid, dtype=np.float32), search) if search is not None else ())
        for g in groups
    )


def _searched(q: AskedQuestion) -> str:
    # The standalone form: a follow-up such as "and in winter?" means nothing on its own.
    return (q.standalone_question or q.question).strip()


def _cluster(vectors: np.ndarray, distance_threshold: float) -> np.ndarray:
    if len(vectors) == 1:  # the clustering needs two samples
        return np.zeros(1, dtype=int)
    model = AgglomerativeClustering(n_clusters=None, metric="cosine", linkage="average", distance_threshold=distance_threshold)
    return model.fit_predict(vectors)


def _group(members: list[AskedQuestion], vectors: np.ndarray) -> GapGroup:
    centroid = vectors.mean(axis=0)
    centroid /= max(float(np.linalg.norm(centroid)), 1e-12)
    order = np.argsort(-(vectors @ centroid), kind="stable")
    typical: list[str] = []
    for i in order:  # the same question asked twice is one label
        text = " ".join(members[i].question.split())
        if text not in typical:
            typical.append(text)
        if len(typical) == TYPICAL_QUESTIONS:
            break
    times = sorted(q.created_at for q in members)
    return GapGroup(
        rank=0, typical=tuple(typical), questions=tuple(sorted(members, key=lambda q: q.created_at)),
        readers=len({q.reader for q in members}),
        refused=sum(q.refused for q in members), flagged=sum(q.flagged for q in members),
        first_asked=times[0], last_asked=times[-1], closest=(), centroid=tuple(float(x) for x in centroid),
    )


def _closest_articles(centroid: np.ndarray, search: DenseSearch) -> tuple[ClosestArticle, ...]:
    best: dict[str, ClosestArticle] = {}
    for chunk, score in search(centroid.tolist(), _CHUNKS_SEARCHED):
        if score < MIN_SIMILARITY:
            continue
        if chunk.article_id not in best or score > best[chunk.article_id].similarity:
            best[chunk.article_id] = ClosestArticle(chunk.article_id, chunk.title, chunk.url, round(float(score), 4))
    return tuple(sorted(best.values(), key=lambda a: (-a.similarity, a.article_id))[:CLOSEST_ARTICLES])


def _descending(iso_time: str) -> tuple[int, ...]:
    # Sort key for "newest first" inside an ascending sort: ISO times are fixed width, so negate their code points.
    return tuple(-ord(c) for c in iso_time)


def _ranked(group: GapGroup, rank: int) -> GapGroup:
    return replace(group, rank=rank)
