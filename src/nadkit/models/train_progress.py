"""The trainer's progress line and its early stopping (used by :mod:`nadkit.models.train`).

:class:`EpochProgress` prints ``AE: epoch 12/300 loss 0.0123 val_loss 0.0130 best 0.0127 @ 10
· 0:04 ETA 1:36`` once per epoch on a terminal (in place) and at most every few seconds in a
log (plain lines, always the first and last epoch), then one line saying why training ended.
Within a long epoch it also shows the step: ``DCVAE: epoch 1/2 step 300/700 loss 0.412 · 1:05
ETA 2:10`` (the epoch's running mean loss; ETA over every step of every epoch), so a model with
one or two long epochs (DC-VAE's step budget) does not stay silent in a log.

:class:`EarlyStop` is Lightning's early stopping with a *relative* tolerance as well: an epoch
counts as an improvement only when it beats the best by more than ``rel_delta`` (1 %) of it, so
a loss creeping down by 0.1 % per epoch under a cosine schedule no longer runs to the epoch cap
(the default AE on 4,500 NSL-KDD normals ran all 300 epochs for a last 1 % of validation loss).
"""

from __future__ import annotations

import math
import time
from typing import Any

import lightning.pytorch as pl
import torch

from nadkit.progress import ProgressLine, duration, eta

#: an epoch must beat the best monitored loss by this fraction of it to reset the patience
REL_DELTA = 0.01


class EarlyStop(pl.callbacks.EarlyStopping):
    """Early stopping on ``monitor`` (mode "min") needing ``min_delta`` + ``rel_delta``·|best|."""

    def __init__(self, monitor: str, patience: int, min_delta: float = 0.0,
                 rel_delta: float = REL_DELTA) -> None:
        super().__init__(monitor=monitor, patience=patience, min_delta=min_delta, mode="min",
                         verbose=False, check_finite=True)
        self.rel_delta = rel_delta
        self.reason = ""

    def _evaluate_stopping_criteria(self, current: torch.Tensor) -> tuple[bool, str | None]:
        best = self.best_score.to(current.device)
        if not torch.isfinite(current):
            self.reason = f"{self.monitor} is not finite ({float(current)})"
            return True, self.reason
        bar = abs(self.min_delta) + (self.rel_delta * abs(float(best)) if torch.isfinite(best) else 0.0)
        if bool(current < best - bar):  # Lightning's own test knows min_delta only
            self.best_score, self.wait_count = current, 0
            return False, None
        self.wait_count += 1
        if self.wait_count >= self.patience:
            self.reason = (f"{self.monitor} did not improve on {float(best):.4g} by more than "
                           f"{self.rel_delta:.1%} for {self.patience} epochs (patience {self.patience})")
            return True, self.reason
        return False, None


def _value(metrics: dict[str, Any], key: str) -> float | None:
    v = metrics.get(key)
    if v is None:
        return None
    return float(v.detach().cpu()) if torch.is_tensor(v) else float(v)


class EpochProgress(pl.Callback):
    """One progress line per epoch: ``NAME: epoch k/N``, losses, best so far, elapsed and ETA;
    at the end, why training stopped (early stopping: monitor, patience, best epoch)."""

    def __init__(self, description: str, monitor: str, interval: float | None = None) -> None:
        self.description = description
        self.monitor = monitor
        self.interval = interval
        self._line: ProgressLine | None = None
        self._start = 0.0
        self._loss_sum: torch.Tensor | None = None  # this epoch's summed batch losses (on device)
        self._loss_n = 0
        self._steps = 0  # batches done over all epochs
        self.best = math.inf
        self.best_epoch = -1

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        self._line = ProgressLine() if self.interval is None else ProgressLine(interval=self.interval)
        self._start = time.monotonic()

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._loss_sum, self._loss_n = None, 0

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any,
                           batch: Any, batch_idx: int) -> None:
        if self._line is None:
            return
        self._steps += 1
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        if torch.is_tensor(loss):  # summed on the device: no sync unless a line is due
            d = loss.detach().float()
            self._loss_sum, self._loss_n = (d if self._loss_sum is None else self._loss_sum + d), self._loss_n + 1
        if not self._line.due():
            return
        per_epoch, n = trainer.num_training_batches, trainer.max_epochs
        known = isinstance(per_epoch, int) and per_epoch > 0 and n is not None and n > 0
        parts = [f"{self.description}: epoch {trainer.current_epoch + 1}/{n}",
                 f"step {batch_idx + 1}/{per_epoch if known else '?'}"]
        if self._loss_n:
            parts.append(f"loss {float(self._loss_sum) / self._loss_n:.4g}")
        elapsed = time.monotonic() - self._start
        parts.append(f"· {duration(elapsed)} ETA {eta(self._steps, per_epoch * n if known else None, elapsed)}")
        self._line.update(" ".join(parts))

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._line is None:
            return
        k, n = trainer.current_epoch + 1, trainer.max_epochs
        metrics = trainer.callback_metrics
        current = _value(metrics, self.monitor)
        if current is not None and math.isfinite(current) and current < self.best:
            self.best, self.best_epoch = current, k
        parts = [f"{self.description}: epoch {k}/{n}"]
        for key, label in (("train_loss", "loss"), ("val_loss", "val_loss")):
            v = _value(metrics, key)
            if v is not None:
                parts.append(f"{label} {v:.4g}")
        if self.best_epoch > 0:
            parts.append(f"best {self.best:.4g} @ {self.best_epoch}")
        elapsed = time.monotonic() - self._start
        parts.append(f"· {duration(elapsed)} ETA {eta(k, n, elapsed)}")
        self._line.update(" ".join(parts), final=k == n)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._line is None:
            return
        ran, n = trainer.current_epoch, trainer.max_epochs
        stopper = next((cb for cb in trainer.callbacks if isinstance(cb, EarlyStop)), None)
        best = (f"best epoch {self.best_epoch} ({self.monitor} {self.best:.4g})"
                if self.best_epoch > 0 else "no finite loss")
        took = duration(time.monotonic() - self._start)
        if stopper is not None and stopper.stopped_epoch > 0 and ran < n:
            text = (f"{self.description}: stopped early after epoch {ran}/{n} in {took}: "
                    f"{stopper.reason or 'early stopping'}; {best} kept")
        else:
            text = f"{self.description}: trained {ran}/{n} epochs in {took}; {best}"
            if stopper is None:
                text += " (no early stopping)"
        self._line.message(text)
        self._line = None
