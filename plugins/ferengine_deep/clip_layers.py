"""Torch layers of the end-to-end clip networks: padded clip batches, CNN-LSTM, 3D CNN, ConvLSTM.

A batch of clips is padded to its longest clip (:func:`pad_clips`: a B×T×1×S×S uint8
tensor and the true lengths). :class:`CNNRecurrent` and :class:`ConvLSTMNet` run their
per-frame layers on the true frames only (padding never reaches a convolution or a
batch-norm statistic) and read each clip up to its own last frame, so a clip gets the
same logits alone and in any padded batch; :class:`C3D` takes clips resampled to one
length, so it has no padding.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from ferengine.clip_augment import clip_augment
from ferengine.plugin import Augmenter
from ferengine_deep.layers import Normalize, conv_bn
from ferengine_deep.temporal_layers import RecurrentHead


def pad_clips(clips: Sequence[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """Return ``(x, lengths)``: (T, S, S) uint8 clips zero-padded into B×T_max×1×S×S, and T."""
    lengths = torch.tensor([len(c) for c in clips], dtype=torch.int64)
    side = clips[0].shape[1:]
    x = torch.zeros((len(clips), int(lengths.max()), 1, *side), dtype=torch.uint8)
    view = x.numpy()  # written through numpy: clips may be read-only (memory-mapped)
    for i, clip in enumerate(clips):
        view[i, : len(clip), 0] = clip
    return x, lengths


def frame_mask(lengths: torch.Tensor, steps: int) -> torch.Tensor:
    """Return the B×T mask of true frames (False on padding)."""
    return torch.arange(steps)[None, :] < lengths[:, None]


class ClipCollate:
    """Assemble (clip, label) samples into a padded batch: ``({"x", "lengths"}, labels)``.

    With augmenters (training batches), every clip is augmented first, one random draw
    for all of its frames (:func:`ferengine.clip_augment.clip_augment`).
    """

    def __init__(self, augmenters: list[Augmenter], rng: np.random.Generator) -> None:
        self.augmenters = augmenters
        self.rng = rng

    def __call__(self, samples: list[tuple[np.ndarray, Any]]) -> tuple[dict, torch.Tensor]:
        """Return the padded clips (keyword arguments of the network) and the labels."""
        clips = np.empty(len(samples), dtype=object)
        clips[:] = [s[0] for s in samples]
        for augmenter in self.augmenters:
            clips = clip_augment(clips, augmenter, self.rng)
        x, lengths = pad_clips(list(clips))
        y = torch.as_tensor(np.asarray([s[1] for s in samples]), dtype=torch.int64)
        return {"x": x, "lengths": lengths}, y


def _frozen_batch_norms_stay_in_eval(module: nn.Module) -> None:
    """Put batch norms whose weights are all frozen in eval mode (their statistics too)."""
    for layer in module.modules():
        params = list(layer.parameters(recurse=False))
        if (isinstance(layer, nn.modules.batchnorm._BatchNorm) and params
                and not any(p.requires_grad for p in params)):  # fmt: skip
            layer.eval()


def _per_frame(layers: nn.Module, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Run ``layers`` on the true frames of a padded B×T×… batch; return B×T×… (padding 0)."""
    out = layers(x[mask])
    padded = out.new_zeros((*mask.shape, *out.shape[1:]))
    padded[mask] = out
    return padded


class CNNRecurrent(nn.Module):
    """The cascade: a CNN on every frame, an LSTM (or GRU) over the frame embeddings, a linear head.

    ``normalize`` and ``features`` are a zoo network's input scaling and backbone (as in
    :class:`~ferengine_deep.layers.FERNet`, so :func:`ferengine_deep.estimator.transfer`
    loads a still model's into them); ``temporal`` is a
    :class:`~ferengine_deep.temporal_layers.RecurrentHead` over the embeddings, which
    packs the padded batch.
    """

    def __init__(self, normalize: Normalize, features: nn.Module, temporal: RecurrentHead) -> None:
        super().__init__()
        self.normalize = normalize
        self.features = features
        self.temporal = temporal

    def train(self, mode: bool = True) -> CNNRecurrent:
        """Set training mode; batch norms of a frozen backbone keep their statistics."""
        super().train(mode)
        if mode:
            _frozen_batch_norms_stay_in_eval(self.features)
        return self

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Return B×K logits of a padded B×T×1×S×S uint8 batch of clips of ``lengths`` frames."""
        mask = frame_mask(lengths, x.shape[1])
        embeddings = _per_frame(lambda f: self.features(self.normalize(f)), x, mask)
        return self.temporal(embeddings, lengths)


class C3D(nn.Module):
    """A small 3D CNN: Conv3d → batch norm → ReLU → max pooling blocks, global pooling, linear.

    The first block pools space only (1×2×2), the others time and space (2×2×2, rounding
    up, so clips of few frames still fit), as C3D does. Clips come resampled to one
    length (no padding).
    """

    def __init__(self, normalize: Normalize, n_out: int, channels: Sequence[int], grid: int,
                 dropout: float) -> None:  # fmt: skip
        super().__init__()
        self.normalize = normalize
        widths = [1, *(int(c) for c in channels)]
        blocks: list[nn.Module] = []
        for i, (a, b) in enumerate(itertools.pairwise(widths)):
            blocks += [nn.Conv3d(a, b, 3, padding=1, bias=False), nn.BatchNorm3d(b),
                       nn.ReLU(inplace=True),
                       nn.MaxPool3d((1, 2, 2) if i == 0 else 2, ceil_mode=True)]  # fmt: skip
        # pooled over time and down to a grid×grid map: where on the face a change is matters
        self.features = nn.Sequential(*blocks, nn.AdaptiveAvgPool3d((1, grid, grid)), nn.Flatten())
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(widths[-1] * grid * grid, n_out)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Return B×K logits of a B×T×1×S×S uint8 batch of clips of T frames each."""
        b, t = x.shape[:2]
        frames = self.normalize(x.flatten(0, 1))  # each frame scaled as a still
        volume = frames.view(b, t, *frames.shape[1:]).transpose(1, 2)  # B×1×T×S×S
        return self.out(self.dropout(self.features(volume)))


class ConvLSTMCell(nn.Module):
    """A convolutional LSTM cell (Shi et al., 2015, without peepholes).

    torch has no convolutional LSTM (``nn.LSTMCell`` is fully connected), so it is
    written here: one convolution over the input and the hidden state gives the input,
    forget and output gates and the candidate, each a C×H×W map.
    """

    def __init__(self, channels: int, hidden: int, kernel: int) -> None:
        super().__init__()
        self.hidden = hidden
        self.gates = nn.Conv2d(channels + hidden, 4 * hidden, kernel, padding=kernel // 2)

    def forward(
        self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Return the next ``(h, c)`` from a B×C×H×W input and the previous ``(h, c)``."""
        h, c = state
        i, f, o, g = self.gates(torch.cat([x, h], dim=1)).chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c


class ConvLSTMNet(nn.Module):
    """A small per-frame encoder, a ConvLSTM over the frames, spatial pooling, a linear head.

    The encoder (3×3 convolution blocks, each halving the side) runs on the true frames;
    the ConvLSTM keeps each clip's state after its own last frame (padded steps leave
    it unchanged), whose spatial mean goes through dropout to the head.
    """

    def __init__(self, normalize: Normalize, n_out: int, channels: Sequence[int], hidden: int,
                 kernel: int, grid: int, dropout: float) -> None:  # fmt: skip
        super().__init__()
        self.normalize = normalize
        widths = [1, *(int(c) for c in channels)]
        blocks: list[nn.Module] = []
        for a, b in itertools.pairwise(widths):
            blocks += [*conv_bn(a, b), nn.MaxPool2d(2, ceil_mode=True)]
        self.encoder = nn.Sequential(*blocks)
        self.cell = ConvLSTMCell(widths[-1], hidden, kernel)
        self.pool = nn.AdaptiveAvgPool2d(grid)  # where on the face the state changed matters
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(hidden * grid * grid, n_out)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Return B×K logits of a padded B×T×1×S×S uint8 batch of clips of ``lengths`` frames."""
        mask = frame_mask(lengths, x.shape[1])
        maps = _per_frame(lambda f: self.encoder(self.normalize(f)), x, mask)  # B×T×C×H×W
        b, t, _, height, width = maps.shape
        h = maps.new_zeros(b, self.cell.hidden, height, width)
        c = torch.zeros_like(h)
        for step in range(t):
            h_next, c_next = self.cell(maps[:, step], (h, c))
            keep = mask[:, step].view(b, 1, 1, 1)
            h, c = torch.where(keep, h_next, h), torch.where(keep, c_next, c)
        return self.out(self.dropout(self.pool(h).flatten(1)))
