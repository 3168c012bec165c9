"""Slows password guessing at the editors' login: failures in a row from one client address lock it out.

Gradio's login check sees only the user name and password, so the count is kept in front of it, by a middleware
on the login route that sees the client's address and the check's outcome.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

MAX_LOCKOUT_S = 15 * 60.0


@dataclass
class _Client:
    failures: int = 0
    locked_until: float = 0.0


class LoginThrottle:
    """Failed logins per client address, and the lockouts they earn.

    Args:
        max_failures: failures in a row before the first lockout.
        lockout_s: the first lockout; each further failure doubles it, up to MAX_LOCKOUT_S.
        clock: monotonic seconds (tests pass their own).
    """

    def __init__(self, max_failures: int, lockout_s: float, clock: Callable[[], float] = time.monotonic):
        self.max_failures = max_failures
        self.lockout_s = lockout_s
        self.clock = clock
        self._clients: dict[str, _Client] = {}
        self._lock = threading.Lock()

    def retry_after(self, client: str) -> float:
        """Seconds this client must still wait before a login is even checked (0: it may try now)."""
        with self._lock:
            state = self._clients.get(client)
            return max(0.0, state.locked_until - self.clock()) if state else 0.0

    def failed(self, client: str) -> None:
        with self._lock:
            state = self._clients.setdefault(client, _Client())
            state.failures += 1
            over = state.failures - self.max_failures
            if over >= 0:
                state.locked_until = self.clock() + min(self.lockout_s * 2**over, MAX_LOCKOUT_S)

    def succeeded(self, client: str) -> None:
        with self._lock:
            self._clients.pop(client, None)


def throttle_logins(app, throttle: LoginThrottle, login_paths: frozenset[str]) -> None:
    """Put `throttle` in front of the POST routes in `login_paths` of the FastAPI `app`."""
    from fastapi.responses import JSONResponse

    @app.middleware("http")
    async def _throttled(request, call_next):
        if request.method != "POST" or request.url.path not in login_paths:
            return await call_next(request)
        client = request.client.host if request.client else "unknown"
        wait = throttle.retry_after(client)
        if wait > 0:
            seconds = int(wait) + 1
            return JSONResponse(
                {"detail": f"Too many failed logins from this address: try again in {seconds} s."},
                status_code=429,
                headers={"Retry-After": str(seconds)},
            )
        response = await call_next(request)
        if response.status_code == 200:
            throttle.succeeded(client)
        elif response.status_code in (400, 401):
            throttle.failed(client)
        return response
