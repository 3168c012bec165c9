"""An OpenAI-compatible HTTP server whose model is stuck in a loop: every chat completion streams one sentence
over and over, a piece every few milliseconds, for up to `max_pieces` pieces.

It stands in for a small model at low temperature that has fallen into a loop, which a real model does too
rarely to be asked for on cue. What it proves is the HTTP side: that the answer chain stops reading and closes
the connection, so the server stops generating, instead of taking the loop to max_tokens. `sent` counts the
pieces written before the client went away; `closed` is set when it did.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler

from tests.loopback_http import LoopbackServer


class LoopingServer(LoopbackServer):
    def __init__(self, sentence: str, max_pieces: int = 2000, interval_s: float = 0.005):
        self.words = [w + " " for w in sentence.split()]
        self.max_pieces = max_pieces
        self.interval_s = interval_s
        self.sent = 0
        self.closed = threading.Event()
        super().__init__(_Handler)


class _Handler(BaseHTTPRequestHandler):
    owner: LoopingServer
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # /v1/models
        body = json.dumps({"object": "list", "data": [{"id": "looper", "object": "model"}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:  # /v1/chat/completions, always streamed
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        state = self.owner
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        try:
            for n in range(state.max_pieces):
                chunk = {"id": "loop", "object": "chat.completion.chunk", "created": 0, "model": "looper",
                         "choices": [{"index": 0, "delta": {"content": state.words[n % len(state.words)]}, "finish_reason": None}]}
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                self.wfile.flush()
                state.sent += 1
                time.sleep(state.interval_s)
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            state.closed.set()
        self.close_connection = True

    def log_message(self, *args: object) -> None:
        pass
