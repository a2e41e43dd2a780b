"""Progress lines in a log (stderr not a terminal), early stopping that stops and says why, and
`detect` outputs that join back (key columns by default, contributions opt-in, one option name)."""

import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest


def nadkit(*args):
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "nadkit", *map(str, args)], capture_output=True,
                          text=True, env=env, timeout=600, stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def flows(tmp_path_factory, nsl):
    """Real NSL-KDD rows with the id/time/address columns a flow export carries."""
    tmp = tmp_path_factory.mktemp("progress")
    train, test = nsl
    rng = np.random.default_rng(3)
    for name, data, n in (("train.csv", train.normal(), 600), ("test.csv", test, 1500)):
        sub = data.subset(np.sort(rng.choice(len(data), n, replace=False)))
        df = sub.X.copy()
        df.insert(0, "flow_id", np.arange(n) + 10_000)
        df.insert(1, "timestamp", pd.date_range("2024-01-01", periods=n, freq="s").astype(str))
        df.insert(2, "src_ip", [f"10.0.{i // 250}.{i % 250}" for i in range(n)])
        df.insert(3, "Dst Port", rng.integers(1, 65535, n))
        df["label"] = sub.attack
        df.to_csv(tmp / name, index=False)
    pd.read_csv(tmp / "test.csv").to_parquet(tmp / "test.parquet")
    return tmp


def test_train_progress_lines_and_early_stop(flows):
    """A log gets plain `epoch k/N` lines with the loss (no carriage-return bars), and training
    stops early (patience 3 of a 400-epoch cap) with the reason and the best epoch."""
    res = nadkit("train", flows / "train.csv", "--label-col", "label", "--drop-cols", "Dst Port",
                 "--model", "ae", "-p", "epochs=400", "-p", "patience=3", "-o", flows / "model")
    assert res.returncode == 0, res.stderr
    assert "\r" not in res.stderr and "it/s" not in res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ": epoch " in ln]
    assert lines and lines[0].startswith("AE: epoch 1/400 loss ") and "val_loss" in lines[0]
    assert all("/400" in ln and "ETA" in ln for ln in lines)
    stop = [ln for ln in res.stderr.splitlines() if "stopped early" in ln]
    assert len(stop) == 1, res.stderr
    assert "val_loss did not improve" in stop[0] and "patience 3" in stop[0]
    assert "best epoch" in stop[0] and "/400" in stop[0]
    ran = int(stop[0].split("after epoch ")[1].split("/")[0])
    assert ran < 400


@pytest.mark.parametrize("source", ["test.csv", "test.parquet"])
def test_detect_rows_progress_and_key_columns(flows, source, tmp_path):
    """The streamed path prints `rows n/N` with the total (CSV: counted, Parquet: metadata);
    the output starts with the id/time/address/port columns; no contributions unless asked."""
    out = tmp_path / "scores.csv"
    res = nadkit("detect", flows / "model", flows / source, "-o", out)
    assert res.returncode == 0, res.stderr
    rows = [ln for ln in res.stderr.splitlines() if "rows " in ln]
    assert rows and rows[-1].startswith("scoring: rows 1,500/1,500 (100.0%)"), res.stderr
    assert "\r" not in res.stderr
    df = pd.read_csv(out)
    assert list(df.columns) == ["flow_id", "timestamp", "src_ip", "Dst Port", "score", "anomaly"]
    original = pd.read_csv(flows / "test.csv")
    assert df["flow_id"].tolist() == original["flow_id"].tolist()
    assert df["src_ip"].tolist() == original["src_ip"].tolist()
    assert "key columns flow_id, timestamp, src_ip, Dst Port" in res.stdout


def test_detect_key_cols_options(flows, tmp_path):
    res = nadkit("detect", flows / "model", flows / "test.csv", "-o", tmp_path / "a.csv", "--key-cols", "none",
                 "--contributions", "--no-progress")
    assert res.returncode == 0, res.stderr
    assert "rows " not in res.stderr
    a = pd.read_csv(tmp_path / "a.csv")
    assert a.columns[:2].tolist() == ["score", "anomaly"] and a.filter(like="contrib_").shape[1] == 41
    # the old name still works, with a deprecation warning; explicit lists replace the default
    res = nadkit("detect", flows / "model", flows / "test.csv", "-o", tmp_path / "b.csv", "--keep-cols", "label")
    assert res.returncode == 0, res.stderr
    assert "--keep-cols is deprecated: use --key-cols" in res.stderr
    b = pd.read_csv(tmp_path / "b.csv")
    assert b.columns.tolist() == ["label", "score", "anomaly"]
    np.testing.assert_allclose(a["score"], b["score"], rtol=1e-6)
    res = nadkit("detect", flows / "model", flows / "test.csv", "-o", tmp_path / "c.csv", "--key-cols", "nope")
    assert res.returncode == 2 and "nope" in res.stderr and "Traceback" not in res.stderr


def test_help_documents_key_columns():
    res = nadkit("detect", "--help")
    assert "--key-cols" in res.stdout and "--keep-cols" not in res.stdout
    assert "--contributions" in res.stdout
