"""No credential ever shows: not in the pages, the answers' error messages, the APIs' errors, the exports or the
logs. The real app on loopback holds four secrets at once (an editor password, the /v1 API key, the chat backend's
key, and a password inside the chat backend's URL), and its chat backend is a real HTTP server that echoes the key
it was sent back in its 401, as OpenAI's does; every text the app produces is then searched for each secret.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
from http.server import BaseHTTPRequestHandler

import httpx
import openai
import pytest
from gradio_client import Client

from hubchat.records import Records
from tests.conftest_ui import EDITOR_LOGIN
from tests.loopback_http import LoopbackServer

CHAT_KEY_ENV = "HUBCHAT_TEST_SECRET_CHAT_KEY"
API_KEY_ENV = "HUBCHAT_TEST_SECRET_API_KEY"
CHAT_KEY = "sk-" + secrets.token_hex(20)
API_KEY = "hc-" + secrets.token_hex(20)
URL_PASSWORD = "pw-" + secrets.token_hex(12)
QUESTION = "How often should I feed a sourdough starter?"


class _EchoesTheKey(BaseHTTPRequestHandler):
    """A chat backend that refuses every request and quotes the key it got, as real providers do."""

    def _refuse(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        sent = self.headers.get("Authorization", "")
        body = json.dumps({"error": {"message": f"Incorrect API key provided: {sent}", "type": "invalid_request_error"}})
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    do_GET = do_POST = _refuse

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def leaky_setup(ui_runtime, editor_login, tmp_path):
    from hubchat.runtime import Runtime
    from hubchat.web.server import start

    backend = LoopbackServer(_EchoesTheKey).start()
    port = backend.base_url.split(":")[2].split("/")[0]
    saved = {k: os.environ.get(k) for k in (CHAT_KEY_ENV, API_KEY_ENV)}
    os.environ[CHAT_KEY_ENV], os.environ[API_KEY_ENV] = CHAT_KEY, API_KEY
    settings = ui_runtime.settings.model_copy(update={
        "chat": ui_runtime.settings.chat.model_copy(update={
            "backend": "openai-compatible", "base_url": f"http://admin:{URL_PASSWORD}@127.0.0.1:{port}/v1",
            "api_key_env": CHAT_KEY_ENV, "max_retries": 0, "timeout_s": 10,
        }),
        "ui": ui_runtime.settings.ui.model_copy(update={"api_key_env": API_KEY_ENV, "db_path": tmp_path / "hubchat.sqlite"}),
    })
    app = start(Runtime(settings), host="127.0.0.1", port=0)
    yield app, settings
    app.close()
    backend.close()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def test_no_page_answer_error_export_or_log_line_shows_a_secret(leaky_setup, caplog, capfd):
    app, settings = leaky_setup
    caplog.set_level(logging.DEBUG)
    seen: dict[str, str] = {}

    for path in ("", "widget/", "review/"):
        seen[f"GET /{path}"] = httpx.get(app.url + path, follow_redirects=True).text
    with httpx.Client(base_url=app.url, follow_redirects=True) as editor:
        user, password = EDITOR_LOGIN
        seen["review login"] = editor.post("review/login", data={"username": user, "password": password}).text
        seen["review page"] = editor.get("review/").text
        seen["review login, wrong"] = editor.post("review/login", data={"username": user, "password": password + "x"}).text

    with pytest.raises(Exception) as failed:  # gradio_client's AppError carries the app's message
        Client(app.url, verbose=False).predict(QUESTION, "[]", "{}", api_name="/ask")
    seen["/ask error"] = str(failed.value)
    assert "401" in seen["/ask error"] or "key" in seen["/ask error"].lower(), seen["/ask error"]

    v1 = openai.OpenAI(base_url=app.url + "v1", api_key=API_KEY, max_retries=0)
    with pytest.raises(openai.APIStatusError) as failed:
        v1.chat.completions.create(model="hubchat", messages=[{"role": "user", "content": QUESTION}])
    seen["/v1 error"] = failed.value.response.text
    with pytest.raises(openai.AuthenticationError) as refused:
        openai.OpenAI(base_url=app.url + "v1", api_key=API_KEY[:-1], max_retries=0).models.list()
    seen["/v1 wrong key"] = refused.value.response.text
    seen["/v1 stream"] = httpx.post(
        app.url + "v1/chat/completions", headers={"Authorization": f"Bearer {API_KEY}"},
        json={"model": "hubchat", "stream": True, "messages": [{"role": "user", "content": QUESTION}]}, timeout=60,
    ).text

    seen["widget"] = httpx.post(app.url + "widget/api/ask", json={"question": QUESTION}, timeout=60).text
    assert '"type": "error"' in seen["widget"]
    seen["verdicts CSV"] = Records(settings.ui.db_path).verdicts_csv()

    out, err = capfd.readouterr()
    seen["log"], seen["stdout"], seen["stderr"] = caplog.text, out, err
    for name, secret in (("chat key", CHAT_KEY), ("API key", API_KEY), ("URL password", URL_PASSWORD), ("editor password", EDITOR_LOGIN[1])):
        leaks = [where for where, text in seen.items() if secret in text]
        lines = [line for where in leaks for line in seen[where].splitlines() if secret in line][:3]
        assert not leaks, f"the {name} shows in: {', '.join(leaks)}, e.g. {lines}"
    assert caplog.text, "the app logged nothing: the search above would prove nothing about its logs"
