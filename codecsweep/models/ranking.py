"""Where the true class ranks in a classifier's scores (Rennes 2017: rank 0 = top-1)."""

from __future__ import annotations

import numpy as np


def softmax(scores: np.ndarray) -> np.ndarray:
    z = scores.astype(np.float64) - scores.max()
    e = np.exp(z)
    return e / e.sum()


def top_k(scores: np.ndarray, k: int = 5) -> list[int]:
    """Indices of the k highest scores; ties broken by the lower class index."""
    return [int(i) for i in np.argsort(-scores, kind="stable")[:k]]


def rank_of(scores: np.ndarray, cls: int) -> int:
    """Rank of class ``cls`` (0 = top-1): how many classes score strictly higher."""
    return int(np.count_nonzero(scores > scores[cls]))


def rank_difference(original_rank: int, variant_rank: int) -> int:
    """rank(original) - rank(variant): negative means compression hurt (Rennes 2017)."""
    return original_rank - variant_rank
