"""Several feature extractors side by side, each block scaled on its own."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted

from ferengine.steps import build_step

SCALES = ("standard", "l2", None)


class Concat(TransformerMixin, BaseEstimator):
    """Concatenate several feature extractors, scaling each block so none dominates.

    Feature fusion for the classical route (HOG + LBP + BoVW, say) and, later,
    hand-crafted + CNN embeddings. An :class:`~ferengine.extractor.AssembledFeature`:
    the benchmark runner fuses its members' cached features with :meth:`fit_blocks`
    and :meth:`fuse` instead of fitting them again.

    Parameters
    ----------
    features : sequence
        The extractors, each a step (:mod:`ferengine.steps`): a registry name, a
        ``(name, params)`` pair, a ``{"name": ..., "params": {...}}`` table or an
        estimator.
    scale : {"standard", "l2", None}
        Per-block scaling: "standard" standardises every column on the training
        set and divides the block by the square root of its width, so each block
        carries the same total variance; "l2" normalises each block of each row to
        unit length; None leaves blocks as they are.
    weights : sequence of float, optional
        Multiplier of each block after scaling.
    """

    name = "concat"
    step_params: ClassVar[dict[str, str]] = {"features": "steps"}
    members_param: ClassVar[str] = "features"
    _image_input = True

    def __init__(self, features=("hog", "lbp"), scale: str | None = "standard", weights=None):
        self.features = features
        self.scale = scale
        self.weights = weights

    def _weights(self) -> list[float]:
        weights = [1.0] * len(self.features) if self.weights is None else list(self.weights)
        if len(weights) != len(self.features):
            raise ValueError(
                f"concat: {len(weights)} weights for {len(self.features)} features; give one each"
            )
        return [float(w) for w in weights]

    def fit(self, X: Any, y: Any = None) -> Concat:
        """Fit every extractor and the per-block scalers on the training images.

        Returns
        -------
        self
        """
        self._fit(X, y)
        return self

    def fit_transform(self, X: Any, y: Any = None, **fit_params: Any) -> np.ndarray:
        """Fit on the training images and return their fused features."""
        return self._fit(X, y)

    def _fit(self, X: Any, y: Any) -> np.ndarray:
        if self.scale not in SCALES:
            raise ValueError(f"concat: scale must be one of {SCALES}, got {self.scale!r}")
        if not len(self.features):
            raise ValueError("concat: features is empty; give at least one extractor")
        self._weights()
        self.extractors_ = [clone(build_step(spec)[1]) for spec in self.features]
        blocks = [ext.fit_transform(X, y) for ext in self.extractors_]
        first = self.extractors_[0]
        self.n_features_in_ = first.n_features_in_
        self.image_shape_ = getattr(first, "image_shape_", None)
        return self.fit_blocks(blocks)

    def fit_blocks(self, blocks: list[np.ndarray]) -> np.ndarray:
        """Fit the per-block scaling on features computed elsewhere and return them fused.

        For callers that already hold each extractor's training features (the
        benchmark's feature cache): ``blocks[i]`` is ``features[i]``'s output.
        The extractors themselves are not fitted, so :meth:`transform` needs
        :meth:`fit`; fuse further precomputed blocks with :meth:`fuse`.
        """
        if len(blocks) != len(self.features):
            raise ValueError(f"concat: {len(blocks)} blocks for {len(self.features)} features")
        self.scalers_ = [
            StandardScaler().fit(b) if self.scale == "standard" else None for b in blocks
        ]
        out = self.fuse(blocks)
        self.n_features_out_ = out.shape[1]
        return out

    def fuse(self, blocks: list[np.ndarray]) -> np.ndarray:
        """Scale and concatenate one block per extractor (scaling fitted by ``fit``)."""
        check_is_fitted(self, "scalers_")
        # One output array filled block by block, scaled in place: fused FER2013 features
        # run to gigabytes, and a list of scaled copies plus np.concatenate doubles that.
        widths = [b.shape[1] for b in blocks]
        out = np.empty((len(blocks[0]), sum(widths)), dtype=np.float32)
        start = 0
        for block, width, scaler, weight in zip(
            blocks, widths, self.scalers_, self._weights(), strict=True
        ):
            view = out[:, start : start + width]
            start += width
            view[...] = block
            if self.scale == "standard":
                view -= scaler.mean_.astype(np.float32)
                view /= (scaler.scale_ * np.sqrt(width)).astype(np.float32)
            elif self.scale == "l2":
                view /= np.maximum(np.linalg.norm(view, axis=1, keepdims=True), 1e-12)
            view *= np.float32(weight)
        return out

    def transform(self, X: Any) -> np.ndarray:
        """Return the fused N×D float32 features of a batch of images."""
        check_is_fitted(self, "extractors_")
        return self.fuse([ext.transform(X) for ext in self.extractors_])

    def pixel_regions(self) -> np.ndarray | None:
        """Return each column's pixel box: the members' ``pixel_regions``, in order.

        Returns
        -------
        ndarray of shape (n_features_out_, 4), int, or None
            None when a member's columns have no fixed place (or it does not say).
        """
        check_is_fitted(self, "extractors_")
        parts = [getattr(ext, "pixel_regions", lambda: None)() for ext in self.extractors_]
        return None if any(p is None for p in parts) else np.concatenate(parts)

    @property
    def feature_view(self) -> Any:
        """The first member's ``feature_view`` (a bound method), or None if none draws one.

        Read only after fitting; the feature explainers call it on images as they would a
        member's.
        """
        members = getattr(self, "extractors_", ())
        return next((ext.feature_view for ext in members
                     if callable(getattr(ext, "feature_view", None))), None)  # fmt: skip

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags
