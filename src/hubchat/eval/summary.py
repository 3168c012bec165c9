"""Per-system figures from the records: answers, refusals, citations, the checker's verdicts and speed.

Which questions each figure averages over (the README's evaluation section says the same):

- exact match, F1, containment: answerable questions with reference answers, refused ones included (a refusal
  scores 0), so a system cannot look better by refusing.
- key facts: gold-set questions that list key facts, refused ones included.
- citation precision: answers that are not refusals and cite at least one passage; citation recall: answerable
  questions that were not refused (an answer with no citation has recall 0).
- verdict rates: the sentences of the answers that are not refusals.
- speed: every answered question (a refusal given without a model counts with its own, short, times).
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict

from hubchat.eval.answer_metrics import refusal_scores
from hubchat.eval.runner import Record


def _mean(values: Iterable[float | None]) -> float | None:
    kept = [float(v) for v in values if v is not None]
    return statistics.fmean(kept) if kept else None


def percentile(values: Sequence[float], share: float) -> float | None:
    """The `share` quantile (0..1) by linear interpolation between closest ranks; None without values."""
    ordered = sorted(values)
    if not ordered:
        return None
    position = share * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _speed(records: Sequence[Record]) -> dict[str, float | None]:
    answered = [r.answer for r in records if r.answer is not None]
    first = [a.first_token_s for a in answered if a.first_token_s is not None]
    total = [a.total_s for a in answered]
    prompt = [a.prompt_tokens for a in answered if a.prompt_tokens is not None]
    # What the model had to read: the prompt less what the server served from its prompt cache.
    evaluated = [a.prompt_tokens - (a.cached_prompt_tokens or 0) for a in answered if a.prompt_tokens is not None]
    completion = [a.completion_tokens for a in answered if a.completion_tokens is not None]
    return {
        "first_token_median_s": percentile(first, 0.5),
        "first_token_p90_s": percentile(first, 0.9),
        "total_median_s": percentile(total, 0.5),
        "total_p90_s": percentile(total, 0.9),
        "prompt_tokens_median": percentile(prompt, 0.5),
        "prompt_tokens_evaluated_median": percentile(evaluated, 0.5),
        "completion_tokens_median": percentile(completion, 0.5),
    }


def summarize_system(records: Sequence[Record]) -> dict:
    """The figures of one system's records (all of one set)."""
    ok = [r for r in records if r.answer is not None and r.scores is not None]
    answerable = [r for r in ok if r.case.answers and not r.case.expect_refusal]
    answered = [r for r in ok if not r.answer.refused]
    cited = [r for r in answered if r.scores.citations.cited]
    answered_answerable = [r for r in answered if not r.case.expect_refusal]
    refusal = refusal_scores((r.case.expect_refusal, r.answer.refused) for r in ok)
    sentences = Counter(v for r in answered for v in r.answer.sentence_verdicts)
    n_sentences = sum(sentences.values())
    return {
        "questions": len(records),
        "errors": len(records) - len(ok),
        "answer": {
            "exact_match": _mean(r.scores.exact_match for r in answerable),
            "f1": _mean(r.scores.f1 for r in answerable),
            "contains_answer": _mean(float(r.scores.contains_answer) for r in answerable),
            "key_fact_recall": _mean(r.scores.key_fact_recall for r in ok),
            "answerable": len(answerable),
        },
        "refusal": asdict(refusal),
        # Answers the model refused and the chain quoted the passages for instead (counted as answers above).
        "quoted": sum(1 for r in ok if r.answer.quoted),
        "citations": {
            "article_precision": _mean(r.scores.citations.article_precision for r in cited),
            "article_recall": _mean(r.scores.citations.article_recall for r in answered_answerable),
            "passage_precision": _mean(r.scores.citations.passage_precision for r in cited),
            "passage_recall": _mean(r.scores.citations.passage_recall for r in answered_answerable),
            "citations_per_answer": _mean(r.scores.citations.cited for r in answered),
            "answers_without_citation": sum(1 for r in answered if not r.scores.citations.cited),
        },
        "checker": {
            "sentences": n_sentences,
            "verdict_rates": {v: n / n_sentences for v, n in sorted(sentences.items())} if n_sentences else {},
            "answers_with_flagged_sentence": _mean(float(r.answer.flagged > 0) for r in answered),
        },
        "speed": _speed(ok),
    }


def summarize(records: Sequence[Record]) -> dict[str, dict]:
    """system -> its figures, systems in the order they first appear."""
    systems = list(dict.fromkeys(r.system for r in records))
    return {s: summarize_system([r for r in records if r.system == s]) for s in systems}


def by_kind(records: Sequence[Record]) -> dict[str, dict[str, dict]]:
    """kind -> system -> {questions, contains the answer, refused share}: where each system wins and loses
    (follow-ups against single questions, comparison against null queries...)."""
    out: dict[str, dict[str, dict]] = {}
    for kind in sorted({r.case.kind for r in records}):
        for system in dict.fromkeys(r.system for r in records):
            rows = [r for r in records if r.case.kind == kind and r.system == system and r.answer is not None]
            answerable = [r for r in rows if r.scores.contains_answer is not None]
            out.setdefault(kind, {})[system] = {
                "questions": len(rows),
                "contains_answer": _mean(float(r.scores.contains_answer) for r in answerable),
                "refused": _mean(float(r.answer.refused) for r in rows),
            }
    return out
