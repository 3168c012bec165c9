"""A full or read-only index folder, told plainly.

A full disk or a read-only mount reaches us in several disguises: an OSError from our own files (lock, lexical
index, manifest), SQLite's "database or disk is full" or "readonly database" from embedded Chroma (wrapped in a
chromadb InternalError, text only), or the same text relayed by a Chroma server. They all become one
IndexStorageError naming the folder, what is wrong with it, what was kept, and what to do.
"""

from __future__ import annotations

import errno
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

from hubchat.errors import IndexStorageError

Problem = Literal["full", "read-only"]

# SQLite's messages (SQLITE_FULL is code 13, SQLITE_READONLY code 8) and the OS's, as Chroma passes them on.
_FULL_TEXT = ("database or disk is full", "no space left on device", "disk quota exceeded")
_READ_ONLY_TEXT = ("readonly database", "read-only file system")


def storage_problem(exc: BaseException) -> Problem | None:
    """Whether `exc` (or an exception it was raised from) says the disk is full or read-only."""
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
def index_storage_errors(where: str, kept: str) -> Iterator[None]:
    """Raise a full or read-only disk's failures inside the block as an IndexStorageError; others pass unchanged.

    Args:
        where: the folder (or Chroma server) written to, as the user knows it.
        kept: what is still as it was, said to the user (a whole sentence).
    """
    try:
        yield
    except IndexStorageError:
        raise
    except Exception as exc:
        problem = storage_problem(exc)
        if problem is None:
            raise
        raise IndexStorageError(storage_message(where, problem, kept)) from exc
