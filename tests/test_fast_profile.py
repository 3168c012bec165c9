"""The `fast` profile of hubchat.toml: the smaller packaged chat model (Qwen2.5-Coder-0.5B-Instruct Q4_K_M), chosen
by `--profile fast` or HUBCHAT_PROFILE=fast; and, where its part packages are installed (`make test` installs
them), the real file assembled, verified and answering through the local backend and `hubchat eval` (`make test`
installs its parts; without them these tests fail with the install command, they are never skipped).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hubchat.cli import app
from hubchat.config import load_settings
from hubchat.errors import ConfigError
from hubchat.generation import model_files as modelfiles
from hubchat.generation.backends import build_chat_model, check_backend
from hubchat.generation.chat_endpoint import local_model_path
from hubchat.generation.llama_server import running_server
from hubchat.generation.model_files import PACKAGED_MODELS, is_verified
from tests.test_eval_harness import cut_squad

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "hubchat.toml"
FAST = PACKAGED_MODELS["qwen2.5-coder-0.5b-instruct-q4_k_m"]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No HUBCHAT_* variable from the developer's shell may choose another profile or model for these tests."""
    for name in list(os.environ):
        if name.startswith("HUBCHAT_"):
            monkeypatch.delenv(name)


def test_the_fast_profile_selects_the_packaged_0_5b_on_the_local_backend():
    fast = load_settings(CONFIG, profile="fast")
    default = load_settings(CONFIG)
    assert fast.profile == "fast"
    assert (fast.chat.backend, fast.chat.model) == ("local", FAST.name)
    assert PACKAGED_MODELS[default.chat.model] is not FAST
    # Only the model changes: the same cache folder, context, threads and slots as the default model.
    assert fast.chat.model_dump(exclude={"model"}) == default.chat.model_dump(exclude={"model"})
    assert fast.model_dump(exclude={"chat", "profile"}) == default.model_dump(exclude={"chat", "profile"})


def test_hubchat_profile_in_the_environment_selects_it_too(monkeypatch):
    monkeypatch.setenv("HUBCHAT_PROFILE", "fast")
    assert load_settings(CONFIG).chat.model == FAST.name


def test_the_local_backend_serves_the_file_the_profile_names(monkeypatch, tmp_path):
    asked = []
    monkeypatch.setattr(modelfiles, "packaged_model_path", lambda model, cache_dir: asked.append((model, cache_dir)) or tmp_path)
    settings = load_settings(CONFIG, profile="fast")
    assert local_model_path(settings.chat) == tmp_path
    assert asked == [(FAST, settings.chat.model_cache_dir)]


def test_a_model_name_that_is_not_packaged_stops_the_local_backend_with_the_choices():
    settings = load_settings(CONFIG, profile="fast", chat={"model": "qwen2.5-coder-0.5b"})
    with pytest.raises(ConfigError, match=r"'qwen2.5-coder-0.5b' is not a packaged model .*qwen2.5-coder-0.5b-instruct-q4_k_m"):
        build_chat_model(settings.chat)


def test_status_with_the_fast_profile_names_the_0_5b(monkeypatch, tmp_path):
    monkeypatch.setenv("HUBCHAT_INDEX__DIR", str(tmp_path / "index"))  # not the checkout's index
    result = CliRunner().invoke(app, ["status", "--config", str(CONFIG), "--profile", "fast"])
    assert result.exit_code == 0, result.output
    assert f"local:{FAST.name}" in result.output
    assert not (tmp_path / "models").exists()  # a status line never assembles the model


@pytest.fixture(scope="module")
def fast_cache(tmp_path_factory) -> Iterator[Path]:
    """A model cache folder for this module; the 0.5 GB file and its server go when the module is done."""
    cache = tmp_path_factory.mktemp("fast-models")
    yield cache
    server = running_server(cache / FAST.file_name)
    if server is not None:
        server.stop()
    for leftover in cache.iterdir():
        leftover.unlink()


@pytest.mark.slow
@pytest.mark.server
def test_the_real_fast_model_assembles_verifies_and_answers(fast_cache):
    settings = load_settings(CONFIG, profile="fast", chat={"model_cache_dir": str(fast_cache), "max_tokens": 16,
                                                           "temperature": 0.0, "max_retries": 0})
    path = local_model_path(settings.chat)
    assert path == fast_cache / FAST.file_name
    assert path.stat().st_size == FAST.size
    assert is_verified(path, FAST.sha256, FAST.size)
    # The hash was checked while the parts were joined; check it independently here, once.
    with open(path, "rb") as f:
        assert hashlib.file_digest(f, "sha256").hexdigest() == FAST.sha256

    check_backend(settings.chat, start_local=True)  # what app start-up does: the model loads now
    assert running_server(path) is not None
    reply = build_chat_model(settings.chat).invoke("What is 2 + 2? Reply with the number only.")
    assert "4" in reply.content


@pytest.mark.slow
@pytest.mark.server
def test_hubchat_eval_with_the_fast_profile_answers_with_the_0_5b(fast_cache, tmp_path, monkeypatch):
    squad = cut_squad(tmp_path / "squad", answerable=1, unanswerable=0, distractors=3)
    monkeypatch.setenv("HUBCHAT_CHAT__MODEL_CACHE_DIR", str(fast_cache))
    monkeypatch.setenv("HUBCHAT_EVAL__CACHE_DIR", str(tmp_path / "eval-cache"))
    out = tmp_path / "results"
    result = CliRunner().invoke(app, ["eval", str(squad), "--config", str(CONFIG), "--profile", "fast", "--systems", "hubchat",
                                      "--no-retrieval", "--checker-pairs", "0", "--out", str(out)])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert (summary["meta"]["chat_backend"], summary["meta"]["chat_model"]) == ("local", FAST.name)
    records = [json.loads(line) for line in (out / "records.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(records) == 1 and records[0]["error"] == "", records
