"""Causal dilated 1-D convolutions (channels-first: (batch, channels, time)).

A causal convolution only looks back: the output at step t depends on inputs ``t - (k-1)·d … t``
(left zero padding, never right). A stack's receptive field is ``1 + Σ (k-1)·d``; when it is at
most the number of steps of context given, the output at a step does not depend on where the
input starts, so a long series can be processed in overlapping chunks (see
:func:`nadkit.data.series.windows.chunks`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from nadkit.models.nn.blocks import ACTIVATIONS


class CausalConv1d(nn.Conv1d):
    """``Conv1d`` with left padding ``(kernel - 1) · dilation``, stride 1.

    >>> conv = CausalConv1d(3, 4, kernel_size=2, dilation=4)
    >>> conv(torch.zeros(1, 3, 10)).shape, conv.receptive_field
    (torch.Size([1, 4, 10]), 5)
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 2, dilation: int = 1,
                 bias: bool = True) -> None:
        super().__init__(in_channels, out_channels, kernel_size, dilation=dilation, bias=bias)
        self.left = (kernel_size - 1) * dilation

    @property
    def receptive_field(self) -> int:
        return self.left + 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(F.pad(x, (self.left, 0)) if self.left else x)


class CausalBlock(nn.Sequential):
    """Causal conv → activation → BatchNorm (the DC-VAE order: activation before BN).

    In eval mode BatchNorm is a fixed per-channel affine map applied at every step, so the
    block stays causal and position-independent.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, dilation: int,
                 activation: str, batch_norm: bool = True) -> None:
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; choose from {sorted(ACTIVATIONS)}")
        layers: list[nn.Module] = [CausalConv1d(in_channels, out_channels, kernel_size, dilation),
                                   ACTIVATIONS[activation]()]
        if batch_norm:
            layers.append(nn.BatchNorm1d(out_channels))
        super().__init__(*layers)

    @property
    def receptive_field(self) -> int:
        return self[0].receptive_field


def causal_stack(in_channels: int, units: Sequence[int], dilations: Sequence[int], kernel_size: int,
                 activation: str, batch_norm: bool = True) -> nn.Sequential:
    """Hidden causal blocks ``in_channels → units[0] → … → units[-1]`` with the given dilations.

    >>> s = causal_stack(2, [8, 8, 8], [1, 2, 4], 2, "tanh")
    >>> receptive_field(s)
    8
    """
    if len(units) != len(dilations):
        raise ValueError(f"{len(units)} layer widths but {len(dilations)} dilations")
    layers, width = [], in_channels
    for u, d in zip(units, dilations, strict=True):
        layers.append(CausalBlock(width, u, kernel_size, d, activation, batch_norm))
        width = u
    return nn.Sequential(*layers)


def receptive_field(*modules: nn.Module) -> int:
    """Receptive field (in steps) of causal modules applied one after the other."""
    total = 1
    for m in modules:
        for sub in m.modules():
            if isinstance(sub, CausalConv1d):
                total += sub.left
    return total
