"""Training-time augmenters (``Augmenter`` plugins).

Random, label-preserving changes of uint8 image batches, drawn from the generator
the trainer passes in.

Geometry goes through one OpenCV affine warp per image (``cv2.warpAffine``, border
replicated); photometric changes are numpy arithmetic. On 48×48 faces a warp takes
microseconds, so online augmentation adds about a second per FER2013 epoch.
"""

from __future__ import annotations

from typing import Any, ClassVar

import cv2
import numpy as np

from ferengine.errors import FerengineError
from ferengine.plugin import Augmenter
from ferengine.registry import Registry
from ferengine.steps import StepBuilder

#: Named augmentation chains. "fer" follows the seed theses: rotation ±10°, zoom
#: 0.1, shift 0.1, shear 0.15, horizontal flip, brightness 0.4–1.5.
PRESETS: dict[str, list[Any]] = {
    "fer": [
        "flip",
        ("affine", {"rotation": 10.0, "zoom": 0.1, "shift": 0.1, "shear": 0.15}),
        ("brightness-contrast", {"brightness": [0.4, 1.5], "contrast": [1.0, 1.0]}),
    ],
    "light": [
        "flip",
        ("affine", {"rotation": 10.0, "zoom": 0.1, "shift": 0.1, "shear": 0.0}),
    ],
}


def _range(value: Any, name: str, centre: float) -> tuple[float, float]:
    """Return a range from a symmetric amount (``a`` → centre ± a) or [low, high]."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        if value < 0:
            raise ValueError(f"{name} must be ≥ 0, got {value}")
        return centre - value, centre + value
    low, high = (float(v) for v in value)
    if low > high:
        raise ValueError(f"{name} range must be [low, high], got {value!r}")
    return low, high


class _Probability(Augmenter):
    p: float = 1.0

    def _chosen(self, n: int, rng: np.random.Generator) -> np.ndarray:
        if not 0 <= self.p <= 1:
            raise ValueError(f"{self.name}: p must be in [0, 1], got {self.p}")
        return rng.random(n) < self.p


class Flip(_Probability):
    """Mirror images left-right with probability ``p``.

    Parameters
    ----------
    p : float
        Probability that an image is mirrored.
    """

    name: ClassVar[str] = "flip"

    def __init__(self, p: float = 0.5) -> None:
        self.p = p

    def augment(self, images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Return the batch with a random subset mirrored."""
        out = images.copy()
        chosen = self._chosen(len(images), rng)
        out[chosen] = images[chosen][:, :, ::-1]
        return out


class Affine(_Probability):
    """Random rotation, zoom, shift and shear in one warp.

    Parameters
    ----------
    rotation : float
        Maximum angle in degrees (uniform in ±rotation).
    zoom : float or [low, high]
        Scale change: 0.1 draws a scale in [0.9, 1.1].
    shift : float
        Maximum translation as a fraction of the image side, per axis.
    shear : float
        Maximum horizontal shear (tan of the shear angle).
    p : float
        Probability that an image is warped at all.
    """

    name: ClassVar[str] = "affine"

    def __init__(self, rotation: float = 10.0, zoom: Any = 0.1, shift: float = 0.1,
                 shear: float = 0.15, p: float = 1.0) -> None:  # fmt: skip
        self.rotation = rotation
        self.zoom = zoom
        self.shift = shift
        self.shear = shear
        self.p = p

    def augment(self, images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Return the batch with every chosen image warped at random."""
        out = images.copy()
        n = len(images)
        h, w = images.shape[1:3]
        angle = np.radians(rng.uniform(*_range(self.rotation, "rotation", 0.0), n))
        scale = rng.uniform(*_range(self.zoom, "zoom", 1.0), n)
        shear = rng.uniform(*_range(self.shear, "shear", 0.0), n)
        dx, dy = (rng.uniform(*_range(self.shift, "shift", 0.0), n) * side for side in (w, h))
        centre = np.array([(w - 1) / 2, (h - 1) / 2])
        for i in np.flatnonzero(self._chosen(n, rng)):
            cos, sin = np.cos(angle[i]) * scale[i], np.sin(angle[i]) * scale[i]
            linear = np.array([[cos, -sin], [sin, cos]]) @ np.array([[1.0, shear[i]], [0.0, 1.0]])
            offset = centre - linear @ centre + [dx[i], dy[i]]
            matrix = np.hstack([linear, offset[:, None]])
            out[i] = cv2.warpAffine(images[i], matrix, (w, h), flags=cv2.INTER_LINEAR,
                                    borderMode=cv2.BORDER_REPLICATE)  # fmt: skip
        return out


class _Only(Affine):
    """One geometric change alone, a shorthand of ``affine``.

    Its constructor exposes only that amount and ``p``, so ``get_params`` lists only those.
    """


class Rotate(_Only):
    """Rotate by a random angle in ±``rotation`` degrees."""

    name: ClassVar[str] = "rotate"

    def __init__(self, rotation: float = 10.0, p: float = 1.0) -> None:
        super().__init__(rotation=rotation, zoom=0.0, shift=0.0, shear=0.0, p=p)


class Shift(_Only):
    """Translate by up to ``shift`` × the image side along each axis."""

    name: ClassVar[str] = "shift"

    def __init__(self, shift: float = 0.1, p: float = 1.0) -> None:
        super().__init__(rotation=0.0, zoom=0.0, shift=shift, shear=0.0, p=p)


class Zoom(_Only):
    """Scale by a random factor in [1 − zoom, 1 + zoom]."""

    name: ClassVar[str] = "zoom"

    def __init__(self, zoom: Any = 0.1, p: float = 1.0) -> None:
        super().__init__(rotation=0.0, zoom=zoom, shift=0.0, shear=0.0, p=p)


class Shear(_Only):
    """Shear horizontally by a random factor in ±``shear``."""

    name: ClassVar[str] = "shear"

    def __init__(self, shear: float = 0.15, p: float = 1.0) -> None:
        super().__init__(rotation=0.0, zoom=0.0, shift=0.0, shear=shear, p=p)


class BrightnessContrast(_Probability):
    """Multiply brightness and stretch contrast about the image mean, at random.

    Parameters
    ----------
    brightness : float or [low, high]
        Range of the brightness factor (a number ``a`` means 1 ± ``a``).
    contrast : float or [low, high]
        Range of the contrast factor about the image mean (a number ``a`` means 1 ± ``a``).
    p : float
        Probability that an image is changed.
    """

    name: ClassVar[str] = "brightness-contrast"

    def __init__(self, brightness: Any = (0.4, 1.5), contrast: Any = (0.8, 1.2),
                 p: float = 1.0) -> None:  # fmt: skip
        self.brightness = brightness
        self.contrast = contrast
        self.p = p

    def augment(self, images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Return the batch with random brightness and contrast factors applied."""
        n = len(images)
        shape = (n,) + (1,) * (images.ndim - 1)
        gain = rng.uniform(*_range(self.brightness, "brightness", 1.0), n).reshape(shape)
        stretch = rng.uniform(*_range(self.contrast, "contrast", 1.0), n).reshape(shape)
        x = images.astype(np.float32)
        mean = x.mean(axis=tuple(range(1, x.ndim)), keepdims=True)
        changed = np.clip(((x - mean) * stretch + mean) * gain, 0, 255).round().astype(np.uint8)
        keep = ~self._chosen(n, rng)
        changed[keep] = images[keep]
        return changed


class Blur(_Probability):
    """Gaussian blur with a random sigma in [0, ``sigma``], with probability ``p``.

    Parameters
    ----------
    sigma : float
        Largest blur sigma, in pixels.
    p : float
        Probability that an image is blurred.
    """

    name: ClassVar[str] = "blur"

    def __init__(self, sigma: float = 1.0, p: float = 0.3) -> None:
        self.sigma = sigma
        self.p = p

    def augment(self, images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Return the batch with a random subset blurred."""
        out = images.copy()
        sigmas = rng.uniform(0, self.sigma, len(images))
        for i in np.flatnonzero(self._chosen(len(images), rng)):
            if sigmas[i] > 0.05:
                out[i] = cv2.GaussianBlur(images[i], (0, 0), float(sigmas[i]))
        return out


class SaltPepper(_Probability):
    """Set a random ``amount`` share of pixels to black or white, with probability ``p``.

    Parameters
    ----------
    amount : float
        Share of the pixels of a chosen image set to black or white.
    p : float
        Probability that an image gets noise.
    """

    name: ClassVar[str] = "salt-pepper"

    def __init__(self, amount: float = 0.02, p: float = 0.3) -> None:
        self.amount = amount
        self.p = p

    def augment(self, images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Return the batch with noise on a random subset."""
        out = images.copy()
        chosen = self._chosen(len(images), rng)
        noise = rng.random(images.shape) < self.amount
        salt = rng.random(images.shape) < 0.5
        mask = noise & chosen.reshape((-1,) + (1,) * (images.ndim - 1))
        out[mask & salt] = 255
        out[mask & ~salt] = 0
        return out


class RandomCrop(Augmenter):
    """Crop a random ``size`` × ``size`` window and scale it back to the input size.

    Parameters
    ----------
    size : int
        Side of the crop, in pixels (at most the images' shorter side).
    """

    name: ClassVar[str] = "random-crop"

    def __init__(self, size: int = 42) -> None:
        self.size = size

    def augment(self, images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Return the batch, each image a random crop resized to the original size."""
        h, w = images.shape[1:3]
        if not 0 < self.size <= min(h, w):
            raise ValueError(f"random-crop: size must be in 1..{min(h, w)}, got {self.size}")
        out = np.empty_like(images)
        tops = rng.integers(0, h - self.size + 1, len(images))
        lefts = rng.integers(0, w - self.size + 1, len(images))
        for i, (top, left) in enumerate(zip(tops, lefts, strict=True)):
            crop = images[i, top : top + self.size, left : left + self.size]
            out[i] = cv2.resize(crop, (w, h), interpolation=cv2.INTER_LINEAR)
        return out


class RandomErasing(_Probability):
    """Erase a random rectangle with random pixel values (Zhong et al., AAAI 2020).

    With probability ``p`` an image gets one rectangle whose area is a random share of
    the image in ``area`` and whose aspect ratio (height / width) is drawn log-uniformly
    in ``aspect``; its pixels become uniform random values (the paper's RE-R) or a
    constant ``value``. A draw that does not fit inside the image is retried, up to ten
    times, then the image is left as it is (as torchvision does).

    Parameters
    ----------
    p : float
        Probability that an image gets a rectangle (the paper's 0.5).
    area : [low, high]
        Range of the rectangle's area as a share of the image (the paper's 0.02–0.4).
    aspect : [low, high]
        Range of the rectangle's height / width (the paper's 0.3–1/0.3).
    value : int, optional
        Fill value 0–255; ``None``: uniform random values per pixel.
    """

    name: ClassVar[str] = "random-erasing"

    def __init__(self, p: float = 0.5, area: Any = (0.02, 0.4), aspect: Any = (0.3, 3.3),
                 value: int | None = None) -> None:  # fmt: skip
        self.p = p
        self.area = area
        self.aspect = aspect
        self.value = value

    def _ranges(self) -> tuple[tuple[float, float], tuple[float, float]]:
        area, aspect = (
            _range(v, n, 0.0) for v, n in ((self.area, "area"), (self.aspect, "aspect"))
        )
        if not 0 < area[0] <= area[1] <= 1:
            raise ValueError(
                f"random-erasing: area must be [low, high] within (0, 1], got {self.area!r}"
            )
        if not 0 < aspect[0] <= aspect[1]:
            raise ValueError(
                f"random-erasing: aspect must be [low, high] with 0 < low, got {self.aspect!r}"
            )
        if self.value is not None and not (isinstance(self.value, int) and 0 <= self.value <= 255):
            raise ValueError(
                f"random-erasing: value must be an int in 0..255 or None, got {self.value!r}"
            )
        return area, aspect

    def boxes(self, n: int, h: int, w: int, rng: np.random.Generator) -> np.ndarray:
        """Draw the rectangles of ``n`` images of h×w: rows (top, left, height, width).

        A row of zeros leaves its image unchanged (not chosen, or no draw fitted).
        """
        area, aspect = self._ranges()
        out = np.zeros((n, 4), dtype=np.int64)
        todo = np.flatnonzero(self._chosen(n, rng))
        for _ in range(10):
            if not len(todo):
                break
            target = rng.uniform(*area, len(todo)) * h * w
            ratio = np.exp(rng.uniform(np.log(aspect[0]), np.log(aspect[1]), len(todo)))
            bh = np.round(np.sqrt(target * ratio)).astype(np.int64)
            bw = np.round(np.sqrt(target / ratio)).astype(np.int64)
            fits = (bh >= 1) & (bw >= 1) & (bh <= h) & (bw <= w)
            tops = rng.integers(0, np.maximum(h - bh, 0) + 1)
            lefts = rng.integers(0, np.maximum(w - bw, 0) + 1)
            out[todo[fits]] = np.stack([tops, lefts, bh, bw], axis=1)[fits]
            todo = todo[~fits]
        return out

    def augment(self, images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Return the batch with a random rectangle erased in the chosen images."""
        out = images.copy()
        h, w = images.shape[1:3]
        for i, (top, left, bh, bw) in enumerate(self.boxes(len(images), h, w, rng)):
            if bh:
                patch = out[i, top : top + bh, left : left + bw]
                if self.value is None:
                    patch[...] = rng.integers(0, 256, patch.shape, dtype=np.uint8)
                else:
                    patch[...] = self.value
        return out


AUGMENTERS = [Flip, Affine, Rotate, Shift, Zoom, Shear, BrightnessContrast, Blur, SaltPepper,
              RandomCrop, RandomErasing]  # fmt: skip


def chain(spec: Any, registry: Registry | None = None) -> list[Augmenter]:
    """Build augmenters from a preset name or a list of augmenter steps.

    A ``cnn`` built from a step (a pipeline, a spec, a suite) receives its augment list
    already built on that step's registry (its ``step_params`` shape "augmenters", see
    :mod:`ferengine.steps`), as :class:`~ferengine.Augmenter` instances, which are used
    as given; names left in the list are looked up here. A preset is built from this
    package's own augmenter classes, so it needs no registry.

    Parameters
    ----------
    spec : str or list, optional
        A preset (see :data:`PRESETS`) or a list of steps in the step grammar
        (:mod:`ferengine.steps`): names, ``(name, params)`` pairs,
        ``{"name": ..., "params": {...}}`` tables or :class:`~ferengine.Augmenter` instances.
    registry : Registry, optional
        Where augmenter names are looked up; defaults to the installed plugins.
    """
    if spec is None:
        return []
    if isinstance(spec, str):
        if spec not in PRESETS:
            raise ValueError(f"augment: unknown preset {spec!r}; presets: {sorted(PRESETS)}")
        own = {cls.name: cls for cls in AUGMENTERS}
        return [own[name](**params) for name, params in map(_named, PRESETS[spec])]
    builder = StepBuilder(registry, kinds=("augmenter",))
    out = []
    for step in spec:
        if isinstance(step, Augmenter):
            out.append(step)
            continue
        try:
            augmenter = builder.build(step)[1]
        except FerengineError as exc:
            raise ValueError(f"augment: {exc}") from exc
        if not isinstance(augmenter, Augmenter):
            raise ValueError(f"augment: {augmenter!r} is not an augmenter")
        out.append(augmenter)
    return out


def _named(step: str | tuple[str, dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    return (step, {}) if isinstance(step, str) else step


def apply(augmenters: list[Augmenter], images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Run a batch through every augmenter in turn."""
    for augmenter in augmenters:
        images = augmenter.augment(images, rng)
    return images
