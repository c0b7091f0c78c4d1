"""Image fingerprints: a content hash for exact copies, a perceptual hash for near ones.

The content hash is BLAKE2b (128 bits) of an image's shape and its uint8 pixels, so two
images share it exactly when they are the same array. The perceptual hash is pHash
(``imagehash.phash``): the signs of the lowest 16×16 DCT coefficients of the image
shrunk to 64×64 grey, compared with their median, 256 bits. Small noise, a brightness
shift or a JPEG round trip flip a few of its bits; a different face flips about half.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

#: Side of pHash's block of low DCT frequencies: ``PHASH_SIZE ** 2`` bits per image.
PHASH_SIZE = 16
#: Bits of the perceptual hash.
PHASH_BITS = PHASH_SIZE**2
#: Images read from a (possibly memory-mapped) array at a time.
BATCH = 4096


def _batches(images: Any) -> Any:
    """Yield ``(start, block)`` of ``images`` as in-memory arrays, ``BATCH`` at a time."""
    for start in range(0, len(images), BATCH):
        yield start, np.asarray(images[start : start + BATCH])


def content_hashes(images: Any) -> np.ndarray:
    """Return the 128-bit BLAKE2b digest of every image's shape and uint8 pixels.

    Parameters
    ----------
    images : array-like of uint8, shape (N, H, W) or (N, H, W, 3)
        In memory or memory-mapped (read ``BATCH`` images at a time).

    Returns
    -------
    ndarray of dtype ``V16``, shape (N,)
        One opaque 16-byte value per image; equal values mean byte-identical images.
    """
    digests = bytearray()
    for _, block in _batches(images):
        shape = np.asarray(block.shape[1:], dtype=np.int64).tobytes()
        for img in block:
            h = hashlib.blake2b(shape, digest_size=16)
            h.update(np.ascontiguousarray(img).tobytes())
            digests += h.digest()
    return np.frombuffer(bytes(digests), dtype="V16")


def exact_groups(digests: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the distinct image of every image and the copies of each distinct one.

    Parameters
    ----------
    digests : ndarray, shape (N,)
        From :func:`content_hashes`.

    Returns
    -------
    inverse : ndarray of int64, shape (N,)
        The distinct image (0 … D-1) of every image, numbered in order of first occurrence.
    counts : ndarray of int64, shape (D,)
        Copies of each distinct image.
    """
    _, first, inverse, counts = np.unique(
        digests, return_index=True, return_inverse=True, return_counts=True
    )
    order = np.argsort(first, kind="stable")  # renumber by first occurrence
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return rank[inverse.reshape(-1)].astype(np.int64), counts[order].astype(np.int64)


def perceptual_hashes(images: Any) -> np.ndarray:
    """Return the 256-bit pHash of every image, packed into four 64-bit words.

    Parameters
    ----------
    images : array-like of uint8, shape (N, H, W) or (N, H, W, 3)
        RGB images are hashed on their grey levels (Pillow's ``L`` conversion).

    Returns
    -------
    ndarray of uint64, shape (N, 4)
        Compare two rows with :func:`ferengine.audit.near.hamming_pairs`.
    """
    import imagehash
    from PIL import Image

    packed = np.zeros((len(images), PHASH_BITS // 8), dtype=np.uint8)
    for start, block in _batches(images):
        for k, img in enumerate(block):
            bits = imagehash.phash(Image.fromarray(img), hash_size=PHASH_SIZE).hash
            packed[start + k] = np.packbits(bits.reshape(-1))
    return packed.view(np.uint64)
