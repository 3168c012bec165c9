"""The prompt templates: read once at start-up, checked for their variables, filled by one template engine.

Every prompt lives in its own file in `prompts/` (editors change them there). Templates use LangChain's f-string
`PromptTemplate`: `{name}` is a variable, `{{` and `}}` are literal braces. Loading fails with a message naming
the file when a template is missing or uses other variables than the chain fills in, so a typo in a prompt stops
start-up instead of reaching a reader as a half-filled prompt.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Literal

from langchain_core.prompts import PromptTemplate

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

TemplateName = Literal["system", "answer", "passage", "passage_again", "condense", "refusal", "baseline"]
# The variables each template must use: exactly these, so none is forgotten and none is left unfilled.
VARIABLES: Mapping[str, frozenset[str]] = {
    "system": frozenset({"refusal"}),
    # Everything that stays the same from one question to the next lives in "system", which comes first, so a
    # server's prompt cache reads it once; "answer" holds only what changes.
    "answer": frozenset({"passages", "question"}),
    "passage": frozenset({"number", "title", "date", "section", "text"}),
    # A further passage of an article already shown: its title and date again would cost ~25 tokens each.
    "passage_again": frozenset({"number", "first", "section", "text"}),
    "condense": frozenset({"history", "question"}),
    "refusal": frozenset(),
    # `hubchat eval`'s LangChain baseline: the generic prompt of the recipe a user writes first.
    "baseline": frozenset({"context", "question"}),
}


@dataclass(frozen=True)
class Prompts:
    """The loaded templates.

    Attributes:
        templates: template name -> its checked `PromptTemplate`.
    """

    templates: Mapping[str, PromptTemplate]

    @property
    def refusal(self) -> str:
        """The one sentence the chain answers with when the articles do not cover a question."""
        return self.templates["refusal"].template

    def render(self, name: TemplateName, **values: object) -> str:
        """Fill template `name`.

        Raises:
            ValueError: the values do not name exactly the template's variables (a bug in the caller).
        """
        expected = VARIABLES[name]
        if set(values) != expected:
            raise ValueError(f"prompt {name!r} takes {sorted(expected)}, got {sorted(values)}")
        return self.templates[name].format(**{k: str(v) for k, v in values.items()})


def parse_template(name: str, text: str, source: str) -> PromptTemplate:
    """A template checked against the variables the chain fills in.

    Raises:
        ConfigError: the text is not a valid template, or uses missing or unknown variables.
    """
    try:
        template = PromptTemplate.from_template(text)
    except (ValueError, KeyError) as exc:
        raise ConfigError(f"prompt template {source} cannot be parsed: {exc} (write literal braces as {{{{ and }}}})") from None
    found, expected = set(template.input_variables), VARIABLES[name]
    if found != expected:
        problems = []
        if expected - found:
            problems.append("missing " + ", ".join(f"{{{v}}}" for v in sorted(expected - found)))
        if found - expected:
            problems.append("unknown " + ", ".join(f"{{{v}}}" for v in sorted(found - expected)))
        raise ConfigError(f"prompt template {source}: {'; '.join(problems)} (it must use exactly {sorted(expected)})")
    return template


def load_prompts(directory: Path | None = None) -> Prompts:
    """Read and check every template; a missing or broken file is a start-up error naming it."""
    folder = Path(directory or DEFAULT_PROMPTS_DIR)
    templates = {}
    for name in VARIABLES:
        path = folder / f"{name}.txt"
        if not path.is_file():
            raise ConfigError(f"prompt template missing: {path}")
        templates[name] = parse_template(name, path.read_text(encoding="utf-8").strip(), str(path))
    return Prompts(templates)
