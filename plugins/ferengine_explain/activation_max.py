"""``activation-max``: the input that a torch classifier's class neuron responds to most.

Erhan et al. (2009), "Visualizing Higher-Layer Features of a Deep Network"; Olah et al.
(2017), "Feature Visualization" (Distill), whose Lucid library this follows: for each
class, an image at the network's input size starts as faint noise and is optimised by
Adam to raise the class's logit (the last layer's neuron, before the softmax). Two
priors keep the optimisation from the high-frequency patterns that raise a logit
without looking like anything:

* robustness transforms: at every step the image is translated by up to ``jitter``
  pixels, scaled by one of ``scales`` and rotated by one of ``rotations`` degrees
  (one ``affine_grid``/``grid_sample``, grey outside the image), so only patterns that
  raise the logit wherever they fall survive;
* a frequency-decorrelated parameterisation (``decorrelate``): the optimised
  variables are the image's 2-D Fourier spectrum, scaled by 1 / frequency, so a
  gradient step moves all frequencies equally fast in the image's natural (1/f)
  statistics instead of favouring the finest ones. For RGB networks Lucid's colour
  decorrelation is applied too.

A sigmoid maps the result to [0, 1], times 255: the 0–255 input the network's own
normalisation path (``module_``'s input scaling) takes. The pipeline's preprocessing
steps (``clahe``, ``resize``…) run before the network and have no inverse: the images
are what the network sees after them.

Written here rather than taken from a library: ``torch-lucent`` (the PyTorch port of
Lucid) had its last release in May 2021 and requires ``kornia<=0.4.1`` (torch 1.x),
``torchvision`` and test tools at run time; ``torch-dreams`` (last release June 2023)
requires ``torchvision``, ``mkl`` and ``opencv-python``. Each would replace the pinned
torch or its OpenCV, both written for 3-channel ImageNet networks; the method itself is
an FFT, an affine warp and an Adam loop on torch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Integral, Real
from typing import Any, ClassVar

import numpy as np
from sklearn.utils._param_validation import Interval

from ferengine.errors import LabelError, UnsupportedModelError
from ferengine.explain import Explainer
from ferengine.explain.base import describe_model, resolve_targets
from ferengine.prediction.predictor import class_names
from ferengine.runtime import torch_threads
from ferengine_explain.torch_net import TorchImageModel, torch_image_model

#: Lucid's square root of ImageNet's colour correlation (RGB), scaled to a unit largest
#: column: decorrelated colour variables for 3-channel networks.
COLOUR_CORRELATION = np.asarray(
    [[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]], dtype=np.float32
)
COLOUR_CORRELATION /= np.linalg.norm(COLOUR_CORRELATION, axis=0).max()
#: Standard deviation of the starting noise (Lucid's), and its divisor of the spectrum's
#: image (Lucid's "magic" 4: less saturation).
START_SD = 0.01
SPECTRUM_DIVISOR = 4.0
#: Images per forward pass of :meth:`ActivationMax.class_logits`.
BATCH = 256


class ActivationMax(Explainer):
    """Activation maximisation: per class, an image optimised to raise that class's logit.

    Model-level, not face-level: :meth:`visualize` returns one picture per class of a
    torch classifier on images (``cnn``, any zoo architecture, or a plugin's classifier
    keeping to :mod:`ferengine_explain.torch_net`'s attributes), at the network's input
    size; ``explain`` refuses every model (``ferengine visualize`` runs this method).
    Each class's image starts from faint noise and takes ``steps`` Adam steps on the
    logit of a randomly translated, scaled and rotated copy of itself, through a
    frequency-decorrelated parameterisation (see the module's documentation). The same
    ``seed`` gives the same images; each class's starting noise and transforms come
    from its own generator (seeded by ``seed`` and its column), so they do not depend
    on which other classes are visualised with it.

    Parameters
    ----------
    steps : int
        Adam steps per image.
    lr : float
        Adam's learning rate (on the spectrum, or on the pixels without ``decorrelate``).
    jitter : int
        Largest random translation per step, in pixels of the network's input, along
        each axis (0: none).
    scales : sequence of float
        Scale factors, one drawn per step (``[1.0]``: no scaling).
    rotations : sequence of float
        Rotations in degrees, one drawn per step (``[0]``: no rotation).
    decorrelate : bool
        Optimise the image's Fourier spectrum scaled by 1 / frequency (and decorrelated
        colours for RGB networks) rather than its pixels.
    seed : int
        Seed of the starting noise and of the transforms.
    classes : None, str or sequence
        The classes to visualise (names, or labels of the model's ``classes_``); None:
        all. :meth:`visualize`'s ``classes`` argument overrides it.
    """

    name = "activation-max"
    shows = "an image optimised to maximise the class's logit (one per class, not a map of a face)"
    requires: ClassVar[tuple[str, ...]] = ("torch",)
    extra: ClassVar[str | None] = "deep"
    _parameter_constraints: ClassVar[dict[str, list]] = {
        "steps": [Interval(Integral, 1, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "jitter": [Interval(Integral, 0, None, closed="left")],
        "scales": [list, tuple],
        "rotations": [list, tuple],
        "decorrelate": ["boolean"],
        "seed": [Interval(Integral, 0, None, closed="left")],
        "classes": [None, str, Integral, list, tuple],
    }

    def __init__(self, steps: int = 512, lr: float = 0.05, jitter: int = 2,
                 scales: Sequence[float] = (0.9, 0.95, 1.0, 1.05, 1.1),
                 rotations: Sequence[float] = (-10, -5, 0, 5, 10), decorrelate: bool = True,
                 seed: int = 0, classes: Any = None) -> None:  # fmt: skip
        self.steps = steps
        self.lr = lr
        self.jitter = jitter
        self.scales = scales
        self.rotations = rotations
        self.decorrelate = decorrelate
        self.seed = seed
        self.classes = classes

    def supports(self, model: Any) -> str | None:
        """Return why ``explain`` cannot run: this method visualises classes, not faces."""
        return (
            "it pictures a model's classes, not single faces: run `ferengine visualize MODEL "
            "--method activation-max` (in Python, its visualize(model))"
        )

    def _maps(self, model: Any, faces: np.ndarray, targets: np.ndarray,
              probabilities: np.ndarray) -> np.ndarray:  # fmt: skip
        raise NotImplementedError("activation-max makes no face maps; see visualize()")

    # -- the model-level interface ---------------------------------------------------------

    def network(self, model: Any) -> TorchImageModel:
        """Return the model's torch network on images.

        Raises
        ------
        UnsupportedModelError
            The model holds no torch network on images; the message names the method,
            the model's steps and why.
        """
        with torch_threads():
            found = torch_image_model(model)
        if isinstance(found, str):
            raise UnsupportedModelError(
                f"explainer {self.name!r} cannot visualise the model {describe_model(model)}: "
                f"{found}"
            )
        return found

    def columns(self, model: Any, classes: Any = None) -> list[int]:
        """Return the logit columns to visualise, in the order given (all when None).

        Raises
        ------
        LabelError
            A class the model does not have; the message names the method and the model
            and lists its classes.
        """
        wanted = self.classes if classes is None else classes
        names = tuple(class_names(model))
        if wanted is None:
            return list(range(len(names)))
        wanted = [wanted] if isinstance(wanted, str | int | np.integer) else list(wanted)
        if not wanted:
            raise ValueError(f"explainer {self.name!r}: classes is empty; give None for all")
        labels = list(getattr(model, "classes_", range(len(names))))
        try:
            found = resolve_targets(wanted, names, labels, np.zeros(len(wanted), dtype=np.int64))
        except LabelError as exc:
            raise LabelError(
                f"explainer {self.name!r} on the model {describe_model(model)}: {exc}"
            ) from exc
        return list(dict.fromkeys(int(c) for c in found))

    def visualize(self, model: Any, classes: Any = None) -> dict[str, np.ndarray]:
        """Return, per class, the image that maximises its logit, at the network's input size.

        Parameters
        ----------
        model : estimator
            A fitted pipeline ending in a torch classifier on images.
        classes : None, str or sequence, optional
            The classes to visualise (names or labels); None: the ``classes`` parameter
            (by default all the model's classes).

        Returns
        -------
        dict
            Class name -> uint8 image of shape (S, S) for a grey network, (S, S, 3) (RGB)
            for a colour one, in the order asked: what the network sees after the
            pipeline's preprocessing steps.

        Raises
        ------
        UnsupportedModelError
            The model holds no torch network on images.
        LabelError
            A class the model does not have.
        ValueError
            An invalid parameter.
        """
        self._check_params()
        net = self.network(model)
        columns = self.columns(model, classes)
        names = tuple(class_names(model))
        with torch_threads():
            images = self._optimise(net, columns)
        found = images[:, 0] if net.channels == 1 else images.transpose(0, 2, 3, 1)
        return {names[c]: image for c, image in zip(columns, found, strict=True)}

    def class_logits(self, model: Any, images: Any, faces: bool = False) -> np.ndarray:
        """Return the network's logits (one column per class) for images.

        Parameters
        ----------
        model : estimator
            A fitted pipeline ending in a torch classifier on images.
        images : array-like
            N×S×S (grey) or N×S×S×C network inputs on the 0–255 scale, as
            :meth:`visualize` returns them; with ``faces``, face crops as a dataset holds
            them, which go through the pipeline's preprocessing steps and are resized.
        faces : bool
            ``images`` are face crops rather than the network's inputs.

        Returns
        -------
        ndarray of shape (n, n_classes), float64
            Logits, in the model's ``classes_`` order.

        Raises
        ------
        ValueError
            Network inputs of the wrong shape.
        """
        import torch

        net = self.network(model)
        found = np.asarray(images)
        if faces:
            inputs = net.inputs(found)
        else:
            if found.ndim == 3 and net.channels == 1:
                found = found[:, None]
            elif found.ndim == 4:
                found = found.transpose(0, 3, 1, 2)
            side = (net.channels, net.size, net.size)
            if found.ndim != 4 or found.shape[1:] != side:
                raise ValueError(
                    f"explainer {self.name!r}: the network takes N×{net.size}×{net.size}"
                    f"{'' if net.channels == 1 else '×3'} images, got shape {np.shape(images)}"
                )
            inputs = torch.from_numpy(np.ascontiguousarray(found, dtype=np.float32))
        with torch.no_grad(), torch_threads():
            net.network.eval()
            out = [net.network(inputs[i : i + BATCH]) for i in range(0, len(inputs), BATCH)]
        return torch.cat(out).double().numpy()

    # -- the optimisation ------------------------------------------------------------------

    def _check_params(self) -> None:
        self._validate_params()
        for param, values in (("scales", self.scales), ("rotations", self.rotations)):
            numbers = np.asarray(values, dtype=object)
            ok = (
                numbers.ndim == 1
                and len(numbers)
                and all(isinstance(v, Real) and math.isfinite(v) for v in numbers)
            )
            if not ok or (param == "scales" and min(numbers) <= 0):
                kind = "positive numbers" if param == "scales" else "numbers of degrees"
                raise ValueError(
                    f"explainer {self.name!r}: {param} must be a non-empty list of {kind}, got "
                    f"{values!r}"
                )

    def _transforms(self, column: int, size: int) -> np.ndarray:
        """Return one class's ``steps`` random affine matrices (steps×2×3, for affine_grid).

        Each maps the network's input to the image, in affine_grid's [-1, 1]
        coordinates: a rotation and scaling about the centre, then a whole-pixel shift.
        """
        rng = np.random.default_rng([self.seed, column, 1])
        shift = rng.integers(-self.jitter, self.jitter + 1, size=(self.steps, 2)) * 2.0 / size
        scale = rng.choice(np.asarray(self.scales, dtype=np.float64), size=self.steps)
        angle = np.deg2rad(rng.choice(np.asarray(self.rotations, dtype=np.float64), self.steps))
        cos, sin = np.cos(angle) / scale, np.sin(angle) / scale
        theta = np.empty((self.steps, 2, 3), dtype=np.float32)
        theta[:, 0] = np.stack([cos, -sin, shift[:, 0]], axis=1)
        theta[:, 1] = np.stack([sin, cos, shift[:, 1]], axis=1)
        return theta

    def _start(self, column: int, shape: tuple[int, ...]) -> np.ndarray:
        """Return one class's starting variables: faint noise from its own generator."""
        return np.random.default_rng([self.seed, column, 0]).normal(0.0, START_SD, shape)

    def _parameterise(self, columns: list[int], size: int, channels: int) -> tuple[Any, Any]:
        """Return the optimised variables of each column's image, and the function to the image.

        The function maps the variables to K×C×S×S images in [0, 1]: the spectrum's
        inverse FFT (scaled by 1 / frequency, colours decorrelated) with ``decorrelate``,
        else the pixels themselves, through a sigmoid.
        """
        import torch

        if self.decorrelate:
            fy = np.fft.fftfreq(size)[:, None]
            fx = np.fft.rfftfreq(size)[None, :]
            scale = 1.0 / np.maximum(np.sqrt(fx**2 + fy**2), 1.0 / size)
            scale_t = torch.from_numpy(scale.astype(np.float32))[None, None, ..., None]
            shape: tuple[int, ...] = (channels, size, size // 2 + 1, 2)  # real, imaginary
        else:
            shape = (channels, size, size)
        start = np.stack([self._start(c, shape) for c in columns]).astype(np.float32)
        variables = torch.from_numpy(start).requires_grad_()
        colour = torch.from_numpy(COLOUR_CORRELATION)

        def image(x: Any) -> Any:
            if self.decorrelate:
                spectrum = torch.view_as_complex((x * scale_t).contiguous())
                x = torch.fft.irfft2(spectrum, s=(size, size), norm="ortho") / SPECTRUM_DIVISOR
                if channels == 3:
                    x = torch.einsum("kchw,dc->kdhw", x, colour)
            return torch.sigmoid(x)

        return variables, image

    def _optimise(self, net: TorchImageModel, columns: list[int]) -> np.ndarray:
        """Return the optimised K×C×S×S uint8 images of the logit columns, all in one batch.

        The network is in eval mode and standardises each image on its own, so the
        images of a batch do not interact, and Adam's update is per element.
        """
        import torch
        from torch.nn.functional import affine_grid, grid_sample

        size, channels, k = net.size, net.channels, len(columns)
        variables, image = self._parameterise(columns, size, channels)
        thetas = torch.from_numpy(np.stack([self._transforms(c, size) for c in columns], 1))
        rows = torch.arange(k)
        target = torch.as_tensor(columns, dtype=torch.int64)
        optimiser = torch.optim.Adam([variables], lr=float(self.lr))
        network = net.network.eval()
        with torch.enable_grad():
            for step in range(self.steps):
                shown = image(variables) - 0.5  # grey (0) where the warp leaves the image
                grid = affine_grid(thetas[step], [k, channels, size, size], align_corners=False)
                warped = grid_sample(shown, grid, padding_mode="zeros", align_corners=False)
                logits = network((warped + 0.5) * 255.0)
                loss = -logits[rows, target].sum()
                optimiser.zero_grad()
                (variables.grad,) = torch.autograd.grad(loss, [variables])
                optimiser.step()
        with torch.no_grad():
            return np.rint(image(variables).numpy() * 255.0).astype(np.uint8)
