"""The one shared trainer for every torch model, built on Lightning.

It owns device selection, precision, seeding, batching straight from tensors (no per-row
collate), the validation split, early stopping, keeping the best epoch's weights, the progress
bar, loggers (MLflow) and multi-process DDP. Models only say what a batch's loss is
(:class:`~nadkit.models.nn.TrainableNet`); GANs use manual optimisation in the same trainer.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import os
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from nadkit.models.nn.blocks import TrainableNet

# Lightning's start-up chatter (GPU available…, tips) would drown the CLI's own output.
for _name in ("lightning", "lightning.pytorch", "lightning.fabric", "lightning_fabric"):
    logging.getLogger(_name).setLevel(logging.ERROR)
warnings.filterwarnings("ignore", message=".*does not have many workers.*")
warnings.filterwarnings("ignore", message=".*`isinstance.*LeafSpec.*")
warnings.filterwarnings("ignore", message=".*smaller than the logging interval.*")

#: loggers added to every run inside :func:`extra_loggers` (experiment tracking uses it)
_EXTRA_LOGGERS: ContextVar[tuple[Any, ...]] = ContextVar("nadkit_extra_loggers", default=())


@contextlib.contextmanager
def extra_loggers(*loggers: Any) -> Iterator[None]:
    """Add Lightning loggers to every :func:`fit_network` call made inside the block.

    This is how MLflow tracking (:mod:`nadkit.experiments.tracking`) receives the per-epoch
    losses of any torch detector, including sub-models of composite ones, without each model
    passing loggers around.
    """
    token = _EXTRA_LOGGERS.set(_EXTRA_LOGGERS.get() + tuple(loggers))
    try:
        yield
    finally:
        _EXTRA_LOGGERS.reset(token)


def resolve_device(device: str | None = "auto") -> str:
    """"auto" → "cuda" when available, else "cpu"; anything else is passed through."""
    if device in (None, "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    return str(device)


@dataclass
class TrainConfig:
    """Settings of one training run (the torch detectors map their hyper-parameters here)."""

    epochs: int
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 0.0
    scheduler: str | None = "cosine"
    patience: int | None = 10
    min_delta: float = 0.0
    seed: int = 0
    device: str = "auto"
    precision: str = "32-true"
    devices: int | str = 1
    num_nodes: int = 1
    strategy: str = "auto"
    progress: bool = False
    grad_clip: float | None = None
    loggers: Sequence[Any] = field(default_factory=tuple)
    checkpoint_dir: str | None = None
    description: str = "training"


@dataclass
class TrainResult:
    """What a run left behind: per-epoch metrics, the best epoch and its monitored value."""

    history: list[dict[str, float]]
    best_epoch: int
    best_value: float
    monitor: str
    stopped_early: bool


class BatchDataset(Dataset):
    """Serves whole batches: ``fetch(indices)`` builds the batch by tensor indexing.

    ``__getitems__`` lets the DataLoader ask for a batch of indices at once, so there is no
    per-row Python work; any sampler (random, distributed) still works.
    """

    def __init__(self, n: int, fetch: Callable[[torch.Tensor], Any]) -> None:
        self.n = n
        self.fetch = fetch

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> Any:
        return self.fetch(torch.as_tensor([i]))

    def __getitems__(self, indices: list[int]) -> Any:
        return self.fetch(torch.as_tensor(indices))


def _pass_through(batch: Any) -> Any:
    return batch


def tensor_fetch(*tensors: torch.Tensor) -> Callable[[torch.Tensor], Any]:
    """A fetch function that indexes rows of one or more tensors."""
    if len(tensors) == 1:
        t = tensors[0]
        return lambda idx: t[idx]
    return lambda idx: tuple(t[idx] for t in tensors)


def make_loader(dataset: Dataset, batch_size: int, shuffle: bool, seed: int) -> DataLoader:
    gen = torch.Generator().manual_seed(seed)
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=gen,
                      collate_fn=_pass_through, num_workers=0)


class _LitNet(pl.LightningModule):
    def __init__(self, net: TrainableNet, cfg: TrainConfig, total_steps: int) -> None:
        super().__init__()
        self.net = net
        self.cfg = cfg
        self.total_steps = total_steps
        self.automatic_optimization = not net.manual_optimization

    @staticmethod
    def _size(batch: Any) -> int:
        first = batch[0] if isinstance(batch, (tuple, list)) else batch
        return int(first.shape[0])

    def _log(self, out: dict[str, torch.Tensor], prefix: str, batch: Any) -> None:
        metrics = {f"{prefix}_{k}": (v.detach() if torch.is_tensor(v) else torch.tensor(float(v)))
                   for k, v in out.items()}
        self.log_dict(metrics, on_step=False, on_epoch=True, batch_size=self._size(batch),
                      prog_bar=False, sync_dist=self.trainer.world_size > 1)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor | None:
        if self.automatic_optimization:
            out = self.net.training_loss(batch)
        else:
            opts = self.optimizers()
            opts = opts if isinstance(opts, (list, tuple)) else [opts]
            out = self.net.manual_step(batch, opts, self.manual_backward)
            self._step_schedulers("step")
        self._log(out, "train", batch)
        return out.get("loss") if self.automatic_optimization else None

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        self._log(self.net.validation_loss(batch), "val", batch)

    def _step_schedulers(self, interval: str) -> None:
        """Manual optimisation: step each scheduler at its configured interval ("step"/"epoch")."""
        for config in self.trainer.lr_scheduler_configs:
            if config.interval == interval:
                config.scheduler.step()

    def on_train_epoch_end(self) -> None:
        if not self.automatic_optimization:
            self._step_schedulers("epoch")
        extra = self.net.on_epoch_end(self.current_epoch) or {}
        for cb in self.trainer.callbacks:
            if isinstance(cb, _BestWeights):
                cb.record(self.trainer, self, {f"train_{k}": float(v) for k, v in extra.items()})

    def configure_optimizers(self) -> Any:
        return self.net.configure_optimizers(self.cfg.lr, self.cfg.weight_decay,
                                             self.total_steps, self.cfg.scheduler)


class _BestWeights(pl.Callback):
    """Keeps the weights of the epoch with the lowest monitored loss and restores them at the end."""

    def __init__(self, monitor: str, min_delta: float) -> None:
        self.monitor = monitor
        self.min_delta = min_delta
        self.best = math.inf
        self.best_epoch = -1
        self.state: dict[str, torch.Tensor] | None = None
        self.history: list[dict[str, float]] = []

    def record(self, trainer: pl.Trainer, module: _LitNet, extra: dict[str, float]) -> None:
        """Called by the module at the end of each training epoch (after validation)."""
        row = {"epoch": trainer.current_epoch}
        row.update({k: float(v) for k, v in trainer.callback_metrics.items()})
        row.update(extra)
        self.history.append(row)
        value = row.get(self.monitor, math.nan)
        if math.isfinite(value) and value < self.best - self.min_delta:
            self.best = value
            self.best_epoch = trainer.current_epoch
            self.state = copy.deepcopy(module.net.state_dict())

    def on_fit_end(self, trainer: pl.Trainer, module: _LitNet) -> None:
        if self.state is not None:
            module.net.load_state_dict(self.state)


def fit_network(net: TrainableNet, train: Dataset, val: Dataset | None, cfg: TrainConfig) -> TrainResult:
    """Train ``net`` in place on ``train`` (early-stopping on ``val`` when given)."""
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    device = resolve_device(cfg.device)
    accelerator = "gpu" if device.startswith("cuda") else "cpu"
    train_loader = make_loader(train, cfg.batch_size, shuffle=True, seed=cfg.seed)
    val_loader = make_loader(val, max(cfg.batch_size, 4096), shuffle=False, seed=cfg.seed) if val else None
    world = (cfg.devices if isinstance(cfg.devices, int) else 1) * cfg.num_nodes
    steps_per_epoch = math.ceil(len(train) / (cfg.batch_size * max(world, 1)))
    monitor = "val_loss" if val_loader is not None else "train_loss"
    best = _BestWeights(monitor, cfg.min_delta)
    callbacks: list[pl.Callback] = [best]
    if cfg.patience is not None:
        callbacks.append(pl.callbacks.EarlyStopping(monitor=monitor, patience=cfg.patience,
                                                    min_delta=cfg.min_delta, mode="min", verbose=False))
    if cfg.progress:
        callbacks.append(pl.callbacks.TQDMProgressBar(leave=True))
    if cfg.checkpoint_dir:
        callbacks.append(pl.callbacks.ModelCheckpoint(dirpath=cfg.checkpoint_dir, monitor=monitor,
                                                      save_top_k=1, mode="min"))
    trainer = pl.Trainer(
        accelerator=accelerator, devices=cfg.devices if accelerator == "gpu" or world > 1 else 1,
        num_nodes=cfg.num_nodes, strategy=cfg.strategy, precision=cfg.precision,
        max_epochs=cfg.epochs, callbacks=callbacks,
        logger=[*cfg.loggers, *_EXTRA_LOGGERS.get()] or False,
        enable_checkpointing=bool(cfg.checkpoint_dir), enable_progress_bar=cfg.progress,
        enable_model_summary=False, num_sanity_val_steps=0, deterministic="warn",
        gradient_clip_val=cfg.grad_clip if not net.manual_optimization else None,
        default_root_dir=cfg.checkpoint_dir or os.getcwd(),
    )
    lit = _LitNet(net, cfg, total_steps=steps_per_epoch * cfg.epochs)
    trainer.fit(lit, train_dataloaders=train_loader, val_dataloaders=val_loader)
    net.to("cpu")
    stopped = trainer.current_epoch + 1 < cfg.epochs if trainer.current_epoch is not None else False
    return TrainResult(history=best.history, best_epoch=best.best_epoch, best_value=best.best,
                       monitor=monitor, stopped_early=bool(stopped))


def split_validation(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded random (train_idx, val_idx) split of ``n`` rows; empty val when fraction is 0."""
    if not 0 <= fraction < 1:
        raise ValueError(f"validation fraction must be in [0, 1), got {fraction}")
    perm = np.random.default_rng(seed).permutation(n)
    n_val = round(n * fraction)
    if n - n_val < 1:
        n_val = 0
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])
