"""Serve one GGUF chat model over llama.cpp's OpenAI-compatible HTTP API, inside this process.

xllamacpp runs llama.cpp's own C++ server (continuous batching, one slot per parallel request) on a loopback
port; anything that speaks the OpenAI protocol (`openai.OpenAI`, `langchain_openai.ChatOpenAI`) talks to it
at `base_url`, exactly as it would talk to vLLM, Ollama or OpenAI.

Two facts about xllamacpp shape this module:

- `xllamacpp.Server(params)` loads the model and binds the port inside its constructor, and holds the GIL while
  doing so: every other Python thread is frozen for the load (about 1 s for SmolLM2, several seconds for the
  1.1 GB default model). Start the server before serving requests (`check_backend(..., start_local=True)`),
  not lazily from a request handler of a busy app. The load itself cannot be interrupted, so
  `startup_timeout_s` bounds the readiness wait after it.
- The server stops when the last reference to the `Server` object goes away; `stop()` drops ours.

llama.cpp logs heavily to stderr. `log_verbosity` maps to llama.cpp's `-lv`: 0 silent, 1 errors (our default,
so a bad model file still explains itself), 2 warnings, 3 info (llama.cpp's own default), 4 debug.
"""

from __future__ import annotations

import atexit
import json
import logging
import secrets
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from hubchat.errors import BackendError, ModelNotAvailableError

log = logging.getLogger(__name__)

_HOST = "127.0.0.1"
_POLL_INTERVAL_S = 0.05
_PROBE_TIMEOUT_S = 2.0
DEFAULT_LOG_VERBOSITY = 1


class LlamaServer:
    """llama.cpp's OpenAI-compatible server for one GGUF file, on 127.0.0.1 and a port the OS picks.

    Args:
        model_path: the GGUF file to serve.
        n_ctx: context tokens available to *each* request (the server allocates `n_ctx * parallel` in all).
        threads: CPU threads for generation and for prompt processing.
        parallel: requests decoded concurrently (llama.cpp slots); more wait in the server's queue.
        startup_timeout_s: how long `start()` waits for the HTTP API to answer once the model is loaded.
        log_verbosity: llama.cpp's log level on stderr (see the module docstring).
        api_key: if given, the server refuses requests without it (401); /health stays public.
        embedding: serve /v1/embeddings instead of chat, mean-pooled (llama.cpp's OpenAI endpoint refuses
            unpooled output); one input must fit one batch, so the batch is a request's whole `n_ctx`.
        prompt_cache_mib: host memory for prompts kept after their slot moved on, so a request that starts like
            an earlier one reads only what differs (llama.cpp's own default is 8 GiB).

    Use as a context manager, or `start()` / `stop()`; `get_server()` shares one per model file.
    """

    def __init__(
        self,
        model_path: str | Path,
        *,
        n_ctx: int = 4096,
        threads: int = 2,
        parallel: int = 1,
        startup_timeout_s: float = 120.0,
        log_verbosity: int = DEFAULT_LOG_VERBOSITY,
        api_key: str | None = None,
        embedding: bool = False,
        prompt_cache_mib: int = 512,
    ) -> None:
        self.model_path = Path(model_path).expanduser().resolve()
        self.n_ctx = n_ctx
        self.threads = threads
        self.parallel = parallel
        self.startup_timeout_s = startup_timeout_s
        self.log_verbosity = log_verbosity
        self._api_key = api_key
        self.embedding = embedding
        self.prompt_cache_mib = prompt_cache_mib
        self.startup_seconds: float | None = None
        self._server: Any = None
        self._address: str | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        state = self._address or "stopped"
        return f"LlamaServer({self.model_path.name!r}, {state})"

    @property
    def model_id(self) -> str:
        """The model name the server lists at GET /v1/models (the file name without .gguf)."""
        return self.model_path.stem

    @property
    def api_key(self) -> str | None:
        """The key clients must send (`Authorization: Bearer KEY`), or None when the server checks none."""
        return self._api_key

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def address(self) -> str:
        """The server root, e.g. http://127.0.0.1:41234 (its /health lives here)."""
        if self._address is None:
            raise BackendError(f"the local model server for {self.model_path.name} is not running; call start() first")
        return self._address

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible base URL, e.g. http://127.0.0.1:41234/v1."""
        return f"{self.address}/v1"

    def start(self) -> LlamaServer:
        """Load the model, serve it, and wait until GET /v1/models answers. Does nothing if already running.

        Returns:
            self, so `server = LlamaServer(path).start()` reads naturally.

        Raises:
            ModelNotAvailableError: the model file does not exist.
            BackendError: the file is not a loadable GGUF model, or the API did not answer in time.
        """
        with self._lock:
            if self._server is not None:
                return self
            require_model_file(self.model_path)
            import xllamacpp  # heavy native module: only load it when a local model is really wanted

            began = time.perf_counter()
            try:
                server = xllamacpp.Server(self._params(xllamacpp))
            except RuntimeError as exc:
                raise BackendError(
                    f"the local model server could not load {self.model_path} ({exc}). Is it a complete GGUF chat "
                    f"model that fits in memory with n_ctx={self.n_ctx} x parallel={self.parallel}? llama.cpp's "
                    "own explanation is on stderr (lines marked E)."
                ) from None
            address = str(server.listening_address).rstrip("/")
            try:
                _wait_until_ready(address, self.startup_timeout_s, self._api_key)
            except BackendError:
                server = None  # dropping the last reference shuts the half-started server down
                raise
            self._server = server
            self._address = address
            self.startup_seconds = time.perf_counter() - began
        log.info("serving %s at %s/v1 (ready in %.2f s)", self.model_path.name, address, self.startup_seconds)
        return self

    def stop(self) -> None:
        """Shut the server down (in-flight requests fail). Safe to call twice."""
        with self._lock:
            server, self._server, self._address = self._server, None, None
        if server is not None:
            del server  # xllamacpp stops its HTTP and decode loops when the object is freed
            log.info("stopped the local model server for %s", self.model_path.name)

    def __enter__(self) -> LlamaServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _params(self, xllamacpp: Any) -> Any:
        params = xllamacpp.CommonParams()
        params.model.path = str(self.model_path)  # a local file only: the hub/URL fields stay empty
        params.offline = True
        params.hostnames = [_HOST]
        params.port = 0  # the OS picks a free port at bind time, so two servers never race for one
        params.ui = False
        # No Access-Control-Allow-Origin at all (llama.cpp's default is "*"): a web page open in the operator's
        # browser must not be able to read this server's answers.
        params.cors_origins = ""
        params.model_alias = {self.model_id}  # instead of the full file path, which would leak into every reply
        if self._api_key:
            params.api_keys = [self._api_key]
        # llama.cpp splits n_ctx across its slots; scale it so every request gets the n_ctx it was promised.
        params.n_ctx = self.n_ctx * self.parallel
        params.n_parallel = self.parallel
        params.cache_ram_mib = self.prompt_cache_mib
        params.cpuparams.n_threads = self.threads
        params.cpuparams_batch.n_threads = self.threads
        params.verbosity = self.log_verbosity
        if self.embedding:
            params.embedding = True
            params.pooling_type = xllamacpp.llama_pooling_type.LLAMA_POOLING_TYPE_MEAN
            params.n_batch = self.n_ctx
            params.n_ubatch = self.n_ctx
        return params


def require_model_file(model_path: str | Path) -> Path:
    """The model file's path, or ModelNotAvailableError naming it and the setting to change."""
    path = Path(model_path).expanduser()
    if not path.is_file():
        raise ModelNotAvailableError(
            f"chat model file not found: {path}. Set chat.model_path to an existing GGUF file, "
            "or unset it to use the packaged model chat.model names."
        )
    return path


def _wait_until_ready(address: str, timeout_s: float, api_key: str | None) -> None:
    """Poll GET /v1/models until it lists a model, or raise BackendError saying what was last seen."""
    deadline = time.monotonic() + timeout_s
    # Loopback only: never route the probe through an HTTP proxy from the environment.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    request = urllib.request.Request(f"{address}/v1/models")
    if api_key:
        request.add_header("Authorization", f"Bearer {api_key}")
    last_problem = "no answer yet"
    while True:
        try:
            with opener.open(request, timeout=_PROBE_TIMEOUT_S) as response:
                listing = json.loads(response.read().decode("utf-8"))
            if listing.get("data"):
                return
            last_problem = "GET /v1/models listed no model"
        except urllib.error.HTTPError as exc:
            last_problem = f"GET /v1/models answered HTTP {exc.code}"  # 503 while llama.cpp is still loading
        except (urllib.error.URLError, OSError, ValueError) as exc:
            last_problem = f"GET /v1/models failed: {getattr(exc, 'reason', exc)}"
        if time.monotonic() >= deadline:
            raise BackendError(
                f"the local model server at {address} did not become ready within {timeout_s:g} s "
                f"({last_problem}). Raise chat.startup_timeout_s or check the machine's load."
            )
        time.sleep(_POLL_INTERVAL_S)


_registry: dict[Path, LlamaServer] = {}
_registry_lock = threading.Lock()


def get_server(
    model_path: str | Path,
    n_ctx: int = 4096,
    threads: int = 2,
    parallel: int = 1,
    *,
    startup_timeout_s: float = 120.0,
    prompt_cache_mib: int = 512,
) -> LlamaServer:
    """The running server for this model file, started on first use and shared by every caller after. It checks a
    random key of its own (`api_key`), made when it starts and never written anywhere.

    The first call's settings win: a later call with other settings gets the running server (and a warning),
    because restarting it would break requests other users have in flight.

    Raises:
        ModelNotAvailableError, BackendError: as `LlamaServer.start()`.
    """
    key = Path(model_path).expanduser().resolve()
    with _registry_lock:
        server = _registry.get(key)
        if server is None or not server.running:  # never started, or someone stopped it: (re)start
            # A fresh random key per server: other programs and users on this machine cannot use the port it opens.
            server = LlamaServer(key, n_ctx=n_ctx, threads=threads, parallel=parallel, startup_timeout_s=startup_timeout_s,
                                 prompt_cache_mib=prompt_cache_mib, api_key=secrets.token_urlsafe(32))
            server.start()  # under the lock, so two threads asking at once load the model once
            _registry[key] = server
        elif (server.n_ctx, server.threads, server.parallel) != (n_ctx, threads, parallel):
            log.warning(
                "reusing the running server for %s with n_ctx=%d threads=%d parallel=%d (asked for %d/%d/%d)",
                key.name, server.n_ctx, server.threads, server.parallel, n_ctx, threads, parallel,
            )
        return server


def running_server(model_path: str | Path) -> LlamaServer | None:
    """The registry's running server for this file, without starting one."""
    server = _registry.get(Path(model_path).expanduser().resolve())
    return server if server is not None and server.running else None


def stop_all() -> None:
    """Stop every server `get_server()` started (registered with atexit)."""
    with _registry_lock:
        servers = list(_registry.values())
        _registry.clear()
    for server in servers:
        server.stop()


atexit.register(stop_all)
