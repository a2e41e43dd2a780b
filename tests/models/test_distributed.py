"""Distributed training through the one shared trainer: two CPU processes (gloo DDP) started
from a plain ``fit`` call, rank 0's result handed back, one checkpoint, sharded batches."""

import math
import shutil

import numpy as np
import pytest
import torch
from lightning.pytorch.utilities.data import _update_dataloader
from scipy.stats import spearmanr
from torch.utils.data.distributed import DistributedSampler

from nadkit import artifact
from nadkit.errors import DataError
from nadkit.metrics import auroc
from nadkit.models.ae import AE
from nadkit.models.train import (
    BatchDataset,
    TrainConfig,
    current_trainer_options,
    fit_network,
    make_loader,
    tensor_fetch,
    trainer_options,
)
from nadkit.pipeline import Pipeline

PARAMS = {"hidden": (32,), "latent": 8, "epochs": 5, "batch_size": 256, "patience": None, "random_state": 0}


@pytest.mark.slow
def test_two_process_ddp_matches_one_process(nsl_small, tmp_path):
    """A 2-process fit returns a complete detector in this process: rank 0's best weights,
    the history, one checkpoint (written by rank 0 only), identical weights on both ranks and
    scores like a one-process fit. Tolerance: |ΔAUROC| < 0.01 and Spearman ρ > 0.99 on the
    test rows (the runs see the same rows in another order, so they are close, not equal;
    measured: AUROC 0.9471 vs 0.9468, ρ = 0.9996)."""
    X, Xte, yte = nsl_small["X_train"][:4000], nsl_small["X_test"], nsl_small["y_test"]
    for attempt in range(2):
        # About 1 run in 10, a rank aborts at interpreter exit, after its work, with "terminate
        # called without an active exception" (gloo threads torn down at exit; seen with this
        # torch/Lightning pair on CPU): that, and only that, is retried once.
        try:
            with trainer_options(devices=2, strategy="ddp", checkpoint_dir=str(tmp_path / "ckpt")):
                ddp = AE(**PARAMS).fit(X)
            break
        except torch.multiprocessing.ProcessExitedException as exc:
            if "SIGABRT" not in str(exc) or attempt:
                raise
            shutil.rmtree(tmp_path / "ckpt", ignore_errors=True)
    single = AE(**PARAMS).fit(X)

    res = ddp.train_result_
    assert res.world_size == 2 and res.rank_spread == 0.0  # both ranks restored the same weights
    n_train = 3600  # 4000 rows less the 10% validation split
    assert res.batches_per_epoch == math.ceil(math.ceil(n_train / 2) / (256 // 2))  # a shard each
    assert res.batches_per_epoch == single.train_result_.batches_per_epoch  # same optimiser steps
    ckpts = sorted((tmp_path / "ckpt").glob("*.ckpt"))
    assert len(ckpts) == 1 and res.checkpoint == str(ckpts[0])
    assert len(ddp.history_) == 5 and 0 <= ddp.best_epoch_ < 5
    assert ddp.history_[-1]["val_loss"] < ddp.history_[0]["val_loss"]

    s_ddp, s_one = ddp.score(Xte), single.score(Xte)
    a_ddp, a_one = auroc(yte, s_ddp), auroc(yte, s_one)
    assert a_ddp > 0.9 and abs(a_ddp - a_one) < 0.01, (a_ddp, a_one)
    assert spearmanr(s_ddp, s_one).statistic > 0.99
    # the returned detector is whole: it saves, loads and scores identically
    pipe = Pipeline(ddp, nsl_small["pre"])
    artifact.save(pipe, tmp_path / "model")
    np.testing.assert_array_equal(artifact.load(tmp_path / "model").detector.score(Xte), s_ddp)


def test_distributed_sampler_gives_each_rank_its_shard():
    """What Lightning does to our loader under DDP: a DistributedSampler per rank; batches still
    come whole through BatchDataset.__getitems__ (one fetch per batch)."""
    calls = []
    x = torch.arange(1000, dtype=torch.float32)
    fetch = tensor_fetch(x)
    data = BatchDataset(1000, lambda idx: calls.append(len(idx)) or fetch(idx))
    loader = make_loader(data, batch_size=64, shuffle=True, seed=0, distributed=True)
    seen = []
    for rank in (0, 1):
        sampler = DistributedSampler(data, num_replicas=2, rank=rank, shuffle=True, seed=0)
        rank_loader = _update_dataloader(loader, sampler)
        seen.append(torch.cat(list(rank_loader)).long().tolist())
    assert len(seen[0]) == len(seen[1]) == 500
    assert not set(seen[0]) & set(seen[1]) and set(seen[0]) | set(seen[1]) == set(range(1000))
    assert len(calls) == 2 * math.ceil(500 / 64) and max(calls) == 64


def test_fetch_pickles_memmaps_by_name(tmp_path):
    import pickle

    X = np.lib.format.open_memmap(tmp_path / "X.npy", mode="w+", dtype=np.float32, shape=(100, 3))
    X[:] = np.arange(300, dtype=np.float32).reshape(100, 3)
    X.flush()
    mm = np.load(tmp_path / "X.npy", mmap_mode="r")
    fetch = tensor_fetch(mm, rows=np.arange(50, 100))
    blob = pickle.dumps(fetch)
    assert len(blob) < 1000  # the file name and row map, not the data
    again = pickle.loads(blob)
    assert isinstance(again.arrays[0], np.memmap)
    np.testing.assert_array_equal(again(torch.tensor([0, 2])).numpy(), X[[50, 52]])


def test_trainer_options_are_scoped_and_checked():
    assert current_trainer_options() == {}
    with trainer_options(devices=2), trainer_options(strategy="ddp"):
        assert current_trainer_options() == {"devices": 2, "strategy": "ddp"}
    assert current_trainer_options() == {}
    with pytest.raises(DataError, match="unknown trainer options"), trainer_options(epochs=3):
        pass
    x = torch.zeros(8, 2)
    net = AE(hidden=(4,), latent=2)._build_net(2)
    data = BatchDataset(8, tensor_fetch(x))
    with pytest.raises(DataError, match="num_nodes > 1 needs a cluster launcher"):
        fit_network(net, data, None, TrainConfig(epochs=1, num_nodes=2, strategy="ddp"))
    with pytest.raises(DataError, match="devices must be a positive number"):
        fit_network(net, data, None, TrainConfig(epochs=1, devices=0))
