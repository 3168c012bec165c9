"""Labelled claim/evidence pairs from SciFact, rated by the real citation checker, to measure the checker itself.

Kinds: `support` (claim vs its SUPPORT rationale, expected supported); `contradict` (vs its CONTRADICT rationale),
`same_abstract_other` (vs as many other sentences of the same abstract) and the `swapped_*` kinds (a SUPPORT pair
whose claim had a figure, a unit or a named entity changed), all expected not_supported.
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from hubchat.checking.citations import check_citations
from hubchat.checking.support import NUMBER_WORDS
from hubchat.types import Chunk, Passage, Verdict

Expected = Literal["supported", "not_supported"]
_RATIONALES: tuple[tuple[str, str, Expected], ...] = (("SUPPORT", "support", "supported"), ("CONTRADICT", "contradict", "not_supported"))
KINDS = ("support", "contradict", "same_abstract_other", "swapped_number", "swapped_unit", "swapped_entity")


@dataclass(frozen=True)
class LabelledPair:
    """A claim and the passage text it is checked against, with the verdict a perfect checker would give.

    Attributes:
        kind: one of KINDS.
        expected: "supported" or "not_supported".
        evidence: the passage text (sentences of one abstract, joined by spaces).
        original: for the swapped kinds, the claim before the swap; else "".
    """

    kind: str
    expected: Expected
    claim: str
    evidence: str
    doc_id: str
    title: str
    original: str = ""


@dataclass(frozen=True)
class PairRating:
    """What the checker said about one pair: its sentence verdict and support score."""

    pair: LabelledPair
    verdict: Verdict
    score: float


# ---- swaps (pure) ----------------------------------------------------------------------------------------------

# A comma only groups thousands: "(3,4)" is two figures, "1,000" one.
_FIG = r"(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)"
_ANY_FIGURE = re.compile(_FIG)
# Synonyms share a group, so a swap always changes the meaning ("%" never becomes "percent").
_UNIT_FAMILIES: tuple[tuple[tuple[str, ...], ...], ...] = (
    (("%", "percent", "per cent"), ("fold", "times")),
    (("mg", "milligrams"), ("g", "grams"), ("kg", "kilograms"), ("µg", "μg", "mcg", "micrograms"), ("ng",)),
    (("ml", "mL"), ("L", "litres", "liters"), ("µl", "μl", "µL", "μL")),
    (("nm",), ("µm", "μm"), ("mm",), ("cm",), ("km",)),
    (("mM",), ("µM", "μM"), ("nM",), ("pM",)),
    (("thousand",), ("million",), ("billion",)),
    (("seconds",), ("minutes",), ("hours",), ("days",), ("weeks",), ("months",), ("years",)),
    (("second",), ("minute",), ("hour",), ("day",), ("week",), ("month",), ("year",)),
)
_UNIT_GROUP = {form: (f, g) for f, family in enumerate(_UNIT_FAMILIES) for g, group in enumerate(family) for form in group}
_GLUE = {"%": "", "fold": "-"}  # how these attach to their number; other units keep the claim's separator
# Case matters for the unit (mM is not mm), not for a number word ("Five days").
_NUMBER_OR_WORD = r"(?:(?<![\w.,])" + _FIG + r"|(?i:\b(?:" + "|".join(NUMBER_WORDS) + r")\b))"
_UNITS = "|".join(sorted(map(re.escape, _UNIT_GROUP), key=len, reverse=True))
_UNIT = re.compile(_NUMBER_OR_WORD + r"(?P<sep>[ -]?)(?P<unit>" + _UNITS + r")(?![A-Za-z])")
# Digits glued to letters ("IL-6", "ADAR1", "3-kinase") belong to a name, not a figure, unless the letters are a
# unit ("400mg", "10-fold"); "1.5" is one figure, never a "1" to change.
_FIGURE = re.compile(
    r"(?<![\w.,/-])" + _FIG + r"(?![.,]\d)(?!-(?!(?:fold|times|percent|year|day|week|month|hour|minute)s?\b)[A-Za-z])"
    r"(?=(?:" + _UNITS + r")?(?!\w))"
)
_HEADING = re.compile(r"^(?:[A-Z]{2,}[\s,/&:]+)+(?=[A-Z][a-z])")
_WORD = re.compile(r"(?<![\w-])[A-Za-z][A-Za-z0-9]*(?:-[A-Za-z0-9]+)*")


def _norm_figure(raw: str) -> str:
    return raw.replace(",", "") if re.fullmatch(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?", raw) else raw


def _mentions(text: str, token: str, *, ignore_case: bool = False) -> bool:
    # A digit may precede the token ("400mg", "5%"), a letter or a hyphen may not ("IL-6" does not mention "6").
    return re.search(rf"(?<![A-Za-z-]){re.escape(token)}(?![A-Za-z0-9-])", text, re.IGNORECASE if ignore_case else 0) is not None


def _prefer_in_evidence(found: list[re.Match], present: Callable[[re.Match], bool], rng: random.Random) -> re.Match:
    # Changing what the evidence states is the hard case; changing what it never mentions proves little.
    shown = [m for m in found if present(m)]
    return rng.choice(shown or found)


def swap_number(claim: str, rng: random.Random, evidence: str = "") -> str | None:
    """One figure of the claim changed ("5%" -> "17%", "1,000" -> "4,000"; a year by a few years).

    Args:
        rng: draws the figure and its new value. evidence: a figure it states is changed first, never into one it states.

    Returns:
        The altered claim, or None if the claim states no figure.
    """
    found = list(_FIGURE.finditer(claim))
    if not found:
        return None
    stated = {_norm_figure(f) for f in _ANY_FIGURE.findall(evidence)}
    m = _prefer_in_evidence(found, lambda m: _norm_figure(m.group()) in stated, rng)
    raw = _norm_figure(m.group())
    decimals = len(raw.partition(".")[2])
    value = float(raw)
    for _ in range(20):
        if decimals == 0 and 1800 <= value <= 2100:  # a year moves by years, not by a factor
            new = value + rng.choice((-1, 1)) * rng.randint(3, 12)
        else:
            new = value * rng.choice((2, 3, 4)) + (rng.randint(1, 9) / 10**decimals if value < 10 else 0)
        text = f"{new:,.{decimals}f}" if "," in m.group() and decimals == 0 else f"{new:.{decimals}f}"
        if _norm_figure(text) not in stated | {raw}:
            return claim[: m.start()] + text + claim[m.end() :]
    return None


def swap_unit(claim: str, rng: random.Random, evidence: str = "") -> str | None:
    """The unit or scale word after one of the claim's numbers changed within its family ("mg" -> "kg",
    "%" -> "-fold", "weeks" -> "years", "million" -> "billion").

    Args:
        rng: draws the unit and its replacement. evidence: a unit it uses is changed first, into one it does not use.

    Returns:
        The altered claim, or None if no number of the claim carries a known unit.
    """
    found = list(_UNIT.finditer(claim))
    if not found:
        return None
    m = _prefer_in_evidence(found, lambda m: _mentions(evidence, m.group("unit")), rng)
    old = m.group("unit")
    family, group = _UNIT_GROUP[old]
    choices = [g[0] for i, g in enumerate(_UNIT_FAMILIES[family]) if i != group]
    new = rng.choice([c for c in choices if not _mentions(evidence, c)] or choices)
    sep = _GLUE.get(new, " " if old in _GLUE else m.group("sep"))
    return claim[: m.start("sep")] + sep + new + claim[m.end("unit") :]


def _is_symbol(token: str) -> bool:
    return any(c.isdigit() for c in token) or sum(c.isupper() for c in token) >= 2


def entities(text: str) -> list[str]:
    """Entity-like tokens of one sentence, in order: gene-like symbols ("ADAR1", "IL-6", "mTOR") anywhere, and
    capitalised words ("Dicer") except the first word, whose capital only says a sentence starts there."""
    words = [m.group() for m in _WORD.finditer(text)]
    return [w for n, w in enumerate(words) if _is_symbol(w) or (n > 0 and w[0].isupper() and len(w) > 2)]


def swap_entity(claim: str, donors: Sequence[str], rng: random.Random, evidence: str = "") -> str | None:
    """One entity of the claim replaced, everywhere in it, by a donor of the same shape (symbol or name).

    Args:
        donors: replacements, e.g. `entities` of another abstract; one the claim or the evidence names is never used.
        rng: draws the entity and the donor. evidence: an entity it names is replaced first.

    Returns:
        The altered claim, or None if the claim names no entity or no donor fits.
    """
    names = set(entities(claim))
    found = [m for m in _WORD.finditer(claim) if m.group() in names]
    usable = sorted({d for d in donors if not _mentions(claim, d, ignore_case=True) and not _mentions(evidence, d, ignore_case=True)})
    if not found or not usable:
        return None
    m = _prefer_in_evidence(found, lambda m: _mentions(evidence, m.group()), rng)
    same_shape = [d for d in usable if _is_symbol(d) == _is_symbol(m.group())]
    new = rng.choice(same_shape or usable)
    return re.sub(rf"(?<![\w-]){re.escape(m.group())}(?![\w-])", lambda _: new, claim)


_CURRENCIES = (("$", "€", "£"), ("dollars", "euros", "pounds"), ("USD", "EUR", "GBP"))
_CURRENCY = re.compile(r"(?P<sym>US\$|\$|€|£)(?=\d)|(?<=\d )(?P<word>dollars|euros|pounds|USD|EUR|GBP)\b")
# A measured figure ("2 PB", "40 mg", "6 weeks"): what the model turned into "$2 billion" in the observed failure.
_MEASURED = re.compile(r"(?<![\w.,$€£-])(?P<num>" + _FIG + r")(?P<sep>[ -]?)(?P<unit>[KMGTP]B|[a-zµμ]{1,3}g|mL|ml|weeks?|days?|"
                       r"months?|years?|hours?|minutes?|seconds?|ms|GHz|kW|MW)(?![A-Za-z])")
_SCALED = re.compile(r"(?<![\w.,])(?P<num>" + _FIG + r")(?P<scale>k|K|M|B|bn| thousand| million| billion| trillion)(?![A-Za-z])")
_SCALE_SWAP = {"k": "M", "K": "M", "M": "B", "B": "M", "bn": "m", " thousand": " million", " million": " billion",
               " billion": " million", " trillion": " billion"}
_MONTH_NAMES = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
                "November", "December")
_WITH_UNIT = re.compile(r"[ -]?(?:" + _UNITS + r"|[KMGTP]B|ms|GHz|kW|MW)(?![A-Za-z])")
_IN_DATE = re.compile(r"\d (?:" + "|".join(_MONTH_NAMES) + r")\b|\b(?:" + "|".join(_MONTH_NAMES) + r") \d")
_DATE_MONTH = re.compile(r"(?<=\d )(?P<month>" + "|".join(_MONTH_NAMES) + r")\b|\b(?P<lead>" + "|".join(_MONTH_NAMES)
                         + r")(?= \d)")


def swap_currency(claim: str, rng: random.Random, evidence: str = "") -> str | None:
    """A figure's money changed: its currency into another ("$20" -> "€20", "20 dollars" -> "20 euros"), or, where
    the claim states no money, a measured figure into dollars with a scale ("2 PB" -> "$2 billion": the model's
    observed slip when asked a price the article never gives).

    Returns:
        The altered claim, or None if it has neither money nor a measured figure.
    """
    money = list(_CURRENCY.finditer(claim))
    if money:
        m = rng.choice(money)
        old = m.group("sym") or m.group("word")
        family = next(f for f in _CURRENCIES if old.replace("US$", "$") in f)
        new = rng.choice([c for c in family if c != old.replace("US$", "$")])
        return claim[: m.start()] + new + claim[m.end() :]
    measured = list(_MEASURED.finditer(claim))
    if not measured:
        return None
    m = _prefer_in_evidence(measured, lambda m: m.group("num") in evidence, rng)
    return claim[: m.start()] + f"${m.group('num')} {rng.choice(('million', 'billion'))}" + claim[m.end() :]


def swap_scale(claim: str, rng: random.Random, evidence: str = "") -> str | None:
    """A figure's scale changed ("1.5 million" -> "1.5 billion", "128k" -> "128M"), or, where none is written, one
    added to a count that is no year ("40 patients" -> "40 million patients").

    Returns:
        The altered claim, or None if it has no figure to scale.
    """
    scaled = list(_SCALED.finditer(claim))
    if scaled:
        m = _prefer_in_evidence(scaled, lambda m: m.group() in evidence, rng)
        return claim[: m.start("scale")] + _SCALE_SWAP[m.group("scale")] + claim[m.end("scale") :]
    counts = [m for m in _FIGURE.finditer(claim) if not re.fullmatch(r"1[89]\d\d|20\d\d", m.group())
              and not _WITH_UNIT.match(claim, m.end()) and not _IN_DATE.search(claim[max(0, m.start() - 10) : m.end() + 10])]
    if not counts:
        return None
    m = _prefer_in_evidence(counts, lambda m: _mentions(evidence, m.group()), rng)
    return claim[: m.end()] + rng.choice((" million", " billion", " thousand")) + claim[m.end() :]


def swap_date(claim: str, rng: random.Random, evidence: str = "") -> str | None:
    """A date's month changed ("2 February 2025" -> "2 July 2025"); years are `swap_number`'s.

    Returns:
        The altered claim, or None if it writes no day-and-month date.
    """
    found = list(_DATE_MONTH.finditer(claim))
    if not found:
        return None
    m = _prefer_in_evidence(found, lambda m: _mentions(evidence, m.group()), rng)
    new = rng.choice([n for n in _MONTH_NAMES if n != m.group() and not _mentions(evidence, n)] or
                     [n for n in _MONTH_NAMES if n != m.group()])
    return claim[: m.start()] + new + claim[m.end() :]


# ---- SciFact ---------------------------------------------------------------------------------------------------


def _jsonl(path: Path) -> Iterable[dict]:
    with open(path, encoding="utf-8") as fh:
        yield from (json.loads(line) for line in fh if line.strip())


def load_scifact_pairs(data_dir: Path, *, seed: int = 0, limit: int | None = None) -> list[LabelledPair]:
    """Labelled pairs of every kind from a BEIR-style SciFact folder (corpus.jsonl and queries.jsonl with evidence).

    One pair of each applicable kind per (claim, evidence abstract). Swaps use a per-claim rng, so a claim's pairs
    do not depend on `limit`; entity donors come from the evidence abstract of another claim.

    Args:
        data_dir: the folder holding corpus.jsonl and queries.jsonl.
        seed: seeds the claim sample, the windows of other sentences and the swaps.
        limit: at most this many claims (sampled), or all claims with evidence.

    Returns:
        The pairs, claim by claim in id order.
    """
    docs = {d["_id"]: d for d in _jsonl(Path(data_dir) / "corpus.jsonl")}
    queries = [q for q in _jsonl(Path(data_dir) / "queries.jsonl") if any(d in docs for d in q.get("evidence") or {})]
    queries.sort(key=lambda q: (len(q["_id"]), q["_id"]))
    evidence_docs = sorted({d for q in queries for d in q["evidence"] if d in docs})
    if limit is not None and limit < len(queries):
        queries = [queries[i] for i in sorted(random.Random(seed).sample(range(len(queries)), limit))]
    pairs: list[LabelledPair] = []
    for q in queries:
        rng = random.Random(f"{seed}:{q['_id']}")
        claim = q["text"].strip()
        for doc_id in sorted(d for d in q["evidence"] if d in docs):
            sentences, title = docs[doc_id]["sentences"], docs[doc_id].get("title") or ""
            rationale: set[int] = set()
            for label, kind, expected in _RATIONALES:
                chosen = sorted({i for s in q["evidence"][doc_id] if s["label"] == label for i in s["sentences"]})
                rationale.update(chosen)
                if not chosen:
                    continue
                evidence = " ".join(sentences[i] for i in chosen)
                pairs.append(LabelledPair(kind, expected, claim, evidence, doc_id, title))
                if kind == "support":
                    donors = _donors(docs, [d for d in evidence_docs if d not in q["evidence"]], rng)
                    seen = f"{title}\n{evidence}"  # the checker reads the title too: a swap must not land on it
                    swaps = (
                        ("swapped_number", swap_number(claim, rng, seen)),
                        ("swapped_unit", swap_unit(claim, rng, seen)),
                        ("swapped_entity", swap_entity(claim, donors, rng, seen)),
                    )
                    pairs.extend(LabelledPair(k, "not_supported", c, evidence, doc_id, title, claim) for k, c in swaps if c)
            others = [s for i, s in enumerate(sentences) if i not in rationale]
            size = min(len(rationale), len(others))
            if size:
                start = rng.randrange(len(others) - size + 1)
                window = " ".join(others[start : start + size])
                pairs.append(LabelledPair("same_abstract_other", "not_supported", claim, window, doc_id, title))
    return pairs


def _donors(docs: dict[str, dict], candidates: list[str], rng: random.Random) -> list[str]:
    """Entities of one of `candidates` (abstracts), from its sentences only: titles capitalise every word."""
    if not candidates:
        return []
    # A structured abstract's sentence may open with its section heading ("CONCLUSIONS", "MAIN OUTCOME MEASURES").
    return [t for s in docs[rng.choice(candidates)]["sentences"] for t in entities(_HEADING.sub("", s))]


# ---- rating ----------------------------------------------------------------------------------------------------

# Weakest first; "not_a_claim" says nothing about support and counts only when no sentence makes a claim.
_STRENGTH = {"uncited": 0, "unsupported": 1, "weak": 2, "supported": 3}


def rate_pairs(
    pairs: Sequence[LabelledPair], embed: Callable[[list[str]], np.ndarray] | None, *, progress: Callable[[int, int], None] | None = None
) -> list[PairRating]:
    """Rate each pair with `check_citations`, as the product does: the answer "<claim> [1]." over one passage.

    A claim the splitter cuts into several sentences gets its weakest sentence's verdict and score (the marker
    belongs to the last one, so an earlier one is "uncited", the weakest).

    Args:
        pairs: the pairs to rate.
        embed: texts -> unit rows, e.g. `CachedEmbedder(build_embeddings(EmbeddingSettings()))`; None: words only.
        progress: called as progress(done, total) after each pair.

    Returns:
        One rating per pair, in order.
    """
    ratings = []
    for n, p in enumerate(pairs, 1):
        chunk = Chunk(id=f"{p.doc_id}:{n}", article_id=p.doc_id, ordinal=0, text=p.evidence, start=0, end=len(p.evidence), title=p.title)
        report = check_citations(f"{p.claim.rstrip().removesuffix('.')} [1].", [Passage(chunk, score=1.0)], embed=embed)
        claims = [s for s in report.sentences if s.verdict != "not_a_claim"] or list(report.sentences)
        weakest = min(claims, key=lambda s: (_STRENGTH.get(s.verdict, -1), s.score))
        ratings.append(PairRating(p, weakest.verdict, weakest.score))
        if progress is not None:
            progress(n, len(pairs))
    return ratings


def confusion(ratings: Iterable[PairRating]) -> dict[str, dict[str, int]]:
    """kind -> verdict -> count, kinds in KINDS order, verdicts strongest first."""
    counts = Counter((r.pair.kind, r.verdict) for r in ratings)
    kinds = sorted({k for k, _ in counts}, key=lambda k: (KINDS.index(k) if k in KINDS else len(KINDS), k))
    order = sorted({v for _, v in counts}, key=lambda v: -_STRENGTH.get(v, -1))
    return {k: {v: counts[(k, v)] for v in order if counts[(k, v)]} for k in kinds}


def supported_precision(ratings: Iterable[PairRating]) -> float | None:
    """Of the pairs rated "supported", the share expected supported (None if none was rated supported)."""
    rated = [r for r in ratings if r.verdict == "supported"]
    return sum(r.pair.expected == "supported" for r in rated) / len(rated) if rated else None


def supported_share(ratings: Iterable[PairRating], kinds: Callable[[str], bool]) -> float | None:
    """Of the pairs whose kind `kinds` accepts, the share rated "supported" (None if there is none)."""
    chosen = [r for r in ratings if kinds(r.pair.kind)]
    return sum(r.verdict == "supported" for r in chosen) / len(chosen) if chosen else None


def supported_recall(ratings: Iterable[PairRating]) -> float | None:
    """Of the pairs expected supported, the share rated "supported" (None if no pair is expected supported)."""
    wanted = [r for r in ratings if r.pair.expected == "supported"]
    return sum(r.verdict == "supported" for r in wanted) / len(wanted) if wanted else None
