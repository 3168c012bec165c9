"""Labelled pairs for the checker's figures and names: a correct sentence of a passage, cited against that passage
(expected supported), and the same sentence with one figure, unit, currency, scale, date or name swapped
(expected not supported).

The originals are sentences a right answer would write: SQuAD 2.0's sentence holding a reference answer (against
its paragraph), SciFact's SUPPORT rationale sentences (against their abstract), and the gold set's reference
answers (against the sections their `support` names). A sentence is an original only when at least one swap
applies to it, so every original has a swapped twin and the two rates compare like with like.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from hubchat.checking.support import split_sentences
from hubchat.eval.checker_pairs import (
    LabelledPair,
    entities,
    swap_currency,
    swap_date,
    swap_entity,
    swap_number,
    swap_scale,
    swap_unit,
)
from hubchat.text.markdown import read_blocks

ORIGINAL = "sentence"
SWAPS = ("number", "unit", "currency", "scale", "date", "entity")
KINDS = (ORIGINAL, *(f"sentence_swapped_{s}" for s in SWAPS))


def _jsonl(path: Path) -> Iterable[dict]:
    with open(path, encoding="utf-8") as fh:
        yield from (json.loads(line) for line in fh if line.strip())


def _sentences(text: str) -> list[str]:
    return [text[s.start : s.end] for s in split_sentences(text) if s.kind == "sentence"]


def swapped(sentence: str, evidence: str, donors: Sequence[str], rng: random.Random) -> list[tuple[str, str]]:
    """(kind, altered sentence) for each swap that applies to `sentence`, none stating what `evidence` states."""
    swaps: list[tuple[str, Callable[[], str | None]]] = [
        ("number", lambda: swap_number(sentence, rng, evidence)),
        ("unit", lambda: swap_unit(sentence, rng, evidence)),
        ("currency", lambda: swap_currency(sentence, rng, evidence)),
        ("scale", lambda: swap_scale(sentence, rng, evidence)),
        ("date", lambda: swap_date(sentence, rng, evidence)),
        ("entity", lambda: swap_entity(sentence, donors, rng, evidence)),
    ]
    out = []
    for kind, swap in swaps:
        altered = swap()
        if altered and altered != sentence:
            out.append((f"sentence_swapped_{kind}", altered))
    return out


def _pairs_of(sentence: str, evidence: str, doc_id: str, title: str, donors: Sequence[str], rng: random.Random) -> list[LabelledPair]:
    seen = f"{title}\n{evidence}"  # the checker reads the title too: a swap must not land on it
    alts = swapped(sentence, seen, donors, rng)
    if not alts:
        return []
    return [LabelledPair(ORIGINAL, "supported", sentence, evidence, doc_id, title)] + [
        LabelledPair(kind, "not_supported", claim, evidence, doc_id, title, sentence) for kind, claim in alts
    ]


def _sample(items: list, limit: int | None, seed: int) -> list:
    if limit is None or limit >= len(items):
        return items
    return [items[i] for i in sorted(random.Random(seed).sample(range(len(items)), limit))]


def load_squad_sentence_pairs(data_dir: Path, *, seed: int = 0, limit: int | None = None) -> list[LabelledPair]:
    """Pairs from a SQuAD-style BEIR folder: each answerable question's gold-paragraph sentence holding its answer.

    Args:
        limit: at most this many questions (sampled with `seed`).
    """
    docs = {d["_id"]: d for d in _jsonl(Path(data_dir) / "corpus.jsonl")}
    queries = [q for q in _jsonl(Path(data_dir) / "queries.jsonl")
               if not q.get("is_impossible") and q.get("answers") and q.get("gold_passage_id") in docs]
    queries = _sample(sorted(queries, key=lambda q: q["_id"]), limit, seed)
    doc_ids = sorted(docs)
    pairs: list[LabelledPair] = []
    seen: set[tuple[str, str]] = set()
    for q in queries:
        rng = random.Random(f"{seed}:{q['_id']}")
        doc = docs[q["gold_passage_id"]]
        sentence = next((s for s in _sentences(doc["text"]) if q["answers"][0] in s), None)
        if sentence is None or (doc["_id"], sentence) in seen:
            continue
        seen.add((doc["_id"], sentence))
        other = docs[rng.choice([d for d in doc_ids if d != doc["_id"]])]
        donors = [t for s in _sentences(other["text"]) for t in entities(s)]
        pairs += _pairs_of(sentence, doc["text"], doc["_id"], doc.get("title") or "", donors, rng)
    return pairs


def load_scifact_sentence_pairs(data_dir: Path, *, seed: int = 0, limit: int | None = None) -> list[LabelledPair]:
    """Pairs from a SciFact-style folder: each SUPPORT rationale sentence against its whole abstract.

    Args:
        limit: at most this many claims (sampled with `seed`, as `load_scifact_pairs` samples them).
    """
    docs = {d["_id"]: d for d in _jsonl(Path(data_dir) / "corpus.jsonl")}
    queries = [q for q in _jsonl(Path(data_dir) / "queries.jsonl") if any(d in docs for d in q.get("evidence") or {})]
    queries.sort(key=lambda q: (len(q["_id"]), q["_id"]))
    queries = _sample(queries, limit, seed)
    evidence_docs = sorted({d for q in queries for d in q["evidence"] if d in docs})
    pairs: list[LabelledPair] = []
    seen: set[tuple[str, int]] = set()
    for q in queries:
        rng = random.Random(f"{seed}:sentences:{q['_id']}")
        for doc_id in sorted(d for d in q["evidence"] if d in docs):
            doc = docs[doc_id]
            abstract = " ".join(doc["sentences"])
            others = [d for d in evidence_docs if d != doc_id]
            donors = [t for s in docs[rng.choice(others)]["sentences"] for t in entities(s)] if others else []
            for unit in q["evidence"][doc_id]:
                if unit["label"] != "SUPPORT":
                    continue
                for i in unit["sentences"]:
                    if (doc_id, i) not in seen:
                        seen.add((doc_id, i))
                        pairs += _pairs_of(doc["sentences"][i].strip(), abstract, doc_id, doc.get("title") or "", donors, rng)
    return pairs


def section_text(text: str, heading: str) -> str | None:
    """The Markdown section of `text` under the heading `heading` (to the next heading of its level or above)."""
    blocks = read_blocks(text)
    for i, b in enumerate(blocks):
        if b.kind == "heading" and text[b.body_start : b.body_end].strip() == heading.strip():
            end = next((c.start for c in blocks[i + 1 :] if c.kind == "heading" and c.level <= b.level), len(text))
            return text[b.start : end].strip()
    return None


def load_gold_sentence_pairs(questions: Path, corpus_dir: Path, *, seed: int = 0, limit: int | None = None) -> list[LabelledPair]:
    """Pairs from the gold set: each reference answer sentence against the sections its `support` names, joined.

    Args:
        limit: at most this many questions (sampled with `seed`).
    """
    from hubchat.ingest.corpus import read_corpus

    articles = {a.id: a for a in read_corpus(Path(corpus_dir))[0]}
    records = [r for r in _jsonl(Path(questions)) if r.get("type") != "refusal" and r.get("reference_answer") and r.get("support")]
    records = _sample(records, limit, seed)
    pairs: list[LabelledPair] = []
    for r in records:
        rng = random.Random(f"{seed}:{r['id']}")
        sections = [section_text(articles[s["article"]].text, s.get("heading") or "")
                    for s in r["support"] if s["article"] in articles]
        evidence = "\n\n".join(s for s in sections if s)
        if not evidence:
            continue
        first = articles[r["support"][0]["article"]]
        other = rng.choice([a for a in sorted(articles) if a not in {s["article"] for s in r["support"]}])
        donors = [t for s in _sentences(articles[other].text) for t in entities(s)]
        for sentence in _sentences(r["reference_answer"]):
            pairs += _pairs_of(sentence, evidence, first.id, first.title, donors, rng)
    return pairs
