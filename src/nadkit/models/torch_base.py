"""``TorchDetector``: the common part of every torch detector (fit via the shared trainer,
batched inference, safetensors state)."""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from safetensors.torch import save_file

from nadkit.artifact_schema import ModelFiles, load_safetensors, state_file
from nadkit.errors import ArtifactError
from nadkit.models.base import BaseDetector
from nadkit.models.nn.blocks import TrainableNet
from nadkit.models.train import (
    BatchDataset,
    TrainConfig,
    TrainResult,
    fit_network,
    intra_op_threads,
    resolve_device,
    split_validation,
    tensor_fetch,
)

WEIGHTS = "weights.safetensors"


def infer_batches(net: torch.nn.Module, device: str, batches: Iterable[torch.Tensor | np.ndarray],
                  fn: Callable[[torch.Tensor], torch.Tensor | tuple[torch.Tensor, ...]],
                  threads: int | None = None) -> list[list[np.ndarray]]:
    """The one batched inference loop: ``fn`` applied to each batch on ``device`` ("auto" =
    CUDA when available) with ``net`` in eval mode, under inference mode (and ``threads``
    intra-op threads when given). Returns, per output of ``fn`` (one, or each of a tuple), the
    list of its float32 batches as numpy arrays. The net is left on the CPU; on the CPU nothing
    is moved (``Module.to`` walks every submodule)."""
    device = resolve_device(device)
    on_cpu = device == "cpu"
    (net if on_cpu else net.to(device)).eval()
    outs: list[list[np.ndarray]] = []
    try:
        with torch.inference_mode(), intra_op_threads(threads):
            for xb in batches:
                xb = torch.from_numpy(xb) if isinstance(xb, np.ndarray) else xb
                res = fn(xb if on_cpu else xb.to(device))
                res = (res,) if isinstance(res, torch.Tensor) else res
                outs = outs or [[] for _ in res]
                for j, r in enumerate(res):
                    outs[j].append(r.float().cpu().numpy())
    finally:
        if not on_cpu:
            net.to("cpu")
    return outs


def _writable(block: np.ndarray) -> np.ndarray:
    """A read-only memory map's rows copied (torch wants a writable array); others as they are."""
    return block if block.flags.writeable else block.copy()


def auto_epochs(n_rows: int, batch_size: int, step_budget: int = 2000,
                lo: int = 5, hi: int = 300) -> int:
    """Epochs giving about ``step_budget`` optimiser steps, clipped to [lo, hi].

    >>> auto_epochs(60_000, 1024), auto_epochs(20_000, 1024)
    (34, 100)
    """
    steps_per_epoch = max(1, math.ceil(n_rows / batch_size))
    return int(min(hi, max(lo, math.ceil(step_budget / steps_per_epoch))))


class TrainingParams:
    """The shared training hyper-parameters, declared once: torch detectors and composite
    detectors of torch sub-models derive from this. Each subclass lists them, with its own
    defaults, in its own ``__init__`` signature (what scikit-learn's ``get_params`` / ``clone``
    read) and stores the signature's arguments with ``self._init_params(locals())``; a
    subclass whose ``__init__`` misses one is refused when it is defined."""

    #: the training hyper-parameters every subclass's ``__init__`` lists
    TRAINING_PARAMS: ClassVar[tuple[str, ...]] = (
        "epochs", "batch_size", "lr", "weight_decay", "validation_fraction", "patience", "device",
        "random_state", "verbose")

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "__init__" in cls.__dict__:
            listed = inspect.signature(cls.__init__).parameters
            missing = [p for p in cls.TRAINING_PARAMS if p not in listed]
            if missing:
                raise TypeError(f"{cls.__name__}.__init__ must list the training parameters {missing}")


class TorchDetector(TrainingParams, BaseDetector):
    """Base for torch detectors. Subclasses define ``_build_net`` and the net's scoring methods.

    Common hyper-parameters (:attr:`TrainingParams.TRAINING_PARAMS`, which every subclass lists
    in its ``__init__`` signature): ``epochs`` (None =
    about 2,000 optimiser steps), ``batch_size``, ``lr``, ``weight_decay``,
    ``validation_fraction`` (held-out normal rows for early stopping and the default
    threshold), ``patience``, ``device`` ("auto" = CUDA when available), ``random_state``,
    ``verbose`` (progress bar).
    """

    infer_batch_size: int = 65_536
    #: optimiser steps that ``epochs=None`` aims for (GANs need more than reconstruction models)
    step_budget: int = 2000
    #: the learning-rate schedule of the shared trainer
    scheduler: ClassVar[str] = "cosine"

    @property
    def _trainer_overrides(self) -> dict[str, Any]:
        """Extra :class:`TrainConfig` fields a subclass sets (e.g. BiGAN's ``ema``)."""
        return {}

    # ----------------------------------------------------------------------------- training
    def _build_net(self, n_features: int) -> TrainableNet:
        raise NotImplementedError

    def _train_config(self, n_train: int) -> TrainConfig:
        epochs = self.epochs if self.epochs is not None else auto_epochs(n_train, self.batch_size,
                                                                         self.step_budget)
        return TrainConfig(
            epochs=epochs, batch_size=self.batch_size, lr=self.lr, weight_decay=self.weight_decay,
            scheduler=self.scheduler, patience=self.patience,
            seed=self.random_state, device=self.device, progress=bool(self.verbose),
            description=type(self).__name__,
            **self._trainer_overrides,
        )

    def _fit(self, X: np.ndarray) -> np.ndarray | None:
        # Batches are gathered from X by row index: the training rows are never copied, so X
        # may be a memory-mapped file larger than memory (see nadkit.data.stream).
        torch.manual_seed(self.random_state)
        train_idx, val_idx = split_validation(len(X), self.validation_fraction, self.random_state)
        train = BatchDataset(len(train_idx), tensor_fetch(X, rows=train_idx))
        val = BatchDataset(len(val_idx), tensor_fetch(X, rows=val_idx)) if len(val_idx) else None
        self.net_ = self._build_net(X.shape[1])
        if type(self)._before_training is not TorchDetector._before_training:
            self._before_training(X[train_idx])
        result = fit_network(self.net_, train, val, self._train_config(len(train_idx)))
        self._record(result)
        self.net_.eval()
        if type(self)._after_training is not TorchDetector._after_training:
            self._after_training(X[train_idx])
        if not len(val_idx):
            return None
        step = self.infer_batch_size
        return np.concatenate([self._score(X[val_idx[i:i + step]]) for i in range(0, len(val_idx), step)])

    def _before_training(self, X_train: np.ndarray) -> None:
        """Hook for data-dependent initialisation (e.g. cluster centres); gets the training rows."""

    def _after_training(self, X_train: np.ndarray) -> None:
        """Hook after training, net in eval mode (e.g. a one-class head on the latents)."""

    def _record(self, result: TrainResult) -> None:
        self.history_ = result.history
        self.best_epoch_ = result.best_epoch
        self.epochs_run_ = len(result.history)
        self.train_result_ = result

    # ------------------------------------------------------------------------------ scoring
    def _batched(self, X: np.ndarray, fn) -> np.ndarray:
        """Apply ``fn(tensor) -> tensor`` in large batches under inference mode."""
        step = self.infer_batch_size
        out = infer_batches(self.net_, self.device, (_writable(X[i:i + step]) for i in range(0, len(X), step)),
                            fn)[0]
        return out[0] if len(out) == 1 else np.concatenate(out, axis=0)

    # --------------------------------------------------------------------------- persistence
    required_files = frozenset({WEIGHTS})

    def save_state(self, directory: Path) -> dict[str, Any]:
        self._check_fitted()
        save_file(self.state_tensors(), str(Path(directory) / WEIGHTS))
        return self.state_meta()

    def state_tensors(self) -> dict[str, torch.Tensor]:
        """The network's tensors (composite models save several under prefixed keys)."""
        return {k: v.detach().cpu().contiguous() for k, v in self.net_.state_dict().items()}

    def state_meta(self) -> dict[str, Any]:
        """JSON-able fitted metadata saved next to the tensors."""
        return {"n_features_in": self.n_features_in_, "epochs_run": self.epochs_run_,
                "best_epoch": self.best_epoch_, "history": self.history_,
                **self._extra_state()}

    def load_state(self, directory: Path | ModelFiles, meta: dict[str, Any]) -> None:
        self.restore_state(load_safetensors(state_file(directory, WEIGHTS), WEIGHTS), meta)

    def restore_state(self, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
        """Rebuild the fitted network from :meth:`state_tensors` and :meth:`state_meta` output.

        The network is first built on the ``meta`` device (no memory) and its tensor names and
        shapes compared with ``tensors``: hyper-parameters that do not fit the weights are
        refused before anything is allocated."""
        self.n_features_in_ = int(meta["n_features_in"])
        self._load_extra_state(meta)
        with torch.device("meta"):
            probe = self._build_net(self.n_features_in_)
        expected = {k: tuple(v.shape) for k, v in probe.state_dict().items()}
        got = {k: tuple(t.shape) for k, t in tensors.items()}
        if expected != got:
            wrong = sorted(set(expected) ^ set(got)) or sorted(k for k in expected if expected[k] != got[k])
            k = wrong[0]
            raise ArtifactError(f"{WEIGHTS} does not fit the configured network: tensor {k!r} "
                                f"is {got.get(k, 'missing')}, the network needs {expected.get(k, 'none')}"
                                f"{f' ({len(wrong)} tensors differ)' if len(wrong) > 1 else ''}")
        del probe
        self.net_ = self._build_net(self.n_features_in_)
        try:
            self.net_.load_state_dict(tensors, strict=True)
        except RuntimeError as exc:
            first = str(exc).strip().splitlines()[0]
            raise ArtifactError(f"cannot load {WEIGHTS}: {first}") from exc
        self.net_.eval()
        self.history_ = meta.get("history", [])
        self.epochs_run_ = meta.get("epochs_run", 0)
        self.best_epoch_ = meta.get("best_epoch", -1)

    def _extra_state(self) -> dict[str, Any]:
        return {}

    def _load_extra_state(self, meta: dict[str, Any]) -> None:
        pass


class ReconstructionDetector(TorchDetector):
    """A torch detector whose net has ``squared_errors(x) -> (b, d)``: the score is the mean
    squared error over features and ``score_features`` each feature's share (a row's
    contributions sum to its score)."""

    tags = frozenset({"feature_scores"})

    def _score(self, X: np.ndarray) -> np.ndarray:
        return self._batched(X, lambda x: self.net_.squared_errors(x).mean(dim=1))

    def _score_features(self, X: np.ndarray) -> np.ndarray:
        d = X.shape[1]
        return self._batched(X, lambda x: self.net_.squared_errors(x) / d)
