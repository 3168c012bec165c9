"""The checker measured by editors, and editor-approved answers asked again: hubchat.desk.agreement and
.regression on SQLite and PostgreSQL, and `hubchat eval --from-reviews` over answers the real app's answerer gave."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from hubchat.cli import app
from hubchat.desk.agreement import agreement, iso_week, reviewed_pairs, weekly_agreement
from hubchat.desk.regression import RegressionCase, is_approved, outcome, regression_cases
from hubchat.records import Records
from hubchat.types import Filters
from tests.conftest_ui import UI_CORPUS
from tests.test_desk_health import SOURDOUGH, TIDES, _answer, _source


@pytest.fixture(params=["sqlite", "postgresql"])
def records(request, tmp_path) -> Records:
    if request.param == "sqlite":
        return Records(tmp_path / "hubchat.sqlite")
    return Records(request.getfixturevalue("postgres_url"))


def test_precision_and_recall_of_supported_against_editors(records):
    sources = [_source(1, SOURDOUGH), _source(2, TIDES)]
    a = records.record_answer(_answer([((1,), "supported"), ((1,), "supported"), ((2,), "weak"), ((2,), "unsupported"), ((), "not_a_claim")], sources))
    for index, label in enumerate(["supported", "wrong_citation", "supported", "unsupported", "supported"]):
        records.set_verdict(a, index, label)

    pairs = reviewed_pairs(records.answers_since())
    assert [(c, e) for _, c, e in pairs] == [("supported", "supported"), ("supported", "wrong_citation"), ("weak", "supported"), ("unsupported", "unsupported")]
    result = agreement(pairs)
    assert result.confusion[("supported", "supported")] == 1 and result.confusion[("weak", "supported")] == 1
    assert (result.precision, result.recall, result.agreed) == (0.5, 0.5, 2)
    [week] = weekly_agreement(pairs)
    assert week.week == iso_week(records.answers_since()[0].created_at) and week.agreement == result


def test_agreement_is_undefined_without_reviews_and_weeks_split_by_iso_week():
    empty = agreement([])
    assert (empty.pairs, empty.precision, empty.recall) == (0, None, None)
    pairs = [("2026-11-29T23:00:00.000+00:00", "supported", "supported"), ("2026-11-30T01:00:00.000+00:00", "supported", "unsupported")]
    assert [(w.week, w.agreement.precision) for w in weekly_agreement(pairs)] == [("2026-W48", 1.0), ("2026-W49", 0.0)]


def test_approved_means_reviewed_and_every_verdict_supported(records):
    sources = [_source(1, SOURDOUGH), _source(2, TIDES)]
    approved = records.record_answer(_answer([((1,), "supported"), ((2,), "weak")], sources))
    records.set_verdict(approved, 0, "supported")
    mixed = records.record_answer(_answer([((1,), "supported"), ((2,), "supported")], sources))
    records.set_verdict(mixed, 0, "supported")
    records.set_verdict(mixed, 1, "wrong_citation")
    records.record_answer(_answer([((1,), "supported")], sources))  # never reviewed

    answers = records.answers_since()
    assert [is_approved(r) for r in answers] == [True, False, False]
    # Only the reviewed sentence's articles are the case's: the unreviewed one's citation proves nothing.
    assert [(c.answer_id, c.articles) for c in regression_cases(answers)] == [(approved, (SOURDOUGH[0],))]


def test_a_refused_or_elsewhere_cited_answer_fails_its_case(ui_runtime):
    case = RegressionCase("x", "How often should I feed my sourdough starter?", Filters(), ("/guides/sourdough-starter",))
    assert outcome(case, ui_runtime.answerer.answer(case.question)).passed
    moved = RegressionCase("y", case.question, Filters(), ("/insights/tide-pools",))
    failed = outcome(moved, ui_runtime.answerer.answer(case.question))
    assert not failed.passed and failed.missing == ("/insights/tide-pools",)
    refused = outcome(case, ui_runtime.answerer.answer("Who won the 1954 football world cup?"))
    assert refused.refused and not refused.passed


def test_eval_from_reviews_reports_agreement_and_reruns_approved_answers(ui_runtime, tmp_path):
    settings = ui_runtime.settings
    db = tmp_path / "records.sqlite"
    records = Records(db)
    for question in ("How often should I feed my sourdough starter?", "What lives in tide pools?"):
        answer_id = records.record_answer(ui_runtime.answerer.answer(question))
        record = records.answer(answer_id)
        assert record.sentences, record.answer_text
        for sentence in record.sentences:
            records.set_verdict(answer_id, sentence.index, "supported")
    config = tmp_path / "hubchat.toml"
    config.write_text(
        f'[corpus]\npath = "{UI_CORPUS}"\n[index]\ndir = "{settings.index.dir}"\n[chat]\nbackend = "extractive"\n'
        f'[ui]\ndb_path = "{db}"\n[eval]\nresults_dir = "{tmp_path / "unused"}"\n', encoding="utf-8",
    )
    out = tmp_path / "results"
    result = CliRunner().invoke(app, ["eval", "--from-reviews", "--out", str(out), "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert "2 of 2 still cite every approved article (pass rate 1.000)" in result.output
    report = json.loads((out / "reviews.json").read_text(encoding="utf-8"))
    reviewed = sum(len(r.sentences) for r in records.answers_since())
    assert report["agreement"]["pairs"] == sum(1 for r in records.answers_since() for s in r.sentences if s.verdict != "not_a_claim")
    assert reviewed >= report["agreement"]["pairs"] > 0
    assert report["regression"]["cases"] == 2 and report["regression"]["pass_rate"] == 1.0
    assert "--from-reviews" in report["command"]


def test_eval_wants_a_set_or_from_reviews_not_both(tmp_path):
    assert CliRunner().invoke(app, ["eval"]).exit_code == 2
    both = CliRunner().invoke(app, ["eval", str(tmp_path), "--from-reviews"])
    words = " ".join(w for w in both.output.split() if w != "│")  # the message comes boxed and wrapped
    assert both.exit_code == 2 and "give no evaluation set with it" in words
