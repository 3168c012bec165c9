"""How well a passage supports a claim: sentence splitting, content terms, and the best-supporting span.

The support score of a claim against a span of a passage is, in [0, 1]:

    recall     = share of the claim's content terms found in the span or in the passage's title and headings
                 (terms: Snowball stems of non-stop words, and numbers; number words count as digits)
    key_factor = key_recall ** 2   (share of the claim's key terms, figures included, found there; 1 if none)
    score      = key_factor * recall                                                  without an embedder
    score      = key_factor * (recall + (1 - recall) * 0.5 * cos_scaled)              with one, where
    cos_scaled = clip((cos(claim, span) - 0.45) / 0.40, 0, 1)

Key terms are the claim's figures (`hubchat.checking.figures`: a number with its unit, currency and scale, or a
date), other numbers written with digits ("GPT-4"'s 4), and names (capitalised words that do not start the
sentence): a claim whose figure or name the span does not contain is not supported by it however much else
matches, so a wrong year, "$2 billion" against "2 PB", or a wrong product name zeroes the score. A figure is
found when the span (or the title and headings) states a figure that `figures.supports` accepts; the other keys
when their term is there. The embedder can only add evidence: it fills up to half of the gap
that lexical recall leaves, scaled by how similar MiniLM finds the two texts. On the tuning examples
(tests/data/citation_claims.json) MiniLM put paraphrases at cosine 0.4 to 0.9 and same-topic non-paraphrases at
0.45 to 0.7, so cosine alone separates poorly: it lifts loose paraphrases, it never outvotes words and numbers.
Neither signal sees negation ("cannot" vs "can") or which entity a number belongs to in a span that names two.
Thresholds (in hubchat.checking.citations): supported >= 0.5, weak >= 0.3.

Spans are one sentence of the passage, or two consecutive sentences when the second one adds at least
`PAIR_MARGIN` to the better of the two alone. A pair's embedding is the normalised sum of its sentences'
embeddings (mean pooling makes that close to embedding the joined text, at no extra cost). Only sentences that
share a content term with the claim are embedded; the others are scored on words alone.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

from hubchat.checking.figures import Figure, figures
from hubchat.checking.figures import supports as figure_supports
from hubchat.text.markdown import read_blocks
from hubchat.text.sentences import sentence_spans
from hubchat.types import Chunk, Passage

Embed = Callable[[list[str]], np.ndarray]

COS_FLOOR = 0.45
COS_CEILING = 0.85
EMBED_SHARE = 0.5
PAIR_MARGIN = 0.05

# Function words, plus words that only say where a claim comes from ("according to the article").
STOP_WORDS = frozenset(
    """a about above after again against all also am an and any are aren as at be because been before being below
    between both but by can cannot could couldn did didn do does doesn doing don down during each either etc even
    ever every few for from further had hadn has hasn have haven having he her here hers herself him himself his how
    however i if in into is isn it its itself just let ll me might more most much must mustn my myself neither nor
    now of off on once only or other our ours ourselves out over own per quite rather re same shall she should
    shouldn so some such than that the their theirs them themselves then there these they this those through thus
    to too under until up upon us ve very via was wasn we well were weren what when where whether which while who
    whom whose why will with within without won would wouldn yet you your yours yourself yourselves
    anything everything nothing something else just really simply actually basically lot lots yes ok okay
    according article articles passage passages author says said mentions mentioned notes explains describes
    """.split()
)

NUMBER_WORDS = {
    w: str(i)
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
        "seventeen eighteen nineteen twenty".split()
    )
} | {"thirty": "30", "forty": "40", "fifty": "50", "sixty": "60", "seventy": "70", "eighty": "80", "ninety": "90",
     "hundred": "100", "thousand": "1000", "dozen": "12"}

_TOKEN = re.compile(r"\d+(?:[.,]\d+)*|[^\W\d_]+")
# Inside a paragraph, Markdown sees no list item in a "•" bullet, in an ordered item that cannot interrupt a
# paragraph ("Steps:\n2. Install") or in a deeply indented "- "; answers mean one, so it starts a new sentence.
_BULLET = re.compile(r"[ \t]*(?:[-*+•]|\d{1,3}[.)])[ \t]+")


@dataclass(frozen=True)
class Segment:
    """A sentence-like unit of a text: `text[start:end]`, trimmed.

    Attributes:
        kind: "sentence" (prose or a list item's sentence), "heading", "table" (one row) or "code" (a fenced block).
    """

    start: int
    end: int
    kind: str


@dataclass(frozen=True)
class Terms:
    """The content terms of a claim: `content` must be found for recall, `keys` and `figures` must be found at all."""

    content: frozenset[str]
    keys: frozenset[str]
    figures: tuple[Figure, ...] = ()


@lru_cache(maxsize=1)
def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("english")


def split_sentences(text: str) -> list[Segment]:
    """Sentences of a Markdown-ish text, with exact offsets.

    Headings, list items and table rows always end a sentence; inside a paragraph or an item pysbd decides, with
    wrapped lines joined. List bullets and heading hashes are left out of the spans; a code block is one segment.
    """
    segments: list[Segment] = []
    for block in read_blocks(text):
        # An underlined (setext) heading in an answer is most often a sentence over a "---" meant as a rule: its
        # sentences are claims like any other.
        if block.kind == "heading" and not block.underlined:
            segments.append(Segment(block.body_start, block.body_end, "heading"))
        elif block.kind == "code":
            segments.append(Segment(block.start, block.end, "code"))
        elif block.kind == "table":
            # A row of nothing but dashes and colons (the delimiter, or a look-alike) has no words to check.
            segments.extend(Segment(s, e, "table") for s, e in block.rows if text[s:e].strip(" \t|:-"))
        elif block.kind == "list_item":
            segments.extend(_prose(text, block.body_start, block.end))
        else:
            segments.extend(_prose(text, block.start, block.end))
    # A lone ">" (the blank line of a block quote) is no sentence.
    return [s for s in segments if text[s.start : s.end].strip("> \t")]


def _prose(text: str, start: int, end: int) -> list[Segment]:
    """Sentences of a paragraph or a list item; a pipe row or a bullet line Markdown missed also ends one."""
    segments: list[Segment] = []
    run: list[int] = []  # [start, end) of the prose being collected

    def flush() -> None:
        if run:
            segments.extend(Segment(s, e, "sentence") for s, e in sentence_spans(text, run[0], run[1], join_lines=True))
            run.clear()

    pos = start
    for line in text[start:end].split("\n"):
        stop = pos + len(line)
        indent = len(line) - len(line.lstrip())
        if line.lstrip().startswith("|"):
            # Pipe rows without a delimiter row are no GFM table, but they are still rows.
            flush()
            if line.strip(" \t\r|:-"):
                segments.append(Segment(pos + indent, pos + len(line.rstrip()), "table"))
        elif m := _BULLET.match(line):
            flush()
            run[:] = [pos + m.end(), stop]
        elif not line.strip():  # blocks hold no blank line today; if one ever does, it still ends a sentence
            flush()
        elif run:
            run[1] = stop
        else:
            run[:] = [pos + indent, stop]
        pos = stop + 1
    flush()
    return segments


def tokens(text: str) -> list[tuple[str, bool, bool]]:
    """(term, is_digit_number, is_name) for each word or number of `text`, stop words dropped.

    Words are lower-cased Snowball stems; numbers lose thousands separators; number words become digits (but are
    not keys: "one" is too often not a count). A name is a capitalised word that is not the text's first word.
    """
    return [(term, is_number, is_name) for term, is_number, is_name, _ in _located_tokens(text)]


def _located_tokens(text: str) -> list[tuple[str, bool, bool, int]]:
    """`tokens`, each with its offset in `text`."""
    out: list[tuple[str, bool, bool, int]] = []
    words: list[tuple[int, str]] = []
    for n, m in enumerate(_TOKEN.finditer(text)):
        raw = m.group()
        if raw[0].isdigit():
            out.append((_number(raw), True, False, m.start()))
            continue
        low = raw.lower()
        if low in NUMBER_WORDS:
            out.append((NUMBER_WORDS[low], False, False, m.start()))
        elif len(low) > 1 and low not in STOP_WORDS:
            words.append((len(out), low))
            out.append((low, False, n > 0 and raw[0].isupper(), m.start()))
    stems = _stemmer().stemWords([w for _, w in words])
    for (i, _), stem in zip(words, stems):
        out[i] = (stem, False, out[i][2], out[i][3])
    return out


def _number(raw: str) -> str:
    if re.fullmatch(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?", raw):
        raw = raw.replace(",", "")
    return raw


def term_set(text: str) -> frozenset[str]:
    """Every content term of `text` (what a span offers as evidence)."""
    return frozenset(t for t, _, _ in tokens(text))


def claim_terms(claim: str) -> Terms:
    """Content terms of a claim, and its key terms: its figures, other numbers written with digits, and names.

    A word or number inside a figure ("2 PB", "$2 billion") is a content term, but the key is the figure itself.
    """
    figs = figures(claim)
    toks = _located_tokens(claim)
    keys = frozenset(
        t for t, is_number, is_name, at in toks if (is_number or is_name) and not any(f.start <= at < f.end for f in figs)
    )
    return Terms(frozenset(t for t, _, _, _ in toks), keys, figs)


def score(terms: Terms, evidence: frozenset[str], cos: float | None = None, evidence_figures: Sequence[Figure] = ()) -> float:
    """Support of a claim by evidence terms and figures (and the claim/span cosine, if embedded); see the module
    docstring."""
    if not terms.content:
        return 0.0
    recall = lexical_recall(terms, evidence)
    wanted = len(terms.keys) + len(terms.figures)
    found = len(terms.keys & evidence) + sum(any(figure_supports(e, f) for e in evidence_figures) for f in terms.figures)
    key_factor = (found / wanted) ** 2 if wanted else 1.0
    if cos is None:
        return key_factor * recall
    scaled = min(1.0, max(0.0, (cos - COS_FLOOR) / (COS_CEILING - COS_FLOOR)))
    return key_factor * (recall + (1 - recall) * EMBED_SHARE * scaled)


def lexical_recall(terms: Terms, evidence: frozenset[str]) -> float:
    """Share of the claim's content terms among the evidence terms."""
    return len(terms.content & evidence) / len(terms.content) if terms.content else 0.0


@dataclass(frozen=True)
class PassageSentences:
    """A passage cut into sentences, with the terms each offers and the context terms of its title and headings."""

    passage: Passage
    segments: tuple[Segment, ...]  # offsets inside chunk.text
    terms: tuple[frozenset[str], ...]
    context: frozenset[str]
    figures: tuple[tuple[Figure, ...], ...] = ()  # per segment
    context_figures: tuple[Figure, ...] = ()

    def all_figures(self) -> tuple[Figure, ...]:
        """Every figure the passage states, in its sentences, title and headings."""
        return self.context_figures + tuple(f for per in self.figures for f in per)


def passage_sentences(passage: Passage) -> PassageSentences:
    """Split and index a passage: once per chunk, whatever the question that retrieved it."""
    indexed = _chunk_sentences(passage.chunk)
    return replace(indexed, passage=passage)


# Keyed on the chunk, not the passage: the same chunk comes back for many questions with other scores, and the
# answer's excerpts, its check and the source cards all split it again otherwise (pysbd costs ~15 ms a paragraph).
@lru_cache(maxsize=2048)
def _chunk_sentences(chunk: Chunk) -> PassageSentences:
    segments = tuple(split_sentences(chunk.text))
    terms = tuple(term_set(chunk.text[s.start : s.end]) for s in segments)
    context_text = " ".join((chunk.title, *chunk.heading_path))
    # Passages offer lone number words as figures too: "five patients" supports "5 patients".
    figs = tuple(figures(chunk.text[s.start : s.end], lone_words=True) for s in segments)
    unscored = Passage(chunk, 0.0)
    return PassageSentences(unscored, segments, terms, term_set(context_text), figs, figures(context_text, lone_words=True))


@dataclass(frozen=True)
class Span:
    """The best-supporting window of a passage: offsets inside chunk.text, its evidence terms and its score."""

    start: int
    end: int
    evidence: frozenset[str]
    score: float
    cos: float | None = None
    figures: tuple[Figure, ...] = ()


def best_span(
    terms: Terms,
    sentences: PassageSentences,
    claim_vec: np.ndarray | None = None,
    sentence_vecs: Mapping[int, np.ndarray] | None = None,
) -> Span:
    """The sentence or pair of consecutive sentences of a passage that best supports the claim.

    Headings are context, not candidates. Equal scores (typically 0, when a key term is missing) go to the window
    with more of the claim's words, so a contradicted claim points at the sentence that contradicts it; then to
    the earlier window. A pair must beat its better sentence by `PAIR_MARGIN`.

    Args:
        sentence_vecs: embeddings of some of the passage's sentences, by index in `sentences.segments`; a window
            with none of its sentences embedded is scored on words alone (see `embed_claims`).
    """
    segs = [s for s in sentences.segments if s.kind != "heading"] or list(sentences.segments)
    if not segs:
        return Span(0, 0, sentences.context, 0.0, figures=sentences.context_figures)
    index = {s: i for i, s in enumerate(sentences.segments)}
    vecs = sentence_vecs if claim_vec is not None and sentence_vecs is not None else {}

    def window(first: Segment, last: Segment) -> Span:
        i, j = index[first], index[last]
        evidence = sentences.context.union(*sentences.terms[i : j + 1])
        figs = sentences.context_figures + tuple(f for per in sentences.figures[i : j + 1] for f in per)
        cos = None
        parts = [vecs[k] for k in range(i, j + 1) if k in vecs]
        if parts:
            vec = np.sum(parts, axis=0)
            cos = float(claim_vec @ vec) / max(float(np.linalg.norm(vec)), 1e-12)
        return Span(first.start, last.end, evidence, score(terms, evidence, cos, figs), cos, figs)

    def rank(span: Span) -> tuple[float, float]:
        return span.score, lexical_recall(terms, span.evidence)

    singles = [window(s, s) for s in segs]
    best = singles[0]
    for i, single in enumerate(singles):
        if rank(single) > rank(best):
            best = single
        if i + 1 < len(segs):
            pair = window(segs[i], segs[i + 1])
            if pair.score >= max(single.score, singles[i + 1].score) + PAIR_MARGIN and rank(pair) > rank(best):
                best = pair
    return best


def embed_claims(
    embed: Embed, claims: Sequence[tuple[str, Terms]], cited: Sequence[Sequence[PassageSentences]]
) -> tuple[np.ndarray, list[dict[int, dict[int, np.ndarray]]]]:
    """Embed claims and the passage sentences they may be judged against, in one call to `embed`.

    Only sentences sharing at least one content term with a claim that cites them are embedded: a sentence that
    shares no word with its claim almost never is its best support, and embedding every sentence of every cited
    passage would add about a second per answer on two cores.

    Args:
        claims: (text, terms) of each claim.
        cited: for each claim, the passages it cites.

    Returns:
        The claims' vectors, and for each claim and each of its passages (in `cited` order) the embedded sentences'
        vectors by segment index.
    """
    texts = [text for text, _ in claims]
    rows: dict[tuple[int, int], int] = {}  # (id of the passage's sentences, segment index) -> row
    for (_, terms), passages in zip(claims, cited):
        for ps in passages:
            for k, seg in enumerate(ps.segments):
                if seg.kind != "heading" and terms.content & ps.terms[k] and (id(ps), k) not in rows:
                    rows[(id(ps), k)] = len(texts)
                    texts.append(ps.passage.chunk.text[seg.start : seg.end])
    vecs = np.asarray(embed(texts), dtype=np.float32)
    if vecs.ndim != 2 or vecs.shape[0] != len(texts):
        raise ValueError(f"embed returned an array of shape {vecs.shape} for {len(texts)} texts")
    per_claim = [
        [{k: vecs[rows[(id(ps), k)]] for k in range(len(ps.segments)) if (id(ps), k) in rows} for ps in passages]
        for passages in cited
    ]
    return vecs[: len(claims)], per_claim
