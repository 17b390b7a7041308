"""Penultimate-feature embeddings: how cleanly a network separates the classes it learnt."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from .batches import Data, eval_mode, iter_batches, model_device
from .samples import Samples, Trained


@torch.no_grad()
def extract_embeddings(
    model: nn.Module, data: Data, batch_size: int = 128
) -> tuple[np.ndarray, np.ndarray]:
    """Pooled last-stage features `(N, D)` float32 and targets `(N,)` int64, in data order.

    The embedding is `features[-1].mean((2, 3))`, the vector the classifier reads.
    """
    feats, labels = [], []
    with eval_mode(model):
        for images, targets in iter_batches(data, batch_size):
            _, features = model(images.to(model_device(model)))
            feats.append(features[-1].float().mean((2, 3)).cpu())
            labels.append(targets.cpu().long())
    if not feats:
        raise ValueError("data yielded no samples to embed.")
    return torch.cat(feats).numpy(), torch.cat(labels).numpy()


def tsne(
    embeddings: np.ndarray, seed: int = 0, perplexity: float = 30.0, max_iter: int = 1000
) -> np.ndarray:
    """2-D t-SNE `(N, 2)` of `embeddings (N, D)`, seeded.

    The perplexity is capped at `(N - 1) / 3` (scikit-learn needs it below N, and a value near
    N makes every point everyone's neighbour), so tiny smoke-test sets run too.
    """
    from sklearn.manifold import TSNE

    x = np.asarray(embeddings, dtype=np.float32)
    if x.ndim != 2 or len(x) < 3:
        raise ValueError(f"t-SNE needs embeddings (N >= 3, D), got shape {x.shape}.")
    perp = float(min(perplexity, max(1.0, (len(x) - 1) / 3)))
    model = TSNE(
        n_components=2,
        perplexity=perp,
        init="pca",
        learning_rate="auto",
        max_iter=max_iter,
        random_state=seed,
    )
    return model.fit_transform(x).astype(np.float32)


def silhouette(embeddings: np.ndarray, labels: np.ndarray) -> float:
    """Mean silhouette score of `embeddings (N, D)` grouped by `labels (N,)`, in [-1, 1].

    Computed on the embeddings themselves (Euclidean), not on a t-SNE picture of them.
    """
    from sklearn.metrics import silhouette_score

    x, y = np.asarray(embeddings), np.asarray(labels)
    n_labels = len(np.unique(y))
    if len(x) != len(y) or not 2 <= n_labels <= len(x) - 1:
        raise ValueError(
            f"silhouette needs 2..N-1 distinct labels for N embeddings, got {n_labels} labels "
            f"for {len(x)} embeddings and {len(y)} labels."
        )
    return float(silhouette_score(x, y))


def silhouette_frame(members: Sequence[Trained], samples: Samples) -> pd.DataFrame:
    """Silhouette of every model's penultimate embeddings, grouped by the true class."""
    rows = []
    for t in members:
        emb, labels = extract_embeddings(t.model, samples.data)
        rows.append(
            {"method": t.label, "seed": t.seed, "silhouette": silhouette(emb, labels)}
        )
    return pd.DataFrame(rows)


def tsne_points(
    models: Mapping[str, nn.Module], samples: Samples, seed: int = 0, max_iter: int = 1000
) -> tuple[dict[str, np.ndarray], dict[str, float], np.ndarray]:
    """`({label: (N, 2)}, {label: silhouette}, targets (N,))` for the t-SNE figure.

    t-SNE runs on one OpenMP thread: on a few hundred points threads gain nothing, and on a
    busy CPU scikit-learn's spinning threads made it ten times slower.
    """
    from threadpoolctl import threadpool_limits

    points, scores, labels = {}, {}, None
    for label in models:
        emb, labels = extract_embeddings(models[label], samples.data)
        with threadpool_limits(limits=1, user_api="openmp"):
            points[label] = tsne(emb, seed=seed, max_iter=max_iter)
        scores[label] = silhouette(emb, labels)
    return points, scores, labels


__all__ = ["extract_embeddings", "silhouette", "silhouette_frame", "tsne", "tsne_points"]
