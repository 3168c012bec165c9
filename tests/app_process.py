"""`hubchat serve` and `hubchat ingest` as real subprocesses, configured only by a config file and environment
variables, as an operator runs them; shared by the scale-out test and the soak benchmark.

The subprocesses run this interpreter's `python -m hubchat.cli`, so they import the same hubchat the caller does
(a checkout's src/ on PYTHONPATH included).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

# Variables of the caller that would change how a child app behaves, dropped so only what the caller passes counts.
_DROPPED = ("HUBCHAT_PROFILE", "HUBCHAT_API_KEY", "HUBCHAT_EDITOR_USER", "HUBCHAT_EDITOR_PASSWORD")


def child_env(config: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The caller's environment minus hubchat's own variables, with HUBCHAT_CONFIG and `extra` set."""
    env = {k: v for k, v in os.environ.items() if not (k.startswith("HUBCHAT_") and "__" in k) and k not in _DROPPED}
    env.update(HUBCHAT_CONFIG=str(config), ANONYMIZED_TELEMETRY="False", PYTHONUNBUFFERED="1")
    env.update(extra or {})
    return env


def hubchat_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "hubchat.cli", *args]


def run_hubchat(env: Mapping[str, str], *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run one `hubchat` command to its end; its output is returned, not checked."""
    return subprocess.run(hubchat_command(*args), env=dict(env), capture_output=True, text=True, timeout=timeout)


@dataclass
class AppProcess:
    """A running `hubchat serve`: `url` ends with "/"."""

    url: str
    proc: subprocess.Popen
    log: Path

    def rss_bytes(self) -> int:
        """Resident memory of the process now (Linux /proc)."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError(f"no VmRSS for process {self.proc.pid}")

    def log_tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""

    def stop(self) -> None:
        """SIGTERM (uvicorn shuts down gracefully), SIGKILL after 20 s."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_app(env: Mapping[str, str], port: int, log: Path, *, ingest: bool = False) -> subprocess.Popen:
    """Start `hubchat serve` on 127.0.0.1:port (without updating the index first unless `ingest`); see `wait_ready`."""
    args = ["serve", "--host", "127.0.0.1", "--port", str(port)] + ([] if ingest else ["--no-ingest"])
    with open(log, "wb") as out:
        return subprocess.Popen(hubchat_command(*args), env=dict(env), stdout=out, stderr=subprocess.STDOUT)


def wait_ready(proc: subprocess.Popen, port: int, log: Path, timeout: float = 300) -> AppProcess:
    """Wait until the app started by `start_app` serves its page config.

    Raises:
        RuntimeError: it exited or did not come up in time; the message carries the end of its log.
    """
    app = AppProcess(f"http://127.0.0.1:{port}/", proc, log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"`hubchat serve` on port {port} exited with {proc.returncode}:\n{app.log_tail()}")
        try:
            with urllib.request.urlopen(app.url + "config", timeout=2) as response:
                if response.status == 200:
                    return app
        except OSError:
            time.sleep(0.3)
    app.stop()
    raise RuntimeError(f"`hubchat serve` on port {port} did not come up within {timeout:.0f} s:\n{app.log_tail()}")
