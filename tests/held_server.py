"""An OpenAI-compatible server that holds each chat completion until the test lets it through.

It relays every request to a real server (the session's llama.cpp server) unchanged, streamed responses piece by
piece; a POST to .../chat/completions first waits at `gate`. While it waits, the model has not seen the request, so
nothing on the page can be model-written: a test can look at what the page shows before the first token without
relying on how long anything takes.
"""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler
from urllib.parse import urlsplit

from tests.loopback_http import LoopbackServer

# A test that fails while a request waits opens the gate on close; this only bounds a forgotten one.
GATE_TIMEOUT_S = 120


class HeldServer(LoopbackServer):
    """Relays to `upstream` (a base URL ending in /v1); chat completions wait until `gate` is set.

    Attributes:
        gate: set it to let held (and later) chat completions through.
        held: set as soon as a chat completion is waiting at the gate.
    """

    def __init__(self, upstream: str):
        parts = urlsplit(upstream)
        self.origin = f"{parts.scheme}://{parts.netloc}"
        self.gate = threading.Event()
        self.held = threading.Event()
        super().__init__(_Relay)

    def close(self) -> None:
        self.gate.set()
        super().close()


class _Relay(BaseHTTPRequestHandler):
    owner: HeldServer

    def do_GET(self) -> None:
        self._forward(None)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path.endswith("/chat/completions"):
            self.owner.held.set()
            self.owner.gate.wait(GATE_TIMEOUT_S)
        self._forward(body)

    def _forward(self, body: bytes | None) -> None:
        request = urllib.request.Request(
            self.owner.origin + self.path, data=body, method=self.command,
            headers={"Content-Type": self.headers.get("Content-Type") or "application/json",
                     "Authorization": self.headers.get("Authorization") or ""},
        )
        try:
            response = urllib.request.urlopen(request, timeout=GATE_TIMEOUT_S)
        except urllib.error.HTTPError as error:  # an error status is relayed like any answer
            response = error
        with response:
            self.send_response(response.status)
            self.send_header("Content-Type", response.headers.get("Content-Type") or "application/json")
            self.end_headers()  # HTTP/1.0: the body ends when the connection closes, so a stream needs no length
            while piece := response.read1(65536):
                self.wfile.write(piece)
                self.wfile.flush()

    def log_message(self, *args: object) -> None:
        pass
