"""Demoting wrongly cited passages, measured: retrieval and citations before editors' verdicts, after them, and
after the demotions are lifted.

The corpus (written by this script) holds three traps: for a kind of question, a passage that ranks first and
does not answer it (an outdated announcement, the cloud API's terms, a GPU's memory in fp16), beside the passage
that does. Two questions of each kind are asked through the real answer chain (the `extractive` backend: no
model), recorded in a real records store, and their sentences citing the trap judged "wrong citation". Then
three other paraphrases of each kind (never judged) are measured, and control questions for which each trap
passage is the right answer (it must keep its rank).

Run from the repository root:
    .venv/bin/python benchmarks/bench_demotion.py [--write-results]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.machine import machine_info  # noqa: E402
from benchmarks.results import write_section  # noqa: E402
from hubchat.config import RetrievalSettings, load_settings  # noqa: E402
from hubchat.retrieval.hybrid import HybridRetriever  # noqa: E402
from hubchat.runtime import Runtime  # noqa: E402

ARTICLES = {
    "chroma-cloud-news.md": ("/news/chroma-cloud-announced", "Chroma Cloud Announced", "2023-06-01", """
        Chroma announced Chroma Cloud, a hosted version of its vector database, at its June 2023 launch event.
        How much will Chroma Cloud cost? The Chroma Cloud cost was not announced: the cost of Chroma Cloud would
        be published later, the team said, and early users would pay nothing while it was in preview.

        ## The launch event

        The launch event took place in San Francisco on 1 June 2023, with a waiting list opened the same day.
        """),
    "chroma-cloud-guide.md": ("/guides/chroma-cloud", "Using Chroma Cloud", "2025-02-01", """
        Chroma Cloud runs the Chroma vector database for you, with the same client API as the embedded version.

        ## Pricing

        Usage is billed monthly: $2.50 per GB written, $0.33 per GB stored each month and $0.0075 per TB of
        data queried, with $5 of free credits for new accounts.
        """),
    "whisper-api.md": ("/guides/whisper-api", "The Whisper API", "2024-08-01", """
        OpenAI offers Whisper as a hosted API. Whisper API licence terms: using the Whisper API is governed by
        OpenAI's terms of use and usage policies, which is what the licence for the Whisper API comes down to.

        ## Limits

        The Whisper API accepts audio files of up to 25 MB per request.
        """),
    "whisper-local.md": ("/guides/whisper-local", "Running Whisper Locally", "2024-11-20", """
        The open-source Whisper model can run on your own machine, so recordings never leave it.

        ## Open weights

        OpenAI published the model's code and weights under the MIT licence, which allows commercial use and
        modification.
        """),
    "gpu-memory.md": ("/insights/gpu-memory", "GPU Memory for Language Models", "2025-03-01", """
        An 8B model needs about 16 GB of memory in fp16 on a GPU: how much memory a model needs is its
        parameter count times two bytes, before the memory the context takes.

        ## Choosing a card

        A 24 GB card such as the RTX 4090 holds an 8B model in fp16 with room for a long context.
        """),
    "laptop-llms.md": ("/guides/laptop-llms", "Language Models on a Laptop", "2025-05-01", """
        Ollama and llama.cpp run open-weight language models on a laptop without a cloud service.

        ## RAM

        Quantised to 4 bits, an 8B model fits in roughly 5 GB, so a laptop with 8 GB of RAM can run it, if
        slowly.
        """),
}


@dataclass(frozen=True)
class Kind:
    """A kind of question whose first passage is wrong: `wrong` and `right` are phrases of the two passages."""

    name: str
    wrong: str
    right: str
    judged: tuple[str, ...]
    held_out: tuple[str, ...]


KINDS = (
    Kind(
        "Chroma Cloud price", "Chroma Cloud cost was not announced", "$2.50 per GB written",
        ("How much does Chroma Cloud cost?", "What is the cost of Chroma Cloud?"),
        ("How much will Chroma Cloud cost me?", "What does Chroma Cloud cost per month?", "Chroma Cloud cost?"),
    ),
    Kind(
        "Whisper licence", "Whisper API licence terms", "under the MIT licence",
        ("What is the licence of Whisper?", "Which licence is Whisper released under?"),
        ("What licence does Whisper have?", "Under what licence can I use Whisper?", "Whisper licence?"),
    ),
    Kind(
        "8B model RAM", "16 GB of memory in fp16", "a laptop with 8 GB of RAM",
        ("How much memory does an 8B model need on my laptop?", "How much RAM does an 8B model need on a laptop?"),
        ("What RAM does a laptop need for an 8B model?", "Can my laptop's memory hold an 8B model?",
         "How much laptop memory does an 8B language model need?"),
    ),
)
# Questions the trap passages do answer: a demotion for another kind of question must leave them first.
CONTROLS = (
    ("When was Chroma Cloud announced?", "Chroma Cloud cost was not announced"),
    ("What governs use of the Whisper API?", "Whisper API licence terms"),
    ("How much GPU memory does an 8B model need in fp16?", "16 GB of memory in fp16"),
)


def write_corpus(folder: Path) -> None:
    """The project's articles (so the top 5 is contested as on the site) and the benchmark's own."""
    shutil.copytree(REPO / "corpus" / "articles", folder / "site")
    for name, (url, title, date, body) in ARTICLES.items():
        front = f'---\ntitle: "{title}"\nurl: {url}\ndate: {date}\ntags: [bench]\nsummary: "x"\n---\n'
        (folder / name).write_text(front + textwrap.dedent(body).strip() + "\n", encoding="utf-8")


@dataclass(frozen=True)
class Figures:
    """One phase's figures over (question, phrase of the passage that answers it, phrase of the trap or None)."""

    questions: int
    right_first: int
    mrr: float
    trap_first: int
    trap_shown: int
    cited_right: int
    cited_trap: int


def measure(runtime: Runtime, retriever: HybridRetriever, cases) -> Figures:
    """Where the answering passage and the trap rank in the top k, and which of them the extractive answer cites."""
    right_first = trap_first = trap_shown = cited_right = cited_trap = 0
    reciprocal = []
    answerer = runtime.answerer
    for question, right, trap in cases:
        texts = [p.chunk.text for p in retriever.retrieve(question).passages]
        rank = next((i for i, t in enumerate(texts, 1) if right in t), None)
        right_first += rank == 1
        reciprocal.append(1 / rank if rank else 0.0)
        cited = [s.text for s in answerer.answer(question).sources]
        cited_right += any(right in t for t in cited)
        if trap is not None:
            trap_first += bool(texts) and trap in texts[0]
            trap_shown += any(trap in t for t in texts)
            cited_trap += any(trap in t for t in cited)
    return Figures(len(cases), right_first, statistics.fmean(reciprocal), trap_first, trap_shown, cited_right, cited_trap)


def judge(runtime: Runtime) -> dict[str, int]:
    """Ask the judged questions, record the answers and mark sentences citing the trap "wrong citation".

    Returns:
        Per kind, how many of its answers got a verdict (an answer that did not cite the trap gets none).
    """
    records, judged = runtime.records, {}
    for kind in KINDS:
        judged[kind.name] = 0
        for question in kind.judged:
            result = runtime.answerer.answer(question)
            answer_id = records.record_answer(result, channel="bench")
            trap = {s.number for s in result.sources if kind.wrong in s.text}
            wrong = [s.index for s in (result.report.sentences if result.report else ()) if trap & set(s.citations)]
            for index in wrong:
                records.set_verdict(answer_id, index, "wrong_citation", "not what was asked", editor="bench")
            judged[kind.name] += bool(wrong)
    return judged


def retrieval_seconds(retrievers, questions, rounds: int = 5) -> list[float]:
    """Median seconds per retrieval of each retriever over the questions, the retrievers alternating question by
    question (after one warm-up round), so machine load hits them alike."""
    seconds: list[list[float]] = [[] for _ in retrievers]
    for round_ in range(rounds + 1):
        for q in questions:
            for i, retriever in enumerate(retrievers):
                started = time.perf_counter()
                retriever.retrieve(q)
                if round_:
                    seconds[i].append(time.perf_counter() - started)
    return [statistics.median(s) for s in seconds]


def row(phase: str, f: Figures, g: Figures) -> str:
    n, m = f.questions, g.questions
    return (
        f"| {phase} | {f.right_first}/{n} | {f.mrr:.3f} | {f.trap_first}/{n} | {f.trap_shown}/{n} | {f.cited_right}/{n} | "
        f"{f.cited_trap}/{n} | {g.right_first}/{m} | {g.mrr:.3f} | {g.cited_right}/{m} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write-results", action="store_true", help="write the figures into benchmarks/RESULTS.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_corpus(root / "corpus")
        settings = load_settings(
            REPO / "hubchat.toml", corpus={"path": str(root / "corpus")},
            index={"dir": str(root / "index"), "collection": "bench-demotion"}, store={"mode": "embedded"},
            chat={"backend": "extractive"}, ui={"db_path": str(root / "records.sqlite")},
            retrieval={"demotion_refresh_s": 0},  # every question sees the verdicts just saved
        )
        runtime = Runtime(settings)
        runtime.ingest()
        plain = HybridRetriever(runtime.store, runtime.embeddings, settings.retrieval)
        held_out = [(q, k.right, k.wrong) for k in KINDS for q in k.held_out]
        controls = [(q, right, None) for q, right in CONTROLS]

        before = measure(runtime, runtime.retriever, held_out), measure(runtime, runtime.retriever, controls)
        judged = judge(runtime)
        after = measure(runtime, runtime.retriever, held_out), measure(runtime, runtime.retriever, controls)
        active = runtime.demoter.active()
        seconds_plain, seconds_demoting = retrieval_seconds((plain, runtime.retriever), [q for q, _, _ in held_out + controls])
        articles = len(list((root / "corpus").rglob("*.md")))
        for demotion in active:
            runtime.records.lift_demotion(demotion.chunk_id, note="benchmark: lifted", editor="bench")
        lifted = measure(runtime, runtime.retriever, held_out), measure(runtime, runtime.retriever, controls)

    s = settings.retrieval
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    body = f"""{articles} articles: the project's corpus/articles and {len(ARTICLES)} written by the benchmark, with {len(KINDS)} kinds of question whose first-ranked passage does not answer them (an outdated announcement, a cloud API's terms, a GPU's fp16 memory). {sum(len(k.judged) for k in KINDS)} questions ({len(KINDS)} kinds x {len(KINDS[0].judged)}) were answered by the real chain (`extractive` backend), recorded in a real SQLite records store, and their sentences citing the trap passage judged "wrong citation" by the script, as an editor would; answers with such a verdict per kind: {", ".join(f"{k} {n} of {len(KINDS[0].judged)}" for k, n in judged.items())} (an answer that did not cite the trap gets none). Measured on {len(held_out)} other paraphrases never judged (held out), and {len(controls)} control questions for which a trap passage is the right answer. Settings: demotion_min_verdicts {s.demotion_min_verdicts}, demotion_similarity {s.demotion_similarity}, demotion_factor {s.demotion_factor}, top_k {s.top_k}, scores fusion.

Held out: the answering passage first / its MRR@{s.top_k}, the trap first / among the {s.top_k} passages retrieved, answers citing the answering passage / the trap. Controls: the trap passage (their answer) first / its MRR, answers citing it.

| phase | answering first | MRR | trap first | trap retrieved | cite answering | cite trap | controls: first | controls: MRR | controls: cited |
|---|---|---|---|---|---|---|---|---|---|
{row("before verdicts", *before)}
{row("after verdicts", *after)}
{row("demotions lifted", *lifted)}

Active demotions after the verdicts: {len(active)} ({", ".join(f"{d.title}: {len(d.questions)} questions" for d in active)}). Retrieval per question over the held-out and control questions, median of 5 rounds alternating the two: {seconds_plain * 1000:.1f} ms without a demoter, {seconds_demoting * 1000:.1f} ms with it (verdicts re-checked on every question here, demotion_refresh_s 0; the default checks every {RetrievalSettings().demotion_refresh_s:.0f} s).

Command: `.venv/bin/python benchmarks/bench_demotion.py --write-results` (from the repository root), at commit {commit}.
Machine: {machine_info()}."""
    print(body)
    if args.write_results:
        write_section("Demoting wrongly cited passages", body)


if __name__ == "__main__":
    main()
