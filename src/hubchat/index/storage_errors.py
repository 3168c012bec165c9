"""A full or read-only index folder, told plainly.

A full disk or a read-only mount reaches us in several disguises: an OSError from our own files (lock, lexical
index, manifest), SQLite's "database or disk is full" or "readonly database" from embedded Chroma (wrapped in a
chromadb InternalError, text only), or the same text relayed by a Chroma server. They all become one
IndexStorageError naming the folder, what is wrong with it, what was kept, and what to do.
"""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

from hubchat.errors import IndexStorageError

Problem = Literal["full", "read-only"]

# SQLite's messages (SQLITE_FULL is code 13, SQLITE_READONLY code 8) and the OS's, as Chroma passes them on.
_FULL_TEXT = ("database or disk is full", "no space left on device", "disk quota exceeded")
_READ_ONLY_TEXT = ("readonly database", "read-only file system")


# Some of embedded Chroma's failures on a full disk say only what failed ("Failed to apply logs to the metadata
# segment"): then the folder itself is asked whether this much more would fit.
PROBE_BYTES = 4 * 1024 * 1024


def storage_problem(exc: BaseException, folder: Path | None = None) -> Problem | None:
    """Whether `exc` (or an exception it was raised from) says the disk is full or read-only; with `folder` (an
    embedded Chroma's), a Chroma error that does not say why is checked against the folder's file system."""
    problem = _told(exc)
    if problem is None and folder is not None and type(exc).__module__.startswith("chromadb"):
        problem = _probe(folder)
    return problem


def _probe(folder: Path) -> Problem | None:
    """Whether `folder` can take PROBE_BYTES more right now (allocated, then removed at once)."""
    try:
        fd, name = tempfile.mkstemp(prefix=".space-probe-", dir=folder)
    except OSError as exc:
        return _told(exc)
    try:
        os.posix_fallocate(fd, 0, PROBE_BYTES)
    except OSError as exc:
        return _told(exc)
    finally:
        os.close(fd)
        os.unlink(name)
    return None


def _told(exc: BaseException) -> Problem | None:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in (errno.ENOSPC, errno.EDQUOT):
            return "full"
        if isinstance(current, OSError) and current.errno == errno.EROFS:
            return "read-only"
        text = str(current).lower()
        if any(t in text for t in _FULL_TEXT):
            return "full"
        if any(t in text for t in _READ_ONLY_TEXT):
            return "read-only"
        current = current.__cause__ or current.__context__
    return None


def storage_message(where: str, problem: Problem, kept: str) -> str:
    if problem == "full":
        return (
            f"Cannot write the index in {where}: no space left on the device. {kept} Free some space there, or "
            "point index.dir at a folder on a bigger disk, then try again."
        )
    return (
        f"Cannot write the index in {where}: the file system is read-only. {kept} Make the folder writable "
        "(or point index.dir at a writable folder), then try again."
    )


@contextmanager
def index_storage_errors(where: str, kept: str, folder: Path | None = None) -> Iterator[None]:
    """Raise a full or read-only disk's failures inside the block as an IndexStorageError; others pass unchanged.

    Args:
        where: the folder (or Chroma server) written to, as the user knows it.
        kept: what is still as it was, said to the user (a whole sentence).
        folder: an embedded Chroma's folder, to ask when Chroma does not say why it failed.
    """
    try:
        yield
    except IndexStorageError as exc:  # told already, deeper down: say it again with what this caller kept
        raise IndexStorageError(storage_message(where, exc.problem, kept), exc.problem) from exc
    except Exception as exc:
        problem = storage_problem(exc, folder)
        if problem is None:
            raise
        raise IndexStorageError(storage_message(where, problem, kept), problem) from exc
