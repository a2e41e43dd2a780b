"""nadkit.evaluation: ``nadkit evaluate`` writes the Report the Python API computes (a table and
a series model, fixed seeds, real data), and the leaderboards are readable at 80 columns."""

from __future__ import annotations

import io
import json
import re
import warnings

import numpy as np
import pytest
from rich.console import Console

from nadkit import artifact, cli, evaluation
from nadkit.experiments.leaderboard import format_value, leaderboard_table

from .inprocess import run_nadkit


def run_cli(monkeypatch, *args):
    """``nadkit ARGS`` in this process, stdout through an 80-column console."""
    monkeypatch.setattr(cli.out, "width", 80)  # (built once per process, maybe wider)
    res = run_nadkit(*args)
    return res.returncode, res.stdout, res.stderr


def assert_readable_at_80(text: str, numbers) -> None:
    """Nothing cut: no line over 80 columns, no ellipsis, every number whole in the text."""
    assert text.strip()
    assert all(len(line) <= 80 for line in text.splitlines()), text
    assert "…" not in text, text
    cells = set(re.findall(r"\S+", text))
    missing = [n for n in numbers if n not in cells]
    assert not missing, (missing, text)


@pytest.fixture
def table_model(tmp_path, nsl_small):
    from nadkit.models import make_detector
    from nadkit.pipeline import make_pipeline

    pipe = make_pipeline(make_detector("pca"), nsl_small["pre"]).fit(nsl_small["train"])
    artifact.save(pipe, tmp_path / "model")
    test = nsl_small["test"]
    test.X.assign(label=test.attack).to_csv(tmp_path / "test.csv", index=False)
    return pipe, test, tmp_path


def test_cli_evaluate_writes_the_api_report_table(table_model, monkeypatch):
    pipe, test, tmp = table_model
    code, stdout, stderr = run_cli(monkeypatch, "evaluate", tmp / "model", tmp / "test.csv", "-o", tmp / "report")
    assert code == 0, stderr
    written = json.loads((tmp / "report" / "metrics.json").read_text())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # unseen categories of the test rows
        report = evaluation.evaluate(pipe, test)
    api = json.loads(json.dumps(report.to_dict()))
    assert written.pop("model") == str(tmp / "model") and written.pop("data") == "test.csv"
    api.pop("data")
    assert written == api
    for key in ("auroc", "auprc", "f1", "f2", "tpr_at_fpr_0.001", "tpr_at_fpr_0.01", "pauroc_0.01", "per_class",
                "per_class_at_fpr_0.01", "threshold_fpr_interval", "threshold_method"):
        assert key in written
    assert sorted(p.name for p in (tmp / "report").glob("*.png")) == [
        "fpr_tpr.png", "histogram.png", "per_class.png", "roc_pr.png"]
    # the printed summary and per-class table at 80 columns: every number whole
    shown = [format_value(k, written[k]) for k in report.summary_keys]
    shown += [format_value("rate", v["rate"]) for v in written["per_class_at_fpr_0.01"].values()]
    assert_readable_at_80(stdout, shown)
    assert "TPR@.1%" in stdout and "FPR 1 % (oracle)" in stdout


def test_cli_evaluate_writes_the_api_report_series(tmp_path, monkeypatch, data_root):
    from nadkit.data import load_dataset
    from nadkit.data.series import SeriesPreprocessor
    from nadkit.models import make_detector
    from nadkit.pipeline import make_pipeline

    det = make_detector("dcvae", window=32, cnn_units=[8, 8, 8], dilations=[1, 2, 4, 8], step_budget=10,
                        random_state=0, verbose=False)
    pipe = make_pipeline(det, SeriesPreprocessor(scaling=det.input_scaling)).fit(load_dataset("skab", "valve1/0"))
    artifact.save(pipe, tmp_path / "model")
    code, stdout, stderr = run_cli(monkeypatch, "evaluate", tmp_path / "model", "skab:valve1/1",
                                   "-o", tmp_path / "report")
    assert code == 0, stderr
    written = json.loads((tmp_path / "report" / "metrics.json").read_text())
    report = evaluation.evaluate(pipe, load_dataset("skab", "valve1/1"))
    assert report.kind == "series"
    api = json.loads(json.dumps(report.to_dict()))
    assert written.pop("model") == str(tmp_path / "model")
    assert written == api
    for key in ("auroc", "range_f1", "point_adjusted_f1", "event_detection_rate", "n_unscored", "note"):
        assert key in written
    assert sorted(p.name for p in (tmp_path / "report").glob("*.png")) == ["channels.png", "scores.png"]
    assert_readable_at_80(stdout, [format_value(k, written[k]) for k in report.summary_keys])
    assert "rF1" in stdout and "precisi" not in stdout


def test_evaluate_a_bare_detector_at_a_given_threshold(nsl_small):
    """The thesis' path: a detector on its feature matrix, at a threshold of the caller's."""
    from nadkit.metrics import binary_report
    from nadkit.models import make_detector

    det = make_detector("pca").fit(nsl_small["X_train"])
    thr = float(np.quantile(det.calibration_scores_, 0.95))
    report = evaluation.evaluate(det, nsl_small["X_test"], nsl_small["y_test"], threshold=thr)
    expected = binary_report(nsl_small["y_test"], det.score(nsl_small["X_test"]), threshold=thr)
    assert {k: report[k] for k in expected} == expected
    assert "threshold_method" not in report.metrics  # a plain number has no method


@pytest.mark.parametrize("width", [80, 60])
def test_leaderboards_split_their_columns_to_fit(width):
    """The widest tables printed (evaluate's summary, the table bench with every column, the
    thesis table with its long headers) fit the console: columns go to a second table, the
    model column repeated, nothing cut."""
    from nadkit.experiments.bench import COLUMNS

    rng = np.random.default_rng(0)
    rows = [{"model": m, **{c: float(rng.uniform(0.001, 1)) for c in COLUMNS[1:]}, "fit_s": 123.4,
             "score_rows_per_s": 1.5e6} for m in ("seq2seq-rows", "iforest")]
    rows[0]["auroc_sd"] = 0.0123
    thesis = ("model", "auroc", "cluster_weighted_auroc", "auprc", "f1", "mcc", "fit_s")
    for r in rows:
        r.update(cluster_weighted_auroc=0.87654, mcc=0.4321)
    buf = io.StringIO()
    console = Console(file=buf, width=width, record=True)
    for columns, headers in ((COLUMNS, None), (evaluation.SUMMARY_KEYS["table"], None),
                             (thesis, {"cluster_weighted_auroc": "cluster-weighted AUROC"})):
        console.print(leaderboard_table(rows, columns, "a title that is long enough to wrap at sixty columns",
                                        headers=headers))
    text = console.export_text()
    shown = [format_value(c, r[c]) for r in rows for c in COLUMNS[1:]] + ["0.0123", "0.877", "0.432"]
    assert_readable_at_80(text, shown)
    assert all(len(line) <= width for line in text.splitlines())
    assert sum(line.split()[:1] == ["seq2seq-rows"] for line in text.splitlines()) >= 3  # repeated per part
