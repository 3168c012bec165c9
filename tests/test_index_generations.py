"""A rebuild never leaves a serving process with an empty or half-built index, and every process follows another
one's ingest: real embedded Chroma, ingests in child processes, the serving store in this one."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from hubchat.errors import IndexMismatchError
from hubchat.index.local_onnx import LocalOnnxEmbeddings
from hubchat.index.store import ChunkStore
from hubchat.ingest.pipeline import ingest
from tests.helpers import (
    assert_index_matches_corpus,
    copy_real_articles,
    open_store,
    settings_for,
    write_article,
    write_config,
)
from tests.ingest_child import corpus_in_groups, finish, read_until, start_ingest

QUESTION = "GPU"


def _setup(tmp_path: Path, embedder, articles: int = 5):
    corpus, config, settings, total = corpus_in_groups(tmp_path, embedder.name, articles)
    serving = open_store(settings, embedder)
    ingest(settings, serving, embedder)
    return corpus, config, settings, serving, total


def _collections(store: ChunkStore) -> set[str]:
    return {c.name for c in store.client.list_collections()}


def test_a_rebuild_serves_the_old_index_until_the_new_one_is_complete(tmp_path: Path, embedder):
    corpus, config, settings, serving, total = _setup(tmp_path, embedder)
    vector = embedder.embed_query("GPU rental prices")
    before = [c.id for c, _ in serving.dense_search(vector, 5)]

    go = tmp_path / "go"
    child = start_ingest(config, die_at=f"hold:{go}", rebuild=True)
    lines = read_until(child, "embedded", timeout=120)
    assert lines and lines[-1].startswith("embedded"), lines
    # mid-rebuild: the serving process still has the whole index, and nothing has been announced
    assert not serving.refresh(force=True)
    assert serving.count() == total
    assert [c.id for c, _ in serving.dense_search(vector, 5)] == before
    assert serving.lexical_search(QUESTION, 5)

    go.touch()
    code, out, err = finish(child)
    assert code == 0 and "finished" in out, err[-3000:]
    assert serving.refresh(force=True)  # the switch is noticed ...
    assert serving.generation == 1 and serving.count() == total
    assert [c.id for c, _ in serving.dense_search(vector, 5)] == before  # ... and the same corpus answers alike
    assert_index_matches_corpus(serving, settings, corpus)
    # the generation it replaced stays until the next rebuild, for processes that have not switched yet
    assert {settings.index.collection, f"{settings.index.collection}--g1"} <= _collections(serving)

    ingest(settings, serving, embedder, rebuild=True)
    assert serving.generation == 2
    assert settings.index.collection not in _collections(serving)
    assert_index_matches_corpus(serving, settings, corpus)


def test_a_rebuild_killed_half_way_leaves_the_live_index_and_the_next_rebuild_finishes(tmp_path: Path, embedder):
    corpus, config, settings, serving, total = _setup(tmp_path, embedder)
    child = start_ingest(config, rebuild=True)
    lines = read_until(child, "embedded", timeout=120)
    child.send_signal(signal.SIGKILL)
    code, _, _ = finish(child)
    assert lines and code == -signal.SIGKILL

    assert not serving.refresh(force=True)
    assert serving.generation == 0 and serving.count() == total
    fresh = open_store(settings, embedder)  # a process starting now opens the live generation, not the leftover
    assert fresh.generation == 0 and fresh.count() == total

    summary = ingest(settings, fresh, embedder, rebuild=True)
    assert summary.chunks_total == total and fresh.generation == 1
    assert_index_matches_corpus(fresh, settings, corpus)


def test_every_process_follows_another_ones_ingest_without_reloading_per_question(tmp_path: Path, embedder):
    corpus, config, settings, serving, total = _setup(tmp_path, embedder)
    write_article(corpus, "zeppelin.md", "Zeppelin airships carried passengers across the Atlantic in the 1930s.\n",
                  title="Zeppelins", url="/insights/zeppelins")
    assert not serving.lexical_search("Zeppelin airships", 3)

    code, out, err = finish(start_ingest(config))  # another process adds the article
    assert code == 0 and "finished" in out, err[-3000:]
    assert serving.refresh(force=True)
    assert serving.lexical_search("Zeppelin airships", 3)[0][0].article_id == "/insights/zeppelins"
    vector = embedder.embed_query("passenger airships over the Atlantic")
    assert serving.dense_search(vector, 1)[0][0].article_id == "/insights/zeppelins"
    assert not serving.refresh(force=True)  # nothing new: no reload


def test_a_rebuild_with_another_embedding_model_replaces_the_index_it_refuses(tmp_path: Path, embedder):
    corpus, config, settings, serving, total = _setup(tmp_path, embedder, articles=2)

    class OtherModel(LocalOnnxEmbeddings):
        name = "some-other-model"

    with pytest.raises(IndexMismatchError):
        ChunkStore(settings, OtherModel())
    store = ChunkStore(settings, OtherModel(), check_model=False)
    ingest(settings, store, store.embedder, rebuild=True)
    assert ChunkStore(settings, OtherModel()).count() == total  # the new model's index is now the live one
    with pytest.raises(IndexMismatchError):
        ChunkStore(settings, embedder)


@pytest.mark.server
def test_processes_sharing_a_chroma_server_follow_each_others_ingest_and_rebuild(tmp_path: Path, embedder, chroma_server):
    corpus = tmp_path / "corpus"
    copy_real_articles(corpus, 3)
    shared = f'[store]\nmode = "server"\nhost = "{chroma_server.host}"\nport = {chroma_server.port}'
    # the other process has its own index folder (lexical index, manifest): only the Chroma server is shared
    other = tmp_path / "other"
    other.mkdir()
    config = write_config(other, corpus, shared)
    settings = settings_for(tmp_path, corpus, shared)
    serving = open_store(settings, embedder)
    ingest(settings, serving, embedder)
    total = serving.count()

    write_article(corpus, "zeppelin.md", "Zeppelin airships carried passengers across the Atlantic in the 1930s.\n",
                  title="Zeppelins", url="/insights/zeppelins")
    code, out, err = finish(start_ingest(config))
    assert code == 0 and "finished" in out, err[-3000:]
    assert serving.refresh(force=True)
    assert serving.count() > total
    assert serving.lexical_search("Zeppelin airships", 3)[0][0].article_id == "/insights/zeppelins"

    code, out, err = finish(start_ingest(config, rebuild=True))
    assert code == 0 and "finished" in out, err[-3000:]
    assert serving.refresh(force=True) and serving.generation == 1
    assert_index_matches_corpus(serving, settings, corpus)
