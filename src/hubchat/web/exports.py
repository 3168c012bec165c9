"""Where the chat writes conversations exported as Markdown, and how they are cleaned away.

Each export is a file the reader downloads once; left alone they would pile up for as long as the server runs.
Files older than `ui.export_max_age_s` are deleted by a sweeper thread (Gradio's cached copies are swept by
Gradio itself: `delete_cache` on the chat's Blocks).
"""

from __future__ import annotations

import logging
import tempfile
import threading
import time
from pathlib import Path

log = logging.getLogger(__name__)


class ExportFolder:
    """A private temporary folder whose files live at most `max_age_s` (plus one sweep interval)."""

    def __init__(self, max_age_s: float):
        self.path = Path(tempfile.mkdtemp(prefix="hubchat-exports-"))
        self.max_age_s = max_age_s
        self.sweep_every_s = min(max_age_s, 600.0)
        threading.Thread(target=self._sweep_forever, name="hubchat-export-sweeper", daemon=True).start()

    def write(self, name: str, text: str) -> Path:
        path = self.path / name
        path.write_text(text, encoding="utf-8")
        return path

    def delete_expired(self) -> int:
        """Delete the files last written more than `max_age_s` ago; returns how many went."""
        cutoff = time.time() - self.max_age_s
        gone = 0
        for path in self.path.iterdir():
            try:
                if path.is_file() and path.stat().st_mtime < cutoff:
                    path.unlink()
                    gone += 1
            except FileNotFoundError:  # rewritten or deleted meanwhile by a request thread
                pass
        return gone

    def _sweep_forever(self) -> None:
        while self.path.is_dir():
            time.sleep(self.sweep_every_s)
            try:
                self.delete_expired()
            except OSError as exc:  # a sweep that fails must not end the sweeping
                log.warning("could not clean the export folder %s: %s", self.path, exc)
