"""Guessing the editors' password: failures in a row from one address lock it out, the right password included."""

from __future__ import annotations

import httpx
import pytest

from hubchat.web.login_throttle import MAX_LOCKOUT_S, LoginThrottle


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_lockout_starts_after_the_allowed_failures_and_doubles():
    clock = Clock()
    throttle = LoginThrottle(max_failures=3, lockout_s=10, clock=clock)
    for _ in range(2):
        throttle.failed("1.2.3.4")
        assert throttle.retry_after("1.2.3.4") == 0
    throttle.failed("1.2.3.4")
    assert throttle.retry_after("1.2.3.4") == 10
    assert throttle.retry_after("5.6.7.8") == 0  # other addresses are not affected
    clock.now += 10
    assert throttle.retry_after("1.2.3.4") == 0
    throttle.failed("1.2.3.4")
    assert throttle.retry_after("1.2.3.4") == 20


def test_lockouts_are_capped_and_a_success_clears_the_count():
    clock = Clock()
    throttle = LoginThrottle(max_failures=1, lockout_s=60, clock=clock)
    for _ in range(20):
        throttle.failed("a")
    assert throttle.retry_after("a") == MAX_LOCKOUT_S
    throttle.succeeded("a")
    assert throttle.retry_after("a") == 0
    throttle.failed("a")
    assert throttle.retry_after("a") == 60


@pytest.mark.server
def test_the_right_password_is_refused_while_locked_out(ui_runtime, editor_login):
    from hubchat.web.server import start

    server = start(ui_runtime, host="127.0.0.1", port=0)  # an app of its own: its lockout touches no other test
    try:
        login = server.url + "review/login"
        user, password = editor_login
        limit = ui_runtime.settings.ui.login_max_failures
        with httpx.Client(timeout=30) as http:
            for _ in range(limit):
                assert http.post(login, data={"username": user, "password": "guess"}).status_code == 400
            locked = http.post(login, data={"username": user, "password": password})
            assert locked.status_code == 429
            assert "try again in" in locked.json()["detail"] and int(locked.headers["Retry-After"]) > 0
            assert http.get(server.url + "review/").status_code == 200  # the page itself still serves
    finally:
        server.close()


@pytest.mark.server
def test_a_successful_login_clears_earlier_failures(ui_runtime, editor_login):
    from hubchat.web.server import start

    server = start(ui_runtime, host="127.0.0.1", port=0)
    try:
        login = server.url + "review/login"
        user, password = editor_login
        limit = ui_runtime.settings.ui.login_max_failures
        with httpx.Client(timeout=30) as http:
            for _ in range(limit - 1):
                assert http.post(login, data={"username": user, "password": "guess"}).status_code == 400
            assert http.post(login, data={"username": user, "password": password}).status_code == 200
            for _ in range(limit - 1):
                assert http.post(login, data={"username": user, "password": "guess"}).status_code == 400
            assert http.post(login, data={"username": user, "password": password}).status_code == 200
    finally:
        server.close()
