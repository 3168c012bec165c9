"""Hybrid retrieval: dense and BM25 candidates, fused (weighted score fusion by default, or weighted
reciprocal-rank fusion), a per-article cap, and the relevance floor that decides whether a question is
answerable from the corpus at all.

Also here: `condense_heuristic`, the cheap follow-up rewrite used when no chat model condenses the question, and
the two ranking metrics (`ndcg_at_k`, `recall_at_k`) used by the retrieval benchmark and evaluation.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Mapping, Sequence

import numpy as np

from hubchat.config import RetrievalSettings
from hubchat.errors import InputError
from hubchat.index.lexical import tokenize
from hubchat.index.store import ChunkStore
from hubchat.types import Chunk, Filters, Passage, RetrievalResult, Turn

# Fusion methods (RetrievalSettings.fusion): "scores" (weighted mean of min-max normalised cosine and BM25
# scores, `fuse_scores`; 0.733 nDCG@10 on SciFact) or "rrf" (weighted reciprocal-rank fusion, `fuse`; 0.714).
# The relevance floor's lexical half (RetrievalSettings.min_lexical_coverage) is the share of the question's IDF
# mass one passage must contain; query terms the corpus never uses count in the total, so a question about
# something absent stays weak. Both are calibrated in benchmarks/RESULTS.md.
FUSIONS = ("rrf", "scores")


def fuse(rankings: Sequence[Sequence[str]], weights: Sequence[float], k: int) -> list[tuple[str, float]]:
    """Weighted reciprocal-rank fusion.

    Each id scores sum_i weights[i] / (k + rank_i), over the rankings that contain it, with rank_i its 1-based
    position in ranking i. A repeated id within one ranking counts at its first position only.

    Args:
        rankings: id lists, best first.
        weights: one non-negative weight per ranking.
        k: the RRF constant; larger values flatten the difference between top and lower ranks.

    Returns:
        (id, fused score) for every id in any ranking, best first; ties go to the id with the better best rank,
        then to the smaller id, so the order is deterministic.
    """
    if len(rankings) != len(weights):
        raise ValueError(f"got {len(rankings)} rankings but {len(weights)} weights")
    if any(w < 0 for w in weights):
        raise ValueError(f"weights must be non-negative, got {list(weights)}")
    if k < 0:
        raise ValueError(f"k must be non-negative, got {k}")
    scores: dict[str, float] = {}
    best_rank: dict[str, int] = {}
    for ranking, weight in zip(rankings, weights):
        seen: set[str] = set()
        for rank, item in enumerate(ranking, start=1):
            if item in seen:
                continue
            seen.add(item)
            scores[item] = scores.get(item, 0.0) + weight / (k + rank)
            best_rank[item] = min(best_rank.get(item, rank), rank)
    return sorted(scores.items(), key=lambda kv: (-kv[1], best_rank[kv[0]], kv[0]))


def fuse_scores(
    scores: Sequence[Mapping[str, float]], weights: Sequence[float], floors: Sequence[float | None] | None = None
) -> list[tuple[str, float]]:
    """Weighted score fusion: each retriever's scores min-max normalised over all candidates, then averaged.

    Unlike rank fusion this keeps how far apart the scores are: a passage far ahead on BM25 (an exact name or
    code) keeps that lead. Normalising per query makes cosine and BM25 comparable without calibration.

    Args:
        scores: one mapping id -> raw score per retriever (higher is better).
        weights: one non-negative weight per retriever; the fused score is sum(w_i * norm_i) / sum(w_i).
        floors: per retriever, the score of a candidate it did not return, and the bottom of its normalisation
            range (BM25's natural floor is 0: no query term). None: the lowest score the retriever returned.

    Returns:
        (id, fused score in [0, 1]) for every candidate, best first; ties go to the smaller id.
    """
    floors = list(floors) if floors is not None else [None] * len(scores)
    if not len(scores) == len(weights) == len(floors):
        raise ValueError(f"got {len(scores)} score maps, {len(weights)} weights and {len(floors)} floors")
    if any(w < 0 for w in weights):
        raise ValueError(f"weights must be non-negative, got {list(weights)}")
    candidates = list(dict.fromkeys(cid for mapping in scores for cid in mapping))
    total_weight = float(sum(weights))
    if not candidates or total_weight == 0:
        return [(cid, 0.0) for cid in sorted(candidates)]
    fused = np.zeros(len(candidates), dtype=np.float64)
    for mapping, weight, floor in zip(scores, weights, floors):
        if not mapping or weight == 0:
            continue
        low = min(mapping.values()) if floor is None else min(floor, min(mapping.values()))
        values = np.array([mapping.get(cid, low) for cid in candidates], dtype=np.float64)
        span = values.max() - low
        if span > 0:
            fused += weight * (values - low) / span
        else:  # one distinct score: every candidate the retriever returned is equally good
            fused += weight * np.array([1.0 if cid in mapping else 0.0 for cid in candidates])
    fused /= total_weight
    return sorted(zip(candidates, fused.tolist()), key=lambda kv: (-kv[1], kv[0]))


def cap_per_article(passages: Sequence[Passage], cap: int) -> list[Passage]:
    """Keep at most `cap` passages of each article, in the given order.

    A single long article would otherwise fill every slot and crowd out other articles that also answer.
    """
    if cap < 1:
        raise ValueError(f"cap must be at least 1, got {cap}")
    taken: dict[str, int] = {}
    kept = []
    for passage in passages:
        article = passage.chunk.article_id
        if taken.get(article, 0) < cap:
            taken[article] = taken.get(article, 0) + 1
            kept.append(passage)
    return kept


class HybridRetriever:
    """Dense plus lexical retrieval over a ChunkStore, fused by weighted score fusion or weighted RRF.

    With score fusion, chunks only the lexical search returned get their cosine read from Chroma, and chunks
    only the dense search returned count as BM25 0, so every candidate is scored on both scales.

    Args:
        store: the chunk store (Chroma plus the lexical index); filters are applied inside both searches.
        embeddings: a LangChain Embeddings (the one the store was built with).
        settings: candidate depths, fusion constants, per-article cap, top_k and the relevance floor.
        fusion: "rrf" or "scores", overriding settings.fusion (benchmarks compare both).
        min_lexical_coverage: overrides settings.min_lexical_coverage (benchmarks calibrate it).
    """

    def __init__(
        self,
        store: ChunkStore,
        embeddings,
        settings: RetrievalSettings,
        *,
        fusion: str | None = None,
        min_lexical_coverage: float | None = None,
    ):
        self.store = store
        self.embeddings = embeddings
        self.settings = settings
        self.fusion = fusion or settings.fusion
        if self.fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {FUSIONS}, got {self.fusion!r}")
        self.min_lexical_coverage = float(
            settings.min_lexical_coverage if min_lexical_coverage is None else min_lexical_coverage
        )

    # ---- the two retrievers ------------------------------------------------------------------------------

    def embed(self, query: str) -> list[float]:
        return self.embeddings.embed_query(query)

    def dense(self, query: str, k: int, filters: Filters | None = None) -> list[tuple[Chunk, float]]:
        """Top-k chunks by cosine similarity to the query, best first."""
        return self.store.dense_search(self.embed(query), k, filters)

    def lexical(self, query: str, k: int, filters: Filters | None = None) -> list[tuple[Chunk, float]]:
        """Top-k chunks by BM25 score, best first; chunks sharing no term with the query are not returned."""
        return self.store.lexical_search(query, k, filters)

    # ---- the whole retrieval -----------------------------------------------------------------------------

    def retrieve(self, query: str, filters: Filters | None = None, top_k: int | None = None) -> RetrievalResult:
        """Fused, capped passages for a standalone question, and whether the corpus covers it at all.

        A query longer than settings.max_question_chars is searched by its first max_question_chars characters
        (cut at a word boundary): the answer chain rejects over-long user questions itself, and a condensed
        follow-up may run a little over the limit without that being the user's fault.

        Raises:
            InputError: the question is empty.
        """
        query = " ".join(query.split())
        if not query:
            raise InputError("The question is empty.")
        limit = self.settings.max_question_chars
        if len(query) > limit:
            query = query[: limit + 1].rsplit(" ", 1)[0] if " " in query[:limit] else query[:limit]
        s = self.settings
        top_k = s.top_k if top_k is None else top_k
        if top_k < 1:
            raise ValueError(f"top_k must be at least 1, got {top_k}")
        timings: dict[str, float] = {}

        t0 = time.perf_counter()
        vector = self.embed(query)
        t1 = time.perf_counter()
        dense_hits = self.store.dense_search(vector, s.dense_k, filters) if s.dense_weight > 0 else []
        t2 = time.perf_counter()
        lexical_hits = self.store.lexical_search(query, s.lexical_k, filters) if s.lexical_weight > 0 else []
        t3 = time.perf_counter()

        chunks: dict[str, Chunk] = {}
        dense_by_id: dict[str, tuple[int, float]] = {}
        lexical_by_id: dict[str, tuple[int, float]] = {}
        for rank, (chunk, score) in enumerate(dense_hits, 1):
            chunks.setdefault(chunk.id, chunk)
            dense_by_id.setdefault(chunk.id, (rank, score))
        for rank, (chunk, score) in enumerate(lexical_hits, 1):
            chunks.setdefault(chunk.id, chunk)
            lexical_by_id.setdefault(chunk.id, (rank, score))
        weights = [s.dense_weight, s.lexical_weight]
        if self.fusion == "scores":
            dense_scores = {c.id: score for c, score in dense_hits}
            dense_scores.update(self._cosines(vector, [cid for cid in lexical_by_id if cid not in dense_scores]))
            fused = fuse_scores([dense_scores, {c.id: score for c, score in lexical_hits}], weights, [None, 0.0])
        else:
            fused = fuse([[c.id for c, _ in dense_hits], [c.id for c, _ in lexical_hits]], weights, s.rrf_k)
        passages = []
        for cid, score in fused:
            d_rank, d_score = dense_by_id.get(cid, (None, None))
            l_rank, l_score = lexical_by_id.get(cid, (None, None))
            passages.append(
                Passage(chunks[cid], score, dense_score=d_score, lexical_score=l_score, dense_rank=d_rank, lexical_rank=l_rank)
            )
        passages = cap_per_article(passages, s.per_article_cap)[:top_k]
        t4 = time.perf_counter()
        best_dense = max((score for _, score in dense_hits), default=None)
        coverage = self.lexical_coverage(query, [c for c, _ in lexical_hits])
        t5 = time.perf_counter()

        timings.update(embed=t1 - t0, dense=t2 - t1, lexical=t3 - t2, fuse=t4 - t3, floor=t5 - t4)
        relevant = bool(passages) and (
            (best_dense is not None and best_dense >= s.min_dense_score) or coverage >= self.min_lexical_coverage
        )
        return RetrievalResult(query, tuple(passages), relevant, timings, best_dense, coverage)

    def _cosines(self, vector: Sequence[float], ids: Sequence[str]) -> dict[str, float]:
        """Cosine similarity of the query to chunks the dense search did not return (read from Chroma)."""
        if not ids:
            return {}
        found, matrix = self.store.vectors(ids)
        if not found:
            return {}
        matrix = matrix.astype(np.float64)
        query = np.asarray(vector, dtype=np.float64)
        norms = np.linalg.norm(matrix, axis=1) * max(float(np.linalg.norm(query)), 1e-12)
        return dict(zip(found, (matrix @ query / np.clip(norms, 1e-12, None)).tolist()))

    # ---- the lexical half of the relevance floor -----------------------------------------------------------

    def lexical_coverage(self, query: str, candidates: Sequence[Chunk]) -> float:
        """The largest share of the query's IDF mass that any one candidate chunk contains.

        Each distinct query term weighs its BM25 idf, log(1 + (N - df + 0.5) / (df + 0.5)); a term absent from
        the corpus has df = 0 and so the largest weight. A chunk "contains" a term when the term occurs in its
        indexed text. 1.0 means some chunk has every term of the question; a question naming things the corpus
        never mentions stays low however common its other words are.
        """
        index = self.store.lexical
        terms = list(dict.fromkeys(tokenize([query])[0]))
        if not terms or not candidates or len(index) == 0:
            return 0.0
        df = index.document_frequencies(terms).astype(np.float64)
        idf = np.log1p((len(index) - df + 0.5) / (df + 0.5))
        positions = np.array([index.position[c.id] for c in candidates if c.id in index.position], dtype=np.int64)
        if positions.size == 0:
            return 0.0
        present = index.term_presence(terms, positions)
        # Summed term by term, in query order, so the value does not depend on how a matrix product rounds.
        covered = np.zeros(positions.size, dtype=np.float64)
        for j, weight in enumerate(idf):
            covered += weight * present[:, j]
        return float(covered.max() / idf.sum())


# ---- follow-up condensing without a model -----------------------------------------------------------------

# Words that make a question lean on the conversation before it.
_ANAPHORS = frozenset(
    "it its it's itself they them their theirs those these this that he she his her him one ones former latter".split()
)
_POSSESSIVES = frozenset({"its", "their", "his", "her", "theirs"})
_OPENERS = ("and ", "what about", "how about", "what of", "also", "same for", "same question", "then ", "but ", "so ")
_TRAILING_CUES = (", then", " then", " instead", " too", " as well")
# Function words and question scaffolding: never salient, never a named entity when capitalised.
_FUNCTION_WORDS = frozenset(
    """a about above after again against all also am an and any are as at be because been before being below
    between both but by can could did do does doing done down during each either else even ever every few for from
    further get gets getting give given go going got had has have having how however i if in into is isn't it
    it's its just least less let like make makes many may me might more most much must my need needs no nor not
    now of off often on once one ones only or other our out over own per please quite rather really same say
    says shall she should so some still such tell than that the their them then there these they thing things
    this those though through to too under until up upon us use used uses using very via want was way ways we
    well were what what's whats when where whether which while who whom whose why will with within without would
    yes yet you your which's vs versus compare compared comparison difference differences best good better worse
    i'm i've i'd there's that's here's where's how's who's pick choose come comes already put putting take work
    works happen mean means know find see try add explain list show describe summarise summarize define name""".split()
)
_CLAUSE_BREAK = re.compile(r"[,;:]|\s(?:and|or|but)\s", re.IGNORECASE)
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9.+#'’-]*[A-Za-z0-9+#]|[A-Za-z0-9]")
_SHORT_QUESTION_WORDS = 4
_MAX_CONTEXT_TERMS = 10


def _words(text: str) -> list[str]:
    return [w.replace("’", "'") for w in _WORD.findall(text)]


def _is_entity(word: str, position: int) -> bool:
    """A name of its own: an acronym (GPU, EU), a word mixing letters and digits (H100, GPT-4o), camel case
    (pgVector), or a capitalised word after the first. The first word is capitalised anyway, so there only the
    other signs count ("Pricing?" names nothing; "Ollama?" is caught by being short either way)."""
    base = word.split("'")[0]
    if not base or base.lower() in _FUNCTION_WORDS:
        return False
    if any(ch.isdigit() for ch in base) and any(ch.isalpha() for ch in base):
        return True
    if len(base) > 1 and base.isupper():
        return True
    if any(ch.isupper() for ch in base[1:]):
        return True
    if re.search(r"[a-z][.+#][a-z0-9]", base.lower()):  # llama.cpp, node.js
        return True
    return position > 0 and base[0].isupper()


def _salient_terms(question: str) -> list[str]:
    """The content words of a question, in order, without question scaffolding (names, nouns, key modifiers)."""
    terms = []
    for word in _words(question):
        base = word.split("'")[0] if word.lower().endswith("'s") else word
        if base.lower() in _FUNCTION_WORDS or len(base) < 2 and not base.isdigit():
            continue
        terms.append(base)
    return list(dict.fromkeys(terms))


def _is_anaphor(words: Sequence[str], i: int) -> bool:
    word = words[i].lower().split("'")[0]
    if word in ("one", "ones"):
        # "which one is", "the cheaper ones?" point back; "one GPU" is a number.
        return i + 1 == len(words) or words[i + 1].lower() in _FUNCTION_WORDS
    return word in _ANAPHORS


def is_followup(question: str) -> bool:
    """Whether a question reads as depending on the conversation before it.

    True when it opens with a continuation ("And ...", "What about ...", "How about ..."), ends with one
    ("..., then?"), uses a pronoun or deictic word (it, they, that, those, this one, the former) in its first
    clause (a possessive such as "its" only when no name comes before it), or is very short (at most four
    words) and names nothing. Known misses: a relative "that" ("tools that run offline") reads as deictic.
    """
    text = " ".join(question.split())
    lower = text.lower()
    if not lower:
        return False
    if lower.startswith(_OPENERS) or lower.rstrip("?!. ").endswith(_TRAILING_CUES):
        return True
    words = _words(text)
    entities = [i for i, w in enumerate(words) if _is_entity(w, i)]
    # Only the first clause counts: in "How should I chunk docs, and how does that fit ...", a pronoun in a
    # later clause usually points back into the question itself.
    first_clause = len(_words(_CLAUSE_BREAK.split(text, maxsplit=1)[0]))
    for i in range(first_clause):
        if not _is_anaphor(words, i):
            continue
        # A possessive after a name usually points back to that name ("How does Ollama expose its API?");
        # other pronouns and deictic words point outside the question ("Does Chroma support it?").
        if words[i].lower() not in _POSSESSIVES or not any(e < i for e in entities):
            return True
    return len(words) <= _SHORT_QUESTION_WORDS and not entities


def condense_heuristic(question: str, history: Sequence[Turn]) -> str:
    """Rewrite a follow-up into a standalone search query without a language model.

    When `is_followup(question)` holds and there is history, the salient terms of the previous question (its
    content words: names, nouns and their modifiers, question scaffolding removed) are put in front of the
    question; the previous question is itself condensed first, so a chain of follow-ups keeps the original
    topic. Terms the question already contains are not repeated, and at most ten are added. Any other question
    is returned unchanged (whitespace normalised). Deterministic: the same input always gives the same output.

    Examples:
        ("Does it have a free tier?", [Turn("Which image generator renders text best?", ...)])
            -> "image generator renders text: Does it have a free tier?"
        ("What is Ollama?", [...]) -> "What is Ollama?"

    Args:
        question: the user's new question.
        history: earlier turns, oldest first.

    Returns:
        The search query.
    """
    question = " ".join(question.split())
    if not history or not is_followup(question):
        return question
    previous = condense_heuristic(history[-1].question, history[:-1])
    own = {w.lower() for w in _salient_terms(question)}
    context = [t for t in _salient_terms(previous) if t.lower() not in own][:_MAX_CONTEXT_TERMS]
    if not context:
        return question
    return f"{' '.join(context)}: {question}"


# ---- ranking metrics ---------------------------------------------------------------------------------------


def ndcg_at_k(ranked_ids: Sequence[str], relevance: Mapping[str, int], k: int) -> float:
    """Normalised discounted cumulative gain at k, as trec_eval / BEIR compute it.

    Gain is the judged grade (linear), discounted by log2(rank + 1); the ideal ranking sorts all judged grades.
    A query with no positive judgement scores 0. Repeated ids count once, at their first rank.

    Args:
        ranked_ids: retrieved ids, best first.
        relevance: id -> grade (> 0 relevant); ids not in it have grade 0.
        k: cut-off.
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    seen: set[str] = set()
    dcg = 0.0
    rank = 0
    for doc in ranked_ids:
        if doc in seen:
            continue
        seen.add(doc)
        rank += 1
        if rank > k:
            break
        dcg += max(relevance.get(doc, 0), 0) / math.log2(rank + 1)
    ideal = sorted((g for g in relevance.values() if g > 0), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def recall_at_k(ranked_ids: Sequence[str], relevance: Mapping[str, int], k: int) -> float:
    """Share of the relevant ids (grade > 0) found in the first k distinct retrieved ids (0 if none is relevant)."""
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    relevant = {d for d, g in relevance.items() if g > 0}
    if not relevant:
        return 0.0
    top = list(dict.fromkeys(ranked_ids))[:k]
    return len(relevant.intersection(top)) / len(relevant)
