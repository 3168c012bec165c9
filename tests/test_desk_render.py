"""The desk's HTML: every text from readers, articles and editors escaped; charts drawn from the figures given."""

from __future__ import annotations

from hubchat.desk.activity import DayActivity
from hubchat.desk.agreement import agreement
from hubchat.desk.gaps import ClosestArticle, GapGroup
from hubchat.desk.health import ArticleHealth
from hubchat.desk.lifts import LiftedPassage
from hubchat.records import ArticleMark, AskedQuestion, DemotionLift
from hubchat.retrieval.demotion import Demotion
from hubchat.web.desk_render import (
    agreement_html,
    charts_html,
    demotions_html,
    gaps_html,
    health_rows,
    lifted_html,
    line_chart_svg,
)

SCRIPT = "<script>alert(1)</script>"


def test_questions_and_article_titles_in_gaps_are_text_and_links_only_http():
    question = AskedQuestion("a1", "2026-12-01T10:00:00.000+00:00", "c", "chat", f"Why {SCRIPT}?", "", True, False)
    group = GapGroup(1, (question.question,), (question,), 1, 1, 0, question.created_at, question.created_at,
                     (ClosestArticle("/x", "<img src=x onerror=alert(2)>", "javascript:alert(3)", 0.5),
                      ClosestArticle("/guides/y", "Y", "/guides/y", 0.4)))
    html = gaps_html([group], site_url="https://example.org")
    assert SCRIPT not in html and "&lt;script&gt;" in html
    assert "<img" not in html and "javascript:" not in html
    assert 'href="https://example.org/guides/y"' in html


def test_health_rows_carry_the_mark_note_as_plain_cells():
    mark = ArticleMark("/a", True, "fix <b>this</b>", "ed", "2026-12-01T10:00:00.000+00:00")
    row = ArticleHealth("/a", "A", "/a", 1, 2, 1, 0, 1, 0, 0, 1, mark)
    assert health_rows([row]) == [["A", 1, 2, 1, 1, 0, 0, 1, "yes: fix <b>this</b>"]]  # a Dataframe shows it as text


def test_agreement_without_reviews_says_so():
    assert "No reviewed sentences yet" in agreement_html(agreement([]), ())


def test_a_day_without_ratings_is_a_gap_in_the_line_not_a_zero():
    days = [DayActivity("2026-12-01", 4, 1, 1, 2, 0), DayActivity("2026-12-02", 2, 0, 0, 0, 0), DayActivity("2026-12-03", 5, 2, 0, 1, 1)]
    svg = line_chart_svg("rating", "Reader rating", days, lambda d: d.rating, rate=True)
    assert svg.count("<circle") == 2 and svg.count("<polyline") == 2
    assert 'data-day="2026-12-01" data-value="1.0000"' in svg and 'data-day="2026-12-03" data-value="0.5000"' in svg
    assert charts_html(days).count("<svg") == 4
    assert "No answers recorded yet" in charts_html([])


def test_demotions_list_their_passage_and_questions_as_text_or_say_none_or_off():
    demotion = Demotion("chunk-1", "/a", f"A {SCRIPT}", "Memory", (f"How much {SCRIPT}?", "How much RAM?"), ("a1", "a2"))
    html = demotions_html([demotion], 2)
    assert SCRIPT not in html and html.count("&lt;script&gt;") == 2
    assert 'data-chunk="chunk-1"' in html and "judged wrong for <b>2</b> similar" in html and "Memory" in html
    assert "No passage is demoted" in demotions_html([], 2) and "2 or more" in demotions_html([], 2)
    assert "demote_wrong_citations = false" in demotions_html(None, 2)


def test_lifted_passages_show_their_note_and_what_they_set_aside_as_text():
    lift = DemotionLift("chunk-1", True, f"rewritten {SCRIPT}", "ed", "2026-12-01T10:00:00.000+00:00")
    html = lifted_html([LiftedPassage("chunk-1", "/a", f"A {SCRIPT}", "Memory", lift, 2)])
    assert SCRIPT not in html and html.count("&lt;script&gt;") == 2
    assert 'data-chunk="chunk-1"' in html and "sets aside the verdicts of <b>2</b> answers" in html
    assert "No demotion is lifted" in lifted_html([])
