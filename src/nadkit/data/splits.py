"""Standard splits in one place (the protocols of ``nadkit bench`` and of ``dataset:train|test``).

* ``nsl-kdd``: train = normal rows of KDDTrain+; test = KDDTest+.
* ``kddcup99``: train = normal rows of the 10% file; test = ``corrected`` (attack types that only
  occur in the test file are attacks).
* ``unsw-nb15``: only the 82,332-row partition is available, so its normal rows are split with
  a seeded permutation: 60% train (seed 0); test = the remaining 40% of normals + every attack.
* ``cic-ids2017``, ``ctu13:<scenario>``: the same seeded 60/40 split of normal rows.

``validation`` (optional, labelled, from the *training* file only) holds out a share of the
training normals plus, where the training file has attacks, a sample of them; thresholds
that need labels (best-F1) are fitted there, never on the test split.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nadkit.data.container import TableData
from nadkit.data.loaders import get_dataset, load_dataset


@dataclass
class Split:
    train: TableData
    test: TableData
    validation: TableData | None
    description: str


RAW_SPLITS = {"nsl-kdd": ("train", "test"), "kddcup99": ("train", "test")}


def _normal_share_split(data: TableData, share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    normal_idx = np.flatnonzero(data.y == 0)
    rng = np.random.default_rng(seed)
    perm = rng.permutation(normal_idx)
    k = round(share * len(perm))
    train_mask = np.zeros(len(data), bool)
    train_mask[perm[:k]] = True
    return train_mask, ~train_mask


def standard_split(dataset: str, seed: int = 0, validation: float = 0.1,
                   train_share: float = 0.6) -> Split:
    """The protocol split of ``dataset`` (``name`` or ``name:part`` for CTU-13 scenarios).

    ``validation`` is the share of training normals held out for calibration (plus a sample
    of training-file attacks of the same size where they exist); they are removed from train.
    """
    name, _, part = dataset.partition(":")
    info = get_dataset(name)
    if info.name in RAW_SPLITS:
        tr_name, te_name = RAW_SPLITS[info.name]
        full_train = load_dataset(info.name, tr_name)
        test = load_dataset(info.name, te_name)
        train = full_train.normal()
        attacks = full_train.subset(full_train.y == 1)
        desc = info.protocol
    else:
        full = load_dataset(info.name, part or info.splits[0])
        train_mask, test_mask = _normal_share_split(full, train_share, seed)
        train, test = full.subset(train_mask, name=f"{full.name} train"), full.subset(test_mask, name=f"{full.name} test")
        attacks = None
        desc = (f"{info.name}: seeded split (seed {seed}) of the normal rows, {train_share:.0%} "
                f"train; test = the other normals + all attacks")
    val = None
    if validation > 0:
        rng = np.random.default_rng(seed + 1)
        perm = rng.permutation(len(train))
        n_val = round(validation * len(train))
        val_normal = train.subset(np.sort(perm[:n_val]))
        train = train.subset(np.sort(perm[n_val:]), name=train.name)
        if attacks is not None and len(attacks):
            k = min(len(attacks), n_val)
            pick = np.sort(rng.choice(len(attacks), k, replace=False))
            val = _concat(val_normal, attacks.subset(pick), name=f"{info.name} validation")
        else:
            val = val_normal
            val.name = f"{info.name} validation (normal only)"
        desc += f"; calibration/validation: {validation:.0%} of training normals held out"
    return Split(train=train, test=test, validation=val, description=desc)


def _concat(a: TableData, b: TableData, name: str) -> TableData:
    import pandas as pd

    def cat(u, v):
        return None if u is None or v is None else np.concatenate([u, v])

    return TableData(pd.concat([a.X, b.X], ignore_index=True), y=cat(a.y, b.y),
                     attack=cat(a.attack, b.attack), time=cat(a.time, b.time), name=name)
