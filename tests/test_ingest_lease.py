"""store.mode = "server": the ingest lock covers the shared collection, not just one machine's index.dir. Two
processes with different index folders ingest into one real `chroma run` server: the second is refused while the
first holds the lease, and proceeds once the first has finished or, killed, its lease has gone stale."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from hubchat.config import load_settings
from hubchat.errors import IngestBusyError, IngestLeaseLostError
from hubchat.index.chroma_client import make_chroma_client
from hubchat.index.ingest_lease import IngestLease
from hubchat.ingest.pipeline import GROUP_BATCHES, ingest
from tests.conftest_store import ChromaServer
from tests.helpers import assert_index_matches_corpus, chroma_records, open_store
from tests.ingest_child import corpus_in_groups, finish, read_until, start_ingest

pytestmark = pytest.mark.server


def _machine(tmp_path: Path, name: str, corpus: Path, server: ChromaServer, collection: str, batch_size: int, lease_s: float):
    """One app's config: its own index.dir, the shared server and collection."""
    folder = tmp_path / name
    folder.mkdir()
    config = folder / "hubchat.toml"
    config.write_text(
        f'[corpus]\npath = "{corpus}"\n\n[index]\ndir = "index"\ncollection = "{collection}"\n\n'
        f'[store]\nmode = "server"\nhost = "{server.host}"\nport = {server.port}\ntimeout_s = 10\nlease_s = {lease_s}\n\n'
        f"[embeddings]\nbatch_size = {batch_size}\n",
        encoding="utf-8",
    )
    return config, load_settings(config)


def _two_machines(tmp_path: Path, server: ChromaServer, embedder, collection: str, lease_s: float = 30, corpus_b: Callable[[Path], Path] | None = None):
    """Machines a and b on one collection, reading one corpus (or b its own, made by `corpus_b` from a's)."""
    corpus, _, _, total = corpus_in_groups(tmp_path / "site", embedder.name, 5)
    batch_size = max(1, total // (3 * GROUP_BATCHES))  # three writes: the holder can be caught between two
    a = _machine(tmp_path, "a", corpus, server, collection, batch_size, lease_s)
    b = _machine(tmp_path, "b", corpus_b(corpus) if corpus_b else corpus, server, collection, batch_size, lease_s)
    return corpus, a, b


def _holding(config: Path, go: Path):
    return _holding_at(config, go)[0]


def _holding_at(config: Path, go: Path):
    """A child ingesting `config`, held mid-ingest until `go` exists; with its progress then, (embedded, total)."""
    child = start_ingest(config, die_at=f"hold:{go}")
    lines = read_until(child, "embedded", timeout=120)
    assert lines and lines[-1].startswith("embedded"), (lines, child.stderr.read() if child.poll() is not None else "")
    _, done, _, total = lines[-1].split()
    return child, (int(done), int(total))


def test_a_second_machine_is_refused_while_the_first_ingests_and_proceeds_after(tmp_path: Path, chroma_server, embedder):
    corpus, (config_a, settings_a), (_, settings_b) = _two_machines(tmp_path, chroma_server, embedder, "lease-finish")
    assert settings_a.index.dir != settings_b.index.dir
    store_b = open_store(settings_b, embedder)
    go = tmp_path / "go"
    child = _holding(config_a, go)
    try:
        with pytest.raises(IngestBusyError) as refused:
            ingest(settings_b, store_b, embedder)
        message = str(refused.value)
        assert f"{chroma_server.host}:{chroma_server.port}" in message and f"pid {child.pid}" in message, message
        assert str(settings_a.index.dir) in message and "changed nothing" in message
    finally:
        go.touch()
        code, out, err = finish(child)
    assert code == 0 and "finished" in out, err[-3000:]

    summary = ingest(settings_b, store_b, embedder)  # the lease was released: no waiting for it to expire
    assert summary.chunks_written == 0  # the first machine's ingest is in the shared collection already
    assert_index_matches_corpus(store_b, settings_b, corpus)


def test_a_killed_holders_lease_goes_stale_and_the_next_ingest_proceeds(tmp_path: Path, chroma_server, embedder):
    lease_s = 6.0
    corpus, (config_a, _), (_, settings_b) = _two_machines(tmp_path, chroma_server, embedder, "lease-kill", lease_s)
    store_b = open_store(settings_b, embedder)
    child = _holding(config_a, tmp_path / "never")
    child.send_signal(signal.SIGKILL)
    finish(child)
    killed_at = time.monotonic()

    with pytest.raises(IngestBusyError):  # renewed at most lease_s / 3 ago: still held
        ingest(settings_b, store_b, embedder)
    assert time.monotonic() - killed_at < lease_s / 2, "too slow to see the lease still held"

    deadline = killed_at + 3 * lease_s
    while True:
        try:
            ingest(settings_b, store_b, embedder)
            break
        except IngestBusyError:
            assert time.monotonic() < deadline, "the dead holder's lease never expired"
            time.sleep(0.5)
    assert time.monotonic() - killed_at >= lease_s / 2  # it did wait for the expiry, not take a live lease
    assert_index_matches_corpus(store_b, settings_b, corpus)


def _race(leases: list[IngestLease]) -> list[IngestLease]:
    """All take at once; returns those that got the lease."""
    won: list[IngestLease] = []
    barrier = threading.Barrier(len(leases))

    def take(lease: IngestLease) -> None:
        barrier.wait()
        try:
            lease.acquire()
            won.append(lease)
        except IngestBusyError:
            pass

    threads = [threading.Thread(target=take, args=(lease,)) for lease in leases]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return won


def test_takers_racing_for_the_lease_get_exactly_one_winner(tmp_path: Path, chroma_server):
    empty = tmp_path / "empty"
    empty.mkdir()
    _, settings = _machine(tmp_path, "a", empty, chroma_server, "lease-race", 1, 30)
    where = f"{chroma_server.host}:{chroma_server.port}"
    for round_ in range(5):
        leases = [IngestLease(make_chroma_client(settings), settings.index.collection, 30, f"taker {i}", where) for i in range(4)]
        won = _race(leases)
        assert len(won) == 1, f"round {round_}: {len(won)} takers hold the lease"
        won[0].release()


HOUR = 3600.0


def _lease(settings, owner: str, ttl_s: float, **kwargs) -> IngestLease:
    where = f"{settings.store.host}:{settings.store.port}"
    return IngestLease(make_chroma_client(settings), settings.index.collection, ttl_s, owner, where, **kwargs)


def test_the_server_answers_its_heartbeat_with_its_own_clock_in_nanoseconds(tmp_path: Path, chroma_server):
    # What the lease's timekeeping rests on: same machine here, so the server's clock reads between our two readings.
    empty = tmp_path / "empty"
    empty.mkdir()
    _, settings = _machine(tmp_path, "a", empty, chroma_server, "lease-heartbeat", 1, 30)
    lease = _lease(settings, "probe", 30)
    before = time.time()
    server = lease.server_now()
    assert before - 0.5 <= server <= time.time() + 0.5, (before, server)


def test_a_holder_whose_clock_is_an_hour_behind_still_keeps_the_lease_from_a_taker(tmp_path: Path, chroma_server):
    # Judged by the holder's own clock, its expiry (an hour in the past for everyone else) would free the lease.
    empty = tmp_path / "empty"
    empty.mkdir()
    _, settings = _machine(tmp_path, "a", empty, chroma_server, "lease-slow-clock", 1, 30)
    holder = _lease(settings, "slow holder", 30, clock=lambda: time.time() - HOUR)
    holder.acquire()
    try:
        taker = _lease(settings, "taker", 30)
        with pytest.raises(IngestBusyError) as refused:
            taker.acquire()
        assert "slow holder" in str(refused.value)
        # the time of day shown is the taker's: the lease's 30 s from now, not an hour ago
        until = time.strptime(str(refused.value).split("runs until ")[1][:8], "%H:%M:%S")
        shown = until.tm_hour * 3600 + until.tm_min * 60 + until.tm_sec
        now = time.localtime()
        expected = now.tm_hour * 3600 + now.tm_min * 60 + now.tm_sec + 30
        assert abs((shown - expected + 43200) % 86400 - 43200) <= 3, (shown, expected)
        assert holder.renew() and not holder.lost  # renewed in the server's time, still its own
        with pytest.raises(IngestBusyError):
            _lease(settings, "taker", 30).acquire()
    finally:
        holder.release()
    taker = _lease(settings, "taker", 30)
    taker.acquire()  # released: free at once
    taker.release()


def test_a_dead_holder_whose_clock_is_an_hour_ahead_frees_the_lease_after_the_lease_not_the_hour(tmp_path: Path, chroma_server):
    # Judged by the holder's clock, its expiry would keep everyone else out for an hour after it died.
    ttl_s = 3.0
    empty = tmp_path / "empty"
    empty.mkdir()
    _, settings = _machine(tmp_path, "a", empty, chroma_server, "lease-fast-clock", 1, ttl_s)
    # never renews: as good as dead the moment it has taken the lease
    holder = _lease(settings, "fast holder", ttl_s, clock=lambda: time.time() + HOUR, renew_every_s=HOUR)
    holder.acquire()
    taken_at = time.monotonic()
    taker = _lease(settings, "taker", ttl_s)  # with a right clock
    while True:
        try:
            taker.acquire()
            break
        except IngestBusyError:
            assert time.monotonic() - taken_at < 4 * ttl_s, "the dead holder's lease outlived the lease by far"
            time.sleep(0.2)
    waited = time.monotonic() - taken_at
    assert waited >= ttl_s - 0.5, f"taken after {waited:.1f} s: the lease was not held for its length"
    assert not holder.renew() and holder.lost  # the holder, coming back, learns it lost the lease
    holder.release()
    taker.release()


def _edited_copy(corpus: Path, folder: Path) -> Path:
    """The same articles, each with a sentence more: every article a new version, whose chunks differ."""
    folder.mkdir(parents=True)
    for article in sorted(corpus.glob("*.md")):
        text = article.read_text(encoding="utf-8").rstrip("\n")
        (folder / article.name).write_text(text + "\n\nThis copy was edited after the first ingest began.\n", encoding="utf-8")
    return folder


def test_a_holder_that_stalls_past_its_lease_writes_nothing_after_another_took_over(tmp_path: Path, chroma_server, embedder):
    # The stall is real: the holder's whole process is stopped (SIGSTOP), renewer thread and all, mid-ingest
    # between two writes; meanwhile its lease runs out and another machine ingests a newer version of every
    # article. Resumed (SIGCONT), the holder must find the lease gone before its next write and stop there.
    lease_s = 4.0
    edited = tmp_path / "edited"
    _, (config_a, _), (_, settings_b) = _two_machines(
        tmp_path, chroma_server, embedder, "lease-stall", lease_s, corpus_b=lambda corpus: _edited_copy(corpus, edited)
    )
    corpus_b = edited
    store_b = open_store(settings_b, embedder)
    go = tmp_path / "go"
    child, (embedded, total) = _holding_at(config_a, go)
    assert embedded < total, "the holder wrote everything before the stall: nothing left to test"
    child.send_signal(signal.SIGSTOP)
    stopped_at = time.monotonic()
    try:
        while True:
            try:
                ingest(settings_b, store_b, embedder)
                break
            except IngestBusyError:
                assert time.monotonic() - stopped_at < 4 * lease_s, "the stalled holder's lease never ran out"
                time.sleep(0.3)
        assert_index_matches_corpus(store_b, settings_b, corpus_b)
        taker_left = sorted(chroma_records(store_b), key=lambda r: r[0])
    finally:
        go.touch()
        child.send_signal(signal.SIGCONT)
    code, out, err = finish(child)

    assert code != 0 and "finished" not in out, (code, out, err[-3000:])
    assert "IngestLeaseLostError" in err and "no longer holds the ingest lease" in err, err[-3000:]
    assert "another ingest took it over" in err and str(settings_b.index.dir) in err, err[-3000:]
    # not one chunk added, replaced or deleted since the taker finished: its result is intact
    assert sorted(chroma_records(store_b), key=lambda r: r[0]) == taker_left
    assert_index_matches_corpus(store_b, settings_b, corpus_b)
    assert ingest(settings_b, store_b, embedder).chunks_written == 0



def test_a_holder_whose_lease_ran_out_unrenewed_is_told_before_its_next_write_even_with_no_taker(tmp_path: Path, chroma_server):
    # No one has taken the lease yet, but anyone may at any moment: writing now would be writing unprotected.
    ttl_s = 2.0
    empty = tmp_path / "empty"
    empty.mkdir()
    _, settings = _machine(tmp_path, "a", empty, chroma_server, "lease-ran-out", 1, ttl_s)
    holder = _lease(settings, "stalled holder", ttl_s, renew_every_s=HOUR)
    holder.acquire()
    try:
        holder.check()  # just taken: held
        deadline = time.monotonic() + 4 * ttl_s
        while True:
            try:
                holder.check()
            except IngestLeaseLostError as exc:
                assert "ran out" in str(exc) and "without being renewed" in str(exc), str(exc)
                break
            assert time.monotonic() < deadline, "the unrenewed lease never ran out"
            time.sleep(0.2)
        with pytest.raises(IngestLeaseLostError):  # lost stays lost, without asking the server again
            holder.check()
    finally:
        holder.release()
