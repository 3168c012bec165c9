"""Ingestion and search (embedded Chroma) work with the network cut off, and never even try to connect out.

Outbound connections are blocked at the socket layer: `socket.socket.connect` / `connect_ex`, `socket.getaddrinfo`
and `socket.create_connection` raise for any address that is not loopback, and every attempt is recorded (loopback
stays allowed so local IPC is not blocked). Runs twice: inside this test process, and in a fresh interpreter with
the block in place before anything is imported, so import-time and model-loading calls are covered too.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import (
    PROJECT,
    SAMPLES,
    SMALL_CHUNKS_TOML,
    settings_for,
    write_config,
    write_samples,
)

# Installs the block; `ATTEMPTS` records (kind, address, blocked). Plain source, so a fresh interpreter can run it
# before its first import.
GUARD = r'''
import errno
import ipaddress
import socket

ATTEMPTS = []


def _is_loopback(host):
    if host is None:
        return True
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    host = str(host).strip("[]").split("%", 1)[0]
    if host in ("localhost", "localhost.localdomain", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _local(address):
    # AF_UNIX paths (str or bytes) are local IPC; inet addresses are (host, port, ...) tuples.
    return not isinstance(address, tuple) or _is_loopback(address[0])


def install(setattr_=setattr):
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo
    real_create_connection = socket.create_connection

    def connect(self, address):
        blocked = not _local(address)
        ATTEMPTS.append(("connect", repr(address), blocked))
        if blocked:
            raise ConnectionRefusedError(errno.ECONNREFUSED, f"test: outbound connection to {address!r} blocked")
        return real_connect(self, address)

    def connect_ex(self, address):
        blocked = not _local(address)
        ATTEMPTS.append(("connect_ex", repr(address), blocked))
        if blocked:
            return errno.ECONNREFUSED
        return real_connect_ex(self, address)

    def getaddrinfo(host, *args, **kwargs):
        blocked = not _is_loopback(host)
        ATTEMPTS.append(("getaddrinfo", repr(host), blocked))
        if blocked:
            raise socket.gaierror(socket.EAI_NONAME, f"test: name lookup of {host!r} blocked")
        return real_getaddrinfo(host, *args, **kwargs)

    def create_connection(address, *args, **kwargs):
        blocked = not _local(address)
        ATTEMPTS.append(("create_connection", repr(address), blocked))
        if blocked:
            raise ConnectionRefusedError(errno.ECONNREFUSED, f"test: outbound connection to {address!r} blocked")
        return real_create_connection(address, *args, **kwargs)

    setattr_(socket.socket, "connect", connect)
    setattr_(socket.socket, "connect_ex", connect_ex)
    setattr_(socket, "getaddrinfo", getaddrinfo)
    setattr_(socket, "create_connection", create_connection)
'''

# Ingest the sample corpus, then one dense and one lexical search, from nothing but a config file.
WORK = r'''
import json, sys
from hubchat.config import load_settings
from hubchat.index.local_onnx import LocalOnnxEmbeddings
from hubchat.ingest.pipeline import ingest
from hubchat.index.store import ChunkStore


def work(config):
    settings = load_settings(config)
    embedder = LocalOnnxEmbeddings(threads=2, batch_size=16)  # a new one: the model file is opened offline too
    store = ChunkStore(settings, embedder)
    summary = ingest(settings, store, embedder)
    dense = store.dense_search(embedder.embed_query("How do I turn a meeting recording into notes?"), 3)
    lexical = store.lexical_search("GPU rental prices", 3)
    return {
        "added": list(summary.added),
        "chunks": summary.chunks_total,
        "dense_top": dense[0][0].article_id if dense else None,
        "lexical_top": lexical[0][0].article_id if lexical else None,
    }
'''

SMALL = SMALL_CHUNKS_TOML


def guard_namespace() -> dict:
    namespace: dict = {}
    exec(GUARD, namespace)  # noqa: S102 - our own source, shared with the child interpreter below
    return namespace


def check(result: dict, attempts: list) -> None:
    blocked = [a for a in attempts if a[2]]
    assert not blocked, f"outbound connection attempts: {blocked}"
    assert not attempts, f"embedded mode needs no sockets at all, yet these were opened: {attempts}"
    assert sorted(result["added"]) == sorted(s.url for s in SAMPLES)
    assert result["chunks"] > len(SAMPLES)
    assert result["dense_top"] == "/use-cases/whisper-meeting-notes"
    assert result["lexical_top"] == "/insights/gpu-rental-prices"


def test_the_guard_really_blocks_and_records(monkeypatch: pytest.MonkeyPatch):
    import socket

    guard = guard_namespace()
    guard["install"](monkeypatch.setattr)
    with pytest.raises(OSError):
        socket.create_connection(("203.0.113.7", 80), timeout=1)
    with pytest.raises(OSError):
        socket.getaddrinfo("example.com", 443)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        with pytest.raises(OSError):
            sock.connect(("198.51.100.1", 443))
        assert sock.connect_ex(("198.51.100.1", 443)) != 0
    assert [kind for kind, _, blocked in guard["ATTEMPTS"] if blocked] == ["create_connection", "getaddrinfo", "connect", "connect_ex"]
    # Loopback still works (refused here, as nothing listens, but not by the guard).
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        port = sock.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            pass
    assert guard["ATTEMPTS"][-1][2] is False


def test_ingest_and_search_in_process_with_the_network_blocked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    corpus = tmp_path / "corpus"
    write_samples(corpus)
    config = write_config(tmp_path, corpus, SMALL)
    settings_for(tmp_path, corpus, SMALL)  # the config is valid
    guard = guard_namespace()
    guard["install"](monkeypatch.setattr)
    namespace: dict = {}
    exec(WORK, namespace)  # noqa: S102
    result = namespace["work"](str(config))
    check(result, guard["ATTEMPTS"])


def test_ingest_and_search_in_a_fresh_interpreter_with_the_network_blocked_from_the_start(tmp_path: Path):
    corpus = tmp_path / "corpus"
    write_samples(corpus)
    config = write_config(tmp_path, corpus, SMALL)
    script = GUARD + "\ninstall()\n" + WORK + "\nresult = work(sys.argv[1])\nprint(json.dumps({'result': result, 'attempts': ATTEMPTS}))\n"
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUBCHAT_")}
    env["ANONYMIZED_TELEMETRY"] = "False"
    proc = subprocess.run(
        [sys.executable, "-c", script, str(config)], capture_output=True, text=True, timeout=300, cwd=PROJECT, env=env
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    check(report["result"], [tuple(a) for a in report["attempts"]])


@pytest.mark.server
def test_the_app_indexes_serves_and_answers_on_local_models_in_a_network_namespace_with_no_network(tmp_path: Path):
    """Python's socket guard cannot see native code (onnxruntime, llama.cpp, Chroma's Rust core); a network namespace
    with nothing but loopback covers everything the processes do."""
    from tests.small_model import smollm2_path

    if shutil.which("unshare") is None or shutil.which("ip") is None:
        pytest.fail("this test needs util-linux's unshare and iproute2's ip (Debian: apt-get install util-linux iproute2)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUBCHAT_")}
    env["ANONYMIZED_TELEMETRY"] = "False"
    proc = subprocess.run(
        ["unshare", "--net", "sh", "-c", 'ip link set lo up && exec "$@"', "sh",
         sys.executable, "-m", "tests.offline_app_child", str(tmp_path), str(smollm2_path())],
        capture_output=True, text=True, timeout=600, cwd=PROJECT, env=env,
    )
    assert proc.returncode == 0, (
        "unshare --net needs root or user namespaces; " if "unshare:" in proc.stderr else ""
    ) + proc.stderr[-4000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["network_reachable"] is False, "the namespace was meant to have no network at all"
    assert report["added"] == len(SAMPLES)
    assert report["pages"] == {"": 200, "widget/": 200}
    assert report["answer"].strip()
    # Retrieval cleared the relevance floor and the model wrote: whether the 135M test model also cites its
    # passage varies from run to run, so that is the answer tests' business, not this one's.
    assert not report["refused"] and report["completion_tokens"] > 0, report
