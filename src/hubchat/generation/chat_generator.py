"""Answers and follow-up rewrites written by a chat model, from the prompt templates.

The model is a LangChain chat model: the configured backend's `ChatOpenAI`, built on first use (so a local server
starts only when needed), or any chat model handed in (tests give a scripted one).
"""

from __future__ import annotations

import re
from collections.abc import Generator, Sequence
from typing import TYPE_CHECKING

from hubchat.config import ChatSettings
from hubchat.errors import BackendError
from hubchat.generation.backends import backend_label, build_chat_model, check_backend, slot_options
from hubchat.generation.failures import backend_errors
from hubchat.generation.generator import Usage
from hubchat.generation.prompts import Prompts
from hubchat.types import Passage, Turn

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel
    from langchain_core.messages import BaseMessage

# Each earlier answer is cut short in the rewrite prompt: enough to resolve "it" or "that one", small enough to
# keep the local model's prefill quick.
HISTORY_ANSWER_CHARS = 400
CONDENSE_MAX_TOKENS = 80
# A passage must not be able to close its own delimiter and speak outside it.
_DELIMITER = re.compile(r"</?\s*passage[^>]*>", re.IGNORECASE)


class ChatModelGenerator:
    """A `Generator` backed by a chat model.

    Args:
        settings: the `chat` section (backend, limits, and what error messages should name).
        prompts: the loaded templates.
        model: the chat model to use; default: the one `build_chat_model(settings)` builds, on first use.
    """

    def __init__(self, settings: ChatSettings, prompts: Prompts, model: BaseChatModel | None = None):
        self.settings = settings
        self.prompts = prompts
        self._model = model

    @property
    def label(self) -> str:
        return backend_label(self.settings)

    @property
    def model(self) -> BaseChatModel:
        if self._model is None:
            self._model = build_chat_model(self.settings)
        return self._model

    def prepare(self) -> str | None:
        if self.settings.backend == "local":
            # The load blocks the whole process (xllamacpp holds the GIL), so it happens before serving; a local
            # model that cannot start is a start-up error.
            check_backend(self.settings, start_local=True)
            return None
        try:
            check_backend(self.settings)
        except BackendError as exc:
            return str(exc)
        return None

    # ---- prompts -------------------------------------------------------------------------------------------

    def format_passages(self, passages: Sequence[Passage]) -> str:
        """The numbered passages block of the answer prompt.

        A passage from an article an earlier passage already introduced names that passage instead of repeating
        the title and date: two or three passages of one article are the common case, and the local model reads
        every prompt token (a date alone is ten of them).
        """
        blocks = []
        first_of: dict[str, int] = {}
        for number, p in enumerate(passages, 1):
            section = "".join(f" > {_DELIMITER.sub('', h)}" for h in p.chunk.heading_path if h)
            text = _DELIMITER.sub("", p.chunk.text)
            first = first_of.setdefault(p.chunk.article_id, number)
            if first != number:
                blocks.append(self.prompts.render("passage_again", number=number, first=first, section=section, text=text))
                continue
            blocks.append(
                self.prompts.render(
                    "passage",
                    number=number,
                    # One short line, not attributes: a local model reads every prompt token at ~60 a second.
                    title=_DELIMITER.sub("", p.chunk.title),
                    date=p.chunk.date or "undated",
                    section=section,
                    text=text,
                )
            )
        return "\n\n".join(blocks)

    def answer_messages(self, question: str, passages: Sequence[Passage]) -> list[BaseMessage]:
        """The system and user messages that ask the model to answer `question` from `passages`."""
        from langchain_core.messages import HumanMessage, SystemMessage

        return [
            SystemMessage(self.prompts.render("system", refusal=self.prompts.refusal)),
            HumanMessage(self.prompts.render("answer", passages=self.format_passages(passages), question=question)),
        ]

    def rewrite_messages(self, question: str, history: Sequence[Turn]) -> list[BaseMessage]:
        from langchain_core.messages import HumanMessage

        transcript = "\n".join(f"User: {t.question}\nAssistant: {t.answer[:HISTORY_ANSWER_CHARS]}" for t in history)
        return [HumanMessage(self.prompts.render("condense", history=transcript, question=question))]

    # ---- the two jobs --------------------------------------------------------------------------------------

    def rewrite(self, question: str, history: Sequence[Turn]) -> str | None:
        if not history:
            return None
        with backend_errors(self.settings):
            message = self.model.bind(max_tokens=CONDENSE_MAX_TOKENS, **slot_options(self.settings, "side")).invoke(
                self.rewrite_messages(question, history)
            )
        content = str(message.content).strip()
        rewritten = content.strip('"').splitlines()[0].strip() if content else ""
        # A model that answers instead of rewriting produces something long: not a usable search query.
        if not rewritten or len(rewritten) > 3 * len(question) + 200:
            return None
        return rewritten

    def stream(self, question: str, passages: Sequence[Passage], usage: Usage) -> Generator[str, None, None]:
        with backend_errors(self.settings):
            for chunk in self.model.bind(**slot_options(self.settings, "answer")).stream(self.answer_messages(question, passages)):
                usage.update_from(chunk.usage_metadata)
                if chunk.content:
                    yield str(chunk.content)
