"""The series bench from the real CLI: nadkit and peer detectors on a real SKAB series in one
leaderboard (readable at 80 columns), bad input as one ``error:`` line, and nadkit's metrics
against TSB-AD's maintained ones on real scores."""

from __future__ import annotations

import contextlib
import io
import json
import sys

import numpy as np
import pandas as pd
import pytest
from rich.console import Console

from nadkit import cli
from nadkit.data import load_dataset
from nadkit.data.series import SeriesPreprocessor
from nadkit.experiments.bench import PRINT_COLUMNS, BenchResult


def run_cli(monkeypatch, *args) -> tuple[int, str, str]:
    """``nadkit ARGS`` in this process; stdout through an 80-column console."""
    buf, err = io.StringIO(), io.StringIO()
    monkeypatch.setattr(cli, "out", Console(file=buf, width=80))
    monkeypatch.setattr(cli, "err", Console(file=err, width=200))
    monkeypatch.setattr(sys, "argv", ["nadkit", *map(str, args)])
    with contextlib.redirect_stderr(err), pytest.raises(SystemExit) as exc:
        cli.main()
    return exc.value.code, buf.getvalue(), err.getvalue()


def assert_fits_80(text: str) -> None:
    assert text.strip()
    assert all(len(line) <= 80 for line in text.splitlines()), text
    assert "…" not in text, text


def test_skab_bench_nadkit_and_peers_one_table(tmp_path, monkeypatch, data_root):
    pytest.importorskip("TSB_AD")
    code, stdout, stderr = run_cli(
        monkeypatch, "bench", "--dataset", "skab", "--models", "dcvae,pyod-pca,tsb-pca",
        "--series", "valve1/0", "--seeds", "0,1", "-p", "dcvae.step_budget=5", "-p", "dcvae.window=32",
        "-o", tmp_path)
    assert code == 0, stderr
    # progress: one line per fit, with the total
    assert "[1/4] dcvae (seed 0) on valve1/0" in stderr and "[4/4] tsb-pca on valve1/0" in stderr
    m = json.loads((tmp_path / "metrics.json").read_text())
    assert m["series"] == ["valve1/0"] and m["seeds"] == [0, 1] and len(m["runs"]) == 4
    means = {r["model"]: r for r in m["mean"]}
    assert set(means) == {"dcvae", "pyod-pca", "tsb-pca"}
    for r in means.values():
        for k in ("vus_pr", "vus_roc", "auprc", "auroc", "range_f1", "event_detection_rate", "fpr"):
            assert 0 <= r[k] <= 1, (r["model"], k)
        assert r["fit_s"] > 0 and r["score_s"] > 0
    assert means["dcvae"]["vus_pr_sd"] is not None and means["pyod-pca"]["vus_pr_sd"] is None
    run = next(r for r in m["runs"] if r["model"] == "dcvae")
    assert run["params"]["step_budget"] == 5 and run["params"]["window"] == 32
    assert run["n_train"] == 400 and run["n_test"] == len(load_dataset("skab", "valve1/0")) - 400
    per = [r for r in m["per_series"] if r["series"] == "valve1/0"]
    assert {r["model"] for r in per} == set(means)
    # the leaderboard as printed, at 80 columns: short headers, 3 decimals, nothing cut
    assert_fits_80(stdout)
    for header in ("VUS-PR", "VUS-ROC", "AUPRC", "AUROC", "rF1", "events", "FPR", "fit s"):
        assert header in stdout
    for r in means.values():
        line = next(ln for ln in stdout.splitlines() if ln.strip().startswith(r["model"] + " "))
        assert f"{r['vus_pr']:.3f}" in line and f"{r['auprc']:.3f}" in line
    assert "± sd" in stdout
    board = (tmp_path / "leaderboard.md").read_text()
    assert "| dcvae |" in board and " ± " in board


def test_table_bench_leaderboard_fits_80_columns():
    """The table bench's leaderboard (ten columns) no longer cuts every AUROC to ``0.9…``."""
    rows = [{"model": "seq2seq-rows", "auroc": 0.97512, "auprc": 0.96834, "f1": 0.8123, "f2": 0.7788,
             "precision": 0.9712, "recall": 0.6981, "tpr_at_fpr_0.01": 0.6512, "fit_s": 123.45,
             "score_rows_per_s": 1_234_567.0},
            {"model": "iforest", "auroc": 0.9321, "auprc": 0.9456, "f1": 0.8, "f2": 0.7, "precision": 0.9,
             "recall": 0.7, "tpr_at_fpr_0.01": 0.6, "fit_s": 7.5, "score_rows_per_s": 85_000.0}]
    buf = io.StringIO()
    for table in BenchResult(rows, PRINT_COLUMNS, "nsl-kdd: test split (thresholds from training normals)").tables():
        Console(file=buf, width=80).print(table)
    text = buf.getvalue()
    assert_fits_80(text)
    lines = text.splitlines()
    assert any(ln.split()[:2] == ["seq2seq-rows", "0.975"] for ln in lines if ln.strip()), text
    assert any(ln.split()[:2] == ["iforest", "0.932"] for ln in lines if ln.strip()), text
    assert "1.2M" in text and "85k" in text and "123" in text


def _kpi_file(tmp_path, n: int):
    d = load_dataset("skab", "valve1/0").slice(0, n)
    path = tmp_path / "kpi.csv"
    d.X.assign(timestamp=pd.date_range("2024-01-01", periods=n, freq="1s")).to_csv(path, index=False)
    return path, d


@pytest.mark.parametrize("case", ["unknown-model", "unknown-param", "bad-param", "unknown-series",
                                  "labels-length", "too-short", "no-labels"])
def test_bad_input_is_one_error_line(tmp_path, monkeypatch, data_root, case):
    path, d = _kpi_file(tmp_path, 400 if case != "too-short" else 100)
    labels = tmp_path / "labels.csv"
    y = d.y.copy()
    y[80:90] = 1   # an event in the test part of the short file
    pd.DataFrame({"label": y[: len(d) - (1 if case == "labels-length" else 0)]}).to_csv(labels, index=False)
    args, message = {
        "unknown-model": (["-d", "skab", "--models", "dcvae,nosuch"], "unknown model 'nosuch'"),
        "unknown-param": (["-d", "skab", "--models", "pyod-pca", "-p", "pyod-pca.nosuch=1"],
                          "unknown parameters for pyod-pca"),
        "bad-param": (["-d", "skab", "--models", "dcvae", "-p", "step_budget=5"], "model.key=value"),
        "unknown-series": (["-d", "skab", "--series", "valve9/0"], "unknown series ['valve9/0']"),
        "labels-length": (["-d", path, "--labels", labels], "misaligned"),
        "too-short": (["-d", path, "--labels", labels, "--models", "dcvae"], "fewer than dcvae's window length 128"),
        "no-labels": (["-d", path], "needs labels"),
    }[case]
    code, _, stderr = run_cli(monkeypatch, "bench", *args, "-o", tmp_path / "out")
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert code == 2, stderr
    assert sum(ln.startswith(("error:", "internal error:")) for ln in lines) == 1, stderr
    assert "Traceback" not in stderr, stderr
    assert lines[-1].startswith("error:") and message in lines[-1], stderr


def test_metrics_agree_with_tsb_ad_on_real_scores(data_root):
    """nadkit's AUROC, AUPRC and range-F1 equal TSB-AD's (``metric_ROC``, ``metric_PR``, and its
    range recall/precision with existence weight 0.2) on a peer's real SKAB scores: one
    implementation is kept (nadkit's), the agreement is tested."""
    pytest.importorskip("TSB_AD")
    from nadkit.experiments.peers import _tsb, make_peer
    from nadkit.metrics import auprc, auroc, range_precision_recall

    _tsb()
    from TSB_AD.evaluation.basic_metrics import basic_metricor

    grader = basic_metricor()
    d = load_dataset("skab", "other/7")
    train, test = d.slice(0, 400), d.slice(400)
    pre = SeriesPreprocessor()
    X_train = pre.fit_transform(train)
    s = make_peer("pyod-iforest").fit(X_train).score(pre.transform(test))
    y = test.y.astype(int)
    assert auroc(y, s) == pytest.approx(grader.metric_ROC(y, s), abs=1e-12)
    assert auprc(y, s) == pytest.approx(grader.metric_PR(y, s), abs=1e-12)
    for q in (0.5, 0.9):
        pred = (s > np.quantile(s, q)).astype(int)
        precision, recall = range_precision_recall(y, pred, alpha=0.2)
        assert recall == pytest.approx(grader.range_recall_new(y, pred, 0.2)[0], abs=1e-12)
        assert precision == pytest.approx(grader.range_recall_new(pred, y, 0)[0], abs=1e-12)

