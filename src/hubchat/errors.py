"""Errors that reach users: each carries a message that says what went wrong and what to do."""


class HubchatError(Exception):
    """Base class for errors whose message is meant for the user, not a traceback."""


class ConfigError(HubchatError):
    """The configuration has a wrong value or cannot be read."""


class ModelNotAvailableError(HubchatError):
    """A model file or package is missing; the message names what to install."""


class BackendError(HubchatError):
    """A chat or embedding backend is down, slow, or refused the request."""


class IndexMismatchError(HubchatError):
    """The index was built with another embedding model than the configured one (re-embed with --rebuild)."""


class InputError(HubchatError):
    """A question or file the user gave cannot be used (empty, too long, binary)."""


class IngestBusyError(HubchatError):
    """Another ingest is updating the same index; this one did nothing."""


class IngestLeaseLostError(IngestBusyError):
    """An ingest found, before a write, that another took the shared index's lease from it: it stopped there.

    A kind of IngestBusyError: another ingest is updating the index, and callers that skip or retry a busy turn
    do the same here. What this one wrote before it lost the lease is whole articles, which the other one sees.
    """


class IndexStorageError(HubchatError):
    """The index folder is full or read-only: a write failed; the message names the folder and the way out.

    Attributes:
        problem: "full" or "read-only".
    """

    def __init__(self, message: str, problem: str):
        super().__init__(message)
        self.problem = problem
