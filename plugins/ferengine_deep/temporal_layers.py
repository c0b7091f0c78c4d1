"""Torch layers of the temporal heads: padding variable-length sequences, an RNN and a 1-D CNN.

A batch of sequences is padded to its longest (:func:`pad`) and given with the true
lengths; both networks ignore the padding, so a sequence gets the same logits alone and
in any padded batch: :class:`RecurrentHead` packs the batch
(:func:`torch.nn.utils.rnn.pack_padded_sequence`) and reads each sequence's state after
its own last frame; :class:`ConvHead` zeroes the padded frames before and after every
convolution (so they act as the convolution's own zero padding) and pools over the true
frames only.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence


def pad(sequences: Sequence[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """Return ``(x, lengths)``: sequences zero-padded into a B×T_max×D tensor, and their lengths."""
    lengths = torch.tensor([len(s) for s in sequences], dtype=torch.int64)
    x = torch.zeros(len(sequences), int(lengths.max()), int(sequences[0].shape[1]))
    view = x.numpy()  # written through numpy: sequences may be read-only (memory-mapped)
    for i, seq in enumerate(sequences):
        view[i, : len(seq)] = seq
    return x, lengths


class PadCollate:
    """Assemble (sequence, label) samples into a padded batch: ``({"x", "lengths"}, labels)``."""

    def __call__(self, samples: list[tuple[np.ndarray, Any]]) -> tuple[dict, torch.Tensor]:
        """Return the padded inputs (keyword arguments of the network) and the labels."""
        x, lengths = pad([s[0] for s in samples])
        y = torch.as_tensor(np.asarray([s[1] for s in samples]), dtype=torch.int64)
        return {"x": x, "lengths": lengths}, y


class RecurrentHead(nn.Module):
    """An LSTM or GRU over the frames; the last layer's final state(s) → dropout → linear."""

    def __init__(self, n_in: int, n_out: int, cell: str, hidden: int, layers: int,
                 bidirectional: bool, dropout: float) -> None:  # fmt: skip
        super().__init__()
        rnn = {"lstm": nn.LSTM, "gru": nn.GRU}[cell]
        between = dropout if layers > 1 else 0.0  # torch applies it between stacked layers
        self.rnn = rnn(n_in, hidden, num_layers=layers, batch_first=True,
                       bidirectional=bidirectional, dropout=between)  # fmt: skip
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(hidden * (2 if bidirectional else 1), n_out)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Return B×K logits of a padded B×T×D batch whose sequences have ``lengths`` frames."""
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        _, state = self.rnn(packed)
        h = state[0] if isinstance(state, tuple) else state  # LSTM: (h, c); GRU: h
        directions = 2 if self.rnn.bidirectional else 1
        last = h.view(self.rnn.num_layers, directions, len(lengths), self.rnn.hidden_size)[-1]
        return self.out(self.dropout(last.transpose(0, 1).reshape(len(lengths), -1)))


class ConvHead(nn.Module):
    """1-D convolutions over time (ReLU, dropout), masked global pooling, a linear layer.

    Layer ``i`` (from 0) reads frames ``dilation**i`` apart, so the receptive field grows
    exponentially with depth, as in temporal convolutional networks.
    """

    def __init__(self, n_in: int, n_out: int, channels: Sequence[int], kernel: int,
                 dilation: int, dropout: float, pooling: str) -> None:  # fmt: skip
        super().__init__()
        widths = [n_in, *(int(c) for c in channels)]
        self.convs = nn.ModuleList(
            nn.Conv1d(a, b, kernel, dilation=dilation**i, padding=dilation**i * (kernel // 2))
            for i, (a, b) in enumerate(itertools.pairwise(widths))
        )
        self.dropout = nn.Dropout(dropout)
        self.pooling = pooling
        self.out = nn.Linear(widths[-1] * (2 if pooling == "meanmax" else 1), n_out)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Return B×K logits of a padded B×T×D batch whose sequences have ``lengths`` frames."""
        mask = torch.arange(x.shape[1])[None, :] < lengths[:, None]  # B×T, True on frames
        keep = mask[:, None, :].to(x.dtype)
        h = x.transpose(1, 2) * keep  # B×D×T, padding zeroed
        for conv in self.convs:
            h = self.dropout(torch.relu(conv(h))) * keep
        pooled = []
        if self.pooling in ("mean", "meanmax"):
            pooled.append(h.sum(dim=2) / lengths[:, None].to(h.dtype))
        if self.pooling in ("max", "meanmax"):
            pooled.append(h.masked_fill(~mask[:, None, :], float("-inf")).amax(dim=2))
        return self.out(torch.cat(pooled, dim=1))
