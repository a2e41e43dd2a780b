"""MLflow tracking against a real ``mlflow server`` on a free loopback port (one per module):
the real CLI with ``--track``, checked through MlflowClient; plus the local default store."""

import json
import os
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest

mlflow = pytest.importorskip("mlflow")
from mlflow import MlflowClient  # noqa: E402

from nadkit import artifact  # noqa: E402
from nadkit.experiments import tracking  # noqa: E402

from ..processes import free_port, http_process  # noqa: E402
from ..user_csv import write_labelled_csvs  # noqa: E402


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A real MLflow tracking server (SQLite store, proxied artifacts) on 127.0.0.1."""
    root = tmp_path_factory.mktemp("mlflow")
    port = free_port()
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    env.pop("MLFLOW_TRACKING_URI", None)
    cmd = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
           "--workers", "1", "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
           "--artifacts-destination", str(root / "artifacts")]
    uri = f"http://127.0.0.1:{port}"
    with http_process(cmd, f"{uri}/health", root / "server.log", cwd=root, env=env, timeout=180,
                      what="mlflow server"):
        yield uri


def nadkit(uri, *args, cwd):
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "COLUMNS": "200", "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "nadkit", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=600)


def only_run(client, experiment, name):
    exp = client.get_experiment_by_name(experiment)
    runs = client.search_runs([exp.experiment_id], f"attributes.run_name = '{name}'")
    assert len(runs) == 1, [r.info.run_name for r in runs]
    return runs[0]


def artifact_paths(client, run_id, path=None):
    out = []
    for f in client.list_artifacts(run_id, path):
        out += artifact_paths(client, run_id, f.path) if f.is_dir else [f.path]
    return out


@pytest.mark.slow
def test_train_and_evaluate_tracked(server, nsl, tmp_path):
    write_labelled_csvs(tmp_path, nsl, 4000, 1500, seed=3)
    res = nadkit(server, "train", tmp_path / "flows.csv", "--label-col", "label", "-m", "ae",
                 "-p", "epochs=3", "-o", tmp_path / "model", "--track", "--experiment", "t-train",
                 "--no-progress", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    # the one expected warning: 2,112 rows leave too few held-out normals for a 1 % FPR promise
    other = [ln for ln in res.stderr.lower().splitlines() if "warning" in ln and "calibration scores" not in ln]
    assert not other, res.stderr
    client = MlflowClient(server)
    run = only_run(client, "t-train", "train ae")
    assert run.info.status == "FINISHED"
    assert run.data.params["model"] == "ae" and run.data.params["epochs"] == "3"
    assert run.data.params["hidden"] == "(64, 32)" and run.data.params["preprocess.scaling"] == "minmax"
    # per-epoch losses from the shared trainer, step = epoch
    for key in ("train_loss", "val_loss"):
        hist = client.get_metric_history(run.info.run_id, key)
        assert sorted(m.step for m in hist) == [0, 1, 2]
    assert run.data.metrics["epochs_run"] == 3 and run.data.metrics["threshold"] > 0
    files = artifact_paths(client, run.info.run_id)
    assert {"plots/training.png", "plots/calibration_scores.png", "model/manifest.json",
            "model/weights.safetensors"} <= set(files)

    # the logged model directory, downloaded, loads and scores exactly like the local one
    got = mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path="model",
                                              dst_path=str(tmp_path / "dl"), tracking_uri=server)
    rows = pd.read_csv(tmp_path / "test.csv").drop(columns=["label"])
    np.testing.assert_array_equal(artifact.load(got).score(rows), artifact.load(tmp_path / "model").score(rows))

    res = nadkit(server, "evaluate", tmp_path / "model", tmp_path / "test.csv", "--labels", "label",
                 "-o", tmp_path / "report", "--track", "--experiment", "t-train", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    ev = only_run(client, "t-train", "evaluate ae")
    report = json.loads((tmp_path / "report" / "metrics.json").read_text())
    for key in ("auroc", "auprc", "f1", "f2", "accuracy"):
        assert ev.data.metrics[key] == pytest.approx(report[key])
    assert ev.data.metrics["confusion.tp"] == report["confusion"]["tp"]
    assert ev.data.params["data"].endswith("test.csv")
    files = set(artifact_paths(client, ev.info.run_id))
    assert {"report/histogram.png", "report/roc_pr.png", "report/per_class.png",
            "report/metrics.json", "model/manifest.json"} <= files
    assert len(client.get_metric_history(ev.info.run_id, "train_loss")) == 3


@pytest.mark.slow
def test_bench_cloudera_tracked_with_nested_runs(server, tmp_path):
    (tmp_path / "fast.toml").write_text("[models.bigan]\nepochs = 2\nlatent = 4\nlr = 1e-3\n")
    res = nadkit(server, "bench", "--protocol", "cloudera", "--models", "pca,bigan", "--restarts", "1", "-c",
                 tmp_path / "fast.toml", "-o", tmp_path / "out", "--track", "--experiment", "t-bench",
                 cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "best accuracy on the TEST split" in res.stdout
    client = MlflowClient(server)
    parent = only_run(client, "t-bench", "bench cloudera")
    assert parent.data.params["protocol"] == "cloudera"
    assert "leaderboard.md" in set(artifact_paths(client, parent.info.run_id))
    exp = client.get_experiment_by_name("t-bench")
    children = client.search_runs([exp.experiment_id],
                                  f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    by_name = {r.info.run_name: r for r in children}
    assert set(by_name) == {"pca", "bigan"}
    gan = by_name["bigan"]
    assert gan.data.params["latent"] == "4" and gan.data.metrics["auroc"] > 0.8
    assert "thresholds.best-f1.f1" in gan.data.metrics and "thresholds.best-accuracy.accuracy" in gan.data.metrics
    for key in ("train_d_loss", "train_ge_loss", "val_loss"):
        assert [m.step for m in client.get_metric_history(gan.info.run_id, key)] == [0, 1]
    files = set(artifact_paths(client, gan.info.run_id))
    assert {"report/histogram.png", "report/roc_pr.png", "model/weights.safetensors"} <= files


def test_local_default_store_and_nested_runs_api(tmp_path, monkeypatch, nsl_small):
    """No MLFLOW_TRACKING_URI: a SQLite store in the working directory, without warnings;
    nested_run() gives a child run that receives its model's epoch losses."""
    from nadkit.models import AE

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert tracking.tracking_uri() == f"sqlite:///{tmp_path / 'mlflow.db'}"
    with tracking.nested_run("off") as nothing:  # tracking off: no-op
        assert nothing is None and not tracking.is_active()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with (tracking.run("composite", {"k": 2}, experiment="t-local") as parent_id,
              tracking.nested_run("cluster_0", {"rows": 500}) as child_id):
            AE(hidden=(8,), latent=2, epochs=2, random_state=0).fit(nsl_small["X_train"][:500])
            tracking.log_metrics({"threshold": 1.5})
    noisy = [w for w in caught if issubclass(w.category, (DeprecationWarning, FutureWarning))
             and "mlflow" in str(w.filename)]
    assert not noisy, [str(w.message) for w in noisy]
    assert (tmp_path / "mlflow.db").is_file() and not tracking.is_active()
    client = MlflowClient(tracking.tracking_uri())
    child = client.get_run(child_id)
    assert child.data.tags["mlflow.parentRunId"] == parent_id and child.data.params["rows"] == "500"
    assert [m.step for m in client.get_metric_history(child_id, "train_loss")] == [0, 1]
    assert client.get_run(parent_id).data.params["k"] == "2"
    assert not client.get_metric_history(parent_id, "train_loss")  # went to the child only


@pytest.mark.slow
def test_netgan_tracked(server, data_root, tmp_path):
    """A GAN series model: its per-epoch D/G losses and MMD² reach MLflow through the trainer."""
    from nadkit.data import load_dataset

    train = load_dataset("skab", "anomaly-free").slice(0, 2000)
    train.X.assign(datetime=train.time).to_csv(tmp_path / "train.csv", index=False)
    res = nadkit(server, "train", tmp_path / "train.csv", "-m", "netgan", "-p", "epochs=2", "-p", "hidden=16",
                 "-p", "disc_hidden=16", "-p", "inverse_hidden=16", "-p", "inverse_epochs=1", "--fill-gaps", "5",
                 "-o", tmp_path / "model", "--track", "--experiment", "t-netgan", "--no-progress", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    client = MlflowClient(server)
    run = only_run(client, "t-netgan", "train netgan")
    assert run.info.status == "FINISHED" and run.data.params["score_weight"] == "0.5"
    for key in ("train_d_loss", "train_g_loss", "train_mmd2"):
        assert [m.step for m in client.get_metric_history(run.info.run_id, key)][:2] == [0, 1], key
    assert "model/weights.safetensors" in set(artifact_paths(client, run.info.run_id))
