"""Settings come from defaults < file < profile < HUBCHAT_* environment, and a wrong value is one clear line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from pydantic import ValidationError

from hubchat.config import ChatSettings, Settings, load_settings, profile_names
from hubchat.errors import ConfigError

CONFIG = """
[corpus]
path = "articles"

[index]
dir = "data/index"

[chat]
backend = "openai-compatible"
model = "model-from-file"
max_tokens = 300
timeout_s = 50

[retrieval]
top_k = 7

[profiles.fast.chat]
model = "model-from-profile"
timeout_s = 20

[profiles.fast.retrieval]
top_k = 3

[profiles.remote-store.store]
mode = "server"
port = 9000
"""


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No HUBCHAT_* variable from the developer's shell, and no ./hubchat.toml, may leak into these tests."""
    import os

    for name in list(os.environ):
        if name.startswith("HUBCHAT_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    folder = tmp_path / "site"
    folder.mkdir()
    path = folder / "hubchat.toml"
    path.write_text(textwrap.dedent(CONFIG), encoding="utf-8")
    return path


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "custom.toml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_without_a_file_the_defaults_apply():
    settings = load_settings()
    assert settings == Settings()
    assert settings.config_file is None
    assert settings.chat.backend == "local"
    assert settings.store.mode == "embedded"


def test_the_file_overrides_the_defaults_and_keeps_the_rest(config_file: Path):
    settings = load_settings(config_file)
    assert settings.chat.backend == "openai-compatible"
    assert settings.chat.model == "model-from-file"
    assert settings.chat.max_tokens == 300
    assert settings.chat.temperature == Settings().chat.temperature  # not in the file: the default
    assert settings.retrieval.top_k == 7
    assert settings.config_file == config_file
    assert settings.profile is None


def test_a_profile_overlays_only_the_keys_it_names(config_file: Path):
    settings = load_settings(config_file, profile="fast")
    assert settings.chat.model == "model-from-profile"
    assert settings.chat.timeout_s == 20
    assert settings.retrieval.top_k == 3
    # Keys the profile does not name keep the file's values, not the defaults.
    assert settings.chat.backend == "openai-compatible"
    assert settings.chat.max_tokens == 300
    assert settings.profile == "fast"


def test_the_profile_can_come_from_the_environment(config_file: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("HUBCHAT_PROFILE", "remote-store")
    settings = load_settings(config_file)
    assert (settings.store.mode, settings.store.port) == ("server", 9000)
    assert settings.profile == "remote-store"


def test_environment_beats_profile_beats_file_beats_defaults(config_file: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("HUBCHAT_CHAT__MODEL", "model-from-env")
    monkeypatch.setenv("HUBCHAT_RETRIEVAL__TOP_K", "9")
    settings = load_settings(config_file, profile="fast")
    assert settings.chat.model == "model-from-env"  # env > profile
    assert settings.retrieval.top_k == 9  # env > profile > file
    assert settings.chat.timeout_s == 20  # profile > file
    assert settings.chat.max_tokens == 300  # file > default
    assert settings.chat.n_ctx == Settings().chat.n_ctx  # default


def test_an_environment_variable_for_one_key_leaves_the_sections_other_keys_alone(config_file: Path, monkeypatch):
    monkeypatch.setenv("HUBCHAT_CHAT__TEMPERATURE", "0.5")
    settings = load_settings(config_file)
    assert settings.chat.temperature == 0.5
    assert settings.chat.model == "model-from-file"
    assert settings.chat.backend == "openai-compatible"


def test_the_config_file_can_be_named_by_the_environment(config_file: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("HUBCHAT_CONFIG", str(config_file))
    assert load_settings().chat.model == "model-from-file"


def test_relative_paths_are_resolved_against_the_config_files_folder(config_file: Path, tmp_path: Path, monkeypatch):
    elsewhere = tmp_path / "somewhere" / "else"
    elsewhere.mkdir(parents=True)
    monkeypatch.chdir(elsewhere)
    settings = load_settings(config_file)
    assert settings.corpus.path == config_file.parent / "articles"
    assert settings.index.dir == config_file.parent / "data" / "index"


def test_default_paths_are_resolved_against_the_config_files_folder_too(tmp_path: Path, monkeypatch):
    path = write(tmp_path, "[corpus]\npath = 'articles'\n")
    monkeypatch.chdir(tmp_path / "..")
    settings = load_settings(path)
    assert settings.index.dir == tmp_path / ".hubchat" / "index"


def test_absolute_paths_are_kept(tmp_path: Path):
    target = tmp_path / "abs" / "corpus"
    settings = load_settings(write(tmp_path, f'[corpus]\npath = "{target}"\n'))
    assert settings.corpus.path == target


def one_line_error(**kwargs) -> str:
    with pytest.raises(ConfigError) as info:
        load_settings(**kwargs)
    message = str(info.value)
    assert "\n" not in message, message
    return message


@pytest.mark.parametrize(
    ("toml", "key", "value", "valid"),
    [
        ('[chat]\nbackend = "foo"\n', "chat.backend", "'foo'", ["'local'", "'openai'", "'openai-compatible'", "'extractive'"]),
        ("[store]\nport = 0\n", "store.port", "0", ["greater than or equal to 1"]),
        ("[store]\nport = 70000\n", "store.port", "70000", ["less than or equal to 65535"]),
        ('[store]\nmode = "cloud"\n', "store.mode", "'cloud'", ["'embedded'", "'server'"]),
        ('[embeddings]\nbackend = "bert"\n', "embeddings.backend", "'bert'", ["'local'", "'openai-compatible'"]),
        ("[retrieval]\ntop_k = 0\n", "retrieval.top_k", "0", ["greater than or equal to 1"]),
    ],
)
def test_a_wrong_value_fails_with_one_line_naming_key_value_and_what_is_valid(tmp_path, toml, key, value, valid):
    message = one_line_error(config_file=write(tmp_path, toml))
    assert key in message
    assert value in message
    for option in valid:
        assert option in message


def test_chunk_overlap_not_below_the_target_is_refused(tmp_path: Path):
    message = one_line_error(config_file=write(tmp_path, "[chunking]\ntarget_tokens = 100\noverlap_tokens = 100\n"))
    assert "chunking" in message and "overlap_tokens" in message
    assert "(100)" in message  # the bad value
    assert "below target_tokens" in message  # what is valid


def test_chunk_target_above_the_maximum_is_refused(tmp_path: Path):
    message = one_line_error(config_file=write(tmp_path, "[chunking]\ntarget_tokens = 400\nmax_tokens = 300\n"))
    assert "target_tokens (400)" in message and "max_tokens (300)" in message


def test_a_wrong_value_from_the_environment_is_reported_the_same_way(config_file: Path, monkeypatch):
    monkeypatch.setenv("HUBCHAT_CHAT__BACKEND", "foo")
    message = one_line_error(config_file=config_file)
    assert "chat.backend" in message and "'foo'" in message and "'extractive'" in message
    assert "HUBCHAT_CHAT__BACKEND" in message  # where the bad value came from


def test_a_wrong_value_in_a_profile_is_reported_when_that_profile_is_used(tmp_path: Path):
    path = write(tmp_path, '[profiles.broken.chat]\nbackend = "foo"\n')
    assert load_settings(path).chat.backend == "local"
    message = one_line_error(config_file=path, profile="broken")
    assert "chat.backend" in message and "'foo'" in message


@pytest.mark.parametrize(
    ("toml", "key"),
    [
        ("[chat]\nbakend = 'local'\n", "chat.bakend"),
        ("[retreival]\ntop_k = 3\n", "retreival"),
        ("[profiles.p.store]\nhots = 'x'\n", "store.hots"),
    ],
)
def test_an_unknown_key_is_named(tmp_path: Path, toml: str, key: str):
    path = write(tmp_path, toml)
    profile = "p" if "profiles" in toml else None
    message = one_line_error(config_file=path, profile=profile)
    assert "unknown key" in message and f"'{key}'" in message


def test_an_unknown_profile_lists_the_valid_ones(config_file: Path):
    message = one_line_error(config_file=config_file, profile="fastest")
    assert "'fastest'" in message
    assert "fast" in message and "remote-store" in message
    assert profile_names(config_file) == ["fast", "remote-store"]


def test_a_missing_config_file_is_a_config_error(tmp_path: Path):
    message = one_line_error(config_file=tmp_path / "nope.toml")
    assert "nope.toml" in message


def test_a_file_that_is_not_toml_is_a_config_error(tmp_path: Path):
    message = one_line_error(config_file=write(tmp_path, "[chat\nbackend = \n"))
    assert "custom.toml" in message and "cannot parse" in message


def test_the_shipped_config_and_all_its_profiles_load():
    shipped = Path(__file__).resolve().parents[1] / "hubchat.toml"
    base = load_settings(shipped)
    assert base.corpus.path == shipped.parent / "corpus"
    for name in profile_names(shipped):
        assert load_settings(shipped, profile=name).profile == name


# --- the settings document themselves ---


def test_every_setting_describes_itself():
    from hubchat.config import SECTIONS

    undocumented = [
        f"{section}.{key}"
        for section in SECTIONS
        for key, field in Settings.model_fields[section].annotation.model_fields.items()
        if not (field.description or "").strip()
    ]
    assert not undocumented, f"settings without a Field(description=...): {undocumented}"


def test_the_readme_settings_table_is_the_one_the_settings_model_renders():
    from hubchat.config_docs import REGENERATE_COMMAND, settings_table_markdown, table_in

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    assert table_in(readme) == settings_table_markdown(), f"README.md's settings table is stale: run `{REGENERATE_COMMAND}`"


def test_pinned_slots_need_a_second_slot_for_rewrites():
    with pytest.raises(ValidationError, match="pin_slots needs chat.parallel >= 2"):
        ChatSettings(backend="local", parallel=1)
    assert ChatSettings(backend="local", parallel=1, pin_slots=False).parallel == 1
