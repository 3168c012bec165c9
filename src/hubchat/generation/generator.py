"""The generator interface: what the answer chain needs from whatever writes an answer.

Two kinds implement it: `ChatModelGenerator` (an LLM behind any of the chat backends) and the answer stage's
`ExtractiveGenerator` (no model: the passages' best sentences). `hubchat.runtime` picks one from the settings.
"""

from __future__ import annotations

import collections.abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from hubchat.types import Passage, Turn


@dataclass
class Usage:
    """Token counts of one generation, filled in by the generator when its backend reports them.

    Attributes:
        cached_prompt_tokens: prompt tokens the server did not have to read again, served from its prompt cache
            (llama.cpp and OpenAI report them); `prompt_tokens - cached_prompt_tokens` were evaluated.
    """

    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cached_prompt_tokens: int | None = None

    def update_from(self, meta: Mapping | None) -> None:
        """Take the counts a LangChain chunk's `usage_metadata` reports (backends send them once, at the end)."""
        if not meta:
            return
        self.prompt_tokens = meta.get("input_tokens", self.prompt_tokens)
        self.completion_tokens = meta.get("output_tokens", self.completion_tokens)
        cached = (meta.get("input_token_details") or {}).get("cache_read")
        if cached is not None:
            self.cached_prompt_tokens = cached


@runtime_checkable
class Generator(Protocol):
    """Writes an answer with [n] citations from numbered passages, and rewrites follow-up questions."""

    @property
    def label(self) -> str:
        """A short name for status lines, logs and records, e.g. "local:qwen2.5-coder-1.5b-instruct-q4_k_m"."""
        ...

    def prepare(self) -> str | None:
        """Get ready to answer before the first question: load a local model, probe a remote server.

        Returns:
            None when ready; a warning to show when a remote backend is unreachable now (the chat keeps serving and
            explains when a question needs it).

        Raises:
            ModelNotAvailableError, ConfigError, BackendError: the backend cannot work at all.
        """
        ...

    def rewrite(self, question: str, history: Sequence[Turn]) -> str | None:
        """The follow-up `question` rewritten to stand alone, or None when this generator cannot rewrite it
        (no model, or the model's reply is not a usable question); the caller then uses its own rewrite."""
        ...

    def stream(
        self, question: str, passages: Sequence[Passage], usage: Usage
    ) -> collections.abc.Generator[str, None, None]:
        """The answer in pieces as it is written; passage i is cited as [i + 1]. Fills `usage` if it can.

        A generator, so the caller can close it early (a looping answer): closing it ends the request."""
        ...
