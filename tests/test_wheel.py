"""hubchat installed from its wheel works away from the checkout: the wheel carries the prompt templates.

Editors change the templates in the repository's top-level prompts/; the build copies them into the wheel as
hubchat/prompts/. The slow tests build the wheel from a copy of the checkout, install it into a fresh venv
outside the checkout and run the installed `hubchat` command in a folder of its own. The venv borrows the test
environment's installed dependencies through a .pth file (nothing is downloaded) but not hubchat itself.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import textwrap
import tomllib
import zipfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import pytest

from hubchat.generation.prompts import DEFAULT_PROMPTS_DIR

REPO = Path(__file__).resolve().parents[1]
PROMPTS = REPO / "prompts"
# What the build reads; copied so that building writes nothing (build/, *.egg-info) into the checkout.
BUILD_INPUTS = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "src", "prompts")

ARTICLES = {
    "whisper-meeting-notes.md": """\
        ---
        title: "Whisper for Meeting Notes"
        url: /use-cases/whisper-meeting-notes
        date: 2024-05-02
        tags: [speech, productivity]
        ---
        Whisper turns a meeting recording into a transcript on an ordinary laptop.

        ## Preparing the audio

        Convert the recording to mono at sixteen kilohertz before transcribing it with Whisper.
        Trim long silences and music first: a clean input matters more than the choice of model size.
        """,
    "chroma-small-projects.md": """\
        ---
        title: "Chroma for Small Projects"
        url: /guides/chroma-small-projects
        date: 2024-02-11
        tags: [vector-databases, rag]
        ---
        Chroma runs inside a Python process and keeps its data in a local folder.
        An embedded database needs no server, no port and no credentials.
        """,
    "sourdough-starter.md": """\
        ---
        title: "Keeping a Sourdough Starter"
        url: /kitchen/sourdough-starter
        date: 2023-11-20
        tags: [baking]
        ---
        A sourdough starter is fed flour and water once a day and kept at room temperature.
        """,
}
QUESTION = "How should I prepare the audio before transcribing a meeting with Whisper?"
EXPECTED_TITLE = "Whisper for Meeting Notes"


def test_a_checkout_reads_the_templates_editors_change() -> None:
    assert DEFAULT_PROMPTS_DIR == PROMPTS, "running from the checkout must read the repository's prompts/ folder"


# --- the built wheel --------------------------------------------------------------------------------------------


def run(cmd: list[str | Path], cwd: Path, env: dict[str, str] | None = None, hint: str = "") -> str:
    """Run a command; on failure, the assertion shows the command, its output and what to do."""
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, (
        f"`{' '.join(map(str, cmd))}` (in {cwd}) exited with {proc.returncode}. {hint}\n"
        f"--- stdout (end) ---\n{proc.stdout[-3000:]}\n--- stderr (end) ---\n{proc.stderr[-3000:]}"
    )
    return proc.stdout


def outside_checkout(folder: Path) -> Path:
    assert not folder.resolve().is_relative_to(REPO), f"{folder} must be outside the checkout {REPO}"
    return folder


@pytest.fixture(scope="module")
def source_copy(tmp_path_factory) -> Path:
    copy = outside_checkout(tmp_path_factory.mktemp("wheel-src"))
    for name in BUILD_INPUTS:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, copy / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(source, copy / name)
    return copy


def build_backend_hint() -> str:
    requires = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["build-system"]["requires"]
    try:
        installed = f"setuptools {metadata.version('setuptools')}"
    except metadata.PackageNotFoundError:
        installed = "no setuptools"
    return (
        f"The build runs without isolation, with this environment's build backend: pyproject.toml asks for "
        f"{requires}, this environment has {installed} "
        f"(`make test` installs it, or pip install {' '.join(requires)!r})."
    )


@pytest.fixture(scope="module")
def wheel(tmp_path_factory, source_copy: Path) -> Path:
    dist = outside_checkout(tmp_path_factory.mktemp("wheel-dist"))
    run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
         "--disable-pip-version-check", "-w", dist, source_copy],
        cwd=dist,
        hint=build_backend_hint(),
    )
    (built,) = dist.glob("hubchat-*.whl")
    return built


def packaged_templates(names: list[str], prefix: str) -> set[str]:
    return {name.removeprefix(prefix) for name in names if name.startswith(prefix) and name.endswith(".txt")}


def repository_templates() -> dict[str, bytes]:
    templates = {path.name: path.read_bytes() for path in sorted(PROMPTS.glob("*.txt"))}
    assert templates, f"no templates in {PROMPTS}"
    return templates


@pytest.mark.slow
def test_the_wheel_carries_the_repository_templates_unchanged(wheel: Path) -> None:
    expected = repository_templates()
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        packaged = packaged_templates(names, "hubchat/prompts/")
        assert packaged == set(expected), f"the wheel's hubchat/prompts/: {sorted(packaged)}, prompts/: {sorted(expected)}"
        for name, text in expected.items():
            in_wheel = archive.read(f"hubchat/prompts/{name}")
            assert in_wheel == text, f"hubchat/prompts/{name} in the wheel differs from prompts/{name}"
    assert not any(name.startswith("prompts/") for name in names), "the templates belong inside the package"


MIGRATIONS = REPO / "src" / "hubchat" / "records" / "migrations"


def repository_migrations() -> set[str]:
    files = {p.relative_to(MIGRATIONS).as_posix() for p in MIGRATIONS.rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    assert "versions/0001_schema.py" in files, f"no first revision in {MIGRATIONS}"
    return files


@pytest.mark.slow
def test_the_wheel_carries_the_records_migrations(wheel: Path) -> None:
    # An installed hubchat migrates its records database on start: without these files it could not open one.
    prefix = "hubchat/records/migrations/"
    with zipfile.ZipFile(wheel) as archive:
        packaged = {name.removeprefix(prefix) for name in archive.namelist() if name.startswith(prefix)}
    assert packaged == repository_migrations(), f"the wheel's {prefix}: {sorted(packaged)}"


@pytest.mark.slow
def test_the_wheel_carries_the_chat_widgets_page_and_scripts(wheel: Path) -> None:
    shipped = sorted(p.name for p in (REPO / "src" / "hubchat" / "web" / "widget_files").iterdir())
    assert "embed.js" in shipped and "page.html" in shipped
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    missing = [n for n in shipped if f"hubchat/web/widget_files/{n}" not in names]
    assert not missing, f"the wheel lacks the widget's {missing}: see [tool.setuptools.package-data] in pyproject.toml"


@pytest.mark.slow
def test_the_sdist_carries_the_templates_so_a_wheel_can_be_built_from_it(source_copy: Path, tmp_path: Path) -> None:
    # `python -m build` builds the wheel from the sdist: without prompts/ in it, that wheel would have no templates.
    script = "import sys; from setuptools import build_meta; print(build_meta.build_sdist(sys.argv[1]))"
    printed = run([sys.executable, "-c", script, tmp_path], cwd=source_copy, hint=build_backend_hint())
    sdist = tmp_path / printed.split()[-1]
    with tarfile.open(sdist) as archive:
        packaged = packaged_templates(archive.getnames(), f"{sdist.name.removesuffix('.tar.gz')}/prompts/")
    assert packaged == set(repository_templates()), f"{sdist.name} has prompts/ {sorted(packaged)}"


# --- the wheel installed in a fresh venv --------------------------------------------------------------------------


@dataclass(frozen=True)
class Installed:
    venv: Path
    python: Path
    hubchat: Path
    env: dict[str, str]


def dependency_folders() -> list[str]:
    """The site-packages folders of the test environment: where hubchat's dependencies are installed."""
    folders = {sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}
    folders.update(p for p in sys.path if Path(p).name in ("site-packages", "dist-packages"))
    return sorted(p for p in folders if Path(p).is_dir())


def clean_env() -> dict[str, str]:
    """The environment of the installed commands: no PYTHONPATH (it would reach the checkout), no HUBCHAT_* settings."""
    dropped = ("PYTHONPATH", "PYTHONHOME")
    return {k: v for k, v in os.environ.items() if k not in dropped and not k.startswith("HUBCHAT_")}


@pytest.fixture(scope="module")
def installed(tmp_path_factory, wheel: Path) -> Installed:
    venv = outside_checkout(tmp_path_factory.mktemp("wheel-venv")) / "venv"
    env = clean_env()
    run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=venv.parent, env=env)
    python = venv / "bin" / "python"
    purelib = "import sysconfig; print(sysconfig.get_path('purelib'))"
    site_packages = Path(run([python, "-c", purelib], cwd=venv, env=env).strip())
    # A .pth line only puts a folder on sys.path; the .pth files inside it (the editable hubchat's) are not run.
    (site_packages / "test-environment.pth").write_text("\n".join(dependency_folders()) + "\n")
    leaked = run([python, "-c", "import importlib.util as u; print(u.find_spec('hubchat'))"], cwd=venv, env=env).strip()
    assert leaked == "None", f"the fresh venv must not see the test environment's hubchat before the install: {leaked}"
    # --ignore-installed: pip neither reuses nor uninstalls the test environment's hubchat it can see.
    run([python, "-m", "pip", "install", "--no-deps", "--no-index", "--ignore-installed", "--disable-pip-version-check",
         "--no-warn-script-location", "--quiet", wheel], cwd=venv, env=env)
    return Installed(venv, python, venv / "bin" / "hubchat", env)


@pytest.fixture(scope="module")
def site_folder(tmp_path_factory) -> Path:
    """A site of its own: a small corpus and the repository's hubchat.toml, nothing else."""
    site = outside_checkout(tmp_path_factory.mktemp("wheel-site"))
    shutil.copy2(REPO / "hubchat.toml", site / "hubchat.toml")
    corpus = site / "corpus"
    corpus.mkdir()
    for name, text in ARTICLES.items():
        (corpus / name).write_text(textwrap.dedent(text), encoding="utf-8")
    return site


@pytest.mark.slow
def test_the_installed_package_is_the_wheel_and_reads_its_packaged_templates(installed: Installed) -> None:
    script = "import hubchat, hubchat.generation.prompts as p; print(hubchat.__file__); print(p.DEFAULT_PROMPTS_DIR)"
    printed = run([installed.python, "-c", script], cwd=installed.venv, env=installed.env)
    module, prompts_dir = map(Path, printed.split())
    assert module.is_relative_to(installed.venv), f"hubchat imported from {module}, not from the wheel's venv"
    assert prompts_dir == module.parent / "prompts", f"the installed hubchat reads its templates from {prompts_dir}"
    assert {p.name: p.read_bytes() for p in prompts_dir.glob("*.txt")} == repository_templates()


@pytest.mark.slow
def test_the_installed_package_creates_its_records_database_from_its_own_migrations(installed: Installed, tmp_path: Path) -> None:
    script = (
        "import sqlite3, sys, hubchat.records as r; r.Records(sys.argv[1]); print(r.__file__); "
        "print(*sqlite3.connect(sys.argv[1]).execute('SELECT version_num FROM alembic_version').fetchone())"
    )
    printed = run([installed.python, "-c", script, tmp_path / "records.sqlite"], cwd=installed.venv, env=installed.env)
    module, version = printed.split()
    assert Path(module).is_relative_to(installed.venv), f"hubchat.records imported from {module}, not from the wheel's venv"
    from hubchat.records.migrate import head_revisions

    assert {version} == head_revisions()


@pytest.mark.slow
def test_the_installed_command_shows_its_help(installed: Installed, site_folder: Path) -> None:
    help_text = run([installed.hubchat, "--help"], cwd=site_folder, env=installed.env)
    for command in ("ingest", "ask", "serve"):
        assert command in help_text, f"`hubchat --help` does not list {command}:\n{help_text}"


@pytest.mark.slow
def test_the_installed_command_ingests_and_answers_with_a_citation(installed: Installed, site_folder: Path) -> None:
    ingested = run([installed.hubchat, "ingest"], cwd=site_folder, env=installed.env)
    added = re.search(rf"added\W+{len(ARTICLES)}\b", ingested)
    assert added, f"ingest did not add all {len(ARTICLES)} articles:\n{ingested}"

    printed = run([installed.hubchat, "ask", "--profile", "extractive", QUESTION], cwd=site_folder, env=installed.env)
    answer, _, sources = printed.partition("\nSources:")
    assert sources, f"the answer lists no sources:\n{printed}"
    assert "[1]" in answer, f"the answer has no [1] citation:\n{printed}"
    assert f"[1] {EXPECTED_TITLE}" in sources, f"{EXPECTED_TITLE!r} is not source [1]:\n{printed}"
