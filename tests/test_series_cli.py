"""The series CLI end to end: a user's timestamped KPI CSV (an SMD machine written with a
1-minute time column) and a DC-VAE-layout labels CSV go through train → calibrate (α) → detect →
evaluate in subprocesses; bad input ends with one ``error:`` line and exit code 2."""

import contextlib
import io
import json
import os
import subprocess
import sys

import pandas as pd
import pytest

from nadkit.data import load_dataset


def nadkit(*args):
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "nadkit", *map(str, args)], capture_output=True,
                          text=True, env=env, timeout=600)


def nadkit_inprocess(*args):
    """The same entry point in this process (for the quick error cases)."""
    from nadkit import cli

    err, argv = io.StringIO(), sys.argv
    sys.argv = ["nadkit", *map(str, args)]
    try:
        with contextlib.redirect_stderr(err), pytest.raises(SystemExit) as exc:
            cli.main()
    finally:
        sys.argv = argv
    return exc.value.code, err.getvalue()


def assert_one_line_error(code, stderr, message):
    assert code == 2, stderr
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert lines[-1].startswith("error:") and message in stderr, stderr
    assert "Traceback" not in stderr


def _write(series, path, start="2024-05-01", labels_path=None):
    t = pd.date_range(start, periods=len(series), freq="1min")
    series.X.assign(timestamp=t)[["timestamp", *series.channels]].to_csv(path, index=False)
    if labels_path is not None:   # DC-VAE layout: timestamp + one 0/1 column per channel
        lab = pd.DataFrame(series.channel_labels, columns=series.channels)
        lab.insert(0, "timestamp", t)
        lab.to_csv(labels_path, index=False)


@pytest.fixture(scope="module")
def kpis(tmp_path_factory, data_root):
    tmp = tmp_path_factory.mktemp("series-cli")
    train, test = load_dataset("smd", "machine-1-2"), load_dataset("smd", "machine-1-2:test")
    _write(train.slice(0, 4000), tmp / "train.csv", start="2024-04-01")
    _write(test.slice(18_000, 21_000), tmp / "val.csv", start="2024-05-01", labels_path=tmp / "val_labels.csv")
    _write(test.slice(15_000, 18_000), tmp / "test.csv", start="2024-05-03", labels_path=tmp / "test_labels.csv")
    res = nadkit("train", tmp / "train.csv", "--model", "dcvae", "-o", tmp / "model", "--no-progress",
                 "-p", "window=32", "-p", "cnn_units=[16,16,16]", "-p", "dilations=[1,2,4,8]",
                 "-p", "step_budget=60", "-p", "train_stride=8")
    assert res.returncode == 0, res.stderr
    assert "window 32" in res.stdout
    return tmp


def test_round_trip(kpis):
    tmp = kpis
    res = nadkit("calibrate", tmp / "model", tmp / "val.csv", "--method", "alpha", "--labels", tmp / "val_labels.csv")
    assert res.returncode == 0, res.stderr
    assert "alpha per channel" in res.stdout
    threshold = json.loads((tmp / "model" / "threshold.json").read_text())
    assert threshold["method"] == "alpha" and len(threshold["alpha_up"]) == 38
    res = nadkit("detect", tmp / "model", tmp / "test.csv", "-o", tmp / "out.parquet")
    assert res.returncode == 0, res.stderr
    out = pd.read_parquet(tmp / "out.parquet")
    assert len(out) == 3000 * 38 and {"time", "channel", "value", "mu", "sigma", "lower", "upper", "score",
                                      "flag", "step_score", "step_flag", "scored"} <= set(out.columns)
    assert out["time"].iloc[0] == pd.Timestamp("2024-05-03") and (~out["scored"]).sum() == 31 * 38
    row = out[out["scored"]].iloc[0]
    assert row["lower"] <= row["mu"] <= row["upper"]
    res = nadkit("evaluate", tmp / "model", tmp / "test.csv", "--labels", tmp / "test_labels.csv", "-o", tmp / "report")
    assert res.returncode == 0, res.stderr
    m = json.loads((tmp / "report" / "metrics.json").read_text())
    assert m["n_ignored"] == 31 and m["auroc"] > 0.6
    for key in ("auprc", "range_f1", "point_adjusted_f1", "event_detection_rate", "per_channel_f1"):
        assert key in m
    assert (tmp / "report" / "scores.png").stat().st_size > 0 and (tmp / "report" / "channels.png").is_file()
    assert "threshold_fpr_interval" not in m          # bands fitted on labels promise no FPR
    # a target-FPR threshold on the validation period: evaluate reports the step FPR it achieved on
    # the test's scored normal steps next to the interval it promised (series: effective counts)
    res = nadkit("calibrate", tmp / "model", tmp / "val.csv", "--method", "fpr", "--fpr", "0.01",
                 "--labels", tmp / "val_labels.csv")
    assert res.returncode == 0, res.stderr
    assert json.loads((tmp / "model" / "threshold.json").read_text())["n_effective"] < 2969
    res = nadkit("evaluate", tmp / "model", tmp / "test.csv", "--labels", tmp / "test_labels.csv", "-o", tmp / "report2")
    assert res.returncode == 0, res.stderr
    m = json.loads((tmp / "report2" / "metrics.json").read_text())
    lo, hi = m["threshold_fpr_interval"]
    assert m["threshold_fpr_n"] == 2969 - m["n_anomalies"] and 0 <= lo < hi <= 1
    assert f"on {m['threshold_fpr_n']:,} normals" in res.stdout and "95 % interval" in res.stdout


def test_bad_input_is_one_line(kpis, tmp_path):
    tmp = kpis
    code, err = nadkit_inprocess("detect", tmp / "model", _slice_csv(tmp / "test.csv", tmp_path / "short.csv", 20),
                                 "-o", tmp_path / "x.csv")
    assert_one_line_error(code, err, "fewer than the model's window length 32")
    gap = pd.read_csv(tmp / "test.csv").drop(index=[100, 101])
    gap.to_csv(tmp_path / "gap.csv", index=False)
    code, err = nadkit_inprocess("detect", tmp / "model", tmp_path / "gap.csv", "-o", tmp_path / "x.csv")
    assert_one_line_error(code, err, "2 timestamps are missing")
    code, err = nadkit_inprocess("detect", tmp / "model", tmp_path / "gap.csv", "-o", tmp_path / "x.csv",
                                 "--fill-gaps", "2")
    assert code is None or code == 0
    extra = pd.read_csv(tmp / "test.csv").assign(host="db-1", label=0)      # not channels of the model
    extra.to_csv(tmp_path / "extra.csv", index=False)
    code, err = nadkit_inprocess("detect", tmp / "model", tmp_path / "extra.csv", "-o", tmp_path / "y.csv")
    assert code in (None, 0), err
    text = pd.read_csv(tmp / "test.csv").assign(dim5="high")
    text.to_csv(tmp_path / "text.csv", index=False)
    code, err = nadkit_inprocess("detect", tmp / "model", tmp_path / "text.csv", "-o", tmp_path / "x.csv")
    assert_one_line_error(code, err, "non-numeric channel columns: 'dim5'")
    pd.read_csv(tmp / "val_labels.csv").iloc[:-5].to_csv(tmp_path / "lab.csv", index=False)
    code, err = nadkit_inprocess("calibrate", tmp / "model", tmp / "val.csv", "--method", "alpha",
                                 "--labels", tmp_path / "lab.csv")
    assert_one_line_error(code, err, "misaligned with the data: 2995 label rows for 3000 data rows")
    assert not (tmp_path / "x.csv").exists() or code == 2
    code, err = nadkit_inprocess("train", tmp_path / "gap.csv", "--model", "seq2seq", "-o", tmp_path / "m")
    assert_one_line_error(code, err, "--fill-gaps 2")
    assert not (tmp_path / "m").exists()


def _slice_csv(src, dst, n):
    pd.read_csv(src).head(n).to_csv(dst, index=False)
    return dst
