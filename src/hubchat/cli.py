"""The `hubchat` command: ingest, status, ask, serve."""

from __future__ import annotations

import json
import logging
import sys
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
from hubchat.errors import HubchatError

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
    table.add_row("chunks embedded", str(summary.chunks_written))
    table.add_row("chunks in index", str(summary.chunks_total))
    table.add_row("seconds", f"{summary.seconds:.1f}")
    console.print(table)
    for path, reason in summary.skipped:
        console.print(f"  [yellow]skipped[/] {path}: {reason}", highlight=False)


def run_ingest_with_progress(runtime, corpus_dir=None, rebuild=False, console: Console = console):
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
            label = {"scan": "Reading files", "chunk": "Chunking articles", "embed": "Embedding chunks"}.get(stage, stage)
            if stage not in tasks:
                tasks[stage] = bar.add_task(label, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        return runtime.ingest(corpus_dir=corpus_dir, rebuild=rebuild, progress=progress)


@app.command()
def ingest(
    path: Annotated[Path | None, typer.Argument(help="Corpus folder (default: corpus.path from the config).")] = None,
    rebuild: Annotated[bool, typer.Option("--rebuild", help="Drop the index and embed every article again.")] = False,
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
        table.add_row("articles indexed", str(len(states)))
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
    no_ingest: Annotated[bool, typer.Option("--no-ingest", help="Serve the index as it is, without updating it first.")] = False,
    config: ConfigOpt = None,
    profile: ProfileOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Update the index if the corpus changed, then serve the web chat."""
    from hubchat.runtime import Runtime

    try:
        settings = _settings(config, profile, verbose)
        runtime = Runtime(settings)
        if not no_ingest:
            summary = run_ingest_with_progress(runtime)
            print_ingest_summary(summary, console)
        _prepare_chat_backend(runtime)
        from hubchat.web.server import launch

        launch(runtime, host=host, port=port)
    except HubchatError as exc:
        _fail(exc)


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
