"""`hubchat eval --from-reviews`: what the editors' verdicts say about the system.

Two parts, both from the records store the app writes: the checker–editor agreement (hubchat.desk.agreement),
and the editor-approved answers asked again through the runtime's answerer as a regression set
(hubchat.desk.regression). Written as reviews.json and summary.md in the results folder.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from hubchat.desk.agreement import CHECKER_VERDICTS, Agreement, WeeklyAgreement, agreement, reviewed_pairs, weekly_agreement
from hubchat.desk.regression import RegressionOutcome, outcome, pass_rate, regression_cases
from hubchat.errors import HubchatError
from hubchat.records import REVIEW_LABELS, Records
from hubchat.types import AnswerResult, Filters

Ask = Callable[[str, Filters], AnswerResult]
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class ReviewsReport:
    overall: Agreement
    weekly: tuple[WeeklyAgreement, ...]
    outcomes: tuple[RegressionOutcome, ...]

    @property
    def pass_rate(self) -> float | None:
        return pass_rate(self.outcomes)


def run_from_reviews(records: Records, ask: Ask, progress: Progress | None = None) -> ReviewsReport:
    """Agreement over every reviewed sentence, and every approved answer asked again with `ask`.

    A question whose answer fails (a backend down) is a failed case with its error, not the end of the run.
    """
    answers = records.answers_since()
    pairs = reviewed_pairs(answers)
    cases = regression_cases(answers)
    outcomes = []
    for done, case in enumerate(cases):
        if progress is not None:
            progress("regression", done, len(cases))
        try:
            outcomes.append(outcome(case, ask(case.question, case.filters)))
        except HubchatError as exc:
            outcomes.append(RegressionOutcome(case, False, (), False, error=str(exc)))
    if progress is not None and cases:
        progress("regression", len(cases), len(cases))
    return ReviewsReport(agreement(pairs), weekly_agreement(pairs), tuple(outcomes))


def write_reviews_report(report: ReviewsReport, folder: Path, command: str) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    files = {"json": folder / "reviews.json", "summary": folder / "summary.md"}
    files["json"].write_text(json.dumps(_as_json(report, command), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    files["summary"].write_text(summary_markdown(report, command), encoding="utf-8")
    return files


def _agreement_json(a: Agreement) -> dict:
    return {
        "pairs": a.pairs, "agreed": a.agreed, "precision": a.precision, "recall": a.recall,
        "confusion": {checker: {editor: a.confusion[(checker, editor)] for editor in REVIEW_LABELS} for checker in CHECKER_VERDICTS},
    }


def _as_json(report: ReviewsReport, command: str) -> dict:
    return {
        "command": command,
        "agreement": _agreement_json(report.overall),
        "weekly": [{"week": w.week, **_agreement_json(w.agreement)} for w in report.weekly],
        "regression": {
            "cases": len(report.outcomes), "passed": sum(o.passed for o in report.outcomes), "pass_rate": report.pass_rate,
            "outcomes": [
                {**asdict(o.case), "passed": o.passed, "cited": list(o.cited), "missing": list(o.missing),
                 "refused": o.refused, "error": o.error}
                for o in report.outcomes
            ],
        },
    }


def _figure(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def summary_markdown(report: ReviewsReport, command: str) -> str:
    a = report.overall
    lines = [
        "# hubchat eval --from-reviews", "", f"`{command}`", "",
        "## Checker vs editors", "",
        f"{a.pairs} reviewed sentences; agreement on supported / not supported: {a.agreed}.", "",
        "| measure | value |", "|---|---|",
        f"| precision of the checker's supported | {_figure(a.precision)} |",
        f"| recall of the editors' supported | {_figure(a.recall)} |", "",
        "| checker \\ editor | " + " | ".join(REVIEW_LABELS) + " |", "|---" * (len(REVIEW_LABELS) + 1) + "|",
    ]
    lines += [f"| {c} | " + " | ".join(str(a.confusion[(c, e)]) for e in REVIEW_LABELS) + " |" for c in CHECKER_VERDICTS]
    if report.weekly:
        lines += ["", "| week | pairs | precision | recall |", "|---|---|---|---|"]
        lines += [f"| {w.week} | {w.agreement.pairs} | {_figure(w.agreement.precision)} | {_figure(w.agreement.recall)} |" for w in report.weekly]
    passed = sum(o.passed for o in report.outcomes)
    lines += ["", "## Approved answers asked again", "",
              f"{passed} of {len(report.outcomes)} still cite every approved article (pass rate {_figure(report.pass_rate)})."]
    failed = [o for o in report.outcomes if not o.passed]
    if failed:
        lines += ["", "| question | missing | error |", "|---|---|---|"]
        lines += [f"| {_cell(o.case.question)} | {_cell(', '.join(o.missing) or ('refused' if o.refused else ''))} | {_cell(o.error)} |" for o in failed]
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")
