"""The answer slots the app's APIs share: at most `ui.concurrency_limit` answers generated at once."""

from __future__ import annotations

import threading

BUSY = "Every answer slot stayed busy; try again in a moment."


class AnswerSlots:
    """A bounded number of concurrent answers; a request that waits longer than `wait_s` for one is turned away."""

    def __init__(self, limit: int, wait_s: float = 120.0):
        self._free = threading.BoundedSemaphore(limit)
        self.wait_s = wait_s

    def acquire(self) -> bool:
        """Take a slot, waiting up to `wait_s`; False when none came free."""
        return self._free.acquire(timeout=self.wait_s)

    def release(self) -> None:
        # Released from whichever worker thread ends the stream: a semaphore, unlike a lock, allows that.
        self._free.release()
