"""The openai-compatible embedder against a real server: llama.cpp (xllamacpp) serving SmolLM2 over loopback.

Its vectors are poor for retrieval; these tests check the mechanics (order, batching, normalisation, the key,
errors), never the quality.
"""

from __future__ import annotations

import numpy as np
import pytest

from hubchat.errors import BackendError
from hubchat.index.embedder import build_embeddings
from hubchat.index.openai_compatible import OpenAICompatibleEmbeddings
from tests.conftest_llm import EMBED_KEY, EMBED_KEY_ENV, embedding_settings_for

SMOLLM2_DIMENSION = 576
TEXTS = [
    "Whisper turns a meeting recording into a transcript.",
    "Hourly prices for renting data-centre GPUs have fallen.",
    "Chroma runs inside a Python process.",
    "Whisper turns a meeting recording into a transcript.",  # a duplicate gets its twin's vector
    "Renting suits bursty training jobs.",
]


@pytest.mark.server
def test_vectors_are_unit_float32_rows_in_the_callers_order(compatible_embedding_settings):
    emb = build_embeddings(compatible_embedding_settings.model_copy(update={"batch_size": 2}))  # three requests
    assert emb.dimension is None
    forward = emb.embed_array(TEXTS)
    assert emb.dimension == SMOLLM2_DIMENSION
    assert forward.shape == (len(TEXTS), SMOLLM2_DIMENSION)
    assert forward.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(forward, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(forward[0], forward[3], atol=1e-5)
    assert forward[0] @ forward[1] < 0.99  # different texts really differ, so the checks here are not trivial

    permutation = [4, 2, 0, 3, 1]
    shuffled = emb.embed_array([TEXTS[i] for i in permutation])
    np.testing.assert_allclose(shuffled, forward[permutation], atol=1e-4)


@pytest.mark.server
def test_batching_does_not_change_the_vectors(compatible_embedding_settings):
    together = build_embeddings(compatible_embedding_settings).embed_array(TEXTS)
    one_per_request = build_embeddings(compatible_embedding_settings.model_copy(update={"batch_size": 1}))
    np.testing.assert_allclose(one_per_request.embed_array(TEXTS), together, atol=1e-4)


@pytest.mark.server
def test_an_empty_text_is_embedded_instead_of_failing_the_batch(compatible_embedding_settings):
    # llama.cpp and OpenAI refuse "" outright (HTTP 400), which would fail every other text sent with it.
    vectors = build_embeddings(compatible_embedding_settings).embed_array(["", "Chroma runs inside a Python process."])
    assert vectors.shape == (2, SMOLLM2_DIMENSION)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


@pytest.mark.server
def test_a_refused_key_names_the_variable_and_never_shows_the_key(embedding_server, monkeypatch):
    monkeypatch.setenv(EMBED_KEY_ENV, "sk-wrong-key-4242")
    emb = build_embeddings(embedding_settings_for(embedding_server))
    with pytest.raises(BackendError, match=rf"refused the API key \(HTTP 401\).*{EMBED_KEY_ENV}") as caught:
        emb.embed_documents(["hello"])
    assert "sk-wrong-key-4242" not in str(caught.value)
    assert EMBED_KEY not in str(caught.value)


@pytest.mark.server
def test_a_loopback_server_that_checks_keys_refuses_the_placeholder(embedding_server, monkeypatch):
    # No key configured: a loopback server gets the placeholder, and one that checks keys says so clearly.
    monkeypatch.delenv(EMBED_KEY_ENV, raising=False)
    emb = build_embeddings(embedding_settings_for(embedding_server))
    with pytest.raises(BackendError, match=EMBED_KEY_ENV):
        emb.embed_query("hello")


@pytest.mark.server
def test_a_text_longer_than_the_server_accepts_is_a_backend_error(compatible_embedding_settings):
    emb = build_embeddings(compatible_embedding_settings)
    with pytest.raises(BackendError, match=r"refused the request for model .*\(HTTP 5\d\d: .*too large"):
        emb.embed_query("retrieval " * 3000)


def _client(base_url: str, timeout_s: float = 10.0) -> OpenAICompatibleEmbeddings:
    return OpenAICompatibleEmbeddings(
        model="m", base_url=base_url, api_key="not-needed", api_key_env=EMBED_KEY_ENV, timeout_s=timeout_s, max_retries=0
    )


def test_a_server_that_is_not_running_is_a_backend_error(unused_port):
    with pytest.raises(BackendError, match="is not reachable: is it running"):
        _client(f"http://127.0.0.1:{unused_port}/v1").embed_query("hello")


def test_a_server_that_never_answers_is_a_backend_error(silent_server):
    with pytest.raises(BackendError, match=r"did not answer within 0.5 s.*embeddings.timeout_s"):
        _client(silent_server, timeout_s=0.5).embed_query("hello")
