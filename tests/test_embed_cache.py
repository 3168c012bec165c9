"""The checker's embedding cache: each text embedded once, results in the caller's order, bounded in size."""

from __future__ import annotations

import numpy as np

from hubchat.answer.embed_cache import CachedEmbedder


class Counting:
    """The real embedder, counting the texts it is asked to embed."""

    def __init__(self, embedder):
        self.embedder = embedder
        self.embedded: list[str] = []

    def embed_array(self, texts):
        self.embedded.extend(texts)
        return self.embedder.embed_array(texts)


def test_a_text_is_embedded_once_and_rows_follow_the_callers_order(embedder):
    counting = Counting(embedder)
    cache = CachedEmbedder(counting)
    first = cache(["alpha beta", "gamma delta", "alpha beta"])
    again = cache(["gamma delta", "alpha beta"])
    assert counting.embedded == ["alpha beta", "gamma delta"]
    np.testing.assert_array_equal(first[0], first[2])
    np.testing.assert_array_equal(again, first[[1, 0]])
    np.testing.assert_allclose(first, embedder.embed_array(["alpha beta", "gamma delta", "alpha beta"]), atol=1e-6)


def test_a_full_cache_starts_over_instead_of_growing(embedder):
    cache = CachedEmbedder(Counting(embedder), size=2)
    cache(["one", "two"])
    cache(["three"])
    assert len(cache._vectors) == 1
