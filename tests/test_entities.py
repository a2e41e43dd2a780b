"""Series models per entity: real SKAB experiments (valve1/0, valve1/1) written as one table with
a ``valve`` column, rows interleaved by time; ``train --entity-col`` fits one DC-VAE on both,
``detect --entity-col`` scores each valve's series on its own (its scores equal scoring that
valve alone: no window crosses entities) and its alerts name the valve."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from nadkit.data import load_dataset

from .inprocess import run_nadkit as nadkit

SMALL = ["-p", "window=16", "-p", "cnn_units=[8,8,8]", "-p", "dilations=[1,2,4,8]", "-p", "step_budget=30",
         "-p", "train_stride=4"]


def _valve(name: str, start: str) -> pd.DataFrame:
    s = load_dataset("skab", name)
    df = s.X.copy()
    df.insert(0, "timestamp", pd.date_range(start, periods=len(df), freq="1s"))  # SKAB's ~1 Hz on a grid
    df.insert(0, "valve", name)
    return df


@pytest.fixture(scope="module")
def valves(tmp_path_factory, data_root):
    tmp = tmp_path_factory.mktemp("entities")
    a, b = _valve("valve1/0", "2024-05-01 00:00:00"), _valve("valve1/1", "2024-05-01 00:03:00")
    # SKAB's protocol: the first 400 steps are normal and train; the rest is scored
    train = pd.concat([a.iloc[:400], b.iloc[:400]]).sort_values("timestamp", kind="stable")
    test = pd.concat([a.iloc[400:], b.iloc[400:]]).sort_values("timestamp", kind="stable")
    train.to_csv(tmp / "train.csv", index=False)
    test.to_csv(tmp / "test.csv", index=False)
    res = nadkit("train", tmp / "train.csv", "--model", "dcvae", "--entity-col", "valve", "-o", tmp / "model",
                 "--no-progress", *SMALL)
    assert res.returncode == 0, res.stderr
    assert "2 entities (valve1/0, valve1/1)" in res.stderr
    return tmp, a.iloc[400:].reset_index(drop=True), b.iloc[400:].reset_index(drop=True)


def test_detect_scores_each_entity_alone(valves):
    from nadkit import artifact
    from nadkit.data.series import SeriesData

    tmp, a, b = valves
    res = nadkit("detect", tmp / "model", tmp / "test.csv", "--entity-col", "valve", "-o", tmp / "out.parquet",
                 "--layout", "wide", "--alerts", tmp / "alerts.jsonl")
    assert res.returncode == 0, res.stderr
    out = pd.read_parquet(tmp / "out.parquet")
    assert list(out.columns[:2]) == ["valve", "step"] and len(out) == len(a) + len(b)
    pipe = artifact.load(tmp / "model")
    for name, part in (("valve1/0", a), ("valve1/1", b)):
        got = out[out["valve"] == name].reset_index(drop=True)
        assert got["step"].tolist() == list(range(len(part)))
        assert not got["scored"].iloc[:15].any() and got["scored"].iloc[15:].all()  # warm-up per entity
        alone = pipe.detect(SeriesData(part.drop(columns=["valve", "timestamp"]),
                                       time=part["timestamp"].to_numpy()), layout="wide")
        np.testing.assert_allclose(got["step_score"], alone["step_score"], rtol=1e-5, equal_nan=True)
        assert (pd.to_datetime(got["time"]) == part["timestamp"]).all()
    docs = [json.loads(line) for line in (tmp / "alerts.jsonl").read_text().splitlines()]
    assert len(docs) == int(out["step_flag"].sum()) > 0
    for doc in docs:
        valve = doc["host"]["name"]
        assert valve in ("valve1/0", "valve1/1") and doc["labels"]["entity"] == valve
        step = out[(out["valve"] == valve) & (out["step"] == doc["nadkit"]["step"])].iloc[0]
        assert step["step_flag"] == 1 and doc["nadkit"]["score"] == pytest.approx(step["step_score"])
        assert doc["@timestamp"] == pd.Timestamp(step["time"]).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        assert 0 < len(doc["nadkit"]["contributions"]) <= 5


def test_long_layout_alerts_match_wide(valves):
    tmp, _, _ = valves
    res = nadkit("detect", tmp / "model", tmp / "test.csv", "--entity-col", "valve", "-o", tmp / "long.parquet",
                 "--alerts", "-")
    assert res.returncode == 0, res.stderr
    long_docs = [json.loads(line) for line in res.stdout.splitlines()]
    wide_docs = [json.loads(line) for line in (tmp / "alerts.jsonl").read_text().splitlines()]
    assert [d["event"]["id"] for d in long_docs] == [d["event"]["id"] for d in wide_docs]
    for got, want in zip(long_docs, wide_docs, strict=True):
        assert got["nadkit"]["contributions"] == pytest.approx(want["nadkit"]["contributions"])
        assert got["@timestamp"] == want["@timestamp"] and got["host"] == want["host"]


def test_entity_errors_are_one_line(valves):
    tmp, _, _ = valves
    res = nadkit("detect", tmp / "model", tmp / "test.csv", "--entity-col", "site", "-o", tmp / "x.parquet")
    assert res.returncode == 2 and "entity column 'site' not in the data" in res.stderr
    assert "Traceback" not in res.stderr
    res = nadkit("train", tmp / "train.csv", "--model", "pca", "--entity-col", "valve", "-o", tmp / "m2")
    assert res.returncode == 2 and "--entity-col is for series models" in res.stderr
