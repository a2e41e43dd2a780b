"""The one shared trainer for every torch model, built on Lightning.

It owns device selection, precision, seeding, batching straight from tensors (no per-row
collate), the validation split, early stopping, keeping the best epoch's weights, the progress
bar, loggers (MLflow) and multi-process DDP. Models only say what a batch's loss is
(:class:`~nadkit.models.nn.TrainableNet`); GANs use manual optimisation in the same trainer.

Distributed training is an execution setting, not a hyper-parameter: wrap any ``fit`` in
:func:`trainer_options` (the CLI's ``--devices/--num-nodes/--strategy``)::

    with trainer_options(devices=2, strategy="ddp"):
        detector.fit(X)          # 2 processes (gloo on CPU); the fitted detector is back here

``batch_size`` stays the *global* batch (each of the N ranks takes ``batch_size / N`` rows per
step), so the same hyper-parameters train the same model on one process or many. A process
that was not started by a cluster launcher (torchrun, SLURM) starts the ranks itself
(``spawn``) and gets rank 0's trained state, history and checkpoint path back when they
finish; under torchrun/SLURM every process is a rank and trains in place.

Thread count: torch's CPU kernels split their sums differently for different intra-op thread
counts, so the same seed gives slightly different floats, which training then amplifies into
visibly different models. A run with ``TrainConfig.threads`` set (the series models set it to
:data:`DEFAULT_THREADS`) trains under exactly that many intra-op threads, whatever the
machine or ``OMP_NUM_THREADS`` say, so its result does not depend on them;
``trainer_options(threads=n)`` or the ``NADKIT_THREADS`` environment variable choose another
count (faster on many cores, but then the result is that count's).
"""

from __future__ import annotations

import contextlib
import contextvars
import copy
import dataclasses
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
from lightning.pytorch.strategies import DDPStrategy
from lightning.pytorch.strategies.launchers.multiprocessing import _MultiProcessingLauncher
from lightning.pytorch.utilities.rank_zero import rank_zero_only
from torch.utils.data import DataLoader, Dataset

from nadkit.errors import DataError
from nadkit.models.nn.blocks import TrainableNet
from nadkit.models.train_progress import EarlyStop, EpochProgress

# Lightning's start-up chatter (GPU available…, tips) would drown the CLI's own output.
for _name in ("lightning", "lightning.pytorch", "lightning.fabric", "lightning_fabric"):
    logging.getLogger(_name).setLevel(logging.ERROR)
warnings.filterwarnings("ignore", message=".*does not have many workers.*")
warnings.filterwarnings("ignore", message=".*`isinstance.*LeafSpec.*")
warnings.filterwarnings("ignore", message=".*smaller than the logging interval.*")

#: intra-op threads of the runs that fix their thread count (the series models): one thread
#: gives the same floats on every machine; ``NADKIT_THREADS`` or ``trainer_options(threads=n)``
#: choose another count
DEFAULT_THREADS = 1


def fixed_threads() -> int:
    """The thread count for runs that fix theirs: ``trainer_options(threads=…)``, else the
    ``NADKIT_THREADS`` environment variable, else :data:`DEFAULT_THREADS`."""
    value = current_trainer_options().get("threads") or os.environ.get("NADKIT_THREADS") or DEFAULT_THREADS
    try:
        n = int(value)
    except (TypeError, ValueError):
        n = 0
    if n < 1:
        raise DataError(f"threads (NADKIT_THREADS) must be a positive whole number, got {value!r}")
    return n


@contextlib.contextmanager
def intra_op_threads(n: int | None) -> Iterator[None]:
    """Run the block under ``n`` torch intra-op threads (None: leave the count as it is), then
    restore the previous count."""
    old = torch.get_num_threads()
    if n is not None and n != old:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if torch.get_num_threads() != old:
            torch.set_num_threads(old)


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
    #: intra-op threads for the whole run (None: leave torch's count); see the module docs
    threads: int | None = None
    #: at most this many training batches per epoch (None: all); bounds a step budget smaller
    #: than one epoch
    max_batches: int | None = None
    grad_clip: float | None = None
    #: decay of an exponential moving average of the weights (None: off); the average is what
    #: validation sees and what training leaves behind (GANs: Yazıcı et al. 2019)
    ema: float | None = None
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
    world_size: int = 1
    #: training batches each rank ran per epoch (shows the DistributedSampler's sharding)
    batches_per_epoch: int = 0
    #: largest difference between ranks' restored best weights (0.0 = identical; 0.0 on one process)
    rank_spread: float = 0.0
    #: path of the best checkpoint when ``checkpoint_dir`` was set (written by rank 0 only)
    checkpoint: str | None = None


#: TrainConfig fields that say *how* to run, not *what* to learn; settable by trainer_options()
EXECUTION_OPTIONS = ("devices", "num_nodes", "strategy", "checkpoint_dir", "threads")
_OPTIONS: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "nadkit_trainer_options", default=None)
DDP_STRATEGIES = ("ddp", "ddp_spawn", "ddp_fork")


@contextlib.contextmanager
def trainer_options(**options: Any) -> Iterator[None]:
    """Execution settings for every :func:`fit_network` call inside the block.

    Keys: ``devices`` (processes/GPUs per node), ``num_nodes``, ``strategy`` ("auto", "ddp",
    "ddp_spawn", "ddp_fork"), ``checkpoint_dir`` and ``threads`` (intra-op threads of every
    run, and of the series models' scoring; see the module docs). They are not hyper-parameters:
    they change where and how a model trains, not the model, so they are not saved with it and
    ``clone`` does not copy them (like joblib's ``parallel_backend``).

    >>> with trainer_options(devices=2, strategy="ddp"):
    ...     current_trainer_options()["devices"]
    2
    """
    unknown = sorted(set(options) - set(EXECUTION_OPTIONS))
    if unknown:
        raise DataError(f"unknown trainer options {unknown}; choose from {list(EXECUTION_OPTIONS)}")
    token = _OPTIONS.set({**(_OPTIONS.get() or {}), **options})
    try:
        yield
    finally:
        _OPTIONS.reset(token)


def current_trainer_options() -> dict[str, Any]:
    """The settings of the innermost active :func:`trainer_options` block (empty outside)."""
    return dict(_OPTIONS.get() or {})


def is_main_process() -> bool:
    """False in the extra ranks of an externally launched (torchrun/SLURM) run: they must not
    write results; True in a single process and in the process that launched the ranks."""
    return rank_zero_only.rank == 0


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


class TensorFetch:
    """Rows ``idx`` of one or more tensors or numpy arrays (memory-mapped ones included).

    ``rows`` maps dataset positions to array rows, so a training subset is served without
    copying it. Instances pickle (process-based DDP sends them to each rank); a whole-file
    ``np.memmap`` pickles as its file name and is re-opened, never copied.
    """

    def __init__(self, *arrays: torch.Tensor | np.ndarray, rows: np.ndarray | None = None) -> None:
        if not arrays:
            raise ValueError("TensorFetch needs at least one array")
        self.arrays = arrays
        self.rows = None if rows is None else np.asarray(rows, dtype=np.int64)

    def __call__(self, idx: torch.Tensor) -> Any:
        pos = idx.numpy() if torch.is_tensor(idx) else np.asarray(idx)
        if self.rows is not None:
            pos = self.rows[pos]
        out = tuple(_take(a, pos) for a in self.arrays)
        return out[0] if len(out) == 1 else out

    def __getstate__(self) -> dict[str, Any]:
        return {"arrays": tuple(_MemmapFile.of(a) or a for a in self.arrays), "rows": self.rows}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.arrays = tuple(a.open() if isinstance(a, _MemmapFile) else a for a in state["arrays"])
        self.rows = state["rows"]


def _take(a: torch.Tensor | np.ndarray, pos: np.ndarray) -> torch.Tensor:
    if torch.is_tensor(a):
        return a[torch.from_numpy(pos)]
    return torch.from_numpy(np.ascontiguousarray(a[pos]))


@dataclass(frozen=True)
class _MemmapFile:
    """How to re-open a memory-mapped array that covers a whole file."""

    filename: str
    dtype: str
    shape: tuple[int, ...]
    offset: int

    @classmethod
    def of(cls, a: Any) -> _MemmapFile | None:
        if not isinstance(a, np.memmap) or a.filename is None or not a.flags.c_contiguous:
            return None
        try:
            whole = os.path.getsize(a.filename) == a.offset + a.nbytes
        except OSError:
            return None
        return cls(a.filename, a.dtype.str, a.shape, a.offset) if whole else None

    def open(self) -> np.memmap:
        return np.memmap(self.filename, dtype=np.dtype(self.dtype), mode="r", offset=self.offset,
                         shape=self.shape)


def tensor_fetch(*tensors: torch.Tensor | np.ndarray, rows: np.ndarray | None = None) -> TensorFetch:
    """A (picklable) fetch function that indexes rows of one or more tensors/arrays."""
    return TensorFetch(*tensors, rows=rows)


def make_loader(dataset: Dataset, batch_size: int, shuffle: bool, seed: int,
                distributed: bool = False) -> DataLoader:
    """Batches of ``dataset``; shuffled by a seeded generator on one process. Under DDP the
    trainer swaps in a ``DistributedSampler`` (seeded too) that gives each rank its shard; no
    generator is kept then, as one cannot be sent to processes started by ``spawn``."""
    gen = torch.Generator().manual_seed(seed) if shuffle and not distributed else None
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=gen,
                      collate_fn=_pass_through, num_workers=0)


class _LitNet(pl.LightningModule):
    def __init__(self, net: TrainableNet, cfg: TrainConfig, total_steps: int) -> None:
        super().__init__()
        self.net = net
        self.cfg = cfg
        self.total_steps = total_steps
        self.automatic_optimization = not net.manual_optimization
        self._sums: dict[str, torch.Tensor] = {}  # see _accumulate
        self._rows = 0

    @staticmethod
    def _size(batch: Any) -> int:
        first = batch[0] if isinstance(batch, (tuple, list)) else batch
        return int(first.shape[0])

    def _log(self, out: dict[str, torch.Tensor], prefix: str, batch: Any) -> None:
        metrics = {f"{prefix}_{k}": (v.detach() if torch.is_tensor(v) else torch.tensor(float(v)))
                   for k, v in out.items()}
        if prefix == "train" and self.trainer.world_size == 1:
            self._accumulate(metrics, self._size(batch))
            if self._rows and self.trainer.is_last_batch:
                self._log_epoch_means()
            return
        self.log_dict(metrics, on_step=False, on_epoch=True, batch_size=self._size(batch),
                      prog_bar=False, sync_dist=self.trainer.world_size > 1)

    def _accumulate(self, metrics: dict[str, torch.Tensor], size: int) -> None:
        """One process: the epoch means of the training metrics, summed here and logged once
        per epoch (``_log_epoch_means``) instead of through ``log_dict`` at every step (its
        bookkeeping cost more than a small net's step). Same floats as Lightning's own mean:
        Σ value·batch_size in float32, divided by Σ batch_size. Logged at the epoch's last batch,
        so callbacks' ``on_train_epoch_end`` (the progress line) see them as before."""
        for k, v in metrics.items():
            v = v if v.dtype in (torch.float32, torch.float64) else v.to(torch.get_default_dtype())
            prev = self._sums.get(k)
            self._sums[k] = v * size if prev is None else prev + v * size
        self._rows += size

    def _log_epoch_means(self) -> None:
        if self._sums:
            total = torch.tensor(self._rows)
            self.log_dict({k: v / total for k, v in self._sums.items()}, on_step=False, on_epoch=True,
                          batch_size=1, prog_bar=False)
        self._sums, self._rows = {}, 0

    def setup(self, stage: str) -> None:
        if self.cfg.threads is not None:  # also in DDP ranks started by spawn (fresh processes)
            torch.set_num_threads(self.cfg.threads)

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
        self._log_epoch_means()
        if not self.automatic_optimization:
            self._step_schedulers("epoch")
        extra = self.net.on_epoch_end(self.current_epoch) or {}
        if extra:   # e.g. a GAN's MMD²: to the loggers (MLflow) as well as the history
            self.log_dict({f"train_{k}": float(v) for k, v in extra.items()}, on_step=False, on_epoch=True,
                          sync_dist=self.trainer.world_size > 1)
        for cb in self.trainer.callbacks:
            if isinstance(cb, _BestWeights):
                cb.record(self.trainer, self, {f"train_{k}": float(v) for k, v in extra.items()})

    def configure_optimizers(self) -> Any:
        return self.net.configure_optimizers(self.cfg.lr, self.cfg.weight_decay,
                                             self.total_steps, self.cfg.scheduler)


class _BestWeights(pl.Callback):
    """Keeps the weights of the epoch with the lowest monitored loss and restores them at the end
    (with ``select=False``, for nets whose epochs are not comparable, the last epoch's weights).

    Under DDP the monitored loss is averaged over ranks (``sync_dist``), so every rank picks the
    same epoch and restores the same weights; ``on_fit_end`` checks that by gathering a
    fingerprint of each rank's weights (``rank_spread``).
    """

    def __init__(self, monitor: str, min_delta: float, select: bool = True, averaged: bool = False) -> None:
        self.monitor = monitor
        self.min_delta = min_delta
        self.select = select  # False: keep the last epoch (losses of epochs not comparable)
        self.averaged = averaged  # a weight-averaging callback follows this one
        self.candidate: dict[str, torch.Tensor] | None = None  # weights validation just saw
        self.best = math.inf
        self.best_epoch = -1
        self.state: dict[str, torch.Tensor] | None = None
        self.history: list[dict[str, float]] = []
        self.batches_per_epoch = 0
        self.rank_spread = 0.0

    def record(self, trainer: pl.Trainer, module: _LitNet, extra: dict[str, float]) -> None:
        """Called by the module at the end of each training epoch (after validation)."""
        row = {"epoch": trainer.current_epoch}
        row.update({k: float(v) for k, v in trainer.callback_metrics.items()})
        row.update(extra)
        self.history.append(row)
        self.batches_per_epoch = int(trainer.num_training_batches)
        value = row.get(self.monitor, math.nan)
        if not self.select:  # the last epoch is kept as it is: no copy needed
            self.best, self.best_epoch = value, trainer.current_epoch
        elif math.isfinite(value) and value < self.best - self.min_delta:
            self.best = value
            self.best_epoch = trainer.current_epoch
            self.state = self.candidate or copy.deepcopy(module.net.state_dict())
        self.candidate = None

    def on_validation_epoch_end(self, trainer: pl.Trainer, module: _LitNet) -> None:
        # With weight averaging, validation runs on the averaged weights, swapped in until the
        # averaging callback (after this one in the list) swaps them out: keep what was validated.
        if self.select and self.averaged:
            self.candidate = copy.deepcopy(module.net.state_dict())

    def on_fit_end(self, trainer: pl.Trainer, module: _LitNet) -> None:
        if self.state is not None:
            module.net.load_state_dict(self.state)
        if trainer.world_size > 1:
            tensors = [t.detach().double() for t in module.net.state_dict().values()]
            fingerprint = torch.stack([torch.stack([t.sum(), t.square().sum()]) for t in tensors]).flatten()
            fingerprint = fingerprint.to(module.device)
            gathered = [torch.zeros_like(fingerprint) for _ in range(trainer.world_size)]
            torch.distributed.all_gather(gathered, fingerprint)
            self.rank_spread = float(max((g - gathered[0]).abs().max() for g in gathered))

    # what a rank-0 process sends back to the process that launched the ranks
    def export(self) -> dict[str, Any]:
        return {"history": self.history, "best": self.best, "best_epoch": self.best_epoch,
                "batches_per_epoch": self.batches_per_epoch, "rank_spread": self.rank_spread}

    def restore(self, exported: dict[str, Any]) -> None:
        for k, v in exported.items():
            setattr(self, k, v)


class _HandBackLauncher(_MultiProcessingLauncher):
    """Lightning's process launcher, also sending :class:`_BestWeights`' record (history, best
    epoch, rank check) back with rank 0's weights, so the caller's detector is complete."""

    def get_extra_results(self, trainer: pl.Trainer) -> dict[str, Any]:
        extra = super().get_extra_results(trainer)
        extra["nadkit_best"] = [cb.export() for cb in trainer.callbacks if isinstance(cb, _BestWeights)]
        return extra

    def update_main_process_results(self, trainer: pl.Trainer, extra: dict[str, Any]) -> None:
        super().update_main_process_results(trainer, extra)
        mine = [cb for cb in trainer.callbacks if isinstance(cb, _BestWeights)]
        for cb, exported in zip(mine, extra.get("nadkit_best", []), strict=True):
            cb.restore(exported)


class _HandBackDDP(DDPStrategy):
    """DDP whose ranks are processes started by this one (spawn or fork)."""

    def _configure_launcher(self) -> None:
        self._launcher = _HandBackLauncher(self, start_method=self._start_method)


def _launched_externally() -> bool:
    """True when a cluster launcher (torchrun, SLURM, LSF, Lightning's script launcher) made
    this process one rank of many, so the trainer must not start processes itself."""
    from lightning.fabric.plugins.environments import (
        LSFEnvironment,
        SLURMEnvironment,
        TorchElasticEnvironment,
    )

    return ("LOCAL_RANK" in os.environ or TorchElasticEnvironment.detect() or SLURMEnvironment.detect()
            or LSFEnvironment.detect())


def _world_size(cfg: TrainConfig) -> int:
    if not isinstance(cfg.devices, int) or cfg.devices < 1:
        raise DataError(f"devices must be a positive number of processes/GPUs, got {cfg.devices!r}")
    if cfg.num_nodes < 1:
        raise DataError(f"num_nodes must be ≥ 1, got {cfg.num_nodes}")
    return cfg.devices * cfg.num_nodes


def _strategy(cfg: TrainConfig, accelerator: str, world: int) -> str | pl.strategies.Strategy:
    """Lightning strategy for ``cfg``: DDP ranks started here hand their result back."""
    if world > 1 and cfg.strategy == "auto":
        cfg = dataclasses.replace(cfg, strategy="ddp")  # as Lightning does for several devices
    if world == 1 or cfg.strategy not in DDP_STRATEGIES:
        return cfg.strategy
    if _launched_externally():
        return "ddp"
    if cfg.num_nodes > 1:
        raise DataError("num_nodes > 1 needs a cluster launcher: start the same command on every node "
                        "with torchrun (--nnodes, --node-rank, --master-addr) or srun")
    start = "fork" if cfg.strategy == "ddp_fork" else "spawn"
    return _HandBackDDP(start_method=start, process_group_backend="gloo" if accelerator == "cpu" else None)


def fit_network(net: TrainableNet, train: Dataset, val: Dataset | None, cfg: TrainConfig) -> TrainResult:
    """Train ``net`` in place on ``train`` (early-stopping on ``val`` when given).

    Settings of an active :func:`trainer_options` block override ``cfg``'s execution fields.
    """
    cfg = dataclasses.replace(cfg, **current_trainer_options())
    if cfg.threads is not None and (not isinstance(cfg.threads, int) or cfg.threads < 1):
        raise DataError(f"threads must be a positive whole number, got {cfg.threads!r}")
    with intra_op_threads(cfg.threads), _no_memory_fill():
        return _fit_network(net, train, val, cfg)


@contextlib.contextmanager
def _no_memory_fill() -> Iterator[None]:
    """The trainer runs torch in deterministic mode (``deterministic="warn"``), where torch by
    default also fills every new uninitialised tensor with NaN, which only helps to catch
    kernels that read memory they never wrote; that was a tenth of a small net's step time.
    Results are the same without it (every kernel writes its output); the setting is restored."""
    import torch.utils.deterministic as det

    old = det.fill_uninitialized_memory
    det.fill_uninitialized_memory = False
    try:
        yield
    finally:
        det.fill_uninitialized_memory = old


def _fit_network(net: TrainableNet, train: Dataset, val: Dataset | None, cfg: TrainConfig) -> TrainResult:
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    device = resolve_device(cfg.device)
    accelerator = "gpu" if device.startswith("cuda") else "cpu"
    world = _world_size(cfg)
    strategy = _strategy(cfg, accelerator, world)
    rank_batch = math.ceil(cfg.batch_size / world)
    train_loader = make_loader(train, rank_batch, shuffle=True, seed=cfg.seed, distributed=world > 1)
    val_loader = make_loader(val, max(rank_batch, 4096), shuffle=False, seed=cfg.seed,
                             distributed=world > 1) if val else None
    steps_per_epoch = math.ceil(len(train) / (rank_batch * world))
    if cfg.max_batches is not None:
        steps_per_epoch = max(1, min(steps_per_epoch, cfg.max_batches))
    monitor = "val_loss" if val_loader is not None else "train_loss"
    best = _BestWeights(monitor, cfg.min_delta, select=net.select_epoch, averaged=cfg.ema is not None)
    callbacks: list[pl.Callback] = [best]
    if cfg.ema is not None:  # after ``best``: see _BestWeights.on_validation_epoch_end
        callbacks.append(pl.callbacks.EMAWeightAveraging(decay=cfg.ema))
    if cfg.patience is not None and net.select_epoch:
        callbacks.append(EarlyStop(monitor, cfg.patience, cfg.min_delta))
    if cfg.progress:  # one concise line per epoch (in place on a terminal), not Lightning's bars
        callbacks.append(EpochProgress(cfg.description, monitor))
    checkpoint = None
    if cfg.checkpoint_dir:
        checkpoint = pl.callbacks.ModelCheckpoint(dirpath=cfg.checkpoint_dir, monitor=monitor,
                                                  save_top_k=1, mode="min")
        callbacks.append(checkpoint)
    trainer = pl.Trainer(
        accelerator=accelerator, devices=cfg.devices if accelerator == "gpu" or world > 1 else 1,
        num_nodes=cfg.num_nodes, strategy=strategy, precision=cfg.precision,
        max_epochs=cfg.epochs, callbacks=callbacks,
        limit_train_batches=steps_per_epoch if cfg.max_batches is not None else 1.0,
        logger=[*cfg.loggers, *_EXTRA_LOGGERS.get()] or False,
        enable_checkpointing=bool(cfg.checkpoint_dir), enable_progress_bar=False,
        enable_model_summary=False, num_sanity_val_steps=0, deterministic="warn",
        gradient_clip_val=cfg.grad_clip if not net.manual_optimization else None,
        default_root_dir=cfg.checkpoint_dir or os.getcwd(),
    )
    lit = _LitNet(net, cfg, total_steps=steps_per_epoch * cfg.epochs)
    trainer.fit(lit, train_dataloaders=train_loader, val_dataloaders=val_loader)
    net.to("cpu")
    return TrainResult(history=best.history, best_epoch=best.best_epoch, best_value=best.best,
                       monitor=monitor, stopped_early=len(best.history) < cfg.epochs,
                       world_size=world, batches_per_epoch=best.batches_per_epoch,
                       rank_spread=best.rank_spread,
                       checkpoint=checkpoint.best_model_path or None if checkpoint else None)


def split_validation(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded random (train_idx, val_idx) split of ``n`` rows; empty val when fraction is 0."""
    if not 0 <= fraction < 1:
        raise ValueError(f"validation fraction must be in [0, 1), got {fraction}")
    perm = np.random.default_rng(seed).permutation(n)
    n_val = round(n * fraction)
    if n - n_val < 1:
        n_val = 0
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])
