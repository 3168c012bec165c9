"""Writes one run's results folder: every record as JSON, the summary as JSON and Markdown, and PNG charts,
with the command line, the git commit and the machine beside the figures."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import subprocess
from pathlib import Path

from hubchat.errors import InputError
from hubchat.eval.harness import EvalReport
from hubchat.eval.machine import machine_info
from hubchat.eval.runner import Record
from hubchat.eval.summary import by_kind, summarize

RETRIEVAL_COLUMNS = ("nDCG@10", "recall@5", "recall@20", "recall@100", "MRR@10")


def git_commit(cwd: Path | None = None) -> str:
    """The checkout's commit (with "+changes" when tracked files other than benchmarks/RESULTS.md differ from it),
    or "unknown" outside a checkout."""
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10)
        if commit.returncode != 0:
            return "unknown"
        # The results file itself is rewritten by the benchmark runs: a change there is not a change of the code.
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", ":/", ":(exclude,top)benchmarks/RESULTS.md"],
            cwd=cwd, capture_output=True, text=True, timeout=10,
        )
        return commit.stdout.strip() + ("+changes" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _fmt(value, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def metadata(report: EvalReport, command: str) -> dict:
    s = report.settings
    return {
        "set": report.set_name,
        "source": str(report.options.source),
        "command": command,
        "commit": git_commit(Path(__file__).resolve().parent),
        "machine": machine_info(),
        "date": dt.datetime.now().isoformat(timespec="seconds"),
        "chat_backend": s.chat.backend,
        "chat_model": s.chat.model if s.chat.backend != "extractive" else "",
        "embeddings": s.embeddings.backend,
        "questions": report.cases,
        "limit": report.options.limit,
        "seed": report.options.seed,
        "seconds": round(report.seconds, 1),
        "timings": report.timings,
        "ingest": report.ingest,
    }


def markdown(report: EvalReport, meta: dict) -> str:
    """The run's summary as Markdown tables (the same text `hubchat eval` prints and RESULTS.md quotes)."""
    out = [f"# hubchat eval: {meta['set']}", ""]
    out += [f"- command: `{meta['command']}`", f"- commit: {meta['commit']}", f"- machine: {meta['machine']}",
            *([f"- chat backend: {meta['chat_backend']} {meta['chat_model']}".rstrip()] if report.summary else []),
            f"- questions: {meta['questions']} (seed {meta['seed']}), run time {meta['seconds']} s", ""]
    if report.retrieval is not None:
        r = report.retrieval
        out += [f"## Retrieval ({r.queries} judged questions, article level)", "",
                "| retriever | " + " | ".join(RETRIEVAL_COLUMNS) + " |", "|---" * (len(RETRIEVAL_COLUMNS) + 1) + "|"]
        for mode, means in r.means.items():
            out.append(f"| {mode} | " + " | ".join(_fmt(means[c], 4) for c in RETRIEVAL_COLUMNS) + " |")
        out += ["", f"ir_measures (trec_eval) against hubchat's hand-written measures: largest per-question "
                f"difference {r.largest_difference:.2e}.", ""]
    if report.summary:
        out += answer_tables(report.summary)
        out += kind_table(by_kind(report.records))
    if report.checker:
        out += checker_table(report.checker)
    return "\n".join(out).rstrip() + "\n"


def answer_tables(summary: dict[str, dict]) -> list[str]:
    rows = [
        ("answerable questions", lambda f: f["answer"]["answerable"]),
        ("exact match", lambda f: f["answer"]["exact_match"]),
        ("token F1", lambda f: f["answer"]["f1"]),
        ("contains the answer", lambda f: f["answer"]["contains_answer"]),
        ("key facts found", lambda f: f["answer"]["key_fact_recall"]),
        ("false refusals", lambda f: f"{f['refusal']['refused_answerable']} / {f['refusal']['answerable']}"),
        ("false-refusal rate", lambda f: f["refusal"]["false_refusal_rate"]),
        ("refusals of unanswerable", lambda f: f"{f['refusal']['refused_unanswerable']} / {f['refusal']['unanswerable']}"),
        ("refusal precision", lambda f: f["refusal"]["precision"]),
        ("refusal recall", lambda f: f["refusal"]["recall"]),
        ("refusal F1", lambda f: f["refusal"]["f1"]),
        ("quoted after a model refusal", lambda f: f.get("quoted")),
        ("citation precision, article", lambda f: f["citations"]["article_precision"]),
        ("citation recall, article", lambda f: f["citations"]["article_recall"]),
        ("citation precision, passage", lambda f: f["citations"]["passage_precision"]),
        ("citation recall, passage", lambda f: f["citations"]["passage_recall"]),
        ("citations per answer", lambda f: f["citations"]["citations_per_answer"]),
        ("answers without a citation", lambda f: f["citations"]["answers_without_citation"]),
        ("sentences rated supported", lambda f: f["checker"]["verdict_rates"].get("supported")),
        ("answers with a flagged sentence", lambda f: f["checker"]["answers_with_flagged_sentence"]),
        ("first token, median s", lambda f: f["speed"]["first_token_median_s"]),
        ("first token, p90 s", lambda f: f["speed"]["first_token_p90_s"]),
        ("total, median s", lambda f: f["speed"]["total_median_s"]),
        ("total, p90 s", lambda f: f["speed"]["total_p90_s"]),
        ("prompt tokens, median", lambda f: f["speed"]["prompt_tokens_median"]),
        ("prompt tokens evaluated (not cached), median", lambda f: f["speed"].get("prompt_tokens_evaluated_median")),
        ("completion tokens, median", lambda f: f["speed"]["completion_tokens_median"]),
        ("errors", lambda f: f["errors"]),
    ]
    systems = list(summary)
    out = ["## Answers", "", "| measure | " + " | ".join(systems) + " |", "|---" * (len(systems) + 1) + "|"]
    for label, get in rows:
        out.append(f"| {label} | " + " | ".join(_fmt(get(summary[s])) for s in systems) + " |")
    return out + [""]


def kind_table(kinds: dict[str, dict[str, dict]]) -> list[str]:
    """Per question type: contains the answer / refused, one column a system."""
    if len(kinds) < 2:
        return []
    systems = list(next(iter(kinds.values())))
    out = ["## By question type (contains the answer / share refused)", "",
           "| type | questions | " + " | ".join(systems) + " |", "|---" * (len(systems) + 2) + "|"]
    for kind, figures in kinds.items():
        n = max(f["questions"] for f in figures.values())
        cells = [f"{_fmt(f['contains_answer'], 2)} / {_fmt(f['refused'], 2)}" for f in figures.values()]
        out.append(f"| {kind or '–'} | {n} | " + " | ".join(cells) + " |")
    return out + [""]


def checker_table(checker: dict) -> list[str]:
    verdicts = sorted({v for row in checker["confusion"].values() for v in row})
    source = checker.get("source", "SciFact claims with evidence")
    out = [f"## The citation checker on labelled pairs ({checker['pairs']} pairs from {checker['claims']} {source})", "",
           "| pair kind | " + " | ".join(verdicts) + " |", "|---" * (len(verdicts) + 1) + "|"]
    for kind, row in checker["confusion"].items():
        out.append(f"| {kind} | " + " | ".join(str(row.get(v, 0)) for v in verdicts) + " |")
    out += ["", f"Precision of \"supported\": {_fmt(checker['supported_precision'])}; recall of \"supported\" on "
            f"supporting pairs: {_fmt(checker['supported_recall'])}."]
    if checker.get("sentences_supported") is not None:
        out += ["", f"Passage sentences rated \"supported\": {_fmt(checker['sentences_supported'])} of the originals, "
                f"{_fmt(checker.get('swapped_sentences_supported'))} of those with a figure, unit, currency, scale, date "
                "or name swapped."]
    out.append("")
    return out


def charts(report: EvalReport, folder: Path) -> list[Path]:
    """PNG bar charts of retrieval, answer quality and speed (only those the run has figures for)."""
    import matplotlib

    matplotlib.use("Agg")  # no display here, and none needed
    import matplotlib.pyplot as plt

    written = []

    def bars(name: str, title: str, groups: list[str], series: dict[str, list[float | None]], ylabel: str) -> None:
        fig, ax = plt.subplots(figsize=(10, 4.4), dpi=110)
        width = 0.8 / max(len(series), 1)
        for i, (label, values) in enumerate(series.items()):
            xs = [g + (i - (len(series) - 1) / 2) * width for g in range(len(groups))]
            ax.bar(xs, [v if v is not None else 0 for v in values], width, label=label)
        ax.set_xticks(range(len(groups)), groups)
        ax.set_title(f"{title} ({report.settings.chat.backend} backend)" if report.summary else title)
        ax.set_ylabel(ylabel)
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        ax.grid(axis="y", alpha=0.3)
        fig.tight_layout()
        path = folder / name
        fig.savefig(path)
        plt.close(fig)
        written.append(path)

    if report.retrieval is not None:
        means = report.retrieval.means
        bars("retrieval.png", f"Retrieval on {report.set_name}", list(RETRIEVAL_COLUMNS),
             {mode: [m[c] for c in RETRIEVAL_COLUMNS] for mode, m in means.items()}, "score")
    if report.summary:
        quality = {"contains\nthe answer": ("answer", "contains_answer"), "refusal F1": ("refusal", "f1"),
                   "false-refusal\nrate": ("refusal", "false_refusal_rate"),
                   "citation precision\n(article)": ("citations", "article_precision"),
                   "citation precision\n(passage)": ("citations", "passage_precision")}
        bars("answers.png", f"Answers on {report.set_name}", list(quality),
             {s: [f[a][b] for a, b in quality.values()] for s, f in report.summary.items()}, "share")
        speed = {"first token\nmedian": "first_token_median_s", "first token\np90": "first_token_p90_s",
                 "total\nmedian": "total_median_s", "total\np90": "total_p90_s"}
        bars("speed.png", f"Answer time on {report.set_name}", list(speed),
             {s: [f["speed"][k] for k in speed.values()] for s, f in report.summary.items()}, "seconds")
    return written


def record_line(set_name: str, record: Record) -> str:
    return json.dumps({"set": set_name, **record.to_json()}, ensure_ascii=False) + "\n"


def write_results(report: EvalReport, folder: Path, command: str) -> dict[str, Path]:
    """Write the run's files into `folder` (created) and return them by kind."""
    folder.mkdir(parents=True, exist_ok=True)
    meta = metadata(report, command)
    records = folder / "records.jsonl"
    with open(records, "w", encoding="utf-8") as fh:
        for record in report.records:
            fh.write(record_line(report.set_name, record))
    summary = {"meta": meta, "answers": report.summary, "checker": report.checker,
               "retrieval": dataclasses.asdict(report.retrieval) if report.retrieval else None}
    if summary["retrieval"]:
        summary["retrieval"].pop("rankings")  # per-question rankings are bulky; they go in their own file
        (folder / "rankings.json").write_text(json.dumps(report.retrieval.rankings), encoding="utf-8")
    (folder / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    text = markdown(report, meta)
    (folder / "summary.md").write_text(text, encoding="utf-8")
    files = {"records": records, "summary": folder / "summary.md", "json": folder / "summary.json"}
    for path in charts(report, folder):
        files[path.stem] = path
    return files


def summary_from_records(folder: Path) -> str:
    """A summary of a results folder's records.jsonl alone, for a run stopped before its end: the answer tables
    and the figures by question type, written as summary-partial.md (the run's own summary, if any, is kept).

    Raises:
        InputError: the folder has no records.
    """
    path = folder / "records.jsonl"
    if not path.is_file() or not path.read_text(encoding="utf-8").strip():
        raise InputError(f"no records in {folder}")
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    records = [Record.from_json(r) for r in rows]
    counts = {s: sum(r.system == s for r in records) for s in dict.fromkeys(r.system for r in records)}
    out = [f"# hubchat eval: {rows[0].get('set', folder.name)} (from the records alone)", "",
           f"- records: {len(records)} ({', '.join(f'{s} {n}' for s, n in counts.items())}) in `{path.name}`",
           f"- summarised at commit {git_commit(Path(__file__).resolve().parent)} on {machine_info()}", ""]
    out += answer_tables(summarize(records)) + kind_table(by_kind(records))
    text = "\n".join(out).rstrip() + "\n"
    (folder / "summary-partial.md").write_text(text, encoding="utf-8")
    return text
