"""Causal sliding windows without copying, and their batches for the shared trainer.

A window *ending* at step t covers steps ``t-window+1 … t`` (causal: it never looks ahead).
Window ``i`` starts at step ``i`` and ends at ``i + window - 1``. Both the numpy and the torch
form are strided views of the series in channels-first layout ``(n_windows, channels, window)``
(what ``Conv1d`` wants); a batch is gathered by index only when it is needed.

>>> import numpy as np
>>> X = np.arange(12, dtype="float32").reshape(6, 2)          # 6 steps, 2 channels
>>> w = sliding_windows(X, 3)
>>> w.shape, np.shares_memory(w, X), w[1, 0].tolist()        # window 1 = steps 1..3, channel 0
((4, 2, 3), True, [2.0, 4.0, 6.0])
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from nadkit.errors import DataError

if TYPE_CHECKING:  # torch is imported where windows are fetched, not to read a series
    import torch


def n_windows(n_steps: int, window: int) -> int:
    """How many full windows a series of ``n_steps`` has (0 when it is shorter than one)."""
    return max(0, n_steps - window + 1)


def check_length(n_steps: int, window: int, what: str = "series") -> None:
    """Raise :class:`DataError` when a series is too short for one window."""
    if n_steps < window:
        raise DataError(f"{what} has {n_steps} time steps, fewer than the window length {window}; "
                        f"give a longer series (at least {window} steps)")


def sliding_windows(X: np.ndarray, window: int) -> np.ndarray:
    """Read-only strided view ``(n_windows, channels, window)`` of ``X`` (n_steps, channels)."""
    check_length(len(X), window)
    return np.lib.stride_tricks.sliding_window_view(X, window, axis=0)


def window_fetch(X: torch.Tensor, window: int, starts: np.ndarray) -> Callable[[torch.Tensor], torch.Tensor]:
    """A ``BatchDataset`` fetch: ``fetch(idx)`` gathers windows ``starts[idx]`` as (b, c, window).

    The windows are a ``Tensor.unfold`` view of ``X``; only the requested batch is copied.
    """
    import torch

    check_length(len(X), window)
    view = X.unfold(0, window, 1)
    starts_t = torch.as_tensor(np.asarray(starts, dtype=np.int64))
    return lambda idx: view[starts_t[idx]]


@dataclass(frozen=True)
class WindowSplit:
    """Window start positions for training and for the chronological validation tail."""

    train: np.ndarray
    val: np.ndarray
    cut: int  # first step of the validation tail (len(series) when there is none)


def chronological_split(n_steps: int, window: int, val_fraction: float, stride: int = 1) -> WindowSplit:
    """Training windows lie entirely before the last ``val_fraction`` of the steps, validation
    windows entirely inside it (no window straddles the cut, so nothing leaks). Windows start
    every ``stride`` steps. The tail is dropped (no validation) when it is shorter than one
    window.

    >>> s = chronological_split(100, 10, 0.2)
    >>> int(s.train[-1] + 10), s.cut, int(s.val[0]), len(s.val)
    (80, 80, 80, 11)
    """
    if not 0 <= val_fraction < 1:
        raise DataError(f"validation fraction must be in [0, 1), got {val_fraction}")
    if stride < 1:
        raise DataError(f"window stride must be ≥ 1, got {stride}")
    cut = n_steps - round(n_steps * val_fraction)
    if n_steps - cut < window:
        cut = n_steps
    check_length(cut, window, "the training part of the series")
    train = np.arange(0, n_windows(cut, window), stride, dtype=np.int64)
    val = np.arange(cut, cut + n_windows(n_steps - cut, window), stride, dtype=np.int64)
    return WindowSplit(train=train, val=val, cut=cut)


def chunks(n_steps: int, chunk: int, context: int) -> Iterator[tuple[int, int, int]]:
    """Blocks for scoring a long series in pieces: ``(input_start, out_start, out_stop)``.

    Outputs for steps ``out_start:out_stop`` are computed from inputs
    ``input_start:out_stop``, where ``input_start = max(0, out_start - context)``: each block
    repeats ``context`` steps of the previous one, so a causal model whose receptive field is
    at most ``context + 1`` gives the same outputs as on the whole series.

    >>> list(chunks(10, 4, 2))
    [(0, 0, 4), (2, 4, 8), (6, 8, 10)]
    """
    if chunk < 1:
        raise DataError(f"chunk length must be ≥ 1, got {chunk}")
    for start in range(0, n_steps, chunk):
        yield max(0, start - context), start, min(n_steps, start + chunk)
