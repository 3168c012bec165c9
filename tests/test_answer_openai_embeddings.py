"""Questions answered end to end with embeddings from a real OpenAI-compatible server (llama.cpp + SmolLM2).

Everything is built the way the app builds it (`Runtime` from settings): ingest embeds the chunks through the
server, retrieval embeds the question through it, and the citation checker embeds sentences through it. The chat
backend is the extractive one, so no chat model is needed and the answers are deterministic.
"""

from __future__ import annotations

import pytest

from hubchat.index.openai_compatible import OpenAICompatibleEmbeddings
from hubchat.runtime import Runtime
from tests.conftest_llm import EMBED_KEY, EMBED_KEY_ENV, embedding_settings_for
from tests.helpers import SAMPLES, SMALL_CHUNKS, settings_for, write_samples

pytestmark = pytest.mark.server

QUESTIONS = [
    ("How do I turn a meeting recording into notes?", "/use-cases/whisper-meeting-notes"),
    ("Why are GPU rental prices falling?", "/insights/gpu-rental-prices"),
    ("Where does Chroma keep its data?", "/guides/chroma-small-projects"),
]
OUT_OF_CORPUS = ["What is a good recipe for sourdough bread?", "Who won the football world cup in 1998?"]


@pytest.fixture(scope="module")
def runtime(tmp_path_factory, embedding_server) -> Runtime:
    root = tmp_path_factory.mktemp("openai-embeddings")
    write_samples(root / "corpus")
    settings = settings_for(
        root,
        root / "corpus",
        chunking=SMALL_CHUNKS,
        chat={"backend": "extractive"},
        embeddings=embedding_settings_for(embedding_server).model_dump(),
    )
    runtime = Runtime(settings)
    with pytest.MonkeyPatch.context() as env:  # the key is read once, when the embedder is built
        env.setenv(EMBED_KEY_ENV, EMBED_KEY)
        summary = runtime.ingest()
    assert sorted(summary.added) == sorted(s.url for s in SAMPLES)
    return runtime


def test_the_index_is_built_with_the_server_embedder(runtime):
    assert isinstance(runtime.embeddings, OpenAICompatibleEmbeddings)
    assert runtime.store.collection.metadata["embedding_model"] == runtime.embeddings.name
    assert runtime.embeddings.dimension == 576  # learned from the server while ingesting
    assert runtime.store.count() > len(SAMPLES)


@pytest.mark.parametrize(("question", "article_id"), QUESTIONS)
def test_answers_cite_the_right_article_with_supported_sentences(runtime, monkeypatch, question, article_id):
    embedded: list[int] = []
    real = OpenAICompatibleEmbeddings.embed_array

    def counting(self, texts):
        embedded.append(len(texts))
        return real(self, texts)

    monkeypatch.setattr(OpenAICompatibleEmbeddings, "embed_array", counting)
    result = runtime.answerer.answer(question)

    assert not result.refused, result.text
    assert result.verdict == "supported"
    assert result.sources and result.sources[0].article_id == article_id
    assert {s.number for s in result.sources} <= {p.number for p in result.passages}
    claims = [s for s in result.report.sentences if s.verdict != "not_a_claim"]
    assert claims and all(s.verdict == "supported" and s.citations for s in claims)
    # The question went through the server for dense retrieval, then the checker's sentences did too.
    assert embedded[0] == 1 and len(embedded) >= 2


@pytest.mark.parametrize("question", OUT_OF_CORPUS)
def test_an_out_of_corpus_question_is_refused(runtime, question):
    result = runtime.answerer.answer(question)
    assert result.refused
    assert result.sources == ()
    assert result.text == runtime.answerer.prompts.refusal
