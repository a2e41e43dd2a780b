"""Series data: loaders on the real SMD / SKAB / NAB files, user time tables and label files,
gap filling, strided windows (checked against naive copies) and the SeriesPreprocessor."""

import numpy as np
import pandas as pd
import pytest
import torch

from nadkit.data import get_dataset, load_dataset
from nadkit.data.series import (
    SeriesData,
    SeriesPreprocessor,
    blocked_split,
    chronological_split,
    chunks,
    read_series,
    regularize,
    sliding_windows,
    window_fetch,
)
from nadkit.errors import DataError, DatasetNotFoundError
from nadkit.experiments.protocols import resolve_data, resolve_series


# ------------------------------------------------------------------------------ real datasets
def test_smd_machine_with_per_channel_labels(data_root):
    train = load_dataset("smd", "machine-1-2")
    test = load_dataset("smd", "machine-1-2:test")
    assert train.X.shape == (23_694, 38) and train.y is None and train.channels[0] == "dim1"
    assert test.X.shape == (23_694, 38) and int(test.y.sum()) == 542
    assert test.channel_labels.shape == (23_694, 38)
    # interpretation ranges are [start, end) and match test_label exactly on this machine
    np.testing.assert_array_equal(test.channel_labels.any(axis=1), test.y.astype(bool))
    assert test.channel_labels[4629, [8, 9, 10, 12, 14, 17]].all()        # "4629-4688:9,10,11,13,15,18"
    assert not test.channel_labels[4628].any() and not test.channel_labels[4688].any()
    assert get_dataset("smd").kind == "series"


def test_smd_label_ranges_without_interpretation_are_counted(data_root):
    test = load_dataset("smd", "machine-1-3:test")
    assert test.meta["steps_without_channel_labels"] == 12            # 18460-18471 has no line


def test_smd_missing_machine_is_a_clear_error(data_root):
    with pytest.raises(DatasetNotFoundError, match=r"machine-1-1 not found .*machine-1-2 … machine-1-8"):
        load_dataset("smd", "machine-1-1")


def test_skab_and_nab(data_root):
    valve = load_dataset("skab", "valve1/0")
    assert valve.X.shape == (1147, 8) and 0 < valve.y.sum() < len(valve)
    assert valve.meta["step"] == "0 days 00:00:01" and valve.meta["changepoints"]
    free = load_dataset("skab", "anomaly-free")
    assert free.y is None and len(free) == 9405
    taxi = load_dataset("nab", "realKnownCause/nyc_taxi")
    assert taxi.channels == ["value"] and len(taxi) == 10_320 and taxi.meta["step"] == "0 days 00:30:00"
    starts = np.flatnonzero(np.diff(np.r_[0, taxi.y]) == 1)
    assert len(starts) == 5                                              # five label windows


def test_series_dataset_for_a_table_model(data_root):
    table = resolve_data("smd:machine-1-2:test")
    assert table.X.shape == (23_694, 38) and int(table.y.sum()) == 542
    with pytest.raises(DataError, match="table dataset"):
        resolve_series("nsl-kdd:test")


# ------------------------------------------------------------------------------- user tables
def _kpi(tmp_path, n=12, drop=(), extra=None):
    t = pd.date_range("2024-03-01", periods=n, freq="5min")
    df = pd.DataFrame({"timestamp": t, "cpu": np.arange(n, dtype=float), "rx": np.linspace(0, 1, n)})
    if extra:
        df = df.assign(**extra)
    df = df.drop(index=list(drop)).reset_index(drop=True)
    path = tmp_path / "kpi.csv"
    df.to_csv(path, index=False)
    return path, df


def test_time_table_and_dcvae_label_layout(tmp_path):
    path, df = _kpi(tmp_path)
    lab = pd.DataFrame({"timestamp": df["timestamp"], "rx": 0, "cpu": 0})
    lab.loc[5, "cpu"] = 1
    lab.to_csv(tmp_path / "labels.csv", index=False)
    d = read_series(path, labels=tmp_path / "labels.csv")
    assert d.channels == ["cpu", "rx"] and d.meta["step"] == "0 days 00:05:00"
    assert d.channel_labels[:, 0].tolist() == [0] * 5 + [1] + [0] * 6 and d.y[5] == 1
    one = pd.DataFrame({"anomaly": np.r_[np.zeros(11), 1]})
    one.to_csv(tmp_path / "steps.csv", index=False)
    assert read_series(path, labels=tmp_path / "steps.csv").y[-1] == 1


def test_bad_tables_get_clear_errors(tmp_path):
    path, _ = _kpi(tmp_path, extra={"host": "a"})
    with pytest.raises(DataError, match=r"non-numeric channel columns: 'host'"):
        read_series(path)
    assert read_series(path, channels=["rx", "cpu"]).channels == ["rx", "cpu"]   # a model's channels only
    with pytest.raises(DataError, match=r"missing channels.*disk"):
        read_series(path, channels=["cpu", "disk"])
    path, df = _kpi(tmp_path)
    pd.DataFrame({"cpu": [0] * 11, "rx": [0] * 11}).to_csv(tmp_path / "short.csv", index=False)
    with pytest.raises(DataError, match=r"misaligned.*11 label rows for 12 data rows"):
        read_series(path, labels=tmp_path / "short.csv")
    shifted = pd.DataFrame({"timestamp": df["timestamp"] + pd.Timedelta("5min"), "cpu": 0, "rx": 0})
    shifted.to_csv(tmp_path / "shifted.csv", index=False)
    with pytest.raises(DataError, match="misaligned with the data: timestamps differ at row 0"):
        read_series(path, labels=tmp_path / "shifted.csv")
    pd.DataFrame({"cpu": [0] * 12, "disk": [0] * 12}).to_csv(tmp_path / "cols.csv", index=False)
    with pytest.raises(DataError, match=r"do not match the channels \(missing \['rx'\]"):
        read_series(path, labels=tmp_path / "cols.csv")


def test_gaps_are_an_error_or_filled_by_option(tmp_path):
    path, _ = _kpi(tmp_path, drop=(4, 5, 9))
    with pytest.raises(DataError, match=r"3 timestamps are missing .*longest gap 2 steps at 2024-03-01 00:20.*--fill-gaps 2"):
        read_series(path)
    d = read_series(path, max_gap=2)
    assert len(d) == 12 and d.meta["filled_steps"] == 3
    assert d.X["cpu"].tolist()[3:7] == [3.0, 3.0, 3.0, 6.0]                 # forward filled
    with pytest.raises(DataError, match="fill limit is 1 steps"):
        read_series(path, max_gap=1)


def test_regularize_values_order_and_grid():
    t = pd.date_range("2024-01-01", periods=6, freq="1min").to_numpy()
    d = SeriesData(pd.DataFrame({"a": [1.0, np.nan, 3.0, 4.0, np.nan, 6.0]}), time=t[::-1].copy(),
                   y=np.array([0, 0, 1, 0, 0, 0]))
    r = regularize(d, max_gap=1)
    assert r.meta["sorted"] and r.meta["filled_values"] == 2 and r.y.tolist() == [0, 0, 0, 1, 0, 0]
    with pytest.raises(DataError, match="missing values"):
        regularize(d)
    off = SeriesData(pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0]}),
                     time=pd.to_datetime(["2024-01-01 00:00:00", "2024-01-01 00:01:00", "2024-01-01 00:02:00",
                                          "2024-01-01 00:02:30"]).to_numpy())
    with pytest.raises(DataError, match="not on a regular"):
        regularize(off)


# ---------------------------------------------------------------------------------- windows
def test_strided_windows_equal_naive_copies():
    X = np.random.default_rng(0).normal(size=(50, 3)).astype(np.float32)
    w = sliding_windows(X, 8)
    naive = np.stack([X[i:i + 8].T for i in range(43)])
    np.testing.assert_array_equal(w, naive)
    assert np.shares_memory(w, X) and not w.flags.writeable
    starts = np.array([0, 17, 42])
    fetch = window_fetch(torch.from_numpy(X), 8, starts)
    np.testing.assert_array_equal(fetch(torch.tensor([2, 0, 1])).numpy(), naive[[42, 0, 17]])
    with pytest.raises(DataError, match="fewer than the window length 60"):
        sliding_windows(X, 60)


def test_chronological_split_and_chunks():
    s = chronological_split(1000, 50, 0.2, stride=3)
    assert s.cut == 800 and s.train.max() + 50 <= 800 and s.val.min() == 800 and s.val.max() == 950
    assert np.all(np.diff(s.train) == 3) and np.all(np.diff(s.val) == 3)
    assert chronological_split(100, 50, 0.2).val.size == 0          # tail shorter than a window
    blocks = list(chunks(1000, 300, 49))
    assert blocks[0] == (0, 0, 300) and blocks[1] == (251, 300, 600) and blocks[-1][2] == 1000



def test_blocked_split_holds_out_the_end_of_every_block():
    """The last 20 % of each block is held out; no training window touches a held-out step,
    every validation window lies inside one segment; one block is the chronological split;
    too short segments fall back to fewer blocks."""
    n, w = 10_000, 50
    s = blocked_split(n, w, 0.2, blocks=5, stride=3)
    assert s.segments == ((1600, 2000), (3600, 4000), (5600, 6000), (7600, 8000), (9600, 10_000))
    held = s.held_out(n)
    assert held.sum() == 2000 and s.cut == 9600
    covered = s.train[:, None] + np.arange(w)
    assert not held[covered].any() and covered.max() >= 9000          # trains on the last block
    inside = [any(a <= v and v + w <= b for a, b in s.segments) for v in s.val]
    assert all(inside) and len(s.val) == sum(len(range(a, b - w + 1, 3)) for a, b in s.segments)
    one = blocked_split(n, w, 0.2, blocks=1, stride=3)
    ref = chronological_split(n, w, 0.2, stride=3)
    assert one.segments == ref.segments == ((8000, 10_000),)
    assert np.array_equal(one.train, ref.train) and np.array_equal(one.val, ref.val)
    assert blocked_split(1000, 50, 0.2, blocks=5).segments == ((400, 500), (900, 1000))  # 40 < 2·50
    for bad in (0, 1.5, True):
        with pytest.raises(DataError, match="validation blocks"):
            blocked_split(n, w, 0.2, blocks=bad)

# ----------------------------------------------------------------------------- preprocessor
def test_series_preprocessor_masks_train_only_and_checks_schema():
    rng = np.random.default_rng(0)
    train = pd.DataFrame({"a": rng.normal(size=500), "b": np.ones(500)})
    train.loc[100, "a"] = 50.0
    pre = SeriesPreprocessor(mask_outliers=True, max_std=7).fit(SeriesData(train, meta={"step": "0 days 00:05:00"}),
                                                                 window=16)
    assert pre.n_masked_ == 1 and pre.scale_[1] == 1.0
    test = train.copy()
    z = pre.transform(test)
    assert z[100, 0] > 20                                   # the test spike is NOT masked
    again = SeriesPreprocessor.from_dict(pre.to_dict())
    np.testing.assert_array_equal(again.transform(test[["b", "a"]]), z)
    assert again.schema() == {"kind": "series", "columns": ["a", "b"], "channels": ["a", "b"],
                              "step": "0 days 00:05:00", "window": 16}
    np.testing.assert_allclose(pre.inverse_transform(z), test.to_numpy(), rtol=1e-5, atol=1e-5)
    with pytest.raises(DataError, match="missing channels"):
        pre.transform(test[["a"]])
    with pytest.raises(DataError, match="step of 0 days 00:01:00"):
        pre.transform(SeriesData(test, meta={"step": "0 days 00:01:00"}))
    with pytest.raises(DataError, match="fewer than the model's window length 16"):
        pre.transform(test.head(10))
    with pytest.raises(DataError, match="NaN/inf values in 1 steps"):
        pre.transform(test.assign(a=np.r_[np.nan, test["a"][1:]]))
