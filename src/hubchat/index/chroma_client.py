"""The Chroma client: the one place that chooses an embedded folder or a `chroma run` server."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hubchat.config import Settings
from hubchat.errors import BackendError
from hubchat.index.storage_errors import index_storage_errors

# Embedded Chroma on a full disk may have taken writes into its log that it cannot apply: it then refuses reads too,
# until there is room to apply them (nothing is lost).
_EMBEDDED_KEPT = "Chroma cannot read or write it until there is room again; what it holds is kept."


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
            # SQLite writes to its folder even to open a database: a read-only one cannot serve either.
            with index_storage_errors(str(settings.index.dir), "Embedded Chroma cannot open its database there."):
                path.mkdir(parents=True, exist_ok=True)
                return chromadb.PersistentClient(path=str(path), settings=_chroma_settings())
        case "server":
            _probe(settings)
            client = chromadb.HttpClient(
                host=settings.store.host, port=settings.store.port, ssl=settings.store.ssl, settings=_chroma_settings()
            )
            _apply_timeout(client, settings.store.timeout_s)
            return client
        case other:  # config validation makes this unreachable; kept so a new mode cannot slip through
            raise BackendError(f"unknown store.mode {other!r}")


def _where(settings: Settings) -> str:
    return f"{settings.store.host}:{settings.store.port}"


def _probe(settings: Settings) -> None:
    """Ask the server's heartbeat, with `store.timeout_s`, before Chroma's client (which waits forever) does.

    Raises:
        BackendError: refused (with the command that starts a server) or no answer within the timeout.
    """
    import httpx

    scheme = "https" if settings.store.ssl else "http"
    url = f"{scheme}://{_where(settings)}/api/v2/heartbeat"
    try:
        httpx.get(url, timeout=settings.store.timeout_s).raise_for_status()
    except httpx.TimeoutException:
        raise BackendError(_hanging(settings)) from None
    except httpx.HTTPError as exc:
        raise BackendError(
            f"The Chroma server at {_where(settings)} is not reachable ({type(exc).__name__}). Start it with "
            f"`chroma run --path DIR --host {settings.store.host} --port {settings.store.port}`, "
            "or set store.mode = \"embedded\"."
        ) from None


def _hanging(settings: Settings) -> str:
    return (
        f"The Chroma server at {_where(settings)} did not answer within {settings.store.timeout_s:g} s "
        "(store.timeout_s). It may be overloaded or stuck; check it, or restart it."
    )


def _apply_timeout(client, seconds: float) -> None:
    """Give the client's requests a timeout: chromadb 1.5.9's HTTP client builds its httpx session with none, so a
    server that accepts connections and never answers would block a request forever. The session is reached
    through the client's internals (pinned chromadb version; tests/test_store_server.py proves it still works)."""
    import httpx

    client._server._session.timeout = httpx.Timeout(seconds)


@contextmanager
def chroma_errors(settings: Settings) -> Iterator[None]:
    """Turn a Chroma server's transport failures into BackendErrors that say what happened, and an embedded
    Chroma's full or read-only folder into an IndexStorageError."""
    import httpx

    try:
        if settings.store.mode == "embedded":
            with index_storage_errors(str(settings.index.dir), _EMBEDDED_KEPT, Path(settings.index.dir)):
                yield
        else:
            yield
    except httpx.TimeoutException:
        raise BackendError(_hanging(settings)) from None
    except httpx.TransportError as exc:
        raise BackendError(
            f"Lost the Chroma server at {_where(settings)} ({type(exc).__name__}); the next request tries again. "
            "If it is down, restart it."
        ) from None


def reload_embedded(client, settings: Settings):
    """The same embedded database, reread: embedded Chroma loads a collection's vector index once and never sees
    what another process adds to it afterwards, so the process's Chroma system for this folder is replaced by a
    new one (every client of the folder in this process then reads through the new one) and the old one stopped.
    A Chroma server always serves its latest state: there the client is returned as it is.

    Reaches into chromadb's shared-system registry (pinned chromadb version; tests/test_index_generations.py
    proves another process's additions become searchable).
    """
    if settings.store.mode != "embedded":
        return client
    from chromadb.api.shared_system_client import SharedSystemClient

    old = SharedSystemClient._identifier_to_system.pop(client._identifier, None)
    SharedSystemClient._identifier_to_refcount.pop(client._identifier, None)
    fresh = make_chroma_client(settings)
    if old is not None:
        old.stop()
    return fresh
