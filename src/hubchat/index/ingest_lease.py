"""The ingest lease of an index shared through a Chroma server: one ingest (or sync) at a time across machines.

The file lock in `index.dir` only covers processes on one machine sharing that folder; processes on other machines
sharing the server's collection have their own folders. The lease lives in the server itself, in a small collection
(`<collection>--ingest-lease`) of numbered records, `lease-N`, each with its holder and expiry.

Taking it is a check-and-set built on what Chroma guarantees: `add` of an id that already exists changes nothing
(the first write wins, later ones are dropped silently), and the server applies writes one at a time. A taker reads
the newest record; if it is released or expired, it adds record N+1 naming itself and reads it back: it holds the
lease only if the record names it. Two takers racing for N+1 both read back the same winner. The holder renews its
record's expiry every third of `store.lease_s`; a holder killed outright stops renewing and its lease expires.

Expiries are written and judged in the server's time, never a taker's own: the server's heartbeat answers with its
clock in nanoseconds (`GET /api/v2/heartbeat`, "nanosecond heartbeat", in chromadb 1.5.9's HTTP client and its
`chroma run`), and both the holder (writing its expiry) and every taker (judging it) ask for it first. So hosts
whose clocks disagree still agree on who holds the lease; a host's own clock only turns an expiry into a time of
day for people to read.

A holder that stalls (not dies) for longer than the lease, its renewer thread and all, may resume after another
process took over. So an ingest asks `check()` right before each write to the shared index (each batch of chunks
added, each deletion, each move of the generations pointer: see `ChunkStore.writes_checked`): one read of its own
record and its successor's, in the server's time, and it stops with IngestLeaseLostError instead of writing once
the lease is gone or has run out.

What this does not protect against: a write already on its way when the lease runs out. A holder that stalls
between a check and the write it allowed (or whose request the network holds up for longer than the lease), and
resumes after another took over, still lands that one batch. The window is one write long, no longer a stall
long. The lease is judged in one server's time, so its length is only as exact as that clock's rate over one
lease (a server whose clock is stepped, say by an NTP correction, shortens or stretches the leases running then),
and a Chroma deployment with several front ends must keep their clocks together, since each answers for its own.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from hubchat.errors import IngestBusyError, IngestLeaseLostError

log = logging.getLogger(__name__)

LEASE_SUFFIX = "--ingest-lease"
_PREFIX = "lease-"


@dataclass(frozen=True)
class LeaseRecord:
    """One numbered lease record as the server holds it."""

    number: int
    holder: str  # a token unique to one taking
    owner: str  # who that is, for people: host, pid, index folder
    expires: float  # in the server's time (seconds since the epoch, by the server's clock)
    released: bool

    def active(self, now: float) -> bool:
        return not self.released and self.expires > now


def _record_id(number: int) -> str:
    return f"{_PREFIX}{number:012d}"


class IngestLease:
    """Take, renew and release the ingest lease of one shared index.

    Args:
        client: a Chroma HTTP client of the shared server.
        base: `index.collection`.
        ttl_s: `store.lease_s`.
        owner: who takes it, as shown to whoever is refused.
        where: the server, as shown in messages.
        clock: this host's clock (time.time), used only to tell people when a lease runs out in their time of day.
        renew_every_s: how often the holder renews (default: a third of `ttl_s`).
    """

    def __init__(
        self,
        client,
        base: str,
        ttl_s: float,
        owner: str,
        where: str,
        *,
        clock: Callable[[], float] = time.time,
        renew_every_s: float | None = None,
    ):
        self.client = client
        self.name = base[: 512 - len(LEASE_SUFFIX)] + LEASE_SUFFIX
        self.ttl_s = ttl_s
        self.owner = owner
        self.where = where
        self.clock = clock
        self.renew_every_s = ttl_s / 3 if renew_every_s is None else renew_every_s
        self.token = uuid.uuid4().hex
        self.number: int | None = None
        self.lost = False
        self._lost_to = ""  # who took the lease over, when check() found out
        self._lost_by_s = 0.0  # how long ago it ran out, when check() found it expired with no taker
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    def _collection(self):
        return self.client.get_or_create_collection(self.name, embedding_function=None)

    def server_now(self) -> float:
        """The server's clock, in seconds since the epoch (its heartbeat is in nanoseconds)."""
        return self.client.heartbeat() / 1e9

    def _records(self) -> list[LeaseRecord]:
        data = self._collection().get(include=["metadatas"])
        records = []
        for rid, meta in zip(data["ids"], data["metadatas"]):
            if rid.startswith(_PREFIX) and meta:
                records.append(
                    LeaseRecord(int(rid[len(_PREFIX) :]), str(meta.get("holder", "")), str(meta.get("owner", "")),
                                float(meta.get("expires", 0)), bool(meta.get("released", False)))
                )
        return sorted(records, key=lambda r: r.number)

    def acquire(self) -> None:
        """Take the lease and start renewing it.

        Raises:
            IngestBusyError: another process holds it (or won the race for it just now).
        """
        records = self._records()
        current = records[-1] if records else None
        now = self.server_now()
        if current is not None and current.active(now) and current.holder != self.token:
            raise self._busy(current, now)
        number = current.number + 1 if current else 1
        self._collection().add(ids=[_record_id(number)], embeddings=[[1.0]], metadatas=[self._meta(released=False, now=now)])
        won = self._collection().get(ids=[_record_id(number)], include=["metadatas"])["metadatas"][0]
        if won.get("holder") != self.token:
            winner = LeaseRecord(number, str(won.get("holder")), str(won.get("owner")), float(won.get("expires", 0)), False)
            raise self._busy(winner, now)
        self.number = number
        self._renewer = threading.Thread(target=self._keep_renewing, name="hubchat-ingest-lease", daemon=True)
        self._renewer.start()
        old = [_record_id(r.number) for r in records[:-1]]  # keep the one just replaced, to show what happened
        try:
            if old:
                self._collection().delete(ids=old)
        except Exception as exc:  # tidying only: the next taker tries again
            log.warning("could not delete old ingest lease records on %s (%s)", self.where, exc)

    def _meta(self, released: bool, now: float = 0.0) -> dict:
        """The record's metadata; `now` is the server's time (ignored for a released record, which never expires)."""
        return {"holder": self.token, "owner": self.owner, "expires": 0.0 if released else now + self.ttl_s, "released": released}

    def renew(self) -> bool:
        """Push the expiry out by another lease; False (and `lost`) when another process has taken over since."""
        if self.number is None or self.lost:  # lost stays lost: reviving a lease check() gave up would only hold others off
            return False
        newest = self._records()[-1]
        if newest.number != self.number or newest.holder != self.token:
            self.lost = True
            self._lost_to = newest.owner
            log.error("the ingest lease on %s was taken over by %s: this ingest overran its lease", self.where, newest.owner)
            return False
        self._collection().update(ids=[_record_id(self.number)], metadatas=[self._meta(released=False, now=self.server_now())])
        return True

    def check(self) -> None:
        """Make sure this process still holds the lease, right before it writes to the shared index.

        One read of the lease's own record and the one a taker would add after it (N+1: takers always add the
        newest number plus one, so no other can exist while N is the newest), and the server's clock. A lease
        that ran out with no taker yet counts as lost too: a taker may be adding N+1 this very moment.

        Raises:
            IngestLeaseLostError: another process took over, or the lease ran out (this process stalled, or could
                not reach the server to renew it, for longer than `store.lease_s`).
        """
        if self.number is None:
            raise IngestLeaseLostError(f"This ingest does not hold the ingest lease on {self.where}; it wrote nothing.")
        if not self.lost:
            ids = [_record_id(self.number), _record_id(self.number + 1)]
            found = self._collection().get(ids=ids, include=["metadatas"])
            records = dict(zip(found["ids"], found["metadatas"]))
            mine, taker = records.get(ids[0]) or {}, records.get(ids[1])
            now = self.server_now()
            ours = mine.get("holder") == self.token and not mine.get("released")
            if taker is None and ours and float(mine.get("expires", 0)) > now:
                return
            self.lost = True
            self._lost_to = str(taker.get("owner", "")) if taker else ""
            self._lost_by_s = now - float(mine.get("expires", now))
        raise IngestLeaseLostError(self._lost_message())

    def _lost_message(self) -> str:
        if self._lost_to:
            how = f"another ingest took it over ({self._lost_to})"
        elif self._lost_by_s > 0:
            how = f"it ran out {self._lost_by_s:.1f} s ago without being renewed"
        else:  # its record is gone: takers after the one that took over tidied it away
            how = "another ingest took it over"
        return (
            f"This ingest stopped before its next write to the index shared through the Chroma server at {self.where}: "
            f"it no longer holds the ingest lease ({how}; this process stalled, or could not reach the server, for "
            f"longer than store.lease_s = {self.ttl_s:g} s). It wrote nothing more; what it wrote before is whole "
            "articles. The ingest now holding the lease brings the index up to date: run this one again once that "
            "one has finished, if it is still needed."
        )

    def _keep_renewing(self) -> None:
        while not self._stop.wait(self.renew_every_s):
            try:
                if not self.renew():
                    return
            except Exception as exc:  # the server may be back by the next tick; the lease outlives one miss
                log.warning("could not renew the ingest lease on %s (%s); retrying", self.where, exc)

    def release(self) -> None:
        """Stop renewing and mark the lease released (if that fails, it expires by itself)."""
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join()
        if self.number is None or self.lost:
            return
        try:
            newest = self._records()[-1]
            if newest.number == self.number and newest.holder == self.token:
                self._collection().update(ids=[_record_id(self.number)], metadatas=[self._meta(released=True)])
        except Exception as exc:
            log.warning("could not release the ingest lease on %s (%s); it expires within %g s", self.where, exc, self.ttl_s)
        self.number = None

    def _busy(self, holder: LeaseRecord, server_now: float) -> IngestBusyError:
        # The expiry is in the server's time: shown as this host's time of day, however far its clock is off.
        until = time.strftime("%H:%M:%S", time.localtime(self.clock() + holder.expires - server_now))
        return IngestBusyError(
            f"Another ingest is updating the index shared through the Chroma server at {self.where} right now "
            f"({holder.owner}; its lease runs until {until} unless renewed); this one changed nothing. Run it again "
            f"once that one has finished (the index keeps serving meanwhile). If that process died, its lease expires "
            f"within {self.ttl_s:g} s (store.lease_s)."
        )


def owner_description(index_dir: str) -> str:
    return f"host {socket.gethostname()}, pid {os.getpid()}, index.dir {index_dir}"
