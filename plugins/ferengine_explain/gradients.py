"""Gradient explainers of torch classifiers: ``gradcam``, ``integrated-gradients``, ``saliency``.

Each runs Captum's implementation (``LayerGradCam``, ``IntegratedGradients``,
``Saliency``) on the pipeline's torch network (:mod:`ferengine_explain.torch_net`): the
face goes through the pipeline's preprocessing steps, is scaled to the network's input,
and the attribution of the target class's logit comes back resized to the face crop.
The maps are computed in float32, as the network predicts.
Torch and Captum are imported inside the methods: without them these plugins are listed
as unavailable and everything else works.
"""

from __future__ import annotations

from numbers import Integral, Real
from typing import Any, ClassVar

import cv2
import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions

from ferengine.explain import Explainer
from ferengine.runtime import torch_threads
from ferengine_explain.torch_net import TorchImageModel, last_conv_layer, torch_image_model


class GradientExplainer(Explainer):
    """What the gradient explainers share: the torch network check and the way in and out.

    Subclasses implement :meth:`_attribute` on the network's input tensor.
    """

    requires: ClassVar[tuple[str, ...]] = ("torch", "captum")
    extra: ClassVar[str | None] = "deep"

    def supports(self, model: Any) -> str | None:
        """Return None for a model ending in a torch network on images, else why not."""
        with torch_threads():
            found = torch_image_model(model)
        return found if isinstance(found, str) else super().supports(model)

    def _maps(self, model: Any, faces: np.ndarray, targets: np.ndarray,
              probabilities: np.ndarray) -> np.ndarray:  # fmt: skip
        import torch

        net = torch_image_model(model, check=False)
        assert isinstance(net, TorchImageModel)  # supports() said so
        inputs = net.inputs(faces).requires_grad_()
        with torch.enable_grad(), torch_threads():
            maps = self._attribute(net, inputs, torch.as_tensor(targets, dtype=torch.int64))
        return net.to_faces(np.asarray(maps, dtype=np.float32), faces.shape[1:3])

    def _attribute(self, net: TorchImageModel, inputs: Any, targets: Any) -> np.ndarray:
        """Return N×S×S maps of the target logits on the network's input (channels summed)."""
        raise NotImplementedError


class GradCAM(GradientExplainer):
    """Grad-CAM: the last convolution's activations, weighted by the target's mean gradient.

    Selvaraju et al. (2017), "Grad-CAM: Visual Explanations from Deep Networks via
    Gradient-based Localization". Each channel of the last convolution's activation
    map (:func:`ferengine_explain.torch_net.last_conv_layer`: its output after batch
    norm and ReLU) is weighted by the spatial mean of the target logit's gradient, the
    weighted sum is rectified and upsampled bilinearly to the face. Coarse — one value
    per cell of the last convolution, 6×6 on a 48×48 face through the compact network —
    and class-discriminative. Needs a torch classifier on images (``cnn``).
    """

    name = "gradcam"
    shows = "the target logit's gradient-weighted activation of the last convolution (ReLU)"

    def _attribute(self, net: TorchImageModel, inputs: Any, targets: Any) -> np.ndarray:
        from captum.attr import LayerAttribution, LayerGradCam

        cam = LayerGradCam(net.network, last_conv_layer(net))
        found = cam.attribute(inputs, target=targets, relu_attributions=True)
        up = LayerAttribution.interpolate(found.detach(), (net.size, net.size), "bilinear")
        return up.sum(dim=1).numpy()


class IntegratedGradients(GradientExplainer):
    """Integrated gradients: the target's gradient summed along a path from a baseline face.

    Sundararajan et al. (2017), "Axiomatic Attribution for Deep Networks". Per pixel,
    (face − baseline) times the mean gradient of the target logit over ``steps`` faces
    between the baseline and the face; the values add up to the logit's change from
    baseline to face. The baseline is a blurred copy of the face by default: a network
    that standardises each image (the built-in ``cnn``'s ``normalize="image"``) gives the
    same output for every scaling of a face, so on the path from a black or uniform grey
    face its output only changes next to the baseline, and the attributions there say
    little (Sturmfels et al. 2020, "Visualizing the Impact of Feature Attribution
    Baselines"). Fine-grained and signed: negative values are evidence against the target.

    Parameters
    ----------
    steps : int
        Points on the path (Gauss–Legendre quadrature, as Captum computes it).
    baseline : {"blur", "black", "mean"}
        The face the path starts from: the face blurred (a Gaussian of ``blur`` pixels'
        deviation), black, or uniform at the face's mean grey level.
    blur : float
        Standard deviation of the blur baseline, in pixels of the network's input.
    internal_batch_size : int
        Path points per forward pass, to bound memory.
    """

    name = "integrated-gradients"
    shows = (
        "the target logit's gradient integrated along a path from a baseline face, times the change"
    )
    _parameter_constraints: ClassVar[dict[str, list]] = {
        "steps": [Interval(Integral, 2, None, closed="left")],
        "baseline": [StrOptions({"blur", "black", "mean"})],
        "blur": [Interval(Real, 0, None, closed="neither")],
        "internal_batch_size": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(self, steps: int = 32, baseline: str = "blur", blur: float = 4.0,
                 internal_batch_size: int = 256) -> None:  # fmt: skip
        self.steps = steps
        self.baseline = baseline
        self.blur = blur
        self.internal_batch_size = internal_batch_size

    def baselines(self, inputs: Any) -> Any:
        """Return the path's starting faces for an N×C×S×S input tensor."""
        import torch

        if self.baseline == "black":
            return torch.zeros_like(inputs.detach())
        if self.baseline == "mean":
            return inputs.detach().mean(dim=(2, 3), keepdim=True).expand_as(inputs).clone()
        images = inputs.detach().numpy()
        blurred = [[cv2.GaussianBlur(channel, (0, 0), self.blur) for channel in image]
                   for image in images]  # fmt: skip
        return torch.from_numpy(np.asarray(blurred, dtype=np.float32))

    def _attribute(self, net: TorchImageModel, inputs: Any, targets: Any) -> np.ndarray:
        from captum.attr import IntegratedGradients as CaptumIG

        found = CaptumIG(net.network).attribute(
            inputs, baselines=self.baselines(inputs), target=targets, n_steps=self.steps,
            internal_batch_size=self.internal_batch_size,
        )  # fmt: skip
        return found.detach().sum(dim=1).numpy()


class Saliency(GradientExplainer):
    """Saliency: the size of the target logit's gradient at each pixel.

    Simonyan et al. (2014), "Deep Inside Convolutional Networks: Visualising Image
    Classification Models and Saliency Maps". How much a small change of each pixel
    would move the target's score, whatever its direction: fine-grained, cheap (one
    backward pass), noisy, and unsigned.
    """

    name = "saliency"
    shows = "absolute gradient of the target logit with respect to each pixel"

    def _attribute(self, net: TorchImageModel, inputs: Any, targets: Any) -> np.ndarray:
        from captum.attr import Saliency as CaptumSaliency

        found = CaptumSaliency(net.network).attribute(inputs, target=targets, abs=True)
        return found.detach().sum(dim=1).numpy()
