"""Gabor filter bank magnitudes pooled on a grid of cells."""

from __future__ import annotations

from numbers import Integral, Real
from typing import ClassVar

import cv2
import numpy as np
from scipy import fft
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ferengine.extractor import ImageFeature
from ferengine_classic.features.grid import GRID, cell_boxes, cell_means, grid_shape

POOLS = ("mean", "mean-std")


class Gabor(ImageFeature):
    """Magnitudes of a bank of complex Gabor filters (orientations × scales), pooled per cell.

    Each filter is OpenCV's Gabor kernel in quadrature (phase 0 and π/2); the
    response magnitude of every image is pooled by mean (and optionally
    standard deviation) in each cell of a grid. The whole batch is filtered at
    once in the Fourier domain (scipy.fft). Scales longer than ``min_wavelength``
    pixels are filtered on the image shrunk by the whole factor that brings
    them near it (an image pyramid), which keeps the cost per scale small; their
    magnitudes are pooled on the same grid.

    Parameters
    ----------
    orientations : int
        Number of filter orientations evenly spread over 180°.
    wavelengths : sequence of float
        Wavelength of each scale, in pixels.
    bandwidth : float
        Spatial frequency bandwidth in octaves; sets the Gaussian sigma of each scale.
    aspect : float
        Spatial aspect ratio (gamma) of the Gaussian envelope.
    grid : int or (int, int)
        Cells across and down the image.
    pool : {"mean", "mean-std"}
        Statistics of the magnitude per cell.
    min_wavelength : float
        Wavelength, in pixels of the shrunk image, below which no scale is shrunk further.
    n_jobs : int, optional
        joblib workers over batches of images.
    batch_size : int
        Images per batch.
    """

    name = "gabor"
    _parameter_constraints: ClassVar[dict[str, list]] = {
        **ImageFeature._parameter_constraints,
        "orientations": [Interval(Integral, 1, None, closed="left")],
        "wavelengths": ["array-like"],
        "bandwidth": [Interval(Real, 0, None, closed="neither")],
        "aspect": [Interval(Real, 0, None, closed="neither")],
        "grid": GRID,
        "pool": [StrOptions(set(POOLS))],
        "min_wavelength": [Interval(Real, 2, None, closed="left")],
    }

    def __init__(
        self,
        orientations: int = 8,
        wavelengths=(4.0, 6.0, 8.0, 12.0),
        bandwidth: float = 1.0,
        aspect: float = 0.5,
        grid=(6, 6),
        pool: str = "mean",
        min_wavelength: float = 4.0,
        n_jobs: int | None = None,
        batch_size: int = 256,
    ) -> None:
        self.orientations = orientations
        self.wavelengths = wavelengths
        self.bandwidth = bandwidth
        self.aspect = aspect
        self.grid = grid
        self.pool = pool
        self.min_wavelength = min_wavelength
        self.n_jobs = n_jobs
        self.batch_size = batch_size

    def _check_params(self) -> None:
        if not len(self.wavelengths) or min(self.wavelengths) < 2:
            raise ValueError(f"gabor: wavelengths must be ≥ 2 pixels, got {self.wavelengths!r}")
        grid_shape(self.grid, "gabor")

    def _shrink(self, wavelength: float) -> int:
        return max(1, int(wavelength // self.min_wavelength))

    def _filtered_size(self, wavelength: float, h: int, w: int) -> tuple[int, int]:
        """Return the (height, width) a wavelength's filters run at (shrunk by ``_shrink``)."""
        factor = self._shrink(wavelength)
        return (max(1, h // factor), max(1, w // factor)) if factor > 1 else (h, w)

    def kernels(self, wavelength: float) -> list[np.ndarray]:
        """Return the complex kernels of one scale, one per orientation."""
        b = 2.0**self.bandwidth
        out = []
        lambd = wavelength
        sigma = lambd / np.pi * np.sqrt(np.log(2) / 2) * (b + 1) / (b - 1)
        half = int(np.ceil(3 * sigma))
        for k in range(self.orientations):
            theta = np.pi * k / self.orientations
            parts = [
                cv2.getGaborKernel(
                    (2 * half + 1,) * 2, sigma, theta, lambd, self.aspect, psi, cv2.CV_64F
                )
                for psi in (0.0, np.pi / 2)
            ]
            kernel = parts[0] + 1j * parts[1]
            out.append(kernel - kernel.mean())  # no response to flat regions
        return out

    def _extract(self, grey: np.ndarray) -> np.ndarray:
        rows, cols = grid_shape(self.grid, "gabor")
        centred = grey - grey.mean(axis=(1, 2), keepdims=True)
        pooled = []
        for wavelength in self.wavelengths:
            factor = self._shrink(wavelength)
            images = centred
            if factor > 1:
                sh, sw = self._filtered_size(wavelength, *grey.shape[1:])
                size = (sw, sh)
                images = np.stack(
                    [cv2.resize(im, size, interpolation=cv2.INTER_AREA) for im in centred]
                )
            n, h, w = images.shape
            kernels = np.stack(self.kernels(wavelength / factor))
            k = kernels.shape[1]
            shape = (fft.next_fast_len(h + k - 1), fft.next_fast_len(w + k - 1))
            spectrum = fft.fft2(images, shape, workers=1)[:, None]
            response = fft.ifft2(spectrum * fft.fft2(kernels, shape)[None], workers=1)
            half = k // 2
            magnitude = np.abs(response[..., half : half + h, half : half + w]).astype(np.float32)
            means = cell_means(magnitude, rows, cols)  # n × orientations × cells
            pooled.append(means.reshape(n, -1))
            if self.pool == "mean-std":
                squares = cell_means(magnitude**2, rows, cols)
                pooled.append(np.sqrt(np.maximum(squares - means**2, 0)).reshape(n, -1))
        return np.concatenate(pooled, axis=1)

    def pixel_regions(self) -> np.ndarray:
        """Return the pixel box of the grid cell each output column pools.

        Columns run per wavelength, then per orientation, one per cell (row-major),
        the standard deviations after the means with ``pool="mean-std"``; the cells of
        a shrunk scale are mapped back to the fitted images' pixels.

        Returns
        -------
        ndarray of shape (n_features_out_, 4), int
            ``(top, bottom, left, right)`` of each column's cell.
        """
        check_is_fitted(self, "image_shape_")
        h, w = self.image_shape_[:2]
        rows, cols = grid_shape(self.grid, "gabor")
        out = []
        for wavelength in self.wavelengths:
            sh, sw = self._filtered_size(wavelength, h, w)
            boxes = cell_boxes(sh, sw, rows, cols, edges="means").astype(np.float64)
            boxes *= [h / sh, h / sh, w / sw, w / sw]
            block = np.tile(np.round(boxes).astype(np.intp), (int(self.orientations), 1))
            out += [block] * (2 if self.pool == "mean-std" else 1)
        return np.concatenate(out)
