"""Writes one benchmark's section of benchmarks/RESULTS.md, leaving the other sections as they are."""

from __future__ import annotations

from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
HEADER = "# hubchat benchmark results"
# Hand-written findings below this line in a section survive when its numbers are regenerated.
NOTES_MARKER = "<!-- hand-written notes below: kept when the numbers above are regenerated -->"


def write_section(title: str, body: str, path: Path = RESULTS) -> None:
    """Put `body` under `## title`, replacing only that section (or appending it); keep its hand-written notes."""
    text = path.read_text(encoding="utf-8") if path.is_file() else HEADER + "\n"
    lines = text.splitlines()
    heading = f"## {title}"
    new_section = [heading, "", *body.strip("\n").splitlines(), ""]
    if heading in lines:
        start = lines.index(heading)
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        old = lines[start:end]
        if NOTES_MARKER in old:
            new_section += old[old.index(NOTES_MARKER):]
        lines[start:end] = new_section
    else:
        if lines and lines[-1].strip():
            lines.append("")
        lines += new_section
    path.write_text("\n".join(lines).rstrip("\n") + "\n", encoding="utf-8")
