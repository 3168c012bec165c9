"""Loads the prompt templates from the `prompts/` folder once, at start-up."""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from hubchat.errors import ConfigError


def default_prompts_dir() -> Path:
    """The templates folder: the repository's prompts/ in a checkout, else the copy packaged in the wheel.

    Editors change prompts/ at the top of the repository. Running from a checkout (or an editable install, which
    points at one) reads that folder directly, so an edit takes effect on the next start. A built wheel carries a
    copy of the same files as hubchat/prompts/ (setup.py copies them at build time); an installed package has no
    checkout around it and reads that copy.
    """
    checkout = Path(__file__).resolve().parents[3]  # <repo>/src/hubchat/generation/prompts.py -> <repo>
    if (checkout / "pyproject.toml").is_file() and (checkout / "prompts").is_dir():
        return checkout / "prompts"
    return Path(str(files("hubchat") / "prompts"))


DEFAULT_PROMPTS_DIR = default_prompts_dir()


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
