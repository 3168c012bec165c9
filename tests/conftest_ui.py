"""Fixtures for the web UI tests (pytest plugin; register with pytest_plugins).

The app runs for real: `hubchat.web.server.start` serves it with uvicorn on a free loopback port, over an index built
with `hubchat.ingest.pipeline` from the five small articles in tests/data/ui_corpus (one carries `<script>` and an
`onerror` image in its text), with the deterministic `extractive` chat backend. Browsers are Debian's Chromium
driven by Playwright, with the launch flags that work on this machine.

Fixtures:
    ui_settings: Settings of the session's app (extractive chat, tmp index and SQLite file, test editor login).
    ui_runtime: the Runtime over the ingested test corpus (built once per session).
    ui_server: the running app (`.url` ends with "/"), with the editors' review enabled.
    editor_login: (user, password) accepted by the review page.
    down_server: the same app with chat backend "openai-compatible" pointed at a closed loopback port.
    local_model_server: the same app on the `local` backend with the small SmolLM2 model, so real tokens stream.
    held_model_server: (app, HeldServer): the same app on `openai-compatible` through `tests.held_server`, which
        holds each answer's request to SmolLM2 until the test sets `HeldServer.gate`.
    browser: a session Chromium (Playwright).
    page: a fresh browser page per test; records dialogs in `page.dialogs`; its screenshot is saved under
        test-artifacts/ when the test ends (also when it fails).
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from hubchat.config import Settings, load_settings

PROJECT = Path(__file__).resolve().parents[1]
UI_CORPUS = PROJECT / "tests" / "data" / "ui_corpus"
ARTIFACTS = PROJECT / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
# Names of the variables holding the test editor login: the app reads the login from them, like in production.
EDITOR_USER_ENV = "HUBCHAT_TEST_EDITOR_USER"
EDITOR_PASSWORD_ENV = "HUBCHAT_TEST_EDITOR_PASSWORD"
EDITOR_LOGIN = ("editor", "correct horse battery staple")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ui_test_settings(root: Path, **chat: object) -> Settings:
    """Settings for an app over the test corpus with its index and database under `root`."""
    return load_settings(
        PROJECT / "hubchat.toml",
        corpus={"path": str(UI_CORPUS)},
        index={"dir": str(root / "index")},
        chat={"backend": "extractive", **chat},
        ui={
            "db_path": str(root / "hubchat.sqlite"),
            "editor_user_env": EDITOR_USER_ENV,
            "editor_password_env": EDITOR_PASSWORD_ENV,
            "concurrency_limit": 2,
        },
    )


@pytest.fixture(scope="session")
def ui_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return ui_test_settings(tmp_path_factory.mktemp("ui"))


@pytest.fixture(scope="session")
def ui_runtime(ui_settings: Settings):
    from hubchat.runtime import Runtime

    runtime = Runtime(ui_settings)
    summary = runtime.ingest()
    assert len(summary.added) == 5, summary
    return runtime


@pytest.fixture(scope="session")
def editor_login() -> Iterator[tuple[str, str]]:
    saved = {k: os.environ.get(k) for k in (EDITOR_USER_ENV, EDITOR_PASSWORD_ENV)}
    os.environ[EDITOR_USER_ENV], os.environ[EDITOR_PASSWORD_ENV] = EDITOR_LOGIN
    yield EDITOR_LOGIN
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def ui_server(ui_runtime, editor_login):
    from hubchat.web.server import start

    server = start(ui_runtime, host="127.0.0.1", port=0)
    yield server
    server.close()


@pytest.fixture(scope="session")
def down_server(ui_runtime, tmp_path_factory: pytest.TempPathFactory):
    """The app whose chat backend is a loopback port with nothing listening (the index is the session's)."""
    from hubchat.runtime import Runtime
    from hubchat.web.server import start

    port = _free_port()  # closed again at once: connections are refused
    settings = ui_runtime.settings.model_copy(
        update={
            "chat": ui_runtime.settings.chat.model_copy(
                update={"backend": "openai-compatible", "base_url": f"http://127.0.0.1:{port}/v1", "max_retries": 0, "timeout_s": 10}
            ),
            "ui": ui_runtime.settings.ui.model_copy(update={"db_path": tmp_path_factory.mktemp("down") / "hubchat.sqlite"}),
        }
    )
    runtime = Runtime(settings)
    server = start(runtime, host="127.0.0.1", port=0)
    yield server
    server.close()


@pytest.fixture
def local_model_server(ui_runtime, local_chat_settings, tmp_path_factory: pytest.TempPathFactory):
    """The app answering with a real model: SmolLM2 through the local backend (the session's llama.cpp server)."""
    from hubchat.runtime import Runtime
    from hubchat.web.server import start

    settings = ui_runtime.settings.model_copy(
        update={
            # Long enough that the answer arrives in many pieces, short enough to stay quick on two cores.
            "chat": local_chat_settings.model_copy(update={"max_tokens": 64}),
            "ui": ui_runtime.settings.ui.model_copy(update={"db_path": tmp_path_factory.mktemp("local") / "hubchat.sqlite"}),
        }
    )
    server = start(Runtime(settings), host="127.0.0.1", port=0)
    yield server
    server.close()


@pytest.fixture
def held_model_server(ui_runtime, compatible_chat_settings, llama_server, tmp_path_factory: pytest.TempPathFactory):
    """The app answering with SmolLM2 through a server that holds each request until the test lets it through."""
    from hubchat.runtime import Runtime
    from hubchat.web.server import start
    from tests.held_server import HeldServer

    held = HeldServer(llama_server.base_url).start()
    settings = ui_runtime.settings.model_copy(
        update={
            "chat": compatible_chat_settings.model_copy(update={"base_url": held.base_url, "max_tokens": 64}),
            "ui": ui_runtime.settings.ui.model_copy(update={"db_path": tmp_path_factory.mktemp("held") / "hubchat.sqlite"}),
        }
    )
    server = start(Runtime(settings), host="127.0.0.1", port=0)
    yield server, held
    held.close()  # first: a request still held is let through, so the app can finish and close
    server.close()


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium), see `make test`")
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, request: pytest.FixtureRequest):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    pg = context.new_page()
    pg.set_default_timeout(20_000)
    pg.dialogs = []  # every alert/confirm the page tried to open: a script from content would show up here

    def on_dialog(dialog) -> None:
        pg.dialogs.append(dialog.message)
        dialog.dismiss()

    pg.on("dialog", on_dialog)
    yield pg
    ARTIFACTS.mkdir(exist_ok=True)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    try:
        pg.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    finally:
        context.close()
