"""The shared trainer: validation split, early stopping, best epoch restored, history logged."""

import numpy as np
import torch

from nadkit.models.ae import AE
from nadkit.models.nn.blocks import TrainableNet
from nadkit.models.torch_base import auto_epochs
from nadkit.models.train import (
    BatchDataset,
    TrainConfig,
    fit_network,
    split_validation,
    tensor_fetch,
)


class _Line(TrainableNet):
    """y = w·x fitted by MSE; validation loss is made to get worse after epoch 2."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))
        self.epoch = 0

    def training_loss(self, batch):
        x, y = batch
        return {"loss": ((self.w * x - y) ** 2).mean()}

    def validation_loss(self, batch):
        x, y = batch
        penalty = max(0, self.epoch - 2) * 10.0
        return {"loss": ((self.w * x - y) ** 2).mean() + penalty}

    def on_epoch_end(self, epoch):
        self.epoch = epoch + 1
        return {"w": float(self.w)}


def test_early_stopping_restores_best_epoch():
    x = torch.linspace(-1, 1, 512)
    data = BatchDataset(512, tensor_fetch(x, 3 * x))
    net = _Line()
    res = fit_network(net, data, data, TrainConfig(epochs=50, batch_size=64, lr=0.05, patience=3,
                                                   scheduler=None))
    assert res.stopped_early and len(res.history) < 50
    assert res.best_epoch == 2 and res.monitor == "val_loss"
    assert {"train_loss", "val_loss", "train_w", "epoch"} <= set(res.history[0])
    assert float(net.w) == res.history[2]["train_w"]  # weights of the best epoch are back


def test_split_validation_is_seeded_and_disjoint():
    a = split_validation(100, 0.2, seed=3)
    b = split_validation(100, 0.2, seed=3)
    assert all((u == v).all() for u, v in zip(a, b, strict=True))
    assert len(a[1]) == 20 and not set(a[0]) & set(a[1])


def test_detector_records_history():
    X = np.random.default_rng(0).normal(size=(3000, 5)).astype("float32")
    det = AE(hidden=(8,), latent=2, batch_size=512, epochs=6, random_state=0).fit(X)
    assert det.epochs_run_ == 6 and len(det.history_) == 6
    assert det.history_[-1]["val_loss"] < det.history_[0]["val_loss"]


def test_auto_epochs_targets_a_step_budget():
    assert auto_epochs(60_000, 1024) == 34  # 59 steps/epoch → ≈2,000 steps
    assert auto_epochs(1_000_000, 1024) == 5 and auto_epochs(100, 1024) == 300


class _TwoOptimizers(TrainableNet):
    """A manual-optimisation net with two optimisers, each with a per-step schedule."""

    manual_optimization = True

    def __init__(self):
        super().__init__()
        self.a = torch.nn.Parameter(torch.zeros(1))
        self.b = torch.nn.Parameter(torch.zeros(1))
        self.lrs = []

    def manual_step(self, batch, optimizers, backward):
        x, y = batch
        for opt, p in zip(optimizers, (self.a, self.b), strict=True):
            loss = ((p * x - y) ** 2).mean()
            opt.zero_grad()
            backward(loss)
            opt.step()
        self.lrs.append([o.param_groups[0]["lr"] for o in optimizers])
        return {"loss": ((self.a * x - y) ** 2).mean().detach()}

    def validation_loss(self, batch):
        x, y = batch
        return {"loss": ((self.a * x - y) ** 2).mean()}

    def configure_optimizers(self, lr, weight_decay, total_steps, scheduler):
        opts = [torch.optim.SGD([p], lr=lr) for p in (self.a, self.b)]
        scheds = [{"scheduler": torch.optim.lr_scheduler.LambdaLR(o, lambda s: 1 / (1 + s)),
                   "interval": "step"} for o in opts]
        return opts, scheds


def test_manual_optimisation_steps_each_scheduler_per_step():
    x = torch.linspace(-1, 1, 256)
    data = BatchDataset(256, tensor_fetch(x, 2 * x))
    net = _TwoOptimizers()
    res = fit_network(net, data, data, TrainConfig(epochs=2, batch_size=64, lr=0.5, patience=None))
    assert len(net.lrs) == 8 and len(res.history) == 2
    # both schedules advanced once per training step (not once per epoch)
    np.testing.assert_allclose([lr[0] for lr in net.lrs], [0.5 / (1 + s) for s in range(8)])
    np.testing.assert_allclose([lr[1] for lr in net.lrs], [0.5 / (1 + s) for s in range(8)])
    assert float(net.a) != 0.0 and float(net.b) != 0.0


class _MovingTarget(_Line):
    """Like _Line, but its epochs are declared not comparable (a Lloyd-step-like objective)."""

    select_epoch = False


def test_incomparable_epochs_run_the_budget_and_keep_the_last_weights():
    x = torch.linspace(-1, 1, 512)
    data = BatchDataset(512, tensor_fetch(x, 3 * x))
    net = _MovingTarget()
    res = fit_network(net, data, data, TrainConfig(epochs=8, batch_size=64, lr=0.05, patience=2,
                                                   scheduler=None))
    # validation gets worse after epoch 2, yet no early stop and no rollback to epoch 2
    assert not res.stopped_early and len(res.history) == 8 and res.best_epoch == 7
    assert float(net.w) == res.history[-1]["train_w"]


class _Recorder(_Line):
    """Records its weight as seen by the second training step (= after the first update)."""

    def training_loss(self, batch):
        self.calls = getattr(self, "calls", 0) + 1
        if self.calls == 2:
            self.after_first_step = float(self.w)
        return super().training_loss(batch)


def test_weight_averaging_is_what_validation_sees_and_training_leaves():
    x = torch.linspace(-1, 1, 512)
    data = BatchDataset(512, tensor_fetch(x, 3 * x))
    # decay 1.0: the average never moves from its first value, the weights after step 1
    for cls in (_Recorder, type("_LastRecorder", (_Recorder,), {"select_epoch": False})):
        net = cls()
        res = fit_network(net, data, data, TrainConfig(epochs=4, batch_size=64, lr=0.05, patience=None,
                                                       scheduler=None, ema=1.0))
        assert float(net.w) == net.after_first_step != 0.0
        assert res.history[-1]["train_w"] != net.after_first_step  # the raw weights did move
    # decay 0: the average is the current weights, so training is unchanged by it
    plain, averaged = _Line(), _Line()
    fit_network(plain, data, data, TrainConfig(epochs=3, batch_size=64, lr=0.05, patience=None, scheduler=None))
    fit_network(averaged, data, data, TrainConfig(epochs=3, batch_size=64, lr=0.05, patience=None,
                                                  scheduler=None, ema=0.0))
    assert float(plain.w) == float(averaged.w)
