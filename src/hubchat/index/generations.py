"""Which generation of the index is live, and which version of it: shared by every process through Chroma.

A rebuild writes a new generation (its own Chroma collection and lexical folder) beside the live one and
switches over only when it is complete, so serving never sees an empty or half-built index. The switch, and
every ingest that changes the live generation, is announced in a small pointer collection's metadata
(`<collection>--active`: `generation`, `version`); every process sharing the Chroma database or server reads it
now and then (`index.refresh_s`) and reloads only when it changed.

Generation 0 is the collection named `index.collection` itself, so an index built before generations existed
is generation 0 as it is.
"""

from __future__ import annotations

import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

POINTER_SUFFIX = "--active"


def collection_for(base: str, generation: int) -> str:
    return base if generation == 0 else f"{base}--g{generation}"


def lexical_dir_for(index_dir: Path, generation: int) -> Path:
    return Path(index_dir) / ("lexical" if generation == 0 else f"lexical-g{generation}")


def manifest_for(index_dir: Path, base: str, generation: int) -> Path:
    return Path(index_dir) / f"manifest-{collection_for(base, generation)}.json"


def generation_of(base: str, name: str) -> int | None:
    """The generation a collection name belongs to, or None when it is not one of `base`'s."""
    if name == base:
        return 0
    match = re.fullmatch(re.escape(base) + r"--g(\d+)", name)
    return int(match.group(1)) if match else None


@dataclass(frozen=True)
class Pointer:
    """The live generation and the version of its content (changes with every ingest that changed it)."""

    generation: int
    version: int


class GenerationPointer:
    """Reads and moves the pointer collection of one index.

    Args:
        client: the Chroma client of the index.
        base: `index.collection`.
    """

    def __init__(self, client, base: str):
        self.client = client
        self.base = base
        self.name = base[: 512 - len(POINTER_SUFFIX)] + POINTER_SUFFIX

    def read(self) -> Pointer:
        """The pointer as stored now (generation 0, version 0 when no ingest has announced anything yet)."""
        from chromadb.errors import NotFoundError

        try:
            meta = self.client.get_collection(self.name).metadata or {}
        except NotFoundError:  # only "missing" means generation 0; a server that fails must not look like it
            return Pointer(0, 0)
        return Pointer(int(meta.get("generation", 0)), int(meta.get("version", 0)))

    def announce(self, generation: int) -> Pointer:
        """Point every process at `generation`, with a new version."""
        pointer = Pointer(generation, time.time_ns())
        meta = {"generation": pointer.generation, "version": pointer.version}
        collection = self.client.get_or_create_collection(self.name, metadata=meta)
        collection.modify(metadata=meta)
        return pointer

    def drop_older_than(self, generation: int, index_dir: Path) -> list[str]:
        """Delete the collections, lexical folders and manifests of generations before `generation`.

        The generation just replaced is kept by the caller: a process that has not yet noticed the switch can
        still finish its queries on it.

        Returns:
            The collection names deleted.
        """
        dropped = []
        for collection in self.client.list_collections():
            name = collection.name
            old = generation_of(self.base, name)
            if old is not None and old < generation:
                self.client.delete_collection(name)
                shutil.rmtree(lexical_dir_for(index_dir, old), ignore_errors=True)
                manifest_for(index_dir, self.base, old).unlink(missing_ok=True)
                dropped.append(name)
        return dropped

    def clear(self, generation: int, index_dir: Path) -> None:
        """Remove whatever a killed rebuild left of `generation` (its collection, lexical folder, manifest)."""
        name = collection_for(self.base, generation)
        if any(c.name == name for c in self.client.list_collections()):
            self.client.delete_collection(name)
        shutil.rmtree(lexical_dir_for(index_dir, generation), ignore_errors=True)
        manifest_for(index_dir, self.base, generation).unlink(missing_ok=True)
