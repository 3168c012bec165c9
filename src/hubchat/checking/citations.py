"""Check an answer's [n] citations against the passages shown to the model, deterministically (no LLM).

`check_citations` parses the markers, drops the ones that name no passage, splits the answer into sentences, and
scores every cited sentence against the passages it cites (the score itself is defined in `hubchat.checking.support`).

Markers. A bracket group counts as a citation attempt when it holds a digit, is empty, or is a lone letter
("[a]"), and is not inside code or a Markdown link. Accepted and normalised to "[1][3]": "[1]", "[1, 3]", "[1;3]",
"[1 and 3]", "[ 2 ]", "[1-3]" (a range), "[#2]", "[Passage 2]", "[source 2]". Everything else that is an attempt
("[a]", "[1-]", "[[2]]", "[2.]", "[^1]", "[]") is malformed. Malformed and out-of-range markers, and a number
cited twice in one sentence (the later one), are removed from the text and reported with their raw text and
offset in the original answer; a removed marker takes the spaces before it along.

Sentences. Split with pysbd (plus blank lines, list items, headings, table rows and code blocks) on the text with
its markers taken out, so a marker never confuses the splitter; a marker then belongs to the sentence before it,
which makes "... in 2024. [2]" cite from the first sentence. Offsets index the cleaned text.

Verdicts. A cited sentence is "supported" at score >= supported_threshold, "weak" at >= weak_threshold, else
"unsupported". Its score is the best of its citations' scores and of their joint score (the claim's terms found
in the union of the cited spans), so a sentence joining facts from [1] and [2] is judged on both. An uncited
sentence is "uncited" if it is factual, else "not_a_claim": questions, lead-ins ending in ":", headings, code,
table rows, sentences with fewer than two content words (greetings, "In short, it depends."), and refusal or
hedge sentences ("The articles don't cover ..."), which are never flagged even when cited.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from hubchat.checking import figures as fig
from hubchat.checking import names as nm
from hubchat.checking.support import (
    STOP_WORDS,
    PassageSentences,
    Segment,
    Span,
    Terms,
    best_span,
    claim_terms,
    embed_claims,
    passage_sentences,
    score,
    split_sentences,
    tokens,
)
from hubchat.types import (
    CitationMarkerIssue,
    CitationReport,
    Passage,
    SentenceCheck,
    SpanSupport,
    Verdict,
)

SUPPORTED_THRESHOLD = 0.5
WEAK_THRESHOLD = 0.3
# A marker whose passage supports nothing alone is kept only if adding it raises the sentence's support by more
# than this: evidence for a part of the claim, not a rounding of the same evidence.
PRUNE_MARGIN = 0.05

# ---- markers -------------------------------------------------------------------------------------------------

_CANDIDATE = re.compile(r"(\[\[?)([^\[\]\n]{0,24})(\]\]?)")
_LABEL = r"(?:(?:passages?|sources?|refs?|references?|docs?|documents?)\s*:?\s*)?#?\s*"
_ITEM = r"\d+(?:\s*[-–]\s*\d+)?"
_VALID = re.compile(rf"^\s*{_LABEL}({_ITEM}(?:\s*(?:,|;|&|\band\b)\s*#?\s*{_ITEM})*)\s*$", re.IGNORECASE)
_ATTEMPT = re.compile(r"^[\d\s,;.:\-–#^a-zA-Z]*$")
_LABEL_ONLY = re.compile(r"^(?:passages?|sources?|refs?|references?|docs?|documents?)\b\s*:?\s*", re.IGNORECASE)
_TASK_BOX = re.compile(r"^\s*(?:[-*+]|\d{1,3}[.)])\s+$")
_CODE = re.compile(r"```.*?(?:```|\Z)|`[^`\n]+`", re.DOTALL)
_MAX_RANGE = 20


@dataclass
class _Group:
    raw: str
    position: int  # in the original answer
    anchor: int  # in the marker-free text
    lead: str  # spaces removed with the marker, before it
    trail: str  # ... or after it, for a marker that opens a line
    numbers: list[int]
    kept: list[int]


def _parse_numbers(inner: str) -> list[int] | None:
    """The numbers of an accepted marker body, or None if it is malformed."""
    m = _VALID.match(inner)
    if not m:
        return None
    numbers: list[int] = []
    for item in re.split(r"\s*(?:,|;|&|\band\b)\s*", m.group(1).strip(), flags=re.IGNORECASE):
        lo, _, hi = item.lstrip("#").strip().replace("–", "-").partition("-")
        a, b = int(lo), int(hi or lo)
        if b < a or b - a >= _MAX_RANGE:
            return None
        numbers.extend(range(a, b + 1))
    return numbers


def _is_attempt(text: str, m: re.Match) -> bool:
    inner = m.group(2)
    if m.end() < len(text) and text[m.end()] == "(" and not _VALID.match(inner):
        return False  # a Markdown link
    if m.start() > 0 and text[m.start() - 1] == "!":
        return False  # a Markdown image
    if _VALID.match(inner):
        return True
    line_before = text[text.rfind("\n", 0, m.start()) + 1 : m.start()]
    if inner in (" ", "x", "X") and _TASK_BOX.match(line_before):
        return False  # a task-list box: "- [x] done"
    body = _LABEL_ONLY.sub("", inner.strip())
    if not body:
        return inner == "" or body != inner.strip()  # "[]", "[Passage]"; not a spaced "[ ]"
    if any(c.isdigit() for c in body):
        return bool(_ATTEMPT.match(body)) and sum(c.isalpha() for c in body) <= 3
    preceded_by_word = m.start() > 0 and text[m.start() - 1].isalnum()
    return len(body) == 1 and body.isalpha() and not preceded_by_word


def _scan(answer: str, k: int | None) -> tuple[str, list[_Group], list[CitationMarkerIssue]]:
    """Take the markers out of `answer`: the marker-free text, the groups with their anchors, and the issues so far.

    `k` is the number of passages (None: any positive number is in range).
    """
    code = [(m.start(), m.end()) for m in _CODE.finditer(answer)]
    bare: list[str] = []
    groups: list[_Group] = []
    issues: list[CitationMarkerIssue] = []
    cursor = 0  # answer[cursor:] not yet copied
    length = 0
    for m in _CANDIDATE.finditer(answer):
        if any(s <= m.start() < e for s, e in code) or not _is_attempt(answer, m):
            continue
        lead_start, end = m.start(), m.end()
        while lead_start > cursor and answer[lead_start - 1] in " \t":
            lead_start -= 1
        before = answer[lead_start - 1] if lead_start > 0 else "\n"
        after = answer[end] if end < len(answer) else "\n"
        if before.isalnum() and after.isalnum():
            lead_start = m.start()  # keep one space (or make one) so "Go [4]and" / "Go[4]and" do not glue words
        trail = ""
        if before == "\n":  # a marker opening a line takes the spaces after it along instead
            while end < len(answer) and answer[end] in " \t":
                end += 1
            trail = answer[m.end() : end]
        bare.append(answer[cursor:lead_start])
        length += lead_start - cursor
        anchor = length
        if before.isalnum() and after.isalnum() and lead_start == m.start():
            bare.append(" ")
            length += 1
        cursor = end
        raw = m.group()
        numbers = _parse_numbers(m.group(2)) if len(m.group(1)) == 1 and len(m.group(3)) == 1 else None
        if numbers is None:
            issues.append(CitationMarkerIssue("malformed", raw, m.start()))
            numbers = []
        valid = []
        for n in numbers:
            if n < 1 or (k is not None and n > k):
                issues.append(CitationMarkerIssue("out_of_range", raw, m.start()))
            elif n in valid:
                issues.append(CitationMarkerIssue("duplicate", raw, m.start()))
            else:
                valid.append(n)
        groups.append(_Group(raw, m.start(), anchor, answer[lead_start : m.start()], trail, valid, []))
    bare.append(answer[cursor:])
    return "".join(bare), groups, issues


def strip_markers(text: str) -> str:
    """`text` without citation markers of any kind (valid or not), for display and comparison."""
    return _scan(text, None)[0]


# ---- sentences and verdicts ------------------------------------------------------------------------------------

_REFUSAL = [
    re.compile(p, re.IGNORECASE)
    for p in (
        r"\b(?:articles?|passages?|sources?|documents?|context|texts?|excerpts?)\b.{0,60}?"
        r"\b(?:do not|don't|does not|doesn't|did not|didn't|never|fail to)\b.{0,40}?"
        r"\b(?:cover|mention|say|discuss|contain|include|address|specify|state|provide|describe|explain|answer|"
        r"give|tell|talk)",
        r"\b(?:no|not enough|insufficient) (?:relevant )?(?:information|details?|data)\b",
        r"\bi (?:do not|don't|cannot|can't|could not|couldn't|am unable to|was unable to|am not able to)\b"
        r".{0,40}?\b(?:find|know|answer|say|tell|determine|confirm|see)\b",
        r"\bnot (?:mentioned|covered|discussed|specified|stated|addressed|described|available) (?:in|by) "
        r"(?:the |these |any )?(?:articles?|passages?|sources?|documents?|context)",
        r"\b(?:unable|not able) to (?:find|answer|determine)\b",
    )
]
# Stems that make no claim by themselves: "Hope this helps!", "In short, it depends."
_CONNECTIVE = frozenset(
    "hope help summari short depend overal note follow here sure let know question great happi answer detail key "
    "point main conclus brief general ask".split()
)


def _normalise(text: str) -> str:
    text = text.replace("’", "'").replace("‘", "'").lower()
    return re.sub(r"\s+", " ", text).strip().rstrip(".!").strip()


def _is_refusal(sentence: str, refusal_sentences: set[str]) -> bool:
    norm = _normalise(sentence)
    return norm in refusal_sentences or any(p.search(norm) for p in _REFUSAL)


def _is_factual(sentence: str, kind: str) -> bool:
    text = sentence.strip().rstrip("*_ ")
    if kind != "sentence" or text.endswith(("?", ":")):
        return False
    toks = tokens(text)
    return any(is_number for _, is_number, _ in toks) or len({t for t, _, _ in toks} - _CONNECTIVE) >= 2


def _answer_verdict(checks: Sequence[SentenceCheck], refusals: Sequence[bool], whole_is_refusal: bool) -> str:
    claims = [c for c in checks if c.verdict != "not_a_claim"]
    if whole_is_refusal or (not claims and any(refusals)):
        return "refusal"
    if not any(c.citations for c in claims):
        return "no_citations"
    if all(c.verdict == "supported" for c in claims):
        return "supported"
    if all(c.verdict in ("unsupported", "uncited") for c in claims):
        return "unsupported"
    return "partially_supported"


def _support(number: int, passage: Passage, span: Span) -> SpanSupport:
    chunk = passage.chunk
    return SpanSupport(
        number=number,
        chunk_id=chunk.id,
        article_id=chunk.article_id,
        score=span.score,
        span_start=chunk.start + span.start,
        span_end=chunk.start + span.end,
        span_text=chunk.text[span.start : span.end],
    )


def check_citations(
    answer: str,
    passages: Sequence[Passage],
    *,
    embed: Callable[[list[str]], np.ndarray] | None = None,
    refusal_text: str | None = None,
    question: str = "",
    supported_threshold: float = SUPPORTED_THRESHOLD,
    weak_threshold: float = WEAK_THRESHOLD,
) -> CitationReport:
    """Validate and score the citations of an answer written from `passages` ([1] is passages[0]).

    Args:
        answer: the model's answer with inline [n] markers.
        passages: the passages shown to the model, in the order they were numbered.
        embed: texts -> array of L2-normalised rows; adds claim/span cosine to the score (one call per answer).
        refusal_text: the answer the model is told to give when the articles do not answer the question.
        question: the (standalone) question; a name it holds may be repeated without a passage naming it.
        supported_threshold, weak_threshold: score cut-offs for "supported" and "weak".

    Returns:
        The report; its sentence offsets index `report.text`, its span offsets the articles' text.
    """
    if not 0 <= weak_threshold <= supported_threshold <= 1:
        raise ValueError(f"need 0 <= weak_threshold ({weak_threshold}) <= supported_threshold ({supported_threshold}) <= 1")
    bare, groups, issues = _scan(answer, len(passages))
    segments = split_sentences(bare)
    if not segments and groups:  # markers with no sentence to belong to: nothing cites, they all leave the text
        issues += [CitationMarkerIssue("no_sentence", g.raw, g.position) for g in groups]
        groups = []
    owners = _assign_markers(segments, groups, issues)
    refusal = strip_markers(refusal_text or "")
    rows = _rows(bare, segments, groups, owners, _refusal_sentences(refusal))
    sentences = _embed_rows(rows, passages, embed)
    exempt = nm.name_keys(question) if question else frozenset()
    judged = [_judge(r, passages, sentences, exempt, supported_threshold, weak_threshold) for r in rows]
    for g, owner in zip(groups, owners):  # the pruned markers leave the text
        g.kept = [n for n in g.kept if n not in judged[owner].pruned_numbers]
    text, starts, ends, marks = _render(bare, groups)
    checks = []
    for i, (r, j) in enumerate(zip(rows, judged)):
        start, end = starts[r.start], ends[r.end - 1]
        for g, owner, (mark_start, mark_end) in zip(groups, owners, marks):
            if owner == i and g.kept:
                start, end = min(start, mark_start), max(end, mark_end)
        checks.append(SentenceCheck(i, text[start:end], start, end, j.citations, j.supports, j.verdict, j.score,
                                    pruned=j.pruned, unmatched=j.unmatched))
    whole_is_refusal = bool(refusal.strip()) and _normalise(bare) == _normalise(refusal)
    verdict = _answer_verdict(checks, [r.refusal for r in rows], whole_is_refusal)
    cited_numbers = tuple(dict.fromkeys(n for g in groups for n in g.kept))
    issues.sort(key=lambda issue: issue.position)
    return CitationReport(text, tuple(checks), tuple(issues), cited_numbers, verdict)


def _assign_markers(segments: Sequence[Segment], groups: list[_Group], issues: list[CitationMarkerIssue]) -> list[int]:
    """Which sentence each marker belongs to; a number cited twice in one sentence is kept once (and reported)."""
    starts = [seg.start for seg in segments]
    # A marker belongs to the last sentence starting before it (the first one if it opens the answer).
    owners = [max(bisect_left(starts, g.anchor) - 1, 0) for g in groups]
    seen: dict[int, set[int]] = {}
    for g, owner in zip(groups, owners):
        for n in g.numbers:
            if n in seen.setdefault(owner, set()):
                issues.append(CitationMarkerIssue("duplicate", g.raw, g.position))
            else:
                seen[owner].add(n)
                g.kept.append(n)
    return owners


def _refusal_sentences(refusal: str) -> set[str]:
    return {_normalise(refusal[seg.start : seg.end]) for seg in split_sentences(refusal)}


def _rows(
    bare: str, segments: Sequence[Segment], groups: list[_Group], owners: list[int], refusal_sentences: set[str]
) -> list[_Row]:
    """Each sentence with its offsets in the marker-free text, its citations, terms and refusal flag."""
    rows: list[_Row] = []
    for i, seg in enumerate(segments):
        row = _Row(seg.start, seg.end, bare[seg.start : seg.end], seg.kind)
        for g, owner in zip(groups, owners):
            if owner == i:
                row.cited.extend(g.kept)
        row.refusal = _is_refusal(row.claim, refusal_sentences)
        row.terms = claim_terms(row.claim)
        rows.append(row)
    return rows


def _embed_rows(
    rows: list[_Row], passages: Sequence[Passage], embed: Callable[[list[str]], np.ndarray] | None
) -> dict[int, PassageSentences]:
    """The cited passages cut into sentences; with an embedder, the claims and candidate sentences embedded at once."""
    to_score = [r for r in rows if r.cited and not r.refusal and r.terms.content]
    sentences = {n: passage_sentences(passages[n - 1]) for n in sorted({n for r in to_score for n in r.cited})}
    if embed is not None and to_score:
        claim_vecs, sentence_vecs = embed_claims(
            embed, [(r.claim, r.terms) for r in to_score], [[sentences[n] for n in r.cited] for r in to_score]
        )
        for r, vec, per_passage in zip(to_score, claim_vecs, sentence_vecs):
            r.vector, r.sentence_vecs = vec, per_passage
    return sentences


@dataclass(frozen=True)
class _Judgement:
    """What the checker found about one sentence, before it is placed in the cleaned text."""

    citations: tuple[int, ...]
    supports: tuple[SpanSupport, ...]
    verdict: Verdict
    score: float
    pruned: tuple[SpanSupport, ...] = ()
    unmatched: tuple[str, ...] = ()

    @property
    def pruned_numbers(self) -> frozenset[int]:
        return frozenset(p.number for p in self.pruned)


def _judge(
    r: _Row,
    passages: Sequence[Passage],
    sentences: dict[int, PassageSentences],
    exempt: frozenset[str],
    supported_threshold: float,
    weak_threshold: float,
) -> _Judgement:
    """One sentence's verdict: scored against what it cites, or judged as uncited or as no claim at all.

    A cited sentence is scored against each passage it cites (and their union). When it cites several and some of
    them support it alone, the others are pruned. A figure or name that none of the kept passages states makes it
    unsupported whatever its score (`unmatched`).
    """
    if not (r.cited and not r.refusal and r.terms.content):
        verdict: Verdict = "not_a_claim" if r.cited or r.refusal or not _is_factual(r.claim, r.kind) else "uncited"
        return _Judgement(tuple(r.cited), (), verdict, 0.0)
    spans = {
        n: best_span(r.terms, sentences[n], r.vector, r.sentence_vecs[k] if r.sentence_vecs else None)
        for k, n in enumerate(r.cited)
    }
    claim_names = tuple(
        name for name in nm.names(r.claim, STOP_WORDS) if not any(f.start < name.end and name.start < f.end for f in r.terms.figures)
    )

    def missing(numbers: Sequence[int]) -> tuple[str, ...]:
        offered = [f for n in numbers for f in sentences[n].all_figures()]
        keys = frozenset().union(*(_name_keys(sentences[n]) for n in numbers))
        return tuple(f.text for f in fig.unmatched(r.terms.figures, tuple(offered))) + tuple(
            name.text for name in nm.unmatched(claim_names, keys, exempt)
        )

    def combined(numbers: Sequence[int]) -> float:
        chosen = [spans[n] for n in numbers]
        return max(max(span.score for span in chosen), _joint(r.terms, chosen))

    alone = [n for n in r.cited if spans[n].score >= supported_threshold and not missing([n])]
    kept = alone if alone else list(r.cited)
    if alone:
        # A passage that supplies part of the claim the others lack stays: "Chroma and Weaviate are open source
        # [2][4]" needs both, though [4] alone scores as support.
        for n in r.cited:
            if n not in kept and combined([*kept, n]) > combined(kept) + PRUNE_MARGIN:
                kept.append(n)
        kept.sort(key=r.cited.index)
    best = combined(kept)
    unmatched = missing(kept)
    verdict = "supported" if best >= supported_threshold else "weak" if best >= weak_threshold else "unsupported"
    if unmatched:
        verdict = "unsupported"
    return _Judgement(
        tuple(kept),
        tuple(_support(n, passages[n - 1], spans[n]) for n in kept),
        verdict,
        best,
        tuple(_support(n, passages[n - 1], spans[n]) for n in r.cited if n not in kept),
        unmatched,
    )


def _name_keys(ps: PassageSentences) -> frozenset[str]:
    chunk = ps.passage.chunk
    return nm.name_keys(chunk.text) | nm.name_keys(" ".join((chunk.title, *chunk.heading_path)))


@dataclass
class _Row:
    """A sentence being checked: its span in the marker-free text and its claim."""

    start: int
    end: int
    claim: str
    kind: str
    cited: list[int] = field(default_factory=list)
    refusal: bool = False
    terms: Terms = Terms(frozenset(), frozenset())
    vector: np.ndarray | None = None
    sentence_vecs: list[dict[int, np.ndarray]] | None = None  # per citation: sentence index -> vector


def _joint(terms: Terms, spans: list[Span]) -> float:
    if len(spans) < 2:
        return 0.0
    cosines = [s.cos for s in spans if s.cos is not None]
    return score(terms, frozenset().union(*(s.evidence for s in spans)), max(cosines) if cosines else None,
                 tuple(f for s in spans for f in s.figures))


_BETWEEN = re.compile(r"[ \t]*[,;]?[ \t]*")  # what may separate two markers of one run: "[1], [2]", "[1][2]"
_CLOSING = re.compile(r"[ \t]+(?=[,.;:!?)]|$)", re.MULTILINE)


def _layout(bare: str, groups: list[_Group]) -> tuple[list[str], set[int]]:
    """Each marker group's text in the cleaned answer, and the marker-free characters that go with removed ones.

    Markers next to one another, alone or joined by a comma ("[1][2]", "[1], [2]"), are one run: the run keeps the
    space before it while any of its markers stays, and loses the comma next to a removed one; a run that loses
    every marker also loses the parentheses around it and the spaces it would leave before punctuation, so
    "Go [9][2]." becomes "Go [2].", "Go [2], [9]." "Go [2]." and "Go ([9])." "Go.".
    """
    pieces = [""] * len(groups)
    skip: set[int] = set()
    i = 0
    while i < len(groups):
        j = i
        while j + 1 < len(groups) and _BETWEEN.fullmatch(bare, groups[j].anchor, groups[j + 1].anchor):
            j += 1
        kept = [k for k in range(i, j + 1) if groups[k].kept]
        keep_between = {k for a, b in zip(kept, kept[1:]) for k in (a,)}  # the separator right after a kept marker
        for k in range(i, j):
            if k not in keep_between:
                skip.update(range(groups[k].anchor, groups[k + 1].anchor))
        for pos, k in enumerate(kept):
            # The first kept marker takes the run's leading space; a later one the space after its separator.
            lead = groups[i].lead if pos == 0 else groups[kept[pos - 1] + 1].lead
            g = groups[k]
            pieces[k] = lead + "".join(f"[{n}]" for n in g.kept) + g.trail
        if not kept:
            first, last = groups[i].anchor, groups[j].anchor
            if 0 < first and bare[first - 1] == "(" and bare[last : last + 1] == ")" and not groups[i].lead:
                skip.update((first - 1, last))
                back = first - 1
                while back > 0 and bare[back - 1] in " \t":
                    back -= 1
                    skip.add(back)
            elif m := _CLOSING.match(bare, last):
                skip.update(range(m.start(), m.end()))
        i = j + 1
    return pieces, skip


def _render(bare: str, groups: list[_Group]) -> tuple[str, list[int], list[int], list[tuple[int, int]]]:
    """Put the kept markers back.

    Returns:
        The cleaned text; for each marker-free offset, where it starts in the cleaned text (after the markers
        anchored there) and where it ends (after its character, or where it would be if it went with a marker);
        and each marker group's span in the cleaned text (empty where it lost every number).
    """
    pieces, skip = _layout(bare, groups)
    out: list[str] = []
    starts = [0] * (len(bare) + 1)
    ends = [0] * (len(bare) + 1)
    spans: list[tuple[int, int]] = []
    length = 0
    g = 0
    for i in range(len(bare) + 1):
        while g < len(groups) and groups[g].anchor == i:
            piece, group = pieces[g], groups[g]
            lead = len(piece) - len(piece.lstrip(" \t")) if piece else 0
            spans.append((length + lead, length + len(piece) - (len(group.trail) if piece else 0)))
            out.append(piece)
            length += len(piece)
            g += 1
        starts[i] = length
        if i < len(bare) and i not in skip:
            out.append(bare[i])
            length += 1
        ends[i] = length
    return "".join(out), starts, ends, spans


def best_supporting_span(
    claim: str, passage: Passage, embed: Callable[[list[str]], np.ndarray] | None = None
) -> tuple[int, int, str, float]:
    """The sentence (or two) of `passage` that best supports `claim`.

    Returns:
        (start, end, text, score): offsets in the article text, the span's text, and its support score.
    """
    ps = passage_sentences(passage)
    claim = strip_markers(claim)
    terms = claim_terms(claim)
    claim_vec = sentence_vecs = None
    if embed is not None and terms.content:
        claim_vecs, per_claim = embed_claims(embed, [(claim, terms)], [[ps]])
        claim_vec, sentence_vecs = claim_vecs[0], per_claim[0][0]
    span = best_span(terms, ps, claim_vec, sentence_vecs)
    chunk = passage.chunk
    return chunk.start + span.start, chunk.start + span.end, chunk.text[span.start : span.end], span.score
