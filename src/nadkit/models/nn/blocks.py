"""Torch building blocks: the ``TrainableNet`` interface the shared trainer drives, and an MLP."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU, "tanh": nn.Tanh, "elu": nn.ELU, "gelu": nn.GELU,
    "leaky_relu": lambda: nn.LeakyReLU(0.2), "sigmoid": nn.Sigmoid,
}


class TrainableNet(nn.Module):
    """A network the shared trainer (:mod:`nadkit.models.train`) can fit.

    Subclasses implement :meth:`training_loss` (a dict whose ``"loss"`` entry is minimised; other
    entries are logged per epoch). GANs set ``manual_optimization = True`` and implement
    :meth:`manual_step` and :meth:`configure_optimizers` instead.

    ``select_epoch = False`` says that losses of different epochs cannot be compared (the
    objective itself changes between epochs, e.g. cluster centres moved by a Lloyd step): the
    trainer then runs every epoch, without early stopping, and keeps the last weights.
    """

    manual_optimization: bool = False
    select_epoch: bool = True

    def training_loss(self, batch: Any) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def validation_loss(self, batch: Any) -> dict[str, torch.Tensor]:
        return self.training_loss(batch)

    def manual_step(self, batch: Any, optimizers: Sequence[torch.optim.Optimizer],
                    backward: Callable[[torch.Tensor], None]) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def configure_optimizers(self, lr: float, weight_decay: float, total_steps: int,
                             scheduler: str | None) -> Any:
        """Default: AdamW over all parameters with an optional per-step cosine schedule (the
        multi-tensor ``foreach`` kernels: the same floats as the per-parameter loop, fewer calls)."""
        opt = torch.optim.AdamW(self.parameters(), lr=lr, weight_decay=weight_decay, foreach=True)
        if scheduler == "cosine" and total_steps > 0:
            sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total_steps)
            return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
        if scheduler not in (None, "none", "cosine"):
            raise ValueError(f"unknown scheduler {scheduler!r}")
        return opt

    def on_epoch_end(self, epoch: int) -> dict[str, float] | None:
        """Hook after each training epoch (e.g. a Lloyd step); may return metrics to log."""
        return None


def mlp(sizes: Sequence[int], activation: str = "relu", dropout: float = 0.0,
        batch_norm: bool = False, last_activation: bool = False,
        init: str | None = None) -> nn.Sequential:
    """Linear layers ``sizes[0] → … → sizes[-1]`` with activation (+BN, dropout) between them.

    ``init``: None keeps torch's default initialisation; "xavier" draws Linear weights from the
    Xavier-uniform distribution and sets every bias to 0.01 (the thesis autoencoders).

    >>> mlp([10, 8, 2]).__class__.__name__
    'Sequential'
    >>> round(float(mlp([4, 3], init="xavier")[0].bias.detach()[0]), 6)
    0.01
    """
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; choose from {sorted(ACTIVATIONS)}")
    if init not in INITS:
        raise ValueError(f"unknown init {init!r}; choose from {sorted(k for k in INITS if k)}")
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2 or last_activation:
            if batch_norm:
                layers.append(nn.BatchNorm1d(b))
            layers.append(ACTIVATIONS[activation]())
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
    net = nn.Sequential(*layers)
    if INITS[init] is not None:
        for layer in net:
            if isinstance(layer, nn.Linear):
                INITS[init](layer)
    return net


def _xavier_bias_001(layer: nn.Linear) -> None:
    nn.init.xavier_uniform_(layer.weight)
    nn.init.constant_(layer.bias, 0.01)


#: weight initialisations ``mlp`` knows (None = torch's default)
INITS: dict[str | None, Callable[[nn.Linear], None] | None] = {None: None, "xavier": _xavier_bias_001}
