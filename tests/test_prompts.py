"""The prompt templates: one engine, and every template's variables checked when the prompts load."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from hubchat.errors import ConfigError
from hubchat.generation.prompts import DEFAULT_PROMPTS_DIR, VARIABLES, load_prompts


@pytest.fixture
def prompts_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "prompts"
    shutil.copytree(DEFAULT_PROMPTS_DIR, folder)
    return folder


def test_the_shipped_templates_load_and_fill_completely():
    prompts = load_prompts()
    filled = prompts.render("answer", passages="<passage>P</passage>", question="Q?")
    assert "<passage>P</passage>" in filled and "Q?" in filled
    system = prompts.render("system", refusal=prompts.refusal)
    assert "{" not in system and prompts.refusal in system


def test_what_changes_between_questions_comes_after_what_does_not():
    """The rules come first and never change, so a server's prompt cache reads them once for every answer."""
    prompts = load_prompts()
    assert VARIABLES["system"] == {"refusal"}, "the system prompt may hold only what is the same for every question"
    answer = prompts.templates["answer"].template
    assert answer.index("{passages}") < answer.index("{question}")


def test_a_template_that_forgets_a_variable_stops_start_up_naming_it(prompts_dir: Path):
    (prompts_dir / "answer.txt").write_text("Passages: {passages}\nAnswer it.", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"answer\.txt: missing \{question\}"):
        load_prompts(prompts_dir)


def test_a_template_with_an_unknown_variable_stops_start_up_naming_it(prompts_dir: Path):
    (prompts_dir / "condense.txt").write_text("{history}\n{question}\n{language}", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"condense\.txt: unknown \{language\}"):
        load_prompts(prompts_dir)


def test_a_template_that_cannot_be_parsed_says_how_to_write_braces(prompts_dir: Path):
    (prompts_dir / "system.txt").write_text("Reply as JSON: {\"answer\": ...} or {refusal}", encoding="utf-8")
    with pytest.raises(ConfigError, match="system.txt"):
        load_prompts(prompts_dir)


def test_a_missing_template_names_its_file(prompts_dir: Path):
    (prompts_dir / "passage.txt").unlink()
    with pytest.raises(ConfigError, match="prompt template missing: .*passage.txt"):
        load_prompts(prompts_dir)


def test_rendering_with_the_wrong_values_is_a_bug_not_a_half_filled_prompt():
    prompts = load_prompts()
    with pytest.raises(ValueError, match="takes"):
        prompts.render("condense", question="Q?")


def test_every_template_file_is_one_the_chain_knows():
    shipped = {p.stem for p in DEFAULT_PROMPTS_DIR.glob("*.txt")}
    assert shipped == set(VARIABLES)
