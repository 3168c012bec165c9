"""Polite HTTP fetching for the site sync: robots.txt, a rate and concurrency limit, retries, caps on size, time
and redirects, and conditional requests.

Redirects are followed here, one hop at a time, rather than by httpx: every address a redirect leads to is
checked against its own site's robots.txt before it is requested, as a crawler must (a page may redirect into a
path the site disallows, or to another site with rules of its own).

Every outcome is a value (`Fetched`), never an exception: one page that fails must not stop a sync.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from contextlib import closing
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit
from urllib.robotparser import RobotFileParser

import httpx

from hubchat.config import SiteSettings

Outcome = Literal["ok", "not_modified", "gone", "refused", "failed"]
# Answers worth asking again after a pause: the server is overloaded or failing for a moment.
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
GONE_STATUSES = frozenset({404, 410})


@dataclass(frozen=True)
class Validators:
    """What a conditional request sends back: the page's last ETag and Last-Modified."""

    etag: str = ""
    last_modified: str = ""

    def headers(self) -> dict[str, str]:
        out = {}
        if self.etag:
            out["If-None-Match"] = self.etag
        if self.last_modified:
            out["If-Modified-Since"] = self.last_modified
        return out


@dataclass(frozen=True)
class Fetched:
    """The outcome of fetching one address.

    Attributes:
        url: the address asked for.
        outcome: "ok" (a body), "not_modified" (304), "gone" (404 or 410), "refused" (robots.txt forbids it, or
            an address it redirects to), "failed" (see `reason`).
        final_url: where the redirects (if any) ended.
        status: the HTTP status of the last answer (0: none came).
        reason: why it failed, or which status said it is gone.
        transient: a failure that may pass (a timeout, a connection failure, a 5xx or 429 answer).
    """

    url: str
    outcome: Outcome
    body: bytes = b""
    content_type: str = ""
    validators: Validators = Validators()
    final_url: str = ""
    status: int = 0
    reason: str = ""
    transient: bool = False


@dataclass(frozen=True)
class RobotsRefusal:
    """Why robots.txt keeps a page from being fetched. `keep`: the rules could not be read (the page keeps its
    last good version), rather than forbidding the page (it leaves the index)."""

    reason: str
    keep: bool


class _RateLimit:
    """At most `per_s` request starts per second, shared by every thread."""

    def __init__(self, per_s: float):
        self._interval = 1.0 / per_s
        self._next = 0.0
        self._last = 0.0
        self._lock = threading.Lock()

    def at_least(self, seconds: float) -> None:
        """Space request starts at least `seconds` apart (a robots.txt Crawl-delay), from the last one on."""
        with self._lock:
            self._interval = max(self._interval, seconds)
            self._next = max(self._next, self._last + self._interval)

    def wait(self) -> None:
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._last = start
            self._next = start + self._interval
        if start > now:
            time.sleep(start - now)


class _TooLarge(Exception):
    pass


class Fetcher:
    """Fetches pages for one sync; use it as a context manager (it holds a connection pool).

    Thread-safe: the sync fetches `site.concurrency` pages at once through one Fetcher.
    """

    def __init__(self, settings: SiteSettings):
        self.settings = settings
        self.requests = 0
        self._count_lock = threading.Lock()
        self._robots_lock = threading.Lock()
        self._robots: dict[str, RobotFileParser | str] = {}  # origin -> its rules, or why they could not be read
        self._rate = _RateLimit(settings.rate_per_s)
        self._client = httpx.Client(
            headers={"User-Agent": settings.user_agent},
            timeout=httpx.Timeout(settings.timeout_s),
            follow_redirects=False,  # followed in `_once`, each hop checked against robots.txt
            limits=httpx.Limits(max_connections=settings.concurrency, max_keepalive_connections=settings.concurrency),
        )

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self._client.close()

    # ---- robots.txt ------------------------------------------------------------------------------------------

    def robots_refusal(self, url: str) -> RobotsRefusal | None:
        """None when robots.txt lets this user agent fetch `url` (read once per site and sync)."""
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        with self._robots_lock:  # one request per site, even with every thread asking at once
            rules = self._robots.get(origin)
            if rules is None:
                rules = self._robots[origin] = self._read_robots(origin)
        if isinstance(rules, str):
            return RobotsRefusal(rules, keep=True)
        if not rules.can_fetch(self.settings.user_agent, url):
            return RobotsRefusal(f"robots.txt of {origin} disallows it for {self.settings.user_agent!r}", keep=False)
        return None

    def _read_robots(self, origin: str) -> RobotFileParser | str:
        rules = RobotFileParser(origin + "/robots.txt")
        got = self.fetch(origin + "/robots.txt", check_robots=False)
        if got.outcome == "ok":
            rules.parse(got.body.decode("utf-8", errors="replace").splitlines())
            delay = rules.crawl_delay(self.settings.user_agent)
            if delay:
                self._rate.at_least(float(delay))
        elif got.status in (401, 403):
            rules.disallow_all = True  # the robots.txt convention: a site that hides its rules forbids crawling
        elif 400 <= got.status < 500:
            rules.allow_all = True  # no rules: everything may be fetched
        else:
            return f"robots.txt of {origin} could not be read ({got.reason}), so none of its pages were fetched"
        return rules

    # ---- fetching --------------------------------------------------------------------------------------------

    def fetch(self, url: str, validators: Validators | None = None, *, check_robots: bool = True) -> Fetched:
        """GET `url` (conditionally when `validators` are given), retrying timeouts, connection failures and 5xx
        answers with a doubling pause.

        Args:
            check_robots: check `url`, and every address a redirect leads to, against robots.txt (off only for
                robots.txt itself).
        """
        if check_robots:
            refusal = self.robots_refusal(url)
            if refusal is not None:
                return Fetched(url, "failed" if refusal.keep else "refused", reason=refusal.reason)
        headers = validators.headers() if validators else {}
        tries = self.settings.retries + 1
        for attempt in range(tries):
            if attempt:
                time.sleep(self.settings.backoff_s * 2 ** (attempt - 1))
            got = self._once(url, headers, check_robots)
            if not got.transient:
                return got
        return dataclasses.replace(got, reason=f"{got.reason} (after {tries} tries)" if tries > 1 else got.reason)

    def _send(self, request: httpx.Request) -> httpx.Response:
        """Send one request (one hop), streamed, within the rate limit; every hop counts as a request."""
        self._rate.wait()
        with self._count_lock:
            self.requests += 1
        return self._client.send(request, stream=True)

    def _follow(self, url: str, headers: dict[str, str], check_robots: bool) -> httpx.Response | Fetched:
        """The final answer to GET `url` after at most `site.max_redirects` redirects (open, streamed), or what
        stopped it: a redirect loop, or a redirect to an address robots.txt disallows."""
        request = self._client.build_request("GET", url, headers=headers)
        for hops in range(self.settings.max_redirects + 1):
            response = self._send(request)
            if not response.has_redirect_location:
                return response
            target = response.next_request
            response.close()  # before asking robots.txt: an open answer holds one of the pool's connections
            if hops == self.settings.max_redirects:
                break
            refusal = self.robots_refusal(str(target.url)) if check_robots else None
            if refusal is not None:
                reason = f"it redirects to {target.url}, and {refusal.reason}"
                return Fetched(url, "failed" if refusal.keep else "refused", final_url=str(target.url), status=response.status_code, reason=reason)
            request = target
        return Fetched(url, "failed", reason=f"a redirect loop, or more than site.max_redirects = {self.settings.max_redirects} redirects")

    def _once(self, url: str, headers: dict[str, str], check_robots: bool = True) -> Fetched:
        started = time.monotonic()
        cap = self.settings.max_page_bytes
        try:
            answer = self._follow(url, headers, check_robots)
            if isinstance(answer, Fetched):
                return answer
            with closing(answer) as response:
                status = response.status_code
                final = str(response.url)
                if status == 304:
                    return Fetched(url, "not_modified", validators=_validators(response, headers), final_url=final, status=status)
                if status in GONE_STATUSES:
                    return Fetched(url, "gone", final_url=final, status=status, reason=f"HTTP {status}")
                if status != 200:
                    return Fetched(url, "failed", final_url=final, status=status, reason=f"HTTP {status}", transient=status in RETRY_STATUSES)
                declared = response.headers.get("Content-Length", "")
                if declared.isdigit() and int(declared) > cap:
                    raise _TooLarge(int(declared))
                body = bytearray()
                for piece in response.iter_bytes():
                    body += piece
                    if len(body) > cap:
                        raise _TooLarge(len(body))
                    if time.monotonic() - started > self.settings.timeout_s:
                        raise httpx.ReadTimeout("the whole page took too long")
                return Fetched(
                    url,
                    "ok",
                    body=bytes(body),
                    content_type=response.headers.get("Content-Type", ""),
                    validators=_validators(response, {}),
                    final_url=final,
                    status=status,
                )
        except _TooLarge as exc:
            return Fetched(url, "failed", reason=f"too large (over {cap:,} bytes at {exc.args[0]:,}; the limit is site.max_page_bytes)")
        except httpx.TimeoutException:
            return Fetched(url, "failed", reason=f"timed out (site.timeout_s = {self.settings.timeout_s:g} s)", transient=True)
        except httpx.ConnectError as exc:
            return Fetched(url, "failed", reason=f"could not connect ({exc})", transient=True)
        except httpx.TransportError as exc:
            return Fetched(url, "failed", reason=f"connection failed ({type(exc).__name__}: {exc})", transient=True)


def _validators(response: httpx.Response, sent: dict[str, str]) -> Validators:
    """The validators to send next time; a 304 may leave them out, meaning the ones sent still hold."""
    return Validators(
        etag=response.headers.get("ETag", "") or sent.get("If-None-Match", ""),
        last_modified=response.headers.get("Last-Modified", "") or sent.get("If-Modified-Since", ""),
    )
