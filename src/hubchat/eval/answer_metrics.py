"""Answer measures, per question: SQuAD exact match and token F1, containment, key facts, citation correctness.

Definitions (also in the README's evaluation section):

- **Normalisation** is SQuAD's: lower case, punctuation and the articles a/an/the removed, whitespace collapsed.
  Citation markers `[n]` are removed from an answer before any comparison.
- **Exact match / F1**: the official SQuAD 2.0 definitions, best over the reference answers. A chat answer is a
  sentence or more, so exact match is near 0 by design; F1 and containment are the telling figures.
- **Containment**: some reference answer, normalised, occurs as a whole-token run in the normalised answer.
- **Key facts**: the share of a gold question's key facts contained in the answer (same rule).
- **Citation correctness** approximates ALCE's "the cited passage supports the sentence" with the gold labels:
  at *article* level a citation is correct when its passage comes from a gold (judged relevant) article; at
  *passage* level it must also be on a gold evidence unit: hold one of the unit's texts (SQuAD: a reference
  answer; MultiHop-RAG: at least 80% of the gold fact's distinct tokens) and lie under its heading or hold that
  heading's section start (gold set: a chunk may run from the end of one section into the next, whatever the
  system's chunker, and its heading path names only where it starts), or, on the gold set, hold one of the
  question's key facts verbatim wherever it lies (an article's "Key takeaways" state the same facts as its body).
  Precision is the share of an answer's cited passages that are correct; recall is the share of the question's
  gold articles (or evidence units) that some cited passage covers.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from hubchat.eval.datasets import EvalCase, Evidence
from hubchat.text.markdown import read_blocks

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_MARKERS = re.compile(r"\s*\[\d+(?:\s*[,;-]\s*\d+)*\]")
_PUNCT = str.maketrans("", "", string.punctuation + "‘’“”–—…")
FACT_TOKEN_SHARE = 0.8


def without_markers(text: str) -> str:
    return _MARKERS.sub("", text)


def normalize_answer(text: str) -> str:
    """SQuAD's answer normalisation."""
    text = text.lower().translate(_PUNCT)
    return " ".join(_ARTICLES.sub(" ", text).split())


def _tokens(text: str) -> list[str]:
    return normalize_answer(text).split()


def exact_match(prediction: str, references: Sequence[str]) -> float:
    pred = normalize_answer(without_markers(prediction))
    return float(any(pred == normalize_answer(r) for r in references)) if references else 0.0


def token_f1(prediction: str, references: Sequence[str]) -> float:
    """SQuAD's token F1, best over the references (0 without references)."""
    pred = _tokens(without_markers(prediction))
    best = 0.0
    for reference in references:
        gold = _tokens(reference)
        common = sum((Counter(pred) & Counter(gold)).values())
        if not pred or not gold or common == 0:
            continue
        precision, recall = common / len(pred), common / len(gold)
        best = max(best, 2 * precision * recall / (precision + recall))
    return best


def _contains_run(haystack: Sequence[str], needle: Sequence[str]) -> bool:
    n = len(needle)
    return n > 0 and any(list(haystack[i : i + n]) == list(needle) for i in range(len(haystack) - n + 1))


def contains_answer(prediction: str, references: Sequence[str]) -> bool:
    """Some reference answer occurs in the prediction as a whole-token run (after normalisation)."""
    pred = _tokens(without_markers(prediction))
    return any(_contains_run(pred, _tokens(r)) for r in references)


def key_fact_recall(prediction: str, facts: Sequence[str]) -> float | None:
    if not facts:
        return None
    return sum(contains_answer(prediction, [f]) for f in facts) / len(facts)


# ---- citations -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CitedPassage:
    """A passage an answer cites (or was shown), as the measures need it."""

    number: int
    article_id: str
    text: str
    section: str = ""


def on_evidence(passage: CitedPassage, unit: Evidence, by_facts: bool = True) -> bool:
    """Whether the passage is on this gold evidence unit (see the module docstring). `by_facts=False` leaves the
    key facts out: recall counts the units (sections) a citation covers, and a fact stands for none in particular."""
    if passage.article_id != unit.article_id:
        return False
    if by_facts and unit.facts and any(_contains_run(_tokens(passage.text), _tokens(f)) for f in unit.facts if f.strip()):
        return True
    if unit.heading and not _under_heading(passage, unit.heading.strip().lower()):
        return False
    texts = [t for t in unit.texts if t.strip()]
    if not texts:
        return True
    body = _tokens(passage.text)
    body_set = set(body)
    for text in texts:
        wanted = _tokens(text)
        if len(wanted) <= 8:
            if _contains_run(body, wanted):
                return True
        elif len(set(wanted) & body_set) >= FACT_TOKEN_SHARE * len(set(wanted)):
            return True
    return False


def _under_heading(passage: CitedPassage, heading: str) -> bool:
    if heading in passage.section.lower():
        return True
    return any(
        block.kind == "heading" and heading in passage.text[block.body_start : block.body_end].lower()
        for block in read_blocks(passage.text)
    )


@dataclass(frozen=True)
class CitationScores:
    """Citation precision and recall of one answer; None where undefined (nothing cited, or no gold)."""

    article_precision: float | None
    article_recall: float | None
    passage_precision: float | None
    passage_recall: float | None
    cited: int


def citation_scores(case: EvalCase, cited: Iterable[CitedPassage]) -> CitationScores:
    cited = list({p.number: p for p in cited}.values())
    gold = case.gold_articles
    units = case.evidence
    if not cited:
        return CitationScores(None, 0.0 if gold else None, None, 0.0 if units else None, 0)
    article_p = sum(p.article_id in gold for p in cited) / len(cited) if gold else None
    article_r = len(gold & {p.article_id for p in cited}) / len(gold) if gold else None
    passage_p = sum(any(on_evidence(p, u) for u in units) for p in cited) / len(cited) if units else None
    passage_r = sum(any(on_evidence(p, u, by_facts=False) for p in cited) for u in units) / len(units) if units else None
    return CitationScores(article_p, article_r, passage_p, passage_r, len(cited))


# ---- refusals ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RefusalScores:
    """Refusal as a classifier, the positive class being "refuse": precision, recall, F1, and the false-refusal
    rate (answerable questions refused / answerable questions)."""

    precision: float | None
    recall: float | None
    f1: float | None
    false_refusal_rate: float | None
    refused_answerable: int
    answerable: int
    refused_unanswerable: int
    unanswerable: int


def refusal_scores(pairs: Iterable[tuple[bool, bool]]) -> RefusalScores:
    """From (expected refusal, refused) per question."""
    pairs = list(pairs)
    tp = sum(e and r for e, r in pairs)
    fp = sum(r and not e for e, r in pairs)
    expected = sum(e for e, _ in pairs)
    answerable = len(pairs) - expected
    precision = tp / (tp + fp) if tp + fp else None
    recall = tp / expected if expected else None
    f1 = None
    if precision is not None and recall is not None:
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return RefusalScores(precision, recall, f1, fp / answerable if answerable else None, fp, answerable, tp, expected)
