"""Two app processes behind one address, by configuration alone (issue 11's scale-out recipe, end to end).

Two real `hubchat serve` subprocesses on their own loopback ports, each with its own index folder (as on two
machines), share one `chroma run` server (this module's own, so restarting it disturbs no other test), one
PostgreSQL database (`ui.records_url`) and one model server (the session's SmolLM2 llama.cpp server, through the
`openai-compatible` backend with its key in the variable `chat.api_key_env` names). They are configured only by
a config file written to a temporary folder and environment variables, as the README's recipe says.
"""

from __future__ import annotations

import json
import textwrap
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import openai
import pytest

from hubchat.records import Records
from tests.app_process import AppProcess, child_env, run_hubchat, start_app, wait_ready
from tests.conftest_llm import CHAT_KEY_ENV
from tests.conftest_postgres import PostgresServer
from tests.helpers import copy_real_articles, write_article
from tests.ingest_child import finish, read_until, start_ingest
from tests.server_processes import ChromaProcess, ServerStartError, free_port, start_chroma

pytestmark = pytest.mark.server

NEW_URL = "/guides/quillmoss-vector-cache"
NEW_QUESTION = "What does Quillmoss cache between requests?"
NEW_ARTICLE = """
    ## What Quillmoss does

    Quillmoss is a vector cache that keeps query embeddings between requests, so a repeated question is not
    embedded twice. Quillmoss stores each cached embedding for fifteen minutes and evicts the oldest ones first.
"""


@dataclass
class Cluster:
    folder: Path
    corpus: Path
    config: Path
    chroma: ChromaProcess
    records_url: str
    envs: list[dict[str, str]]
    apps: list[AppProcess]


def _config(folder: Path, chroma: ChromaProcess, model_url: str, model_id: str) -> Path:
    # The shared part of the recipe; each process's own index folder and the records URL come from its environment.
    path = folder / "hubchat.toml"
    path.write_text(textwrap.dedent(f"""
        [corpus]
        path = "corpus"

        [index]
        refresh_s = 0.5

        [store]
        mode = "server"
        host = "{chroma.host}"
        port = {chroma.port}
        timeout_s = 10

        [chat]
        backend = "openai-compatible"
        base_url = "{model_url}"
        model = "{model_id}"
        api_key_env = "{CHAT_KEY_ENV}"
        max_tokens = 48
        temperature = 0.0
        max_retries = 0
        timeout_s = 60
    """), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, postgres_server: PostgresServer, llama_server) -> Iterator[Cluster]:
    folder = tmp_path_factory.mktemp("scale-out")
    try:
        chroma = start_chroma(folder / "chroma")
    except ServerStartError as exc:
        pytest.fail(str(exc))
    records_url = _new_database(postgres_server)
    corpus = folder / "corpus"
    copy_real_articles(corpus, 4)
    config = _config(folder, chroma, llama_server.base_url, llama_server.model_id)
    envs = [
        child_env(config, {
            "HUBCHAT_INDEX__DIR": str(folder / f"index-{name}"),
            "HUBCHAT_UI__RECORDS_URL": records_url,
            "HUBCHAT_UI__DB_PATH": str(folder / f"unused-{name}.sqlite"),  # must stay unused: records go to PostgreSQL
            CHAT_KEY_ENV: llama_server.api_key,
        })
        for name in ("a", "b")
    ]
    apps: list[AppProcess] = []
    try:
        done = run_hubchat(envs[0], "ingest")
        assert done.returncode == 0, f"the first ingest failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
        ports = [free_port(), free_port()]
        procs = [start_app(env, port, folder / f"serve-{port}.log") for env, port in zip(envs, ports)]
        for proc, port in zip(procs, ports):
            try:
                apps.append(wait_ready(proc, port, folder / f"serve-{port}.log"))
            except RuntimeError as exc:
                for other in procs:
                    other.kill()
                pytest.fail(str(exc))
        yield Cluster(folder, corpus, config, chroma, records_url, envs, apps)
    finally:
        for app in apps:
            app.stop()
        chroma.stop()


def _new_database(server: PostgresServer) -> str:
    from sqlalchemy import create_engine, text

    name = f"scale_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server.url(), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    return server.url(name)


def ask(app: AppProcess, question: str) -> dict:
    """Ask over the /v1 API with the openai client; returns the response's `hubchat` field."""
    client = openai.OpenAI(base_url=app.url + "v1", api_key="unused-on-loopback", max_retries=0, timeout=120)
    completion = client.chat.completions.create(model="hubchat", messages=[{"role": "user", "content": question}])
    extra = completion.model_dump()["hubchat"]
    assert completion.choices[0].message.content == extra["text"]
    return extra


def ask_widget(app: AppProcess, question: str) -> tuple[str, dict]:
    """Ask over the widget's API, site-wide; returns (the passages shown before the model writes, the final event).

    SmolLM2 rarely writes [n] markers, so what proves an answer drew on an article is the passages the app handed
    the model, which this API shows first."""
    import httpx

    body = {"question": question, "history": [], "page": "", "scope": "site"}
    with httpx.Client(timeout=120) as http:
        response = http.post(app.url + "widget/api/ask", json=body)
    assert response.status_code == 200, response.text
    events = [json.loads(line) for line in response.text.splitlines() if line.strip()]
    passages = "".join(e["html"] for e in events if e["type"] == "passages")
    assert events[-1]["type"] == "final", events[-1]
    return passages, events[-1]


def test_an_ingest_through_one_process_is_answered_from_by_the_other(cluster: Cluster):
    before, _ = ask_widget(cluster.apps[1], NEW_QUESTION)
    assert NEW_URL not in before

    write_article(cluster.corpus, "quillmoss.md", NEW_ARTICLE, title="Quillmoss, a vector cache", url=NEW_URL, tags=["caching"])
    done = run_hubchat(cluster.envs[0], "ingest")
    assert done.returncode == 0 and "added" in done.stdout, f"{done.stdout[-2000:]}\n{done.stderr[-3000:]}"

    # Through the real model: the second process, whose own index folder never saw this ingest, answers from
    # the new article (its lexical index is rebuilt from the shared Chroma once it notices the pointer moved).
    for app in reversed(cluster.apps):
        passages, final = ask_widget(app, NEW_QUESTION)
        assert NEW_URL in passages, (app.url, passages)
        assert not final["refused"] and final["text"].strip(), final


def test_records_saved_through_one_process_are_seen_through_the_other(cluster: Cluster):
    from gradio_client import Client

    answer_id = ask(cluster.apps[0], "What is retrieval-augmented generation?")["answer_id"]
    # The second process rates the first one's answer through its own chat API: it must find it in the shared
    # database (a store of its own would answer "no such answer").
    assert Client(cluster.apps[1].url, verbose=False).predict(answer_id, False, "from the other process", api_name="/feedback") == "ok"

    # An editor's verdict, saved as the review page saves it, on the database the processes share.
    with Records(cluster.records_url) as editors:
        record = editors.answer(answer_id)
        assert record is not None and record.channel == "openai"
        assert record.feedback and record.feedback[-1].comment == "from the other process"
        if record.sentences:
            editors.set_verdict(answer_id, record.sentences[0].index, "unsupported", "seen everywhere", editor="e2e")
    with Records(cluster.records_url) as fresh:
        again = fresh.answer(answer_id)
        assert again is not None and not again.feedback[-1].helpful
        assert answer_id in {r.id for r in fresh.answers("flagged", limit=100)}  # not helpful: flagged for review
        if record.sentences:
            assert again.reviews[record.sentences[0].index].note == "seen everywhere"
    for name in ("a", "b"):
        assert not (cluster.folder / f"unused-{name}.sqlite").exists(), "a process wrote its records to SQLite"


def test_both_processes_recover_when_the_chroma_server_restarts(cluster: Cluster):
    cluster.chroma.stop()
    try:
        for app in cluster.apps:
            with pytest.raises(openai.InternalServerError) as down:
                ask(app, NEW_QUESTION)
            assert "Chroma server" in str(down.value), down.value
    finally:
        cluster.chroma.start()  # the same port and data folder, as an operator's restart

    for app in cluster.apps:
        passages, final = ask_widget(app, NEW_QUESTION)
        assert NEW_URL in passages and final["text"].strip(), (app.url, passages, final)


def test_a_second_ingest_into_the_shared_server_is_refused_while_one_runs(cluster: Cluster):
    # Two commands on one machine sharing the Chroma server and the index folder: the ingest lock turns the
    # second away and the first finishes; the serving processes then follow it.
    (cluster.corpus / "quillmoss.md").write_text(
        (cluster.corpus / "quillmoss.md").read_text(encoding="utf-8").replace("fifteen minutes", "twenty minutes"),
        encoding="utf-8",
    )
    config = cluster.folder / "ingest-lock.toml"
    config.write_text(
        cluster.config.read_text(encoding="utf-8").replace("[index]\n", f'[index]\ndir = "{cluster.folder / "index-a"}"\n')
        .replace('path = "corpus"', f'path = "{cluster.corpus}"'),
        encoding="utf-8",
    )
    go = cluster.folder / "go"
    first = start_ingest(config, die_at=f"hold:{go}")
    try:
        lines = read_until(first, "embedded", timeout=120)
        assert lines and lines[-1].startswith("embedded"), lines
        second = run_hubchat(cluster.envs[0], "ingest")
        assert second.returncode != 0 and "Another ingest" in second.stdout + second.stderr, second
    finally:
        go.touch()
    code, out, err = finish(first)
    assert code == 0 and "finished" in out, err[-3000:]
    for app in cluster.apps:
        passages, _ = ask_widget(app, NEW_QUESTION)
        assert "twenty minutes" in passages, (app.url, passages)
