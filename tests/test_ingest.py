"""Ingestion keeps embedded Chroma and the lexical index equal to the corpus: incrementally, and after a crash.

Everything here is real: the packaged MiniLM embedder, embedded Chroma in a temporary folder, the BM25 index.
The crash tests run ingestion in a child process and kill it with SIGKILL, then ingest again in this process.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from hubchat.config import Settings
from hubchat.errors import IndexMismatchError, IngestBusyError
from hubchat.index.lexical import LexicalIndex
from hubchat.index.local_onnx import LocalOnnxEmbeddings
from hubchat.index.store import ChunkStore
from hubchat.ingest.pipeline import ingest
from tests.helpers import (
    SAMPLES,
    SMALL_CHUNKS_TOML,
    CountingEmbedder,
    assert_index_matches_corpus,
    chroma_records,
    expected_chunk_ids,
    html_page,
    open_store,
    settings_for,
    write_article,
    write_config,
    write_samples,
)
from tests.ingest_child import corpus_in_groups, finish, read_until, run_ingest_child, start_ingest

SMALL = SMALL_CHUNKS_TOML
URLS = sorted(s.url for s in SAMPLES)


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "corpus"
    write_samples(folder)
    return folder


@pytest.fixture
def settings(tmp_path: Path, corpus: Path) -> Settings:
    return settings_for(tmp_path, corpus, SMALL)


@pytest.fixture
def store(settings: Settings, embedder) -> ChunkStore:
    return open_store(settings, embedder)


def ids_of(store: ChunkStore, article_id: str) -> set[str]:
    return {cid for cid, meta in chroma_records(store) if meta["article_id"] == article_id}


def lexical_articles(store: ChunkStore, query: str) -> set[str]:
    return {chunk.article_id for chunk, _ in store.lexical_search(query, 20)}


# ---- incremental ingestion ---------------------------------------------------------------------------------


def test_first_ingest_adds_every_article(settings, store, embedder, corpus):
    summary = ingest(settings, store, embedder)
    expected = expected_chunk_ids(settings, embedder.name, corpus)
    n_chunks = sum(len(ids) for ids in expected.values())
    assert summary.added == tuple(URLS)
    assert (summary.updated, summary.deleted, summary.unchanged, summary.skipped) == ((), (), 0, ())
    assert summary.chunks_written == summary.chunks_total == n_chunks
    assert all(len(ids) >= 2 for ids in expected.values()), "the samples should give several chunks each"
    assert_index_matches_corpus(store, settings, corpus)


def test_re_ingest_without_changes_embeds_nothing(settings, store, embedder, corpus):
    ingest(settings, store, embedder)
    before = sorted(cid for cid, _ in chroma_records(store))
    counting = CountingEmbedder(embedder)
    summary = ingest(settings, store, counting)
    assert summary.chunks_written == 0 and counting.texts == 0
    assert summary.unchanged == len(SAMPLES)
    assert (summary.added, summary.updated, summary.deleted) == ((), (), ())
    assert sorted(cid for cid, _ in chroma_records(store)) == before
    assert_index_matches_corpus(store, settings, corpus)


def test_a_fresh_process_sees_the_index_as_up_to_date(settings, store, embedder, corpus):
    ingest(settings, store, embedder)
    reopened = open_store(settings, embedder)
    summary = ingest(settings, reopened, CountingEmbedder(embedder))
    assert summary.chunks_written == 0 and summary.unchanged == len(SAMPLES)


def test_editing_an_article_replaces_its_chunks(settings, store, embedder, corpus):
    ingest(settings, store, embedder)
    edited = SAMPLES[1]
    old_ids = ids_of(store, edited.url)
    others = {s.url: ids_of(store, s.url) for s in SAMPLES if s is not edited}
    path = corpus / f"{edited.slug}.md"
    path.write_text(
        path.read_text(encoding="utf-8").replace("Convert the recording to mono", "Resample the recording with ffmpeg to mono"),
        encoding="utf-8",
    )

    counting = CountingEmbedder(embedder)
    summary = ingest(settings, store, counting)

    assert summary.updated == (edited.url,)
    assert (summary.added, summary.deleted, summary.unchanged) == ((), (), len(SAMPLES) - 1)
    new_ids = ids_of(store, edited.url)
    assert new_ids and not new_ids & old_ids, "the old version's chunks must all be gone"
    assert summary.chunks_written == counting.texts == len(new_ids)
    for url, ids in others.items():
        assert ids_of(store, url) == ids, f"{url} was not edited and must keep its chunks"
    assert_index_matches_corpus(store, settings, corpus)
    assert lexical_articles(store, "ffmpeg resample") == {edited.url}


def test_deleting_an_article_removes_it_from_chroma_and_the_lexical_index(settings, store, embedder, corpus):
    ingest(settings, store, embedder)
    gone = SAMPLES[2]
    assert lexical_articles(store, "GPU rental prices") >= {gone.url}
    (corpus / f"{gone.slug}.md").unlink()

    summary = ingest(settings, store, CountingEmbedder(embedder))

    assert summary.deleted == (gone.url,)
    assert summary.chunks_written == 0 and summary.unchanged == len(SAMPLES) - 1
    assert not ids_of(store, gone.url)
    assert gone.url not in {c.article_id for c in store.lexical.chunks}
    assert gone.url not in lexical_articles(store, "GPU rental prices")
    query = embedder.embed_query("Why are GPU rental prices falling?")
    assert gone.url not in {chunk.article_id for chunk, _ in store.dense_search(query, 50)}
    assert_index_matches_corpus(store, settings, corpus)


def test_a_new_article_is_added_without_touching_the_others(settings, store, embedder, corpus):
    ingest(settings, store, embedder)
    before = {cid for cid, _ in chroma_records(store)}
    write_article(corpus, "new/pgvector.md", "Postgres with pgvector keeps vectors next to the rows they describe.", title="pgvector", url="/guides/pgvector")
    summary = ingest(settings, store, embedder)
    assert summary.added == ("/guides/pgvector",) and summary.unchanged == len(SAMPLES)
    assert {cid for cid, _ in chroma_records(store)} - before == ids_of(store, "/guides/pgvector")
    assert_index_matches_corpus(store, settings, corpus)


def test_chunks_lost_behind_the_ingests_back_are_noticed_and_restored(settings, store, embedder, corpus):
    ingest(settings, store, embedder)
    victim = SAMPLES[0]
    store.collection.delete(ids=sorted(ids_of(store, victim.url))[:1])
    assert not store.article_states()[victim.url].complete
    summary = ingest(settings, store, CountingEmbedder(embedder))
    assert summary.updated == (victim.url,) and summary.unchanged == len(SAMPLES) - 1
    assert_index_matches_corpus(store, settings, corpus)


def test_changing_the_chunking_settings_re_embeds_every_article(tmp_path, settings, store, embedder, corpus):
    ingest(settings, store, embedder)
    old_ids = {cid for cid, _ in chroma_records(store)}
    rechunked = settings_for(tmp_path, corpus, "[chunking]\ntarget_tokens = 80\nmax_tokens = 120\noverlap_tokens = 0")

    counting = CountingEmbedder(embedder)
    summary = ingest(rechunked, open_store(rechunked, embedder), counting)

    assert summary.updated == tuple(URLS) and summary.unchanged == 0
    assert summary.chunks_written == counting.texts == summary.chunks_total
    store_after = open_store(rechunked, embedder)
    assert not old_ids & {cid for cid, _ in chroma_records(store_after)}
    assert_index_matches_corpus(store_after, rechunked, corpus)


def test_rebuild_embeds_everything_again(settings, store, embedder, corpus):
    first = ingest(settings, store, embedder)
    counting = CountingEmbedder(embedder)
    summary = ingest(settings, store, counting, rebuild=True)
    assert summary.added == tuple(URLS) and summary.unchanged == 0
    assert summary.chunks_written == counting.texts == first.chunks_total == summary.chunks_total
    assert_index_matches_corpus(store, settings, corpus)
    assert store.collection.metadata["embedding_model"] == embedder.name
    assert store.collection.metadata["dimension"] == embedder.dimension
    # The rebuilt store searches normally.
    assert lexical_articles(store, "Whisper transcript") >= {SAMPLES[1].url}


def test_unusable_files_are_skipped_with_a_reason_and_the_rest_is_ingested(settings, store, embedder, corpus):
    (corpus / "scan.md").write_bytes(b"\x00\x01\x02binary" * 50)
    (corpus / "broken.md").write_text("---\ntitle: [oops\n---\n\nBody.\n", encoding="utf-8")
    summary = ingest(settings, store, embedder)
    assert dict(summary.skipped).keys() == {"scan.md", "broken.md"}
    assert "binary" in dict(summary.skipped)["scan.md"]
    assert "front matter" in dict(summary.skipped)["broken.md"]
    assert summary.added == tuple(URLS)
    # Skipped again, with the same reasons, on the next run; nothing else happens.
    again = ingest(settings, store, CountingEmbedder(embedder))
    assert again.skipped == summary.skipped and again.chunks_written == 0


def test_an_html_copy_of_a_markdown_article_is_indexed_once_and_takes_over_when_the_markdown_goes(
    settings, store, embedder, corpus
):
    url = "/alternatives/pinecone-alternatives-small-teams"
    write_article(corpus, "pinecone.md", "Markdown version. Pinecone has open-source alternatives.", title="Pinecone Alternatives", url=url)
    (corpus / "site").mkdir()
    (corpus / "site" / "pinecone.html").write_text(html_page(url), encoding="utf-8")

    summary = ingest(settings, store, embedder)
    assert url in summary.added
    assert dict(summary.skipped) == {"site/pinecone.html": dict(summary.skipped)["site/pinecone.html"]}
    assert "duplicate" in dict(summary.skipped)["site/pinecone.html"]
    assert {meta["source_path"] for cid, meta in chroma_records(store) if meta["article_id"] == url} == {"pinecone.md"}
    assert_index_matches_corpus(store, settings, corpus)

    (corpus / "pinecone.md").unlink()
    summary = ingest(settings, store, embedder)
    assert summary.updated == (url,) and summary.skipped == ()
    assert {meta["source_path"] for cid, meta in chroma_records(store) if meta["article_id"] == url} == {"site/pinecone.html"}
    assert_index_matches_corpus(store, settings, corpus)


def test_an_index_built_with_another_embedding_model_is_refused(settings, store, embedder):
    ingest(settings, store, embedder)
    class OtherModel(LocalOnnxEmbeddings):
        name = "some-other-model"

    with pytest.raises(IndexMismatchError) as info:
        ChunkStore(settings, OtherModel())
    message = str(info.value)
    assert embedder.name in message and "some-other-model" in message and "--rebuild" in message


# ---- crashes -----------------------------------------------------------------------------------------------

def test_kill_9_mid_ingest_then_ingest_again_leaves_each_article_once(tmp_path: Path, embedder):
    n_articles = 6
    corpus, config, settings, total = corpus_in_groups(tmp_path, embedder.name, n_articles)

    proc = start_ingest(config)
    lines = read_until(proc, "embedded", timeout=120)
    proc.send_signal(signal.SIGKILL)
    code, out, err = finish(proc)
    assert lines and lines[-1].startswith("embedded"), f"the child never wrote a chunk: {lines} {err[-3000:]}"
    assert code == -signal.SIGKILL and "finished" not in out

    store = open_store(settings, embedder)
    left = store.count()
    assert 0 < left < total, f"the kill should land partway through ({left} of {total} chunks stored)"

    summary = ingest(settings, store, CountingEmbedder(embedder))
    assert len(summary.added) + len(summary.updated) + summary.unchanged == n_articles
    assert summary.unchanged >= 1, "articles the killed run finished must not be embedded again"
    assert summary.chunks_written < total
    assert summary.chunks_total == total
    assert_index_matches_corpus(store, settings, corpus)
    assert sorted(store.lexical.ids) == sorted(cid for cid, _ in chroma_records(store))


def test_kill_between_writing_a_new_version_and_deleting_the_old_one(tmp_path: Path, embedder, corpus):
    config = write_config(tmp_path, corpus, SMALL)
    settings = settings_for(tmp_path, corpus, SMALL)
    run_ingest_child(config)
    edited = SAMPLES[0]
    path = corpus / f"{edited.slug}.md"
    path.write_text(path.read_text(encoding="utf-8").replace("quickest way", "fastest way"), encoding="utf-8")

    run_ingest_child(config, die_at="chunk-delete")

    store = open_store(settings, embedder)
    versions = {meta["version_key"] for cid, meta in chroma_records(store) if meta["article_id"] == edited.url}
    assert len(versions) == 2, "the killed run should have left the old and the new version side by side"

    counting = CountingEmbedder(embedder)
    summary = ingest(settings, store, counting)
    assert counting.texts == 0, "the new version was complete: finishing the update needs no embedding"
    assert summary.unchanged == len(SAMPLES)
    assert_index_matches_corpus(store, settings, corpus)


def test_kill_between_chroma_write_and_lexical_save_is_repaired_when_the_store_loads(tmp_path, embedder, corpus):
    config = write_config(tmp_path, corpus, SMALL)
    settings = settings_for(tmp_path, corpus, SMALL)
    run_ingest_child(config)
    (corpus / f"{SAMPLES[2].slug}.md").unlink()
    write_article(corpus, "pgvector.md", "Postgres with pgvector keeps vectors next to the rows they describe.", title="pgvector", url="/guides/pgvector")

    run_ingest_child(config, die_at="lexical-save")

    store = open_store(settings, embedder)
    chroma_ids = sorted(cid for cid, _ in chroma_records(store))
    stale = LexicalIndex.load(store.lexical_dir)
    assert stale is not None and sorted(stale.ids) != chroma_ids, "the lexical index on disk should be the old one"

    assert sorted(store.lexical.ids) == chroma_ids  # loading it checks it against Chroma and rebuilds it
    assert lexical_articles(store, "pgvector Postgres rows") == {"/guides/pgvector"}
    assert SAMPLES[2].url not in lexical_articles(store, "GPU rental prices")
    assert_index_matches_corpus(store, settings, corpus)  # the repaired index was saved


# ---- two ingests at once -----------------------------------------------------------------------------------


def test_a_second_ingest_while_one_runs_is_refused_and_changes_nothing(tmp_path: Path, embedder):
    corpus, config, settings, total = corpus_in_groups(tmp_path, embedder.name, 6)

    go = tmp_path / "go"
    first = start_ingest(config, die_at=f"hold:{go}")
    lines = read_until(first, "embedded", timeout=120)
    assert lines and lines[-1].startswith("embedded"), lines
    # the first is mid-way: a second process and a second command in this one are both turned away
    second_code, second_out, second_err = finish(start_ingest(config))
    assert second_code != 0 and "IngestBusyError" in second_err and "Another ingest" in second_err
    with pytest.raises(IngestBusyError, match="Another ingest is updating the index"):
        ingest(settings, open_store(settings, embedder), embedder)

    go.touch()
    code, out, err = finish(first)
    assert code == 0 and "finished" in out, err[-3000:]
    store = open_store(settings, embedder)
    assert store.count() == total
    assert_index_matches_corpus(store, settings, corpus)
    assert ingest(settings, store, embedder).chunks_written == 0  # the lock is free again


def test_a_killed_ingest_does_not_leave_the_index_locked(tmp_path: Path, embedder, corpus):
    config = write_config(tmp_path, corpus)
    run_ingest_child(config, die_at="lexical-save")
    settings = settings_for(tmp_path, corpus)
    summary = ingest(settings, open_store(settings, embedder), embedder)
    assert summary.chunks_total > 0
