"""Where the public evaluation sets are: $HUBCHAT_EVAL_DATA, else ../shared/data beside the repository.

They are read where they lie, never copied in. CI has them beside its checkout; a test that needs one fails
(rather than skips) when it is missing, so a missing set can never pass for a measured one.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def data_root() -> Path:
    return Path(os.environ.get("HUBCHAT_EVAL_DATA") or REPO.parent / "shared" / "data")


def eval_set_dir(name: str) -> Path:
    folder = data_root() / name
    if not (folder / "corpus.jsonl").is_file():
        pytest.fail(f"evaluation set {name!r} not found at {folder}: set HUBCHAT_EVAL_DATA to the folder holding it")
    return folder
