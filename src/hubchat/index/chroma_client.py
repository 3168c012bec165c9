"""The Chroma client: the one place that chooses an embedded folder or a `chroma run` server."""

from __future__ import annotations

from pathlib import Path

from hubchat.config import Settings
from hubchat.errors import BackendError


def _chroma_settings():
    from chromadb.config import Settings as ChromaSettings

    return ChromaSettings(anonymized_telemetry=False, allow_reset=False)


def make_chroma_client(settings: Settings):
    """A Chroma client for settings.store.mode: a persistent client in the index folder, or an HTTP client.

    Raises:
        BackendError: the server is not reachable (with the command that starts it), or the mode is unknown.
    """
    import chromadb

    match settings.store.mode:
        case "embedded":
            path = Path(settings.index.dir) / "chroma"
            path.mkdir(parents=True, exist_ok=True)
            return chromadb.PersistentClient(path=str(path), settings=_chroma_settings())
        case "server":
            where = f"{settings.store.host}:{settings.store.port}"
            try:
                client = chromadb.HttpClient(
                    host=settings.store.host, port=settings.store.port, ssl=settings.store.ssl, settings=_chroma_settings()
                )
                client.heartbeat()
            except Exception as exc:  # chromadb raises plain ValueError/ConnectionError variants
                raise BackendError(
                    f"The Chroma server at {where} is not reachable ({type(exc).__name__}). Start it with "
                    f"`chroma run --path DIR --host {settings.store.host} --port {settings.store.port}`, "
                    "or set store.mode = \"embedded\"."
                ) from None
            return client
        case other:  # config validation makes this unreachable; kept so a new mode cannot slip through
            raise BackendError(f"unknown store.mode {other!r}")
