"""Run inside a network namespace with only loopback (see tests/test_offline.py): index a small corpus with the
local embedder, serve the app on the local llama.cpp model, ask it over HTTP, and print what happened as JSON.

Usage: python -m tests.offline_app_child WORKDIR MODEL_PATH
"""

from __future__ import annotations

import json
import socket
import sys
import urllib.request
from pathlib import Path

from hubchat.runtime import Runtime
from hubchat.web.server import start
from tests.helpers import SMALL_CHUNKS_TOML, settings_for, write_samples

QUESTION = "How does a persistent Chroma client keep its data?"


def network_reachable() -> bool:
    try:
        socket.create_connection(("1.1.1.1", 443), timeout=3).close()
        return True
    except OSError:
        return False


def main(workdir: Path, model_path: Path) -> dict:
    corpus = workdir / "corpus"
    write_samples(corpus)
    settings = settings_for(
        workdir, corpus, SMALL_CHUNKS_TOML,
        chat={"backend": "local", "model_path": str(model_path), "n_ctx": 2048, "max_tokens": 24, "max_retries": 0},
        ui={"db_path": str(workdir / "hubchat.sqlite")},
    )
    runtime = Runtime(settings)
    added = len(runtime.ingest().added)
    server = start(runtime, host="127.0.0.1", port=0)
    try:
        pages = {path: urllib.request.urlopen(server.url + path, timeout=60).status for path in ("", "widget/")}
        request = urllib.request.Request(
            server.url + "v1/chat/completions",
            data=json.dumps({"model": "hubchat", "messages": [{"role": "user", "content": QUESTION}]}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=300) as response:
            reply = json.load(response)
    finally:
        server.close()
    return {
        "network_reachable": network_reachable(), "added": added, "pages": pages,
        "answer": reply["choices"][0]["message"]["content"], "backend": reply["hubchat"].get("backend", ""),
        "sources": len(reply["hubchat"]["sources"]), "refused": reply["hubchat"]["refused"],
        "completion_tokens": reply["usage"]["completion_tokens"],
    }


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]), Path(sys.argv[2]))))
