"""Progress lines in a log (stderr not a terminal), early stopping that stops and says why, and
`detect` outputs that join back (key columns by default, contributions opt-in, one option name).

The CLI runs in this process (tests/inprocess.py): its stderr is a buffer, not a terminal, as in
a log; one AE is trained for the module."""

import re

import numpy as np
import pandas as pd
import pytest

from nadkit.progress import csv_row_total, file_row_progress

from .inprocess import run_nadkit


def nadkit(*args):
    res = run_nadkit(*args)
    res.stderr = "\n".join(res.stderr_lines)  # line by line, as a log holds it
    res.stdout = " ".join(res.stdout.split())
    return res


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


@pytest.fixture(scope="module")
def trained(flows):
    """The module's AE (trained once) and what its training wrote to stderr."""
    res = nadkit("train", flows / "train.csv", "--label-col", "label", "--drop-cols", "Dst Port",
                 "--model", "ae", "-p", "epochs=400", "-p", "patience=3", "-o", flows / "model")
    assert res.returncode == 0, res.stderr
    return res


def test_train_progress_lines_and_early_stop(trained):
    """A log gets plain `epoch k/N` lines with the loss (no carriage-return bars), and training
    stops early (patience 3 of a 400-epoch cap) with the reason and the best epoch."""
    res = trained
    assert "\r" not in res.stderr and "it/s" not in res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ": epoch " in ln]
    assert lines and lines[0].startswith("AE: epoch 1/400 step 1/") and " loss " in lines[0]
    ends = [ln for ln in lines if " step " not in ln]  # the epoch lines (the last epoch's at least)
    assert ends and re.match(r"AE: epoch \d+/400 loss \S+ val_loss ", ends[-1]), lines
    assert all("/400" in ln and "ETA" in ln for ln in lines)
    stop = [ln for ln in res.stderr.splitlines() if "stopped early" in ln]
    assert len(stop) == 1, res.stderr
    assert "val_loss did not improve" in stop[0] and "patience 3" in stop[0]
    assert "best epoch" in stop[0] and "/400" in stop[0]
    ran = int(stop[0].split("after epoch ")[1].split("/")[0])
    assert ran < 400


@pytest.mark.parametrize("source", ["test.csv", "test.parquet"])
def test_detect_rows_progress_and_key_columns(flows, trained, source, tmp_path):
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


def test_detect_key_cols_options(flows, trained, tmp_path):
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


def test_series_train_and_detect_progress_with_totals(tmp_path):
    """A series model's training in a log shows `epoch k/N step s/S loss … ETA` from the first
    step (a DC-VAE of one or two long epochs is not silent), and its detect `steps n/N`."""
    res = nadkit("train", "skab:valve1/1", "--model", "dcvae", "-p", "window=16", "-p", "cnn_units=[8,8]",
                 "-p", "dilations=[1,2,4]", "-p", "step_budget=30", "-p", "batch_size=16", "-o", tmp_path / "m")
    assert res.returncode == 0, res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ": epoch " in ln]
    first = re.match(r"DCVAE: epoch 1/(\d+) step 1/(\d+) loss \S+ · \d+:\d\d ETA \d+:\d\d$", lines[0])
    assert first, lines
    n = int(first[1])
    assert all(f"/{n} " in ln and "ETA" in ln for ln in lines)
    assert re.search(rf"DCVAE: (trained \d+/{n} epochs|stopped early after epoch \d+/{n})", res.stderr)
    res = nadkit("detect", tmp_path / "m", "skab:valve1/1", "-o", tmp_path / "s.csv")
    assert res.returncode == 0, res.stderr
    steps = [ln for ln in res.stderr.splitlines() if ": steps " in ln]
    total = len(pd.read_csv(tmp_path / "s.csv")["step"].unique())
    assert steps and all(re.match(rf"scoring: steps [\d,]+/{total:,} ", ln) for ln in steps), res.stderr
    assert any(ln.startswith(f"scoring: steps {total:,}/{total:,} (100.0%) pass 1 elapsed ") for ln in steps)


def test_csv_row_total_counted_or_estimated(tmp_path, monkeypatch, capsys):
    """Up to the size limit the rows are counted; beyond it estimated from the first bytes, and
    the progress line marks the estimate (`/~N`) and never shows fewer rows than done."""
    p = tmp_path / "t.csv"
    pd.DataFrame({"a": np.arange(5000), "b": np.linspace(0, 1, 5000)}).to_csv(p, index=False)
    assert csv_row_total(str(p)) == (5000, False)
    est, estimated = csv_row_total(str(p), exact_bytes=0)
    assert estimated and abs(est - 5000) < 50
    assert csv_row_total(str(tmp_path / "missing.csv")) is None
    monkeypatch.setattr("nadkit.progress.EXACT_COUNT_BYTES", 0)  # as for a file over the limit
    with file_row_progress("scoring", str(p)) as tick:
        tick(1000, None)
        tick(5000, None)
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith(f"scoring: rows 1,000/~{est:,} ")
    assert lines[-1].startswith("scoring: rows 5,000/~5,0")
