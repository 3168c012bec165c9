"""Exported conversations do not pile up on the server: older than ui.export_max_age_s, they are deleted, both
hubchat's own file and the copy Gradio serves the download from (real app, real browser for the download)."""

from __future__ import annotations

import os
import time

import httpx
import pytest
from playwright.sync_api import Page, expect

from hubchat.web.exports import ExportFolder

MAX_AGE_S = 2


def wait_until(condition, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return condition()


def test_only_files_older_than_the_limit_are_deleted(tmp_path):
    folder = ExportFolder(max_age_s=3600)
    old = folder.write("old.md", "old")
    new = folder.write("new.md", "new")
    an_hour_and_a_bit_ago = time.time() - 3700
    os.utime(old, (an_hour_and_a_bit_ago, an_hour_and_a_bit_ago))
    assert folder.delete_expired() == 1
    assert not old.exists() and new.read_text() == "new"


def test_the_sweeper_deletes_an_export_once_it_is_too_old():
    folder = ExportFolder(max_age_s=1)
    path = folder.write("conversation.md", "# a conversation")
    assert wait_until(lambda: not path.exists(), timeout_s=5), "the export outlived its maximum age"


@pytest.fixture
def short_lived_exports_server(ui_runtime, tmp_path):
    from hubchat.runtime import Runtime
    from hubchat.web.server import start

    settings = ui_runtime.settings.model_copy(
        update={"ui": ui_runtime.settings.ui.model_copy(update={"export_max_age_s": MAX_AGE_S, "db_path": tmp_path / "hubchat.sqlite"})}
    )
    server = start(Runtime(settings), host="127.0.0.1", port=0)
    yield server
    server.close()


@pytest.mark.browser
def test_a_downloaded_export_is_gone_from_the_server_after_its_maximum_age(page: Page, short_lived_exports_server):
    page.goto(short_lived_exports_server.url)
    page.fill("#hc-question textarea", "How often should I feed a sourdough starter?")
    page.click("#hc-ask")
    expect(page.locator('#hc-chat [data-testid="bot"]').last).to_contain_text("[1]")
    with page.expect_download() as download:
        page.click("#hc-export")
    assert "sourdough" in open(download.value.path(), encoding="utf-8").read().lower()
    url = download.value.url  # where the server keeps the file for the download
    assert url.startswith(short_lived_exports_server.url), url
    assert httpx.get(url).status_code == 200
    gone = wait_until(lambda: httpx.get(url).status_code != 200, timeout_s=3 * MAX_AGE_S + 5)
    assert gone, f"{url} is still served more than {MAX_AGE_S} s after the export"
