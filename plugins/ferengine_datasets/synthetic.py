"""Procedurally rendered grey faces showing the seven FER2013 expressions.

No real data ships with ferengine, yet every pipeline, test and the default
benchmark need faces with expressions and identities. This renderer draws a
head, eyes, brows, nose and mouth with OpenCV; each subject has its own
geometry, skin tone and expressiveness, and each image adds expression
intensity, pose jitter, lighting gradients, blur and noise. It is deterministic
from ``seed``: image ``(subject, expression, k)`` depends on nothing else, so
more subjects never change the ones already drawn.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ferengine.datacache import Allocate, in_memory, load_cached
from ferengine.dataset import FaceDataset
from ferengine.labels import FER7
from ferengine.plugin import DatasetPlugin

_CANVAS = 128  # render size; images are resized down with area interpolation (anti-aliasing)
_CHUNK = 1024  # images rendered, then written, at a time


@dataclass(frozen=True)
class _Expression:
    """Facial action offsets, in canvas fractions, relative to neutral."""

    brow_inner: float = 0.0  # + lowers the inner brow end
    brow_outer: float = 0.0
    brow_pinch: float = 0.0  # + moves inner ends toward the midline
    eye_open: float = 1.0  # multiplies eye height
    mouth_width: float = 1.0  # multiplies mouth width
    mouth_curve: float = 0.0  # + corners up (smile), - corners down
    mouth_open: float = 0.0  # lip gap
    lip_raise: float = 0.0  # upper lip lifted (disgust)
    nose_wrinkle: float = 0.0


# FER2013 order: angry, disgust, fear, happy, sad, surprise, neutral.
_EXPRESSIONS: tuple[_Expression, ...] = (
    _Expression(
        brow_inner=0.045,
        brow_outer=-0.01,
        brow_pinch=0.015,
        eye_open=0.65,
        mouth_width=0.85,
        mouth_curve=-0.012,
    ),
    _Expression(
        brow_inner=0.025,
        brow_outer=0.015,
        eye_open=0.6,
        mouth_width=0.95,
        mouth_curve=-0.02,
        lip_raise=0.02,
        nose_wrinkle=1.0,
    ),
    _Expression(
        brow_inner=-0.05,
        brow_outer=-0.02,
        brow_pinch=0.02,
        eye_open=1.55,
        mouth_width=1.3,
        mouth_curve=-0.01,
        mouth_open=0.025,
    ),
    _Expression(
        brow_inner=-0.005,
        brow_outer=-0.005,
        eye_open=0.7,
        mouth_width=1.25,
        mouth_curve=0.05,
        mouth_open=0.01,
    ),
    _Expression(
        brow_inner=-0.04, brow_outer=0.02, eye_open=0.8, mouth_width=0.95, mouth_curve=-0.045
    ),
    _Expression(
        brow_inner=-0.06, brow_outer=-0.06, eye_open=1.7, mouth_width=0.65, mouth_open=0.075
    ),
    _Expression(),
)
_NEUTRAL = _EXPRESSIONS[-1]


def _blend(e: _Expression, t: float) -> _Expression:
    """Return neutral moved a fraction ``t`` of the way toward ``e``."""
    n = _NEUTRAL
    return _Expression(
        *(
            getattr(n, f) + t * (getattr(e, f) - getattr(n, f))
            for f in _Expression.__dataclass_fields__
        )
    )


@dataclass(frozen=True)
class _Identity:
    face_w: float
    face_h: float
    eye_sep: float
    eye_y: float
    brow_gap: float
    mouth_y: float
    mouth_w: float
    skin: float
    hair: float
    expressiveness: float


def _identity(rng: np.random.Generator) -> _Identity:
    return _Identity(
        face_w=rng.uniform(0.30, 0.38),
        face_h=rng.uniform(0.40, 0.47),
        eye_sep=rng.uniform(0.12, 0.16),
        eye_y=rng.uniform(0.40, 0.45),
        brow_gap=rng.uniform(0.065, 0.09),
        mouth_y=rng.uniform(0.70, 0.76),
        mouth_w=rng.uniform(0.10, 0.14),
        skin=rng.uniform(0.5, 0.8),
        hair=rng.uniform(0.05, 0.35),
        expressiveness=rng.uniform(0.7, 1.1),
    )


def _pt(x: float, y: float) -> tuple[int, int]:
    return round(x * _CANVAS * 16), round(y * _CANVAS * 16)  # 4 fractional bits


def _poly(img: np.ndarray, xs: np.ndarray, ys: np.ndarray, value: float, thick: int) -> None:
    pts = np.stack([xs, ys], axis=1) * _CANVAS * 16
    cv2.polylines(img, [pts.round().astype(np.int32)], False, value, thick, cv2.LINE_AA, 4)


@dataclass(frozen=True)
class _View:
    """How one image shows its face: everything random in an image but the face and the noise."""

    background: float  # grey level behind the head
    light_angle: float  # direction of the lighting gradient, radians
    light_strength: float  # its amplitude across the canvas
    rotation: float  # degrees, about the canvas centre
    scale: float
    shift: tuple[float, float]  # (x, y), canvas fractions
    blur: float  # Gaussian sigma, in pixels of a 48-pixel image
    contrast: float
    brightness: float
    noise: float  # standard deviation of the per-pixel noise


def _view(rng: np.random.Generator) -> _View:
    """Draw the view of one still image (the draws, in order, of the original renderer)."""
    return _View(
        background=rng.uniform(0.2, 0.9),
        light_angle=rng.uniform(0, 2 * np.pi),
        light_strength=rng.uniform(0, 0.25),
        rotation=rng.uniform(-10, 10),
        scale=rng.uniform(0.9, 1.1),
        shift=tuple(rng.uniform(-0.05, 0.05, 2)),
        blur=rng.uniform(0.0, 1.0),
        contrast=rng.uniform(0.75, 1.25),
        brightness=rng.uniform(-0.1, 0.1),
        noise=rng.uniform(0.02, 0.06),
    )


def _draw(
    ident: _Identity, e: _Expression, view: _View, rng: np.random.Generator, size: int
) -> np.ndarray:
    """Draw a face as ``view`` shows it, ``size`` pixels square; ``rng`` gives the pixel noise."""
    return _shoot(_face(ident, e, view.background), view, rng, size)


def _face(ident: _Identity, e: _Expression, background: float) -> np.ndarray:
    """Draw the face, frontal and evenly lit, on a float canvas of ``_CANVAS`` pixels."""
    img = np.full((_CANVAS, _CANVAS), background, np.float32)
    cx = 0.5
    cv2.ellipse(
        img,
        _pt(cx, 0.40),
        _pt(ident.face_w * 1.05, ident.face_h * 0.75),
        0,
        180,
        360,
        ident.hair,
        -1,
        cv2.LINE_AA,
        4,
    )
    cv2.ellipse(
        img,
        _pt(cx, 0.53),
        _pt(ident.face_w, ident.face_h),
        0,
        0,
        360,
        ident.skin,
        -1,
        cv2.LINE_AA,
        4,
    )
    dark = ident.skin * 0.25
    for side in (-1, 1):
        ex = cx + side * ident.eye_sep
        eye_h = 0.022 * e.eye_open
        cv2.ellipse(
            img, _pt(ex, ident.eye_y), _pt(0.045, eye_h), 0, 0, 360, 0.95, -1, cv2.LINE_AA, 4
        )
        cv2.circle(img, _pt(ex, ident.eye_y), int(0.016 * _CANVAS * 16), dark, -1, cv2.LINE_AA, 4)
        cv2.ellipse(
            img, _pt(ex, ident.eye_y), _pt(0.045, eye_h), 0, 0, 360, dark, 1, cv2.LINE_AA, 4
        )
        # Brow: inner end near the midline, outer end above the eye's outer corner.
        by = ident.eye_y - ident.brow_gap
        inner = (cx + side * (0.055 - e.brow_pinch), by + e.brow_inner)
        outer = (cx + side * (ident.eye_sep + 0.07), by + e.brow_outer + 0.01)
        mid = ((inner[0] + outer[0]) / 2, (inner[1] + outer[1]) / 2 - 0.012)
        t = np.linspace(0, 1, 12)
        xs = (1 - t) ** 2 * inner[0] + 2 * t * (1 - t) * mid[0] + t**2 * outer[0]
        ys = (1 - t) ** 2 * inner[1] + 2 * t * (1 - t) * mid[1] + t**2 * outer[1]
        _poly(img, xs, ys, dark, 3)
    # Nose, with wrinkles for disgust.
    ny = (ident.eye_y + ident.mouth_y) / 2 + 0.03
    _poly(
        img,
        np.array([cx, cx - 0.015, cx + 0.02]),
        np.array([ident.eye_y + 0.03, ny, ny]),
        ident.skin * 0.6,
        2,
    )
    if e.nose_wrinkle > 0.05:
        for side in (-1, 1):
            _poly(
                img,
                np.array([cx + side * 0.02, cx + side * 0.05]),
                np.array([ident.eye_y + 0.04, ident.eye_y + 0.07]),
                ident.skin * (1 - 0.4 * e.nose_wrinkle),
                2,
            )
    # Mouth: two quadratic lips; the gap between them is filled dark.
    half_w = ident.mouth_w * e.mouth_width / 2
    t = np.linspace(-1, 1, 21)
    xs = cx + half_w * t
    corner = -e.mouth_curve
    upper = ident.mouth_y - e.lip_raise + corner * t**2 - e.mouth_open * (1 - t**2)
    lower = ident.mouth_y + corner * t**2 + e.mouth_open * (1 - t**2)
    if e.mouth_open > 0.005:
        pts = np.concatenate([np.stack([xs, upper], 1), np.stack([xs, lower], 1)[::-1]])
        cv2.fillPoly(
            img, [(pts * _CANVAS * 16).round().astype(np.int32)], dark * 0.6, cv2.LINE_AA, 4
        )
    _poly(img, xs, upper, dark, 2)
    _poly(img, xs, lower, dark, 2)
    return img


def _shoot(img: np.ndarray, view: _View, rng: np.random.Generator, size: int) -> np.ndarray:
    """Light, pose, shrink, blur and expose a face canvas as ``view`` says; noise from ``rng``."""
    yy, xx = np.mgrid[-1 : 1 : _CANVAS * 1j, -1 : 1 : _CANVAS * 1j]
    angle = view.light_angle
    img = img + view.light_strength * (np.cos(angle) * xx + np.sin(angle) * yy)
    m = cv2.getRotationMatrix2D((_CANVAS / 2, _CANVAS / 2), view.rotation, view.scale)
    m[:, 2] += np.asarray(view.shift) * _CANVAS
    img = cv2.warpAffine(
        img, m, (_CANVAS, _CANVAS), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
    )
    img = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)
    sigma = view.blur * size / 48
    if sigma > 0.2:
        img = cv2.GaussianBlur(img, (0, 0), sigma)
    img = img * view.contrast + view.brightness
    img = img + rng.normal(0, view.noise, img.shape)
    return (np.clip(img, 0, 1) * 255).round().astype(np.uint8)


class SyntheticFaces(DatasetPlugin):
    """Procedurally rendered grey faces with the seven FER2013 expressions and subject ids.

    Image ``i`` is subject ``i // (7 · per_expression)``, expression
    ``(i // per_expression) % 7`` and take ``i % per_expression``. With ``memmap=True``
    the images are rendered in chunks straight into a cached ``.npy`` file (see
    :mod:`ferengine.datacache`), so hundreds of thousands of them never sit in memory
    at once, and later loads with the same parameters open that file instead of
    rendering again.

    Parameters
    ----------
    n_subjects : int
        Number of identities; each shows every expression.
    per_expression : int
        Images per subject and expression (different intensity, pose, light, noise).
    size : int
        Side of the square images, in pixels.
    seed : int
        Seed of everything random; the same parameters always give the same images.
    intensity : tuple of float
        Range of expression intensity (0 is neutral, 1 the full expression) before
        each subject's own expressiveness scales it.
    memmap : bool
        Return the images memory-mapped from the dataset cache (built on first use)
        instead of rendered into memory. The images are the same either way.
    cache_dir : str, optional
        Cache folder for ``memmap=True``; default ``$FERENGINE_CACHE``, else the user
        cache folder (see :func:`ferengine.datacache.cache_root`).
    """

    name = "synthetic"

    def __init__(
        self,
        n_subjects: int = 24,
        per_expression: int = 3,
        size: int = 48,
        seed: int = 0,
        intensity: tuple[float, float] = (0.5, 1.0),
        memmap: bool = False,
        cache_dir: str | None = None,
    ) -> None:
        self.n_subjects = n_subjects
        self.per_expression = per_expression
        self.size = size
        self.seed = seed
        self.intensity = intensity
        self.memmap = memmap
        self.cache_dir = cache_dir

    def load(self) -> FaceDataset:
        """Render the dataset (or open its cached rendering, with ``memmap=True``)."""
        for param in ("n_subjects", "per_expression", "size"):
            value = getattr(self, param)
            if not isinstance(value, int | np.integer) or value < 1:
                raise ValueError(f"synthetic: {param} must be a positive integer, got {value!r}")
        if self.size < 16:
            raise ValueError(f"synthetic: size must be at least 16 pixels, got {self.size}")
        lo, hi = self.intensity
        if not 0 <= lo <= hi <= 1.5:
            raise ValueError(
                f"synthetic: intensity must satisfy 0 <= low <= high <= 1.5, got {self.intensity}"
            )
        if not isinstance(self.memmap, bool | np.bool_):
            raise ValueError(f"synthetic: memmap must be True or False, got {self.memmap!r}")
        if self.memmap:
            return load_cached(self, self._render, cache_dir=self.cache_dir)
        return self._render(in_memory)

    def _render(self, allocate: Allocate) -> FaceDataset:
        """Render every image into ``allocate((n, size, size))``, one chunk at a time."""
        takes = 7 * self.per_expression
        n = self.n_subjects * takes
        images = allocate((n, self.size, self.size))
        for start in range(0, n, _CHUNK):
            stop = min(start + _CHUNK, n)
            images[start:stop] = np.stack([self._image(i) for i in range(start, stop)])
        subject = np.arange(n) // takes
        return FaceDataset(
            images=images,
            labels=np.arange(n) // self.per_expression % 7,
            label_space=FER7,
            subjects=np.char.add("synth-", np.char.zfill(subject.astype(str), 3)),
            splits=None,
            source=f"synthetic(seed={self.seed})",
            meta={"generator": "ferengine_datasets.synthetic"},
        )

    def _image(self, i: int) -> np.ndarray:
        """Render image ``i``: it depends on the seed, its subject, expression and take only."""
        s, rest = divmod(i, 7 * self.per_expression)
        code, k = divmod(rest, self.per_expression)
        ident = _identity(np.random.default_rng([self.seed, s]))
        rng = np.random.default_rng([self.seed, s, code, k])
        t = rng.uniform(*self.intensity) * ident.expressiveness
        return _draw(ident, _blend(_EXPRESSIONS[code], t), _view(rng), rng, self.size)
