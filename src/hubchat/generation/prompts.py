"""Loads the prompt templates from the `prompts/` folder once, at start-up."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hubchat.errors import ConfigError

# The repository's prompts/ folder (src/hubchat/prompts.py -> ../../prompts).
DEFAULT_PROMPTS_DIR = Path(__file__).resolve().parents[3] / "prompts"


@dataclass(frozen=True)
class Prompts:
    system: str
    answer: str
    passage: str
    condense: str
    refusal: str


def load_prompts(directory: Path | None = None) -> Prompts:
    """Read every template; a missing file is a start-up error naming it."""
    folder = Path(directory or DEFAULT_PROMPTS_DIR)
    texts = {}
    for name in ("system", "answer", "passage", "condense", "refusal"):
        path = folder / f"{name}.txt"
        if not path.is_file():
            raise ConfigError(f"prompt template missing: {path}")
        texts[name] = path.read_text(encoding="utf-8").strip()
    return Prompts(**texts)
