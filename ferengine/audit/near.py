"""Pairs of images whose fingerprints are close: Hamming distance or cosine similarity.

Both searches compare every image with every later one, a block of rows at a time, so
memory stays at ``chunk`` × N values whatever N is (about 31,000 distinct FER2013 images:
some 480 million pairs, searched in seconds with numpy's XOR and popcount).
"""

from __future__ import annotations

import numpy as np

#: Rows compared with all later rows at once.
CHUNK = 256


def hamming_pairs(hashes: np.ndarray, threshold: int) -> tuple[np.ndarray, np.ndarray]:
    """Return every pair of rows whose bit strings differ in at most ``threshold`` bits.

    Parameters
    ----------
    hashes : ndarray of uint64, shape (N, W)
        One bit string of ``64 · W`` bits per row (from
        :func:`~ferengine.audit.hashes.perceptual_hashes`).
    threshold : int
        Largest Hamming distance reported (0 reports equal hashes only).

    Returns
    -------
    pairs : ndarray of int64, shape (M, 2)
        Row indices ``i < j``, sorted by ``i`` then ``j``.
    distances : ndarray of int64, shape (M,)
    """
    hashes = np.ascontiguousarray(hashes, dtype=np.uint64)
    if hashes.ndim != 2:
        raise ValueError(f"hashes must be N×W 64-bit words, got shape {hashes.shape}")
    if threshold < 0:
        raise ValueError(f"threshold must be at least 0, got {threshold}")
    n = len(hashes)
    found_i, found_j, found_d = [], [], []
    for start in range(0, n, CHUNK):
        block = hashes[start : start + CHUNK]
        rest = hashes[start:]  # only later rows: each pair once
        dist = np.zeros((len(block), len(rest)), dtype=np.uint16)
        for word in range(hashes.shape[1]):
            dist += np.bitwise_count(block[:, word, None] ^ rest[None, :, word])
        i, j = np.nonzero(dist <= threshold)
        later = j > i  # the block's own diagonal and lower triangle are not pairs
        found_i.append(i[later] + start)
        found_j.append(j[later] + start)
        found_d.append(dist[i[later], j[later]])
    return _pairs(found_i, found_j, found_d, np.int64)


def cosine_pairs(vectors: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Return every pair of rows whose cosine similarity is at least ``threshold``.

    Parameters
    ----------
    vectors : ndarray of float, shape (N, D)
        Rows of zero length are never paired.
    threshold : float
        Smallest similarity reported, in [-1, 1].

    Returns
    -------
    pairs : ndarray of int64, shape (M, 2)
        Row indices ``i < j``, sorted by ``i`` then ``j``.
    similarities : ndarray of float64, shape (M,)
    """
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim != 2:
        raise ValueError(f"vectors must be N×D, got shape {vectors.shape}")
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit = np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)
    found_i, found_j, found_s = [], [], []
    for start in range(0, len(unit), CHUNK):
        sim = unit[start : start + CHUNK] @ unit[start:].T
        i, j = np.nonzero(sim >= threshold)
        later = j > i
        found_i.append(i[later] + start)
        found_j.append(j[later] + start)
        found_s.append(sim[i[later], j[later]])
    return _pairs(found_i, found_j, found_s, np.float64)


def _pairs(
    i: list[np.ndarray], j: list[np.ndarray], value: list[np.ndarray], dtype: type
) -> tuple[np.ndarray, np.ndarray]:
    if not i:
        return np.zeros((0, 2), dtype=np.int64), np.zeros(0, dtype=dtype)
    pairs = np.stack([np.concatenate(i), np.concatenate(j)], axis=1).astype(np.int64)
    return pairs, np.concatenate(value).astype(dtype)
