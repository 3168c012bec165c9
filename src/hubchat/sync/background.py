"""`hubchat serve`'s background updates: a site sync every `site.interval_s`, and a folder ingest whenever a file
in the corpus folder changes, while the chat keeps answering.

Both write through the serving process's own store, which reloads its lexical index at the end of each run, so the
next question sees the new articles (other serving processes follow through the generations pointer). Nothing in
here may stop the server: a failing run is logged and the next one tries again; a run that finds another ingest
holding the index's lock waits for it (the folder) or skips its turn (the interval sync).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from hubchat.errors import HubchatError, IngestBusyError
from hubchat.ingest.corpus import SUPPORTED_SUFFIXES
from hubchat.types import IngestSummary, SyncSummary

log = logging.getLogger(__name__)

# watchfiles waits this long after the last change before reporting a batch: an editor's save is often several writes.
DEBOUNCE_MS = 800
# While another ingest holds the lock, a folder change is retried this often (it must not be lost).
BUSY_RETRY_S = 2.0


class Updater(Protocol):
    """What the background work runs: the runtime's folder ingest and site sync."""

    def ingest(self) -> IngestSummary: ...

    def sync(self) -> SyncSummary: ...


def is_watched_change(path: Path, root: Path) -> bool:
    """Whether a change reported at `path` calls for an ingest: an article file (`is_article_file`), or a new
    folder that is not hidden.

    A folder counts because inotify watches a new folder only once it has been told of it: a file saved into
    the folder straight after `mkdir` can be written before that watch exists, and its own event never comes.
    The ingest reads the whole corpus folder, so the folder's event alone brings that file in."""
    return is_article_file(path, root) or (path.is_dir() and _visible_below(path, root))


def _visible_below(path: Path, root: Path) -> bool:
    try:
        parts = path.resolve().relative_to(root.resolve()).parts
    except ValueError:
        return False
    return bool(parts) and not any(part.startswith(".") for part in parts)


def is_article_file(path: Path, root: Path) -> bool:
    """Whether a change to `path` is worth an ingest: a supported article file, not a hidden one below `root` (the
    files the ingest itself reads; an editor's swap and backup files are not)."""
    return path.suffix.lower() in SUPPORTED_SUFFIXES and _visible_below(path, root)


class BackgroundUpdates:
    """Starts the watcher and the interval sync as daemon threads; `stop()` ends them.

    Args:
        updater: runs one folder ingest (`ingest()`) or one site sync (`sync()`).
        corpus_dir: the folder to watch (None: no watching).
        interval_s: seconds between site syncs, the first at start (0: no syncing).
        debounce_ms: how long the folder must be quiet before a batch of changes is ingested.
    """

    def __init__(self, updater: Updater, *, corpus_dir: Path | None, interval_s: float, debounce_ms: int = DEBOUNCE_MS):
        self.updater = updater
        self.corpus_dir = corpus_dir
        self.interval_s = interval_s
        self.debounce_ms = debounce_ms
        self._stop = threading.Event()
        self._one_at_a_time = threading.Lock()  # the ingest lock would refuse our own second run anyway
        self._threads: list[threading.Thread] = []
        self.runs = 0  # runs finished, whatever their outcome
        self.watching = threading.Event()  # set once the watcher is watching (or has given up)

    def start(self) -> BackgroundUpdates:
        if self.corpus_dir is not None:
            self._spawn(self._watch, "hubchat-watch")
        if self.interval_s > 0:
            self._spawn(self._sync_every, "hubchat-sync")
        return self

    def stop(self, timeout: float = 10) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    # ---- the two loops ---------------------------------------------------------------------------------------

    def _sync_every(self) -> None:
        while not self._stop.is_set():
            outcome = self._run("site sync", self.updater.sync)
            if outcome == "busy":
                log.info("site sync skipped: another ingest is updating the index; the next sync is in %g s", self.interval_s)
            self._stop.wait(self.interval_s)

    def _watch(self) -> None:
        import watchfiles

        folder = self.corpus_dir
        try:
            watcher = watchfiles.watch(
                folder,
                watch_filter=lambda change, path: is_watched_change(Path(path), folder),
                debounce=self.debounce_ms,
                stop_event=self._stop,
                rust_timeout=1000,
                yield_on_timeout=True,
                raise_interrupt=False,
            )
            for changes in watcher:
                if not self.watching.is_set():
                    # The generator starts watching only when first asked, so this is the first moment it is
                    # certain to see every change; one ingest catches what changed since the start-up ingest.
                    self._ingest_until_done()
                    self.watching.set()
                if changes:
                    log.info("corpus folder changed (%d files): ingesting", len(changes))
                    self._ingest_until_done()
        except Exception:  # a vanished folder, an exhausted inotify limit: serving goes on without the watcher
            log.exception("stopped watching the corpus folder %s; restart hubchat serve to watch it again", folder)
        finally:
            self.watching.set()

    def _ingest_until_done(self) -> None:
        while not self._stop.is_set():
            if self._run("folder ingest", self.updater.ingest) != "busy":
                return
            log.info("folder ingest waits: another ingest is updating the index")
            self._stop.wait(BUSY_RETRY_S)

    def _run(self, what: str, job: Callable[[], object]) -> str:
        """One run, never raising: "done", "busy" (the index's lock is held elsewhere) or "failed" (logged)."""
        with self._one_at_a_time:
            try:
                summary = job()
            except IngestBusyError:
                return "busy"
            except HubchatError as exc:  # said for people (a full disk, a server down): the message, not a traceback
                log.error("%s failed: %s The chat keeps serving; the next run tries again.", what, exc)
                return "failed"
            except Exception:
                log.exception("%s failed; the chat keeps serving the index as it was, and the next run tries again", what)
                return "failed"
            finally:
                self.runs += 1
        log.info("%s done: %s", what, summary)
        return "done"
