"""Standard splits in one place, and resolving a CLI data argument to a table.

Protocols ("train on normal data, test on the test split"):

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
from pathlib import Path

import numpy as np

from nadkit.data.container import TableData
from nadkit.data.loaders import get_dataset, load_dataset, load_table
from nadkit.errors import DataError


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


def resolve_data(spec: str, label_col: str | None = None, attack_col: str | None = None,
                 time_col: str | None = None, drop_cols: tuple[str, ...] = (),
                 require_label: bool = False, use_cols: tuple[str, ...] = (),
                 select_features: bool = True) -> TableData:
    """A file path, or ``dataset:split`` (e.g. ``nsl-kdd:test``, ``unsw-nb15:train``).

    Files are read by :func:`~nadkit.data.loaders.load_table` (flow exports recognised).

    For registered datasets, ``train``/``test`` name the protocol split (see module docs).
    """
    path = Path(spec)
    if path.exists() or not (":" in spec and spec.split(":", 1)[0].lower().replace("_", "-") in _names()):
        if not path.exists():
            raise DataError(f"data not found: {spec} (give a CSV/Parquet path or dataset:split)")
        return load_table(path, label_col=label_col, attack_col=attack_col, time_col=time_col,
                          drop_cols=drop_cols, require_label=require_label, use_cols=use_cols,
                          select_features=select_features)
    name, split = spec.split(":", 1)
    info = get_dataset(name)
    if info.kind == "series":  # a series dataset for a table model: its steps as independent rows
        return resolve_series(spec).to_table()
    if split in info.splits:
        return load_dataset(info.name, split)
    if split in ("train", "test"):
        s = standard_split(info.name, validation=0.0)
        return s.train if split == "train" else s.test
    raise DataError(f"dataset {info.name!r} has no split {split!r}; use one of {[*info.splits, 'train', 'test']}")


def _names() -> set[str]:
    from nadkit.data.loaders import DATASETS

    return set(DATASETS)


def resolve_series(spec: str, time_col: str | None = "auto", label_col: str | None = None,
                   labels: str | None = None, drop_cols: tuple[str, ...] = (), max_gap: int = 0,
                   channels: list[str] | None = None):
    """A series: a CSV/Parquet path (put on its fixed step; ``max_gap`` = fill limit) with an
    optional row-aligned ``labels`` file, or a registered series dataset ``name:split`` (e.g.
    ``smd:machine-1-2``, ``smd:machine-1-2:test``, ``skab:valve1/3``). ``channels`` (a model's)
    restricts a file to those columns."""
    from nadkit.data.series import SeriesData, read_series

    path = Path(spec)
    name = spec.split(":", 1)[0].lower().replace("_", "-")
    if path.exists() or not (":" in spec and name in _names()):
        if not path.exists():
            raise DataError(f"data not found: {spec} (give a CSV/Parquet path or dataset:split)")
        return read_series(path, time_col=time_col, label_col=label_col, labels=labels,
                           drop_cols=drop_cols, max_gap=max_gap, channels=channels)
    info = get_dataset(name)
    if info.kind != "series":
        raise DataError(f"{info.name} is a table dataset; series models need a time series "
                        f"(e.g. smd:machine-1-2 or a CSV with a timestamp column)")
    split = spec.split(":", 1)[1]
    data = load_dataset(info.name, split)
    if labels is not None:
        raise DataError(f"{spec} already has its labels; --labels is for CSV/Parquet files")
    assert isinstance(data, SeriesData)
    return data
