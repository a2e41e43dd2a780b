"""The thesis protocol: split sizes on the real files, the semi-supervised CV folds, CTU-13."""

import numpy as np
import pandas as pd
import pytest

from nadkit.data.container import TableData
from nadkit.errors import DataError
from nadkit.experiments.thesis import (
    ThesisSplit,
    ctu13_file_split,
    cv_folds,
    kdd_split,
    normal_pool,
    stratified_sample,
    thesis_preprocessor,
    unsw_split,
)


def test_kddcup99_split_has_the_thesis_sizes(data_root):
    s = kdd_split()
    assert s.sizes() == {"train": 66_982, "val_normal": 30_296, "val_anomaly": 125_218,
                         "test_normal": 60_593, "test_anomaly": 250_436}
    assert (s.train.y == 0).all()
    # anomalies stratified by attack class: each class keeps its share of the 10% file
    share = pd.Series(s.val.attack[s.val.y == 1]).value_counts(normalize=True)
    assert share["smurf"] == pytest.approx(280_790 / 396_743, abs=1e-4)


def test_unsw_split_keeps_the_thesis_proportions(data_root):
    s = unsw_split()
    sizes = s.sizes()
    assert sizes == {"train": 18_302, "val_normal": 3_978, "val_anomaly": 4_874,
                     "test_normal": 14_720, "test_anomaly": 18_035}
    assert sizes["test_anomaly"] / sizes["test_normal"] == pytest.approx(45_332 / 37_000, abs=1e-3)
    assert (s.train.y == 0).all() and set(s.test.attack) >= {"normal", "Generic", "Worms"}


def _toy_split(n_train=60, n_val_normal=20, n_anomaly=15) -> ThesisSplit:
    def table(values, y):
        return TableData(pd.DataFrame({"a": values}), y=np.asarray(y),
                         attack=np.where(np.asarray(y) == 1, "dos", "normal"))

    train = table(np.arange(n_train, dtype=float), np.zeros(n_train))
    val = table(np.arange(1000, 1000 + n_val_normal + n_anomaly, dtype=float),
                [0] * n_val_normal + [1] * n_anomaly)
    return ThesisSplit(train, val, val, "toy")


@pytest.mark.parametrize("disjoint", [False, True])
def test_cv_folds_rotate_normals_and_keep_every_anomaly(disjoint):
    split = _toy_split()
    folds = cv_folds(split, n_folds=3, seed=5, disjoint=disjoint)
    pool = set(normal_pool(split).X["a"])
    anomalies = set(split.val.X["a"][split.val.y == 1])
    val_normals = []
    for f in folds:
        train, val = set(f.train.X["a"]), f.val
        vn = set(val.X["a"][val.y == 0])
        assert set(val.X["a"][val.y == 1]) == anomalies             # all anomalies, every fold
        assert (f.train.y == 0).all() and not train & vn              # semi-supervised, no overlap
        assert train | vn == pool and len(vn) == 20                   # n_v normals each fold
        val_normals.append(vn)
    assert val_normals[0] != val_normals[1] != val_normals[2]        # the normal part rotates
    overlap = val_normals[0] & val_normals[1] | val_normals[1] & val_normals[2]
    if disjoint:
        assert not overlap
    again = cv_folds(split, n_folds=3, seed=5, disjoint=disjoint)
    assert all((a.val_normal_rows == b.val_normal_rows).all() for a, b in zip(folds, again, strict=True))


def test_cv_folds_redraw_overlaps_and_disjoint_caps_block_size():
    split = _toy_split(n_train=10, n_val_normal=20)      # pool 30, n_v 20: re-draws must overlap
    assert set(cv_folds(split, 3)[0].val_normal_rows) & set(cv_folds(split, 3)[1].val_normal_rows)
    assert [len(f.val_normal_rows) for f in cv_folds(split, 3, disjoint=True)] == [10, 10, 10]
    with pytest.raises(DataError, match="at least 2 folds"):
        cv_folds(split, 1)


def test_stratified_sample_is_exact_and_proportional():
    groups = np.array(["a"] * 700 + ["b"] * 290 + ["c"] * 10)
    s = stratified_sample(np.arange(1000), groups, 100, np.random.default_rng(0))
    assert len(s) == len(set(s)) == 100
    assert dict(zip(*np.unique(groups[s], return_counts=True), strict=True)) == {"a": 70, "b": 29, "c": 1}
    with pytest.raises(DataError, match="cannot draw"):
        stratified_sample(np.arange(5), groups[:5], 6, np.random.default_rng(0))


def _binetflow(path, n_background=300, n_normal=60, n_botnet=80):
    rng = np.random.default_rng(0)
    n = n_background + n_normal + n_botnet
    labels = (["flow=Background-TCP-Established"] * n_background + ["flow=From-Normal-V42-UDP"] * n_normal
              + ["flow=From-Botnet-V42-TCP-CC"] * n_botnet)
    df = pd.DataFrame({
        "StartTime": pd.date_range("2011-08-18 10:00", periods=n, freq="s").strftime("%Y/%m/%d %H:%M:%S.%f"),
        "Dur": rng.exponential(1.0, n), "Proto": rng.choice(["tcp", "udp", "icmp"], n),
        "SrcAddr": "147.32.84.165", "Sport": rng.choice(["1025", "0x0303", "80"], n), "Dir": rng.choice(["->", "<->"], n),
        "DstAddr": "8.8.8.8", "Dport": rng.choice(["53", "443", "0x0008"], n), "State": rng.choice(["CON", "S_RA"], n),
        "sTos": rng.choice([0.0, 1.0], n), "dTos": 0.0, "TotPkts": rng.integers(1, 50, n),
        "TotBytes": rng.integers(60, 5000, n), "SrcBytes": rng.integers(60, 3000, n), "Label": labels,
    })
    df.to_csv(path, index=False)
    return path


def test_ctu13_pipeline_on_a_synthetic_binetflow(tmp_path):
    path = _binetflow(tmp_path / "capture20110818.binetflow")
    s = ctu13_file_split(path, sizes=(30, 100, 200))
    assert s.sizes() == {"train": 200, "val_normal": 60, "val_anomaly": 30,
                         "test_normal": 100, "test_anomaly": 30}
    # background and normal flows are both label 0; only botnet flows are anomalies
    assert set(s.test.attack[s.test.y == 0]) == {"background", "normal"}
    assert set(s.test.attack[s.test.y == 1]) == {"botnet"}
    pre = thesis_preprocessor(s.train)
    X = pre.transform(s.test.X)
    assert np.isfinite(X).all() and "Proto=tcp" in pre.feature_names_out_
    assert abs(pre.transform(s.train.X).mean(axis=0)).max() < 1e-5     # z-scored on train
    with pytest.raises(DataError, match="needs 90 botnet"):
        ctu13_file_split(path, sizes=(90, 100, 200))


def test_bench_thesis_cv_cli_selects_on_folds_and_reports_seeds(tmp_path, data_root, monkeypatch):
    """The real `nadkit bench --protocol thesis-cv --track` (in-process: the CLI startup is tested
    elsewhere) against a real local MLflow store (SQLite file in tmp_path)."""
    import json

    mlflow = pytest.importorskip("mlflow")

    from typer.testing import CliRunner

    from nadkit import cli
    from nadkit.cli import app

    # the console is built once per process: another test in this worker may have fixed its width
    monkeypatch.setattr(cli.out, "width", 200)
    cfg = tmp_path / "tiny.toml"
    cfg.write_text("[models.cae]\nhidden = [16]\nlatent = 3\nepochs = 1\n")
    runner = CliRunner()
    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    res = runner.invoke(app, ["bench", "--protocol", "thesis-cv", "-d", "unsw-nb15", "--models", "cae",
                              "--folds", "2", "--seeds", "0,1", "-c", str(cfg), "-o", str(tmp_path / "out"),
                              "--track", "--experiment", "t-thesis"],
                        env={"COLUMNS": "200", "MLFLOW_TRACKING_URI": uri})
    assert res.exit_code == 0, res.output
    assert "cluster-weighted AUROC" in res.output and "±" in res.output
    report = json.loads((tmp_path / "out" / "results.json").read_text())
    cae = report["models"]["cae"]
    assert report["sizes"]["train"] == 18_302 and report["folds"] == 2
    assert len(cae["cv"]) == 2 and all(len(c["folds"]) == 2 for c in cae["cv"])     # grid × folds
    assert cae["chosen"]["n_clusters"] in (2, 4) and cae["quantile"] in (0.8, 0.9, 0.95, 0.98, 0.99, 0.995)
    assert [r["seed"] for r in cae["test_runs"]] == [0, 1]
    assert cae["test"]["auroc"][0] > 0.6 and "cluster_weighted_auroc" in cae["test"]
    assert "cluster-weighted AUROC" in (tmp_path / "out" / "leaderboard.md").read_text()
    for png in ("test_roc_pr.png", "cv_auroc.png"):
        assert (tmp_path / "out" / png).stat().st_size > 5000
    # tracked: parent run → one child per model → one grandchild per CV fit and per test seed
    client = mlflow.MlflowClient(uri)
    exp = client.get_experiment_by_name("t-thesis")
    runs = {r.info.run_name: r for r in client.search_runs([exp.experiment_id])}
    parent = runs["bench thesis-cv unsw-nb15"]
    assert parent.data.params["protocol"] == "thesis-cv" and parent.data.params["folds"] == "2"
    model = runs["cae"]
    assert model.data.tags["mlflow.parentRunId"] == parent.info.run_id
    assert model.data.metrics["test_auroc_mean"] == pytest.approx(cae["test"]["auroc"][0])
    fits = {n for n, r in runs.items() if r.data.tags.get("mlflow.parentRunId") == model.info.run_id}
    assert fits == {f"config {c} fold {f}" for c in range(2) for f in range(2)} | {"test seed 0", "test seed 1"}
    assert runs["test seed 1"].data.metrics["auroc"] == pytest.approx(cae["test_runs"][1]["auroc"])
    assert runs["config 0 fold 1"].data.metrics["val_auroc"] == pytest.approx(cae["cv"][0]["folds"][1]["auroc"])
    for args, message in ((["-d", "nsl-kdd"], "the thesis protocol covers kddcup99"),
                          (["--protocol", "nope"], "unknown protocol")):
        bad = runner.invoke(app, ["bench", "--protocol", "thesis-cv", *args, "-o", str(tmp_path / "x")])
        assert isinstance(bad.exception, DataError) and message in str(bad.exception)
