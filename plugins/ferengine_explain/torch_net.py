"""The torch network at the end of a fitted pipeline, and how face crops reach it.

Gradient methods need the network itself, not only its predictions. A torch classifier
step exposes it through public fitted attributes — ``module_`` (the ``torch.nn.Module``
that maps an N×C×S×S batch on the 0–255 scale to one logit per class, input scaling
inside it, as ``cnn`` and the zoo build it), ``size_`` (the side it was fitted on) and
``_image_input`` (it takes images) — so any classifier that keeps to them, the built-in
``cnn`` or one a plugin registers, can be explained without importing its package.

A face reaches the network as in ``cnn``'s own prediction path: the pipeline's earlier
steps (preprocessors: ``clahe``, ``resize``…) transform it, it is greyed (colour when the
network's first convolution takes three channels) and resized to ``size_`` with area
interpolation. Maps computed on the network's S×S input are resized back to the face
crop's pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from weakref import WeakKeyDictionary

import cv2
import numpy as np

from ferengine.imageops import to_grey, to_uint8
from ferengine.sequences import clip_frame_shape
from ferengine.step_checks import plugin_of


@dataclass
class TorchImageModel:
    """A fitted pipeline seen as preprocessing steps, then a torch network on images.

    Attributes
    ----------
    preprocess : list of estimator
        The fitted steps before the classifier, applied in order.
    step : estimator
        The classifier step that holds the network.
    network : torch.nn.Module
        Its fitted network (``module_``): N×C×S×S on the 0–255 scale in, logits out.
    size : int
        The side S of the network's square input.
    channels : int
        C: 1 (grey) or 3 (RGB).
    """

    preprocess: list[Any]
    step: Any
    network: Any
    size: int
    channels: int

    def inputs(self, faces: np.ndarray) -> Any:
        """Return face crops as the network's float32 N×C×S×S input tensor (0–255 scale)."""
        import torch

        images = faces
        for step in self.preprocess:
            images = step.transform(images)
        images = np.asarray(images)
        if self.channels == 1:
            images = to_uint8(to_grey(images))
        else:
            images = to_uint8(images if images.ndim == 4 else np.repeat(images[..., None], 3, -1))
            images = images[..., :3]
        side = (self.size, self.size)
        if images.shape[1:3] != side:
            images = np.stack([cv2.resize(im, side, interpolation=cv2.INTER_AREA) for im in images])
        batch = images[:, None] if images.ndim == 3 else images.transpose(0, 3, 1, 2)
        return torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32))

    def to_faces(self, maps: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        """Resize N×S×S maps on the network's input to the faces' H×W pixels."""
        h, w = shape
        if maps.shape[1:] == (h, w):
            return maps
        return np.stack([cv2.resize(m, (w, h), interpolation=cv2.INTER_LINEAR) for m in maps])


def torch_image_model(model: Any, check: bool = True) -> TorchImageModel | str:
    """Return the torch network of a fitted model and its preprocessing, or why it has none.

    Parameters
    ----------
    model : estimator
        A fitted pipeline (or one classifier).
    check : bool
        Run the network once on a blank image to check that it takes the face and gives
        one logit per class (skip it for a model already checked).

    Returns
    -------
    TorchImageModel or str
        The network, or one clause saying why the model has no torch network on images.
    """
    import torch

    steps = [s for _, s in getattr(model, "steps", [("", model)])
             if s is not None and not isinstance(s, str)]  # fmt: skip
    if not steps:
        return "it has no steps"
    last = steps[-1]
    name = plugin_of(last)[1]
    if clip_frame_shape(model) is not None:
        return "it classifies clips of video frames, not single faces"
    network = getattr(last, "module_", None)
    if not isinstance(network, torch.nn.Module):
        return (
            f"its last step {name!r} holds no torch network (module_); gradient methods need "
            "a torch classifier on images such as cnn (occlusion explains any model)"
        )
    size = getattr(last, "size_", None)
    if not getattr(last, "_image_input", False) or not isinstance(size, int | np.integer):
        return (
            f"its last step {name!r} records no square image input (_image_input, size_): "
            "its network does not take the face's pixels"
        )
    convs = [m for m in network.modules() if isinstance(m, torch.nn.Conv2d)]
    channels = int(convs[0].in_channels) if convs else 1
    if channels not in (1, 3):
        return f"its network takes {channels} input channels; faces have 1 (grey) or 3 (RGB)"
    n_classes = len(getattr(last, "classes_", ()))
    if not check:
        return TorchImageModel(steps[:-1], last, network, int(size), channels)
    try:
        with torch.no_grad():
            out = network.eval()(torch.zeros(1, channels, int(size), int(size)))
    except Exception as exc:  # a network of other inputs (sequences, embeddings)
        return (
            f"its network does not take 1×{channels}×{size}×{size} images "
            f"({type(exc).__name__}: {exc})"
        )
    if tuple(out.shape) != (1, n_classes):
        return (
            f"its network gives shape {tuple(out.shape)} for one image, not one logit for each "
            f"of its {n_classes} classes"
        )
    return TorchImageModel(steps[:-1], last, network, int(size), channels)


#: Network -> the module :func:`last_conv_layer` found in it (found once per network).
_LAST_CONV: WeakKeyDictionary = WeakKeyDictionary()


def last_conv_layer(net: TorchImageModel) -> Any:
    """Return the module whose output is the last convolution's activation map.

    Found by running the network once and recording each module's output as it
    completes: the last ``Conv2d``'s output shape, then the last module to complete
    with that 4-D shape — the convolution's batch norm and ReLU, a residual block's
    sum — so Grad-CAM weighs the activations the rest of the network reads, at the
    finest resolution the last convolution has. Works for any architecture of the zoo
    and any network with a ``Conv2d``.

    Raises
    ------
    ValueError
        The network has no 2-D convolution.
    """
    import torch

    if net.network in _LAST_CONV:
        return _LAST_CONV[net.network]
    done: list[tuple[Any, tuple[int, ...]]] = []
    hooks = [
        m.register_forward_hook(
            lambda module, _, out: done.append((module, tuple(out.shape)))
            if isinstance(out, torch.Tensor) else None
        )
        for m in net.network.modules()
        if m is not net.network
    ]  # fmt: skip
    try:
        with torch.no_grad():
            net.network.eval()(torch.zeros(1, net.channels, net.size, net.size))
    finally:
        for hook in hooks:
            hook.remove()
    convs = [shape for module, shape in done if isinstance(module, torch.nn.Conv2d)]
    if not convs:
        raise ValueError("the network has no 2-D convolution for Grad-CAM to weigh")
    found = [module for module, shape in done if shape == convs[-1]][-1]
    _LAST_CONV[net.network] = found
    return found
