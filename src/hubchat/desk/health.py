"""Article health: per article, how often answers cite it, how often those citations fail (by the checker's
verdict and by editors'), how readers rated the answers citing it, and the editors' "needs update" mark.

A citation is one answer sentence citing one of the article's passages: a sentence citing two passages of the
same article counts once for it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from hubchat.records import AnswerRecord, ArticleMark
from hubchat.types import FLAGGED_VERDICTS

# The columns an editor can sort the table by, as (key, title) pairs.
SORT_KEYS: tuple[tuple[str, str], ...] = (
    ("problems", "Most failed citations"),
    ("cited", "Most cited"),
    ("not_helpful", "Most rated not helpful"),
    ("title", "Title"),
)


@dataclass(frozen=True)
class ArticleHealth:
    """One article's record in the answers.

    Attributes:
        answers: answers citing it; cited: its citations (sentences citing it).
        checker_flagged: its citations the checker judged weak, unsupported or uncited.
        wrong_citation, unsupported: its citations whose current editor verdict says so; supported likewise. A
            "wrong citation" naming some of a sentence's passages counts only for their articles: the others
            the sentence cites get no editor count from it.
        helpful, not_helpful: reader ratings of the answers citing it.
        mark: the current "needs update" mark, or None if never marked.
    """

    article_id: str
    title: str
    url: str
    answers: int
    cited: int
    checker_flagged: int
    supported: int
    wrong_citation: int
    unsupported: int
    helpful: int
    not_helpful: int
    mark: ArticleMark | None = None

    @property
    def needs_update(self) -> bool:
        return self.mark is not None and self.mark.needs_update

    @property
    def problems(self) -> int:
        """Citations failed by the checker or an editor, each counted once."""
        return self.checker_flagged + self.wrong_citation + self.unsupported


@dataclass
class _Tally:
    title: str = ""
    url: str = ""
    answers: set[str] = field(default_factory=set)
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))


def article_health(records: Iterable[AnswerRecord], marks: Mapping[str, ArticleMark] | None = None) -> tuple[ArticleHealth, ...]:
    """Every article cited in these answers, or marked, most failed citations first.

    Args:
        records: answers (refusals cite nothing and count for nothing), from `Records.answers_since`.
        marks: the current marks, from `Records.article_marks`.
    """
    marks = marks or {}
    tallies: dict[str, _Tally] = defaultdict(_Tally)
    for record in records:
        _count(record, tallies)
    for article_id in marks:  # a marked article is listed even when nothing cites it (yet)
        tallies.setdefault(article_id, _Tally())
    rows = [
        ArticleHealth(
            article_id=article_id, title=t.title or article_id, url=t.url, answers=len(t.answers),
            mark=marks.get(article_id), **{k: t.counts[k] for k in _COUNTS},
        )
        for article_id, t in tallies.items()
    ]
    return sort_health(rows, "problems")


_COUNTS = ("cited", "checker_flagged", "supported", "wrong_citation", "unsupported", "helpful", "not_helpful")


def _count(record: AnswerRecord, tallies: dict[str, _Tally]) -> None:
    by_number = {s.number: s for s in record.sources}
    cited_articles: set[str] = set()
    for sentence in record.sentences:
        articles = {by_number[n].article_id for n in sentence.citations if n in by_number}
        review = record.reviews.get(sentence.index)
        blamed = (
            {by_number[n].article_id for n in review.blames(sentence.citations) if n in by_number}
            if review is not None and review.label == "wrong_citation" else articles
        )
        for article_id in articles:
            counts = tallies[article_id].counts
            counts["cited"] += 1
            counts["checker_flagged"] += sentence.verdict in FLAGGED_VERDICTS
            if review is not None and article_id in blamed:
                counts[review.label] += 1
        cited_articles |= articles
    for source in record.sources:
        if source.article_id in cited_articles:
            tally = tallies[source.article_id]
            tally.title, tally.url = source.title, source.url
    for article_id in cited_articles:
        tally = tallies[article_id]
        tally.answers.add(record.id)
        tally.counts["helpful"] += sum(f.helpful for f in record.feedback)
        tally.counts["not_helpful"] += sum(not f.helpful for f in record.feedback)


def sort_health(rows: Iterable[ArticleHealth], key: str) -> tuple[ArticleHealth, ...]:
    """The rows sorted by one of SORT_KEYS: counts highest first, titles A to Z; ties by title.

    Raises:
        ValueError: an unknown key.
    """
    if key not in dict(SORT_KEYS):
        raise ValueError(f"unknown sort key {key!r}; valid: {', '.join(k for k, _ in SORT_KEYS)}")
    by_title = sorted(rows, key=lambda r: (r.title.casefold(), r.article_id))
    if key == "title":
        return tuple(by_title)
    return tuple(sorted(by_title, key=lambda r: -getattr(r, key)))


def filter_health(rows: Sequence[ArticleHealth], text: str = "", *, needs_update: bool = False, failing: bool = False) -> tuple[ArticleHealth, ...]:
    """The rows whose title or id contains `text` (any case), optionally only marked / only with failed citations."""
    needle = text.strip().casefold()
    return tuple(
        r for r in rows
        if (not needle or needle in r.title.casefold() or needle in r.article_id.casefold())
        and (not needs_update or r.needs_update)
        and (not failing or r.problems > 0)
    )
