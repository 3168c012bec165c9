"""`hubchat eval` end to end: load the set, bring its own index up to date, then measure retrieval, answers
(hubchat and its baselines, side by side) and, on a SciFact-style set, the citation checker itself.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from hubchat.config import Settings
from hubchat.errors import InputError
from hubchat.eval.datasets import EvalCase, EvalSet, is_beir_folder, load_beir_set, load_gold_set
from hubchat.eval.retrieval_eval import RetrievalFigures, evaluate_retrieval
from hubchat.eval.runner import Record, run_systems
from hubchat.eval.set_index import settings_for_set, with_section, write_corpus_folder
from hubchat.eval.summary import summarize
from hubchat.eval.system_names import BASELINE, DEFAULT_SYSTEMS, SYSTEMS, VARIANTS
from hubchat.eval.systems import AnswerSystem, HubchatSystem
from hubchat.runtime import Runtime

ProgressFn = Callable[[str, int, int], None]


@dataclass(frozen=True)
class EvalOptions:
    """What one `hubchat eval` run measures.

    Attributes:
        source: a BEIR-style folder, or a JSONL of questions over `corpus_dir`.
        corpus_dir: the corpus folder a JSONL question set is asked over (default: the configured corpus).
        systems: answer systems to compare (SYSTEMS' names); empty for retrieval only.
        limit: answer (and rank) at most this many questions, sampled with `seed`; None for all.
        checker_pairs: claims or questions to build checker pairs from (None: the configured default; 0: skip).
    """

    source: Path
    corpus_dir: Path | None = None
    systems: tuple[str, ...] = DEFAULT_SYSTEMS
    limit: int | None = None
    seed: int = 0
    retrieval: bool = True
    checker_pairs: int | None = None


@dataclass(frozen=True)
class EvalReport:
    """Everything one run measured, for the report writer."""

    set_name: str
    settings: Settings
    options: EvalOptions
    cases: int
    ingest: dict
    retrieval: RetrievalFigures | None
    records: tuple[Record, ...]
    summary: dict[str, dict]
    checker: dict | None
    seconds: float
    timings: dict[str, float] = field(default_factory=dict)


def set_name(source: Path) -> str:
    """The name a source's set goes by: its folder's name, or its question file's stem."""
    source = Path(source)
    return source.stem if source.suffix == ".jsonl" else source.name


def load_set(source: Path, corpus_dir: Path | None, settings: Settings) -> EvalSet:
    source = Path(source)
    if is_beir_folder(source):
        return load_beir_set(source)
    if source.is_file() and source.suffix == ".jsonl":
        return load_gold_set(source, Path(corpus_dir or settings.corpus.path))
    raise InputError(
        f"{source} is neither a BEIR-style folder (corpus.jsonl, queries.jsonl, qrels.tsv) nor a .jsonl question file"
    )


def sample(cases: Sequence[EvalCase], limit: int | None, seed: int) -> list[EvalCase]:
    """At most `limit` cases, drawn with `seed`, kept in the set's order (so follow-ups stay after their turns)."""
    if limit is None or limit >= len(cases):
        return list(cases)
    if limit < 1:
        raise InputError(f"--limit must be at least 1, got {limit}")
    chosen = set(random.Random(seed).sample(range(len(cases)), limit))
    return [c for i, c in enumerate(cases) if i in chosen]


def is_scifact_like(eval_set: EvalSet) -> bool:
    """A BEIR folder whose queries carry SciFact's rationale `evidence` and whose documents carry `sentences`."""
    if not eval_set.is_beir:
        return False
    with open(eval_set.source / "queries.jsonl", encoding="utf-8") as fh:
        first_query = json.loads(fh.readline() or "{}")
    with open(eval_set.source / "corpus.jsonl", encoding="utf-8") as fh:
        first_doc = json.loads(fh.readline() or "{}")
    return isinstance(first_query.get("evidence"), dict) and isinstance(first_doc.get("sentences"), list)


def build_systems(runtime: Runtime, names: Sequence[str], eval_set: EvalSet, progress: ProgressFn) -> list[AnswerSystem]:
    from hubchat.answer.chain import Answerer
    from hubchat.retrieval.hybrid import HybridRetriever

    systems: list[AnswerSystem] = []
    for name in names:
        if name == BASELINE:
            from hubchat.eval.baseline import LangChainBaseline

            baseline = LangChainBaseline(runtime.settings, runtime.embeddings, runtime.prompts, runtime.generator,
                                         runtime.embed_cache, eval_set.name)
            baseline.build(progress)
            systems.append(baseline)
            continue
        settings = with_section(runtime.settings, "retrieval", **VARIANTS[name]) if VARIANTS[name] else runtime.settings
        # The app's demoter too, reading the set's own records (settings_for_set): empty unless a benchmark seeds
        # verdicts there, so the figures never move with a checkout's records, and a seeded run measures demotion.
        retriever = HybridRetriever(runtime.store, runtime.embeddings, settings.retrieval, demoter=runtime.demoter)
        answerer = Answerer(settings, retriever, runtime.generator, runtime.embed_cache, runtime.prompts)
        systems.append(HubchatSystem(name, answerer))
    return systems


def _ingest(runtime: Runtime, eval_set: EvalSet, progress: ProgressFn) -> dict:
    if eval_set.is_beir:
        write_corpus_folder(eval_set, Path(runtime.settings.corpus.path))
    summary = runtime.ingest(progress=progress)
    return {"added": len(summary.added), "updated": len(summary.updated), "deleted": len(summary.deleted),
            "unchanged": summary.unchanged, "skipped": len(summary.skipped), "chunks": summary.chunks_total,
            "seconds": round(summary.seconds, 1)}


def is_squad_like(eval_set: EvalSet) -> bool:
    """A BEIR folder whose queries carry SQuAD's `answers` and `gold_passage_id`."""
    if not eval_set.is_beir:
        return False
    with open(eval_set.source / "queries.jsonl", encoding="utf-8") as fh:
        first_query = json.loads(fh.readline() or "{}")
    return "answers" in first_query and "gold_passage_id" in first_query


def _checker(settings: Settings, eval_set: EvalSet, runtime: Runtime, options: EvalOptions, progress: ProgressFn) -> dict | None:
    claims = settings.eval.checker_pairs if options.checker_pairs is None else options.checker_pairs
    if claims <= 0:
        return None
    from hubchat.eval import sentence_pairs as sp
    from hubchat.eval.checker_pairs import (
        confusion,
        load_scifact_pairs,
        rate_pairs,
        supported_precision,
        supported_recall,
        supported_share,
    )

    if is_scifact_like(eval_set):
        source = "SciFact claims with evidence and rationale sentences"
        pairs = load_scifact_pairs(eval_set.source, seed=options.seed, limit=claims)
        pairs += sp.load_scifact_sentence_pairs(eval_set.source, seed=options.seed, limit=claims)
    elif is_squad_like(eval_set):
        source = "SQuAD answer sentences"
        pairs = sp.load_squad_sentence_pairs(eval_set.source, seed=options.seed, limit=claims)
    elif not eval_set.is_beir and eval_set.corpus_dir is not None:
        source = "gold reference-answer sentences"
        pairs = sp.load_gold_sentence_pairs(eval_set.source, eval_set.corpus_dir, seed=options.seed, limit=claims)
    else:
        return None
    ratings = rate_pairs(pairs, runtime.embed_cache, progress=lambda done, total: progress("checker pairs", done, total))
    return {"claims": len({p.claim for p in pairs if not p.original}), "source": source, "pairs": len(pairs),
            "confusion": confusion(ratings), "supported_precision": supported_precision(ratings),
            "supported_recall": supported_recall(ratings),
            "sentences_supported": supported_share(ratings, lambda k: k == sp.ORIGINAL),
            "swapped_sentences_supported": supported_share(ratings, lambda k: k.startswith("sentence_swapped_"))}


def run_eval(
    settings: Settings,
    options: EvalOptions,
    progress: ProgressFn | None = None,
    on_record: Callable[[Record], None] | None = None,
) -> EvalReport:
    """Run every part the set supports and return the figures and the records (each also handed to
    `on_record` as soon as it is made).

    Raises:
        InputError: the source is not an evaluation set, or an option is invalid.
        ConfigError, BackendError, ModelNotAvailableError: the configured backends cannot start.
    """
    unknown = [n for n in options.systems if n not in SYSTEMS]
    if unknown:  # before any embedding: a typo should cost nothing
        raise InputError(f"unknown system(s) {', '.join(unknown)}; choose from {', '.join(SYSTEMS)}")
    report = progress or (lambda stage, done, total: None)
    started = time.perf_counter()
    timings: dict[str, float] = {}
    eval_set = load_set(options.source, options.corpus_dir, settings)
    cases = sample(eval_set.cases, options.limit, options.seed)
    runtime = Runtime(settings_for_set(settings, eval_set))
    ingest = _ingest(runtime, eval_set, report)
    timings["ingest"] = time.perf_counter() - started

    retrieval = None
    if options.retrieval:
        t = time.perf_counter()
        retrieval = evaluate_retrieval(runtime.retriever, cases, lambda done, total: report("retrieval", done, total))
        timings["retrieval"] = time.perf_counter() - t

    records: list[Record] = []
    if options.systems and eval_set.has_answers:
        t = time.perf_counter()
        warning = runtime.generator.prepare()
        if warning:
            raise InputError(f"the chat backend is not ready: {warning}")
        systems = build_systems(runtime, options.systems, eval_set, report)
        records = run_systems(systems, cases, lambda done, total: report("answers", done, total), on_record)
        timings["answers"] = time.perf_counter() - t

    t = time.perf_counter()
    checker = _checker(settings, eval_set, runtime, options, report)
    if checker is not None:
        timings["checker"] = time.perf_counter() - t
    return EvalReport(
        set_name=eval_set.name, settings=runtime.settings, options=options, cases=len(cases), ingest=ingest,
        retrieval=retrieval, records=tuple(records), summary=summarize(records), checker=checker,
        seconds=time.perf_counter() - started, timings={k: round(v, 1) for k, v in timings.items()},
    )
