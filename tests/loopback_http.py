"""A threaded HTTP server on a free loopback port, for the test servers that stand in front of or in place of a
model server (`tests.held_server`, `tests.looping_server`)."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class LoopbackServer:
    """Serves `handler` (a BaseHTTPRequestHandler subclass) once started; its handlers see this object as
    `self.owner`."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]):
        bound = type(handler.__name__, (handler,), {"owner": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), bound)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def start(self):
        self._thread.start()
        return self

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
