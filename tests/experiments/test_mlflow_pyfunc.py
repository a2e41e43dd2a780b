"""The MLflow model flavour with a real MLflow: `nadkit train --track` to a local tracking store
logs a pyfunc model; `mlflow models serve --env-manager local` serves it and answers POSTed rows
with the scores and flags `nadkit detect` writes for the same rows."""

import json
import os
import subprocess
import sys
import urllib.request

import numpy as np
import pandas as pd
import pytest

mlflow = pytest.importorskip("mlflow")

from ..processes import free_port, http_process  # noqa: E402
from ..user_csv import write_labelled_csvs  # noqa: E402


def _run(*args, env, cwd):
    return subprocess.run([sys.executable, "-m", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=600, stdin=subprocess.DEVNULL)


@pytest.mark.slow
def test_train_track_logs_a_servable_pyfunc(nsl, tmp_path, monkeypatch):
    write_labelled_csvs(tmp_path, nsl, 3000, 300, seed=5)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "COLUMNS": "200", "OMP_NUM_THREADS": "1",
           # `mlflow models serve` runs `uvicorn` by name: this interpreter's scripts, as when activated
           "PATH": os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])}
    res = _run("nadkit", "train", tmp_path / "flows.csv", "--label-col", "label", "-m", "ae", "-p", "epochs=3",
               "-o", tmp_path / "model", "--track", "--experiment", "t-pyfunc", "--no-progress", env=env, cwd=tmp_path)
    assert res.returncode == 0, res.stderr

    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)  # this process reads the same store
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    try:
        _serve_and_compare(uri, env, tmp_path)
    finally:
        mlflow.set_tracking_uri(previous)


def _serve_and_compare(uri, env, tmp_path):
    client = mlflow.MlflowClient(uri)
    exp = client.get_experiment_by_name("t-pyfunc")
    (run,) = client.search_runs([exp.experiment_id])
    models = client.search_logged_models(experiment_ids=[exp.experiment_id])
    assert len(models) == 1 and models[0].source_run_id == run.info.run_id
    model_uri = f"models:/{models[0].model_id}"
    info = mlflow.models.get_model_info(model_uri)
    assert "python_function" in info.flavors and info.signature is not None
    assert info.flavors["python_function"].get("model_code_path")  # models-from-code: no pickle
    assert "protocol_type" in info.signature.inputs.input_names()

    res = _run("nadkit", "detect", tmp_path / "model", tmp_path / "test.csv", "-o", tmp_path / "scores.csv",
               "--key-cols", "none", "--no-progress", env=env, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    expected = pd.read_csv(tmp_path / "scores.csv")

    port = free_port()
    cmd = [sys.executable, "-m", "mlflow", "models", "serve", "-m", model_uri, "--env-manager", "local",
           "-h", "127.0.0.1", "-p", str(port)]
    with http_process(cmd, f"http://127.0.0.1:{port}/ping", tmp_path / "serve.log", cwd=tmp_path, env=env,
                      timeout=240, what="mlflow models serve"):
        rows = pd.read_csv(tmp_path / "test.csv").drop(columns=["label"])
        body = json.dumps({"dataframe_split": rows.to_dict(orient="split")}).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", data=body,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=120) as response:
            answer = json.loads(response.read())
    served = pd.DataFrame(answer["predictions"])
    assert list(served.columns) == ["score", "anomaly"] and len(served) == 300
    np.testing.assert_allclose(served["score"], expected["score"], rtol=1e-6, atol=0)
    np.testing.assert_array_equal(served["anomaly"], expected["anomaly"])
