"""The `hubchat` command: ingest, sync, status, ask, serve, eval."""

from __future__ import annotations

import json
import logging
import shlex
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from hubchat.config import Settings, load_settings
from hubchat.errors import HubchatError, IngestBusyError
from hubchat.eval.system_names import DEFAULT_SYSTEMS

app = typer.Typer(
    help="hubchat: answers questions from the site's articles, every claim cited.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)
out = Console()

ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="Config file (default: $HUBCHAT_CONFIG or ./hubchat.toml).")]
ProfileOpt = Annotated[str | None, typer.Option("--profile", "-p", help="Profile section of the config to overlay (e.g. openai, vllm, ollama, chroma-server).")]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="Log what happens, step by step.")]


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    for noisy in ("chromadb", "httpx", "bm25s", "urllib3", "trafilatura", "htmldate"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _settings(config: Path | None, profile: str | None, verbose: bool = False) -> Settings:
    _setup_logging(verbose)
    return load_settings(config, profile)


def _fail(exc: HubchatError) -> None:
    console.print(f"[bold red]error:[/] {exc}", highlight=False, markup=True, soft_wrap=True)
    raise typer.Exit(2)


def print_ingest_summary(summary, console: Console) -> None:
    table = Table(title="Ingest summary", show_header=False, title_justify="left")
    table.add_row("added", str(len(summary.added)))
    table.add_row("updated", str(len(summary.updated)))
    table.add_row("deleted", str(len(summary.deleted)))
    table.add_row("unchanged", str(summary.unchanged))
    table.add_row("skipped", str(len(summary.skipped)))
    if summary.site_pages:
        table.add_row("site pages kept", str(len(summary.site_pages)))
    table.add_row("chunks embedded", str(summary.chunks_written))
    table.add_row("chunks in index", str(summary.chunks_total))
    table.add_row("seconds", f"{summary.seconds:.1f}")
    console.print(table)
    for path, reason in summary.skipped:
        console.print(f"  [yellow]skipped[/] {path}: {reason}", highlight=False)


STAGE_LABELS = {
    "scan": "Reading files",
    "list": "Reading sitemaps and feeds",
    "fetch": "Fetching pages",
    "chunk": "Chunking articles",
    "embed": "Embedding chunks",
    "baseline index": "Embedding the baseline's chunks",
    "retrieval": "Ranking (BM25, dense, hybrid)",
    "answers": "Answering (all systems)",
    "checker pairs": "Checking labelled pairs",
    "regression": "Asking approved answers again",
}


@contextmanager
def progress_bars(console: Console = console):
    """A callback progress(stage, done, total) drawing one bar per stage, with elapsed time and an ETA."""
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    ) as bar:
        tasks: dict[str, int] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(STAGE_LABELS.get(stage, stage), total=total)
            bar.update(tasks[stage], completed=done, total=total)

        yield progress


def print_sync_summary(summary, console: Console) -> None:
    table = Table(title="Sync summary", show_header=False, title_justify="left")
    table.add_row("fetched", str(summary.fetched))
    table.add_row("not modified", str(summary.not_modified))
    table.add_row("added", str(len(summary.added)))
    table.add_row("changed", str(len(summary.updated)))
    table.add_row("removed", str(len(summary.removed)))
    table.add_row("failed", str(len(summary.failed)))
    table.add_row("skipped", str(len(summary.skipped)))
    table.add_row("requests", str(summary.requests))
    table.add_row("chunks embedded", str(summary.chunks_written))
    table.add_row("chunks in index", str(summary.chunks_total))
    table.add_row("seconds", f"{summary.seconds:.1f}")
    console.print(table)
    for url, reason in summary.failed:
        console.print(f"  [red]failed[/] {url}: {reason}", highlight=False, soft_wrap=True)
    for url, reason in summary.skipped:
        console.print(f"  [yellow]skipped[/] {url}: {reason}", highlight=False, soft_wrap=True)


def run_ingest_with_progress(runtime, corpus_dir=None, rebuild=False, console: Console = console):
    with progress_bars(console) as progress:
        return runtime.ingest(corpus_dir=corpus_dir, rebuild=rebuild, progress=progress)


@app.command()
def ingest(
    path: Annotated[Path | None, typer.Argument(help="Corpus folder (default: corpus.path from the config).")] = None,
    rebuild: Annotated[bool, typer.Option("--rebuild", help="Embed every article again into a new index beside the live one, then switch to it (serving never sees a half-built index).")] = False,
    config: ConfigOpt = None,
    profile: ProfileOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Chunk, embed and index the corpus. Only new or changed articles are embedded; deleted ones are removed."""
    from hubchat.runtime import Runtime

    try:
        settings = _settings(config, profile, verbose)
        summary = run_ingest_with_progress(Runtime(settings), corpus_dir=path, rebuild=rebuild)
    except HubchatError as exc:
        _fail(exc)
    print_ingest_summary(summary, out)


@app.command()
def sync(
    config: ConfigOpt = None,
    profile: ProfileOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Fetch the site's pages (site.sitemaps, site.feeds, site.urls) and index them. Unchanged pages cost one
    conditional request; pages gone from the site are removed; a page that fails keeps its last good version."""
    from hubchat.runtime import Runtime

    try:
        settings = _settings(config, profile, verbose)
        runtime = Runtime(settings)
        with progress_bars(console) as progress:
            summary = runtime.sync(progress=progress)
    except HubchatError as exc:
        _fail(exc)
    print_sync_summary(summary, out)
    if summary.failed:
        raise typer.Exit(1)


@app.command()
def status(config: ConfigOpt = None, profile: ProfileOpt = None, verbose: VerboseOpt = False) -> None:
    """Show what is indexed, where, and with which models."""
    from hubchat.runtime import Runtime

    try:
        settings = _settings(config, profile, verbose)
        runtime = Runtime(settings)
        store = runtime.store
        states = store.article_states()
        table = Table(title="hubchat status", show_header=False, title_justify="left")
        table.add_row("config", str(settings.config_file or "(built-in defaults)"))
        table.add_row("profile", settings.profile or "(none)")
        table.add_row("corpus", str(settings.corpus.path))
        table.add_row("store", f"{settings.store.mode}: {store.location}")
        table.add_row("embedding model", runtime.embeddings.name)
        table.add_row("articles indexed", f"{len(states)} ({sum(s.from_site for s in states.values())} from the site)")
        table.add_row("incomplete articles", str(sum(not s.complete for s in states.values())))
        table.add_row("chunks", str(store.count()))
        table.add_row("lexical index", f"{len(store.lexical)} chunks, in sync" if store.lexical.fingerprint else "empty")
        table.add_row("chat backend", runtime.generator.label)
        out.print(table)
    except HubchatError as exc:
        _fail(exc)


def _print_answer(result, show_text: bool = True) -> None:
    if show_text:
        # The checked text differs from what streamed when bad markers were removed or citations added.
        out.print("\nChecked answer:" if result.raw_text else "", style="bold")
        out.print(result.text, highlight=False, markup=False, soft_wrap=True)
    if result.notes:
        for note in result.notes:
            console.print(f"[yellow]note:[/] {note}", highlight=False, soft_wrap=True)
    if result.sources:
        out.print("\nSources:", style="bold")
        for src in result.sources:
            out.print(f"  [{src.number}] {src.title} ({src.date}) {src.link}", highlight=False, markup=False, soft_wrap=True)


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="The question.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the full typed result as JSON.")] = False,
    tag: Annotated[list[str] | None, typer.Option("--tag", "-t", help="Only articles with this tag (repeatable).")] = None,
    since: Annotated[str | None, typer.Option(help="Only articles dated on or after this ISO date.")] = None,
    until: Annotated[str | None, typer.Option(help="Only articles dated on or before this ISO date.")] = None,
    stream: Annotated[bool, typer.Option("--stream/--no-stream", help="Print the answer as it is generated.")] = True,
    config: ConfigOpt = None,
    profile: ProfileOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Answer a question from the indexed articles, with checked citations."""
    from hubchat.runtime import Runtime
    from hubchat.types import Filters

    try:
        settings = _settings(config, profile, verbose)
        runtime = Runtime(settings)
        filters = Filters(tags=tuple(tag or ()), since=since, until=until)
        answerer = runtime.answerer
        result = None
        streamed = False
        for event in answerer.stream(question, history=(), filters=filters):
            if event.kind == "token" and stream and not as_json:
                sys.stdout.write(event.text)
                sys.stdout.flush()
                streamed = True
            elif event.kind == "final":
                result = event.result
        if as_json:
            out.print_json(json.dumps(result.to_dict(), ensure_ascii=False))
            return
        if streamed:
            sys.stdout.write("\n")
        _print_answer(result, show_text=not streamed or result.text.strip() != result.raw_text.strip())
    except HubchatError as exc:
        _fail(exc)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind (default: ui.host, 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: ui.port).")] = None,
    no_ingest: Annotated[bool, typer.Option("--no-ingest", help="Serve the index as it is: no ingest first, no folder watching, no site sync.")] = False,
    config: ConfigOpt = None,
    profile: ProfileOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Update the index if the corpus changed, then serve the web chat, watching the corpus folder (corpus.watch)
    and syncing the site every site.interval_s seconds meanwhile."""
    from hubchat.runtime import Runtime

    try:
        settings = _settings(config, profile, verbose)
        runtime = Runtime(settings)
        if not no_ingest:
            try:
                print_ingest_summary(run_ingest_with_progress(runtime), console)
            except IngestBusyError as exc:  # the other ingest brings the index up to date; serve what it has
                console.print(f"[yellow]warning:[/] {exc}", highlight=False)
        _prepare_chat_backend(runtime)
        from hubchat.web.server import launch

        updates = runtime.background_updates()
        if not no_ingest and (updates.corpus_dir or updates.interval_s):
            # Their summaries are what an operator wants to see in the log, even without --verbose.
            logging.getLogger("hubchat.sync").setLevel(logging.INFO)
            updates.start()
        try:
            launch(runtime, host=host, port=port)
        finally:
            updates.stop()
    except HubchatError as exc:
        _fail(exc)


def _command_line(ctx: typer.Context) -> str:
    """The command as the user gave it (the options they set, none of the defaults), for the results."""
    words = ctx.command_path.split()
    for param in ctx.command.params:
        source = ctx.get_parameter_source(param.name)
        if source is None or source.name != "COMMANDLINE":
            continue
        value = ctx.params[param.name]
        if param.param_type_name == "argument":
            words.append(str(value))
        elif getattr(param, "is_flag", False):
            words.append(param.opts[0])
        else:
            words += [param.opts[0], str(value)]
    return shlex.join(words)


@app.command("eval")
def evaluate(
    ctx: typer.Context,
    source: Annotated[Path | None, typer.Argument(help="A BEIR-style folder (corpus.jsonl, queries.jsonl, qrels.tsv), or a .jsonl of questions over the corpus folder (e.g. tests/data/gold.jsonl). Not with --from-reviews.")] = None,
    corpus: Annotated[Path | None, typer.Option("--corpus", help="For a .jsonl question file: the corpus folder it asks about (default: corpus.path).")] = None,
    backend: Annotated[str | None, typer.Option("--backend", "-b", help="Chat backend to answer with: local, openai, openai-compatible or extractive (default: chat.backend).")] = None,
    systems: Annotated[str, typer.Option("--systems", help="Comma-separated answer systems: hubchat, hubchat-bm25, hubchat-dense, hubchat-full (whole passages in the prompt), langchain-baseline; 'none' for retrieval only.")] = ",".join(DEFAULT_SYSTEMS),
    limit: Annotated[int | None, typer.Option("--limit", "-n", min=1, help="Evaluate a random sample of this many questions.")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the --limit sample and of the checker's pairs.")] = 0,
    no_retrieval: Annotated[bool, typer.Option("--no-retrieval", help="Skip the retrieval measures.")] = False,
    checker_pairs: Annotated[int | None, typer.Option("--checker-pairs", min=0, help="SciFact claims to test the citation checker with (default: eval.checker_pairs; 0 skips).")] = None,
    out_dir: Annotated[Path | None, typer.Option("--out", "-o", help="Results folder (default: a new folder under eval.results_dir).")] = None,
    from_reviews: Annotated[bool, typer.Option("--from-reviews", help="Instead of a set: measure the citation checker against the editors' verdicts in the records store, and ask the editor-approved answers again as a regression set.")] = False,
    config: ConfigOpt = None,
    profile: ProfileOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Measure retrieval, answers, citations, refusals and speed, side by side with baselines.

    Writes records.jsonl (one record per question and system), summary.md, summary.json and PNG charts, and prints
    the summary. A question that fails is a recorded row with its error, not the end of the run.
    With --from-reviews: writes reviews.json and summary.md from the records store instead (README, Editors' desk).
    """
    import datetime as dt

    try:
        _setup_logging(verbose)
        # Through the loader, so a misspelt backend gets the same one-line error as in the config file.
        settings = load_settings(config, profile, **({"chat": {"backend": backend}} if backend else {}))
        if from_reviews:
            if source is not None:
                raise typer.BadParameter("--from-reviews reads the records store: give no evaluation set with it")
            folder = out_dir or Path(settings.eval.results_dir) / f"reviews-{settings.chat.backend}-{dt.datetime.now():%Y%m%d-%H%M%S}"
            _eval_from_reviews(settings, folder, _command_line(ctx))
            return
        if source is None:
            raise typer.BadParameter("give an evaluation set (a BEIR folder or a .jsonl of questions), or --from-reviews")
        from hubchat.eval.harness import EvalOptions, run_eval, set_name
        from hubchat.eval.report import record_line, write_results

        names = () if systems.strip().lower() == "none" else tuple(n.strip() for n in systems.split(",") if n.strip())
        options = EvalOptions(source=source, corpus_dir=corpus, systems=names, limit=limit, seed=seed,
                              retrieval=not no_retrieval, checker_pairs=checker_pairs)
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        folder = out_dir or Path(settings.eval.results_dir) / f"{set_name(source)}-{settings.chat.backend}-{stamp}"
        # Records are appended as the answers come, so a run stopped half-way keeps them (the folder appears with
        # the first one, so a run refused at the start leaves nothing behind); the full file replaces them.
        def keep(record) -> None:
            folder.mkdir(parents=True, exist_ok=True)
            with open(folder / "records.jsonl", "a", encoding="utf-8") as partial:
                partial.write(record_line(set_name(source), record))

        with progress_bars() as progress:
            report = run_eval(settings, options, progress, keep)
        files = write_results(report, folder, _command_line(ctx))
    except HubchatError as exc:
        _fail(exc)
    out.print(files["summary"].read_text(encoding="utf-8"), markup=False, highlight=False)
    console.print(f"Results in {folder}", highlight=False)


@app.command("eval-summary")
def eval_summary(
    folder: Annotated[Path, typer.Argument(help="A results folder of `hubchat eval` (its records.jsonl is read).")],
    verbose: VerboseOpt = False,
) -> None:
    """Summarise a results folder from its records alone (a run stopped before its end keeps its records)."""
    _setup_logging(verbose)
    from hubchat.eval.report import summary_from_records

    try:
        text = summary_from_records(folder)
    except HubchatError as exc:
        _fail(exc)
    out.print(text, markup=False, highlight=False)


def _eval_from_reviews(settings: Settings, folder: Path, command: str) -> None:
    from hubchat.eval.from_reviews import run_from_reviews, write_reviews_report
    from hubchat.records import open_records
    from hubchat.runtime import Runtime

    runtime = Runtime(settings)
    with open_records(settings.ui) as records, progress_bars() as progress:
        report = run_from_reviews(records, lambda q, f: runtime.answerer.answer(q, filters=f), progress)
    files = write_reviews_report(report, folder, command)
    out.print(files["summary"].read_text(encoding="utf-8"), markup=False, highlight=False)
    console.print(f"Results in {folder}", highlight=False)


def _prepare_chat_backend(runtime) -> None:
    """Get the answer generator ready before serving: a local model loads now (its load blocks the process).

    A missing local model stops start-up with the install command. A remote server that is down only warns:
    the chat keeps serving and tells the reader what happened when a question needs it.
    """
    console.print(f"Preparing the chat backend ({runtime.generator.label})…", highlight=False)
    warning = runtime.generator.prepare()
    if warning:
        console.print(f"[yellow]warning:[/] {warning}", highlight=False)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
