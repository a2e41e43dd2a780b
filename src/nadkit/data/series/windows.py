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

import itertools
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
    """Window start positions for training and for the held-out validation segments."""

    train: np.ndarray
    val: np.ndarray
    cut: int  # first step of the (last) validation segment (len(series) when there is none)
    #: the held-out segments as (start, stop) steps, in time order (empty when there are none)
    segments: tuple[tuple[int, int], ...] = ()

    def held_out(self, n_steps: int) -> np.ndarray:
        """Boolean mask of the ``n_steps`` steps that lie in a held-out segment."""
        mask = np.zeros(n_steps, dtype=bool)
        for a, b in self.segments:
            mask[a:b] = True
        return mask


def _check_split(val_fraction: float, stride: int) -> None:
    """The checks every split makes of its validation fraction and window stride."""
    if not 0 <= val_fraction < 1:
        raise DataError(f"validation fraction must be in [0, 1), got {val_fraction}")
    if stride < 1:
        raise DataError(f"window stride must be ≥ 1, got {stride}")


def chronological_split(n_steps: int, window: int, val_fraction: float, stride: int = 1,
                        min_tail: int | None = None) -> WindowSplit:
    """Training windows lie entirely before the last ``val_fraction`` of the steps, validation
    windows entirely inside it (no window straddles the cut, so nothing leaks). Windows start
    every ``stride`` steps. The tail is dropped (no validation) when it is shorter than
    ``min_tail`` steps (default: one window); a tail shorter than one window is held out with
    no validation windows (its steps can still be scored with the history before the cut).

    >>> s = chronological_split(100, 10, 0.2)
    >>> int(s.train[-1] + 10), s.cut, int(s.val[0]), len(s.val), s.segments
    (80, 80, 80, 11, ((80, 100),))
    >>> s = chronological_split(100, 30, 0.2, min_tail=10)   # a 20-step tail, no full window
    >>> s.cut, len(s.val), s.segments
    (80, 0, ((80, 100),))
    """
    _check_split(val_fraction, stride)
    cut = n_steps - round(n_steps * val_fraction)
    if n_steps - cut < (window if min_tail is None else max(1, min_tail)):
        cut = n_steps
    check_length(cut, window, "the training part of the series")
    train = np.arange(0, n_windows(cut, window), stride, dtype=np.int64)
    val = np.arange(cut, cut + n_windows(n_steps - cut, window), stride, dtype=np.int64)
    return WindowSplit(train=train, val=val, cut=cut, segments=((cut, n_steps),) if cut < n_steps else ())


def blocked_split(n_steps: int, window: int, val_fraction: float, blocks: int = 1,
                  stride: int = 1, min_tail: int | None = None) -> WindowSplit:
    """Like :func:`chronological_split`, but the series is cut into ``blocks`` equal blocks and
    the last ``val_fraction`` of *each* block is held out, so the model also trains on the
    latest part of the series (a chronological tail withholds the regime nearest the test
    data; a series that drifts inside its training part is then fitted on an older regime
    than the one it is validated and scored on). No window straddles a training part and a
    held-out segment. With fewer blocks than asked where the segments would be shorter than
    ``2 * window`` (one window of warm-up and at least as many scored steps); with one block
    it is :func:`chronological_split` exactly (``min_tail`` applies to that case only).

    >>> s = blocked_split(1000, 10, 0.2, blocks=4)
    >>> s.segments
    ((200, 250), (450, 500), (700, 750), (950, 1000))
    >>> int(s.train[-1] + 10) <= 950, int(s.val[0]), len(s.val)
    (True, 200, 164)
    >>> blocked_split(1000, 100, 0.2, blocks=4).segments   # 50-step segments < 2 windows
    ((800, 1000),)
    """
    if not (isinstance(blocks, int) and not isinstance(blocks, bool) and blocks >= 1):
        raise DataError(f"validation blocks must be an integer ≥ 1, got {blocks!r}")
    _check_split(val_fraction, stride)
    k = blocks
    while k > 1 and round(n_steps / k * val_fraction) < 2 * window:
        k -= 1
    if k == 1:
        return chronological_split(n_steps, window, val_fraction, stride, min_tail)
    bounds = [round(i * n_steps / k) for i in range(k + 1)]
    train, val, segments = [], [], []
    for a, b in itertools.pairwise(bounds):
        cut = b - round((b - a) * val_fraction)
        train.append(np.arange(a, a + n_windows(cut - a, window), stride, dtype=np.int64))
        val.append(np.arange(cut, cut + n_windows(b - cut, window), stride, dtype=np.int64))
        segments.append((cut, b))
    train_starts = np.concatenate(train)
    if not len(train_starts):
        check_length(0, window, "every training part of the series")
    return WindowSplit(train=train_starts, val=np.concatenate(val), cut=segments[-1][0],
                       segments=tuple(segments))


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
