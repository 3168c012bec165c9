"""The README's settings table, rendered from the settings model so the two cannot drift apart.

`settings_table_markdown()` renders one row per key (`section.key`, default, valid values, description) from the
fields of `hubchat.config.Settings`; the README holds that table between the `TABLE_START` and `TABLE_END` marker
comments. Regenerate it after changing a setting:

    python -m hubchat.config_docs --write README.md

`--check README.md` exits with status 1 when the README's table is out of date (tests/test_config.py checks the same).
"""

from __future__ import annotations

import argparse
import sys
import types
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import annotated_types
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from hubchat.config import SECTIONS, Settings

TABLE_START = (
    "<!-- settings-table:start: generated from src/hubchat/config.py by `python -m hubchat.config_docs --write README.md` -->"
)
TABLE_END = "<!-- settings-table:end -->"
REGENERATE_COMMAND = "python -m hubchat.config_docs --write README.md"


def settings_table_markdown(settings_cls: type[Settings] = Settings) -> str:
    """The Markdown table of every settings key: key, default, valid values and description.

    Args:
        settings_cls: the settings model to document (its sections are the fields named in `SECTIONS`).

    Returns:
        The table, one row per key in declaration order, ending with a newline.
    """
    rows = ["| key | default | valid values | description |", "|---|---|---|---|"]
    for section in SECTIONS:
        model = settings_cls.model_fields[section].annotation
        assert isinstance(model, type) and issubclass(model, BaseModel)
        for key, field in model.model_fields.items():
            cells = [f"`{section}.{key}`", _default(field), _valid_values(field), field.description or ""]
            rows.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(rows) + "\n"


def replace_table(document: str, table: str) -> str:
    """The document with the text between the table markers replaced by `table`.

    Raises:
        ValueError: the document lacks either marker, or has them in the wrong order.
    """
    start, end = _marker_positions(document)
    return document[: start + len(TABLE_START)] + "\n" + table + document[end:]


def table_in(document: str) -> str:
    """The text between the table markers (without the newline after the start marker).

    Raises:
        ValueError: the document lacks either marker, or has them in the wrong order.
    """
    start, end = _marker_positions(document)
    return document[start + len(TABLE_START) : end].removeprefix("\n")


def _marker_positions(document: str) -> tuple[int, int]:
    start, end = document.find(TABLE_START), document.find(TABLE_END)
    if start < 0 or end < 0 or end < start:
        raise ValueError(f"the document needs the lines {TABLE_START!r} and then {TABLE_END!r} around the table")
    return start, end


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _default(field: FieldInfo) -> str:
    value = field.default
    if value is None:
        return "(unset)"
    if value == "":
        return "(empty)"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, Path):
        return f"`{value.as_posix()}`"
    return f"`{value}`"


def _valid_values(field: FieldInfo) -> str:
    """What the field's type and constraints accept, in words: choices, a number range or a length range."""
    annotation: Any = field.annotation
    optional = False
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        optional = len(members) < len(typing.get_args(annotation))
        annotation = members[0] if len(members) == 1 else annotation
    if typing.get_origin(annotation) is Literal:
        text = ", ".join(f"`{choice}`" for choice in typing.get_args(annotation))
    elif annotation is bool:
        text = "`true`, `false`"
    elif annotation is Path:
        text = "a path"
    elif annotation in (int, float):
        text = _number_range(field.metadata, "an integer" if annotation is int else "a number")
    elif annotation is str:
        text = _length_range(field.metadata)
    else:
        text = getattr(annotation, "__name__", str(annotation))
    return f"{text}, or unset" if optional else text


def _number_range(constraints: Sequence[object], kind: str) -> str:
    kinds = {"ge": annotated_types.Ge, "gt": annotated_types.Gt, "le": annotated_types.Le, "lt": annotated_types.Lt}
    bound = {name: getattr(c, name) for c in constraints for name, kind in kinds.items() if isinstance(c, kind)}
    if "ge" in bound and "le" in bound:
        return f"{bound['ge']} to {bound['le']}"
    symbols = {"ge": "≥", "gt": ">", "le": "≤", "lt": "<"}
    return ", ".join(f"{symbols[name]} {value}" for name, value in bound.items()) or kind


def _length_range(constraints: Sequence[object]) -> str:
    low = next((c.min_length for c in constraints if isinstance(c, annotated_types.MinLen)), None)
    high = next((c.max_length for c in constraints if isinstance(c, annotated_types.MaxLen)), None)
    if low is not None and high is not None:
        return f"text of {low} to {high} characters"
    if low is not None:
        return f"text of at least {low} characters"
    if high is not None:
        return f"text of at most {high} characters"
    return "text"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hubchat.config_docs", description=__doc__.split("\n\n")[0])
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--write", metavar="FILE", type=Path, help="replace the table between the markers in FILE")
    action.add_argument("--check", metavar="FILE", type=Path, help="exit 1 if FILE's table is not the rendered one")
    args = parser.parse_args(argv)
    table = settings_table_markdown()
    if args.write is None and args.check is None:
        sys.stdout.write(table)
        return 0
    path: Path = args.write or args.check
    document = path.read_text(encoding="utf-8")
    try:
        updated = replace_table(document, table)
    except ValueError as exc:
        parser.error(f"{path}: {exc}")
    if args.check is not None:
        if updated != document:
            print(f"{path}: the settings table is out of date; run `{REGENERATE_COMMAND}`", file=sys.stderr)
            return 1
        return 0
    if updated != document:
        path.write_text(updated, encoding="utf-8")
        print(f"{path}: settings table updated")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
