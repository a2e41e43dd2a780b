"""The real CLI in subprocesses: the train → calibrate → detect → evaluate round trip on a user
CSV, and one-line errors (exit 2, no traceback, no output file) for bad input."""

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from .user_csv import write_labelled_csvs


def nadkit(*args, cwd=None):
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "nadkit", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=600)


def assert_clean_error(res, message):
    assert res.returncode == 2, res.stdout + res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert lines[-1].startswith("error:"), res.stderr
    assert message in res.stderr, res.stderr
    assert "Traceback" not in res.stderr + res.stdout


@pytest.fixture(scope="module")
def trained(tmp_path_factory, nsl):
    """A user CSV (labelled, from KDDTrain+) and an AE trained on it by the CLI."""
    tmp = tmp_path_factory.mktemp("cli")
    write_labelled_csvs(tmp, nsl, 6000, 2000, seed=1)
    res = nadkit("train", tmp / "flows.csv", "--label-col", "label", "--model", "ae", "-p", "epochs=20", "-p", "batch_size=256",
                 "-o", tmp / "model", "--no-progress")
    assert res.returncode == 0, res.stderr
    return tmp


def test_round_trip(trained):
    tmp = trained
    res = nadkit("calibrate", tmp / "model", tmp / "flows.csv", "--labels", "label", "--method", "fpr",
                 "--fpr", "0.02")
    assert res.returncode == 0, res.stderr
    assert "fpr(fpr=0.02)" in res.stdout
    res = nadkit("detect", tmp / "model", tmp / "test.csv", "-o", tmp / "scores.parquet", "--keep-cols", "label",
                 "--contributions")
    assert res.returncode == 0, res.stderr
    out = pd.read_parquet(tmp / "scores.parquet")
    assert list(out.columns[:3]) == ["label", "score", "anomaly"]
    assert len(out) == 2000 and out.filter(like="contrib_").shape[1] == 41
    res = nadkit("evaluate", tmp / "model", tmp / "test.csv", "--labels", "label", "-o", tmp / "report")
    assert res.returncode == 0, res.stderr
    metrics = json.loads((tmp / "report" / "metrics.json").read_text())
    assert metrics["auroc"] > 0.85 and "f2" in metrics and "tpr_at_fpr_0.01" in metrics
    assert "per_class" in metrics and metrics["threshold_method"].startswith("fpr")
    for png in ("histogram.png", "roc_pr.png", "per_class.png", "fpr_tpr.png"):
        assert (tmp / "report" / png).stat().st_size > 5000
    for key in ("tpr_at_fpr_0.001", "pauroc_0.01", "per_class_at_fpr_0.01", "threshold_at_fpr_0.01"):
        assert key in metrics
    assert "TPR@.1%" in res.stdout and "FPR 1 % (oracle)" in res.stdout


def test_train_holds_its_fpr_promise_on_held_out_normals(tmp_path, nsl):
    """After `nadkit train` (default threshold: TargetFPR 1 %), the FPR on normal rows used neither
    for training nor calibration is inside the 95 % interval the CLI prints."""
    import re

    train, _ = nsl
    normals, attacks = train.normal(), train.subset(np.flatnonzero(train.y == 1))
    perm = np.random.default_rng(5).permutation(len(normals))
    fit_rows, held_out = normals.subset(np.sort(perm[:20_000])), normals.subset(np.sort(perm[20_000:]))
    some_attacks = attacks.subset(np.arange(0, len(attacks), 20))
    for name, part in (("fit.csv", [fit_rows]), ("held_out.csv", [held_out, some_attacks])):
        pd.concat([p.X.assign(label=p.attack) for p in part]).to_csv(tmp_path / name, index=False)
    res = nadkit("train", tmp_path / "fit.csv", "--label-col", "label", "--model", "pca", "-o", tmp_path / "m",
                 "--no-progress")
    assert res.returncode == 0, res.stderr
    printed = " ".join(res.stdout.split())  # rich wraps long lines
    lo, hi = map(float, re.search(r"95 % interval \[([\d.e-]+), ([\d.e-]+)\]", printed).groups())
    assert "fpr(fpr=0.01)" in printed and lo < 0.01 < hi
    res = nadkit("evaluate", tmp_path / "m", tmp_path / "held_out.csv", "-o", tmp_path / "report")
    assert res.returncode == 0, res.stderr
    m = json.loads((tmp_path / "report" / "metrics.json").read_text())
    n_lo, n_hi = m["threshold_fpr_interval"]  # the same promise for this many fresh normals
    assert m["per_class"]["normal"]["n"] == len(held_out)
    assert n_lo <= lo and hi <= n_hi
    assert n_lo <= m["fpr"] <= n_hi and lo <= m["fpr"] <= hi, (m["fpr"], lo, hi)
    assert "inside its 95 % interval" in " ".join(res.stdout.split())


def test_small_training_set_warns_about_calibration(nsl_csv, tmp_path):
    small = tmp_path / "small.csv"
    pd.read_csv(nsl_csv).head(1200).to_csv(small, index=False)  # about 600 normal rows
    res = nadkit("train", small, "--label-col", "label", "--model", "pca", "-o", tmp_path / "m",
                 "--no-progress")
    assert res.returncode == 0, res.stderr
    assert "warning:" in res.stderr and "normal calibration scores for a target FPR of 0.01" in res.stderr
    res = nadkit("calibrate", tmp_path / "m", nsl_csv, "--labels", "label")  # default: fpr at 1 %, 1,583 normals
    assert res.returncode == 0, res.stderr
    assert "fpr(fpr=0.01)" in res.stdout and "95 % interval" in " ".join(res.stdout.split())


def test_scores_match_library_and_reload(trained):
    from nadkit import artifact

    tmp = trained
    res = nadkit("detect", trained / "model", trained / "test.csv", "-o", tmp / "s.csv", "--no-contributions")
    assert res.returncode == 0, res.stderr
    cli_scores = pd.read_csv(tmp / "s.csv")["score"].to_numpy()
    lib_scores = artifact.load(tmp / "model").score(pd.read_csv(tmp / "test.csv"))
    np.testing.assert_allclose(cli_scores, lib_scores, rtol=1e-12)


def test_missing_label_column(trained):
    res = nadkit("train", trained / "flows.csv", "--label-col", "attack_type", "--model", "pca",
                 "-o", trained / "m2")
    assert_clean_error(res, "label column 'attack_type' not found")
    assert not (trained / "m2").exists()


def test_wrong_feature_columns_at_detect(trained):
    df = pd.read_csv(trained / "test.csv").drop(columns=["src_bytes", "flag"])
    df.to_csv(trained / "bad.csv", index=False)
    res = nadkit("detect", trained / "model", trained / "bad.csv", "-o", trained / "bad_out.csv")
    assert_clean_error(res, "missing feature columns (2): flag, src_bytes")
    assert not (trained / "bad_out.csv").exists()


def test_nan_and_inf(trained):
    df = pd.read_csv(trained / "test.csv").astype({"duration": float, "dst_bytes": float})
    df.loc[5, "duration"] = np.nan
    df.loc[9, "dst_bytes"] = np.inf
    df.to_csv(trained / "nan.csv", index=False)
    res = nadkit("detect", trained / "model", trained / "nan.csv", "-o", trained / "nan_out.csv")
    assert_clean_error(res, "NaN/inf values in 2 rows")
    assert not (trained / "nan_out.csv").exists()


def test_empty_file(trained):
    (trained / "empty.csv").write_text("")
    res = nadkit("detect", trained / "model", trained / "empty.csv", "-o", trained / "e_out.csv")
    assert_clean_error(res, "file is empty")


def test_unknown_categories_warn_and_strict_config_refuses(trained):
    df = pd.read_csv(trained / "test.csv")
    df.loc[0, "protocol_type"] = "sctp"
    df.to_csv(trained / "newcat.csv", index=False)
    res = nadkit("detect", trained / "model", trained / "newcat.csv", "-o", trained / "nc.csv")
    assert res.returncode == 0 and "warning: unseen categories" in res.stderr and "'sctp'" in res.stderr
    (trained / "strict.toml").write_text('model = "pca"\n[preprocess]\nstrict_categories = true\n')
    res = nadkit("train", trained / "flows.csv", "--label-col", "label", "-c", trained / "strict.toml",
                 "-o", trained / "strict_model")
    assert res.returncode == 0, res.stderr
    res = nadkit("detect", trained / "strict_model", trained / "newcat.csv", "-o", trained / "nc2.csv")
    assert_clean_error(res, "unseen categories mapped to __other__: protocol_type: 'sctp'")


def test_truncated_artifact(trained, tmp_path):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(trained / "model", broken)
    w = broken / "weights.safetensors"
    w.write_bytes(w.read_bytes()[: w.stat().st_size // 2])
    res = nadkit("detect", broken, trained / "test.csv", "-o", tmp_path / "o.csv")
    assert_clean_error(res, "weights.safetensors is truncated")
    assert not (tmp_path / "o.csv").exists()


def test_bad_config_and_params(trained):
    (trained / "bad.toml").write_text('model = "ae"\n[params\n')
    assert_clean_error(nadkit("train", trained / "flows.csv", "-c", trained / "bad.toml", "-o", trained / "x"),
                       "invalid TOML")
    assert_clean_error(nadkit("train", trained / "flows.csv", "-m", "ae", "-p", "layers=3", "-o", trained / "x"),
                       "unknown parameters for ae")
    assert_clean_error(nadkit("evaluate", trained / "model", trained / "test.csv", "--labels", "truth"),
                       "label column 'truth' not found")


def test_datasets_lists_loaders():
    res = nadkit("datasets", "--json")
    assert res.returncode == 0, res.stderr
    info = json.loads(res.stdout)
    names = {d["name"]: d for d in info["datasets"]}
    assert {"nsl-kdd", "kddcup99", "unsw-nb15", "cic-ids2017", "ctu13"} <= set(names)
    assert names["nsl-kdd"]["found"] is True
