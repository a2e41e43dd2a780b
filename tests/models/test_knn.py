"""kNN detector specifics (the registry-wide contract is in test_detectors.py)."""

import numpy as np
import pytest
from safetensors.numpy import save_file

from nadkit.errors import ArtifactError, DataError
from nadkit.models import make_detector
from nadkit.models.knn import KNN


def _gauss(n, d=5, seed=0):
    return np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)


def test_scores_are_exact_mean_distances():
    X, Q = _gauss(300), _gauss(40, seed=1)
    det = KNN(n_neighbors=3).fit(X)
    d = np.sqrt(((Q[:, None, :].astype(np.float64) - X[None].astype(np.float64)) ** 2).sum(2))
    expected = np.sort(d, axis=1)[:, :3].mean(axis=1)
    np.testing.assert_allclose(det.score(Q), expected, rtol=1e-12)
    # a training row is its own nearest neighbour: k = 1 scores it 0
    assert KNN(n_neighbors=1).fit(X).score(X[:5]).max() == 0.0


def test_reference_cap_and_held_out_calibration():
    X = _gauss(6000)
    det = KNN(n_neighbors=1, max_reference=2000, random_state=3).fit(X)
    assert det.reference_.shape == (2000, 5)
    assert det.calibration_source_ == "held-out training rows"
    assert len(det.calibration_scores_) == 2000 and det.calibration_scores_.min() > 0
    # the threshold holds its 1 % target on fresh normal rows
    fpr = det.predict(_gauss(20000, seed=7)).mean()
    assert 0.004 < fpr < 0.02, fpr
    # the seed picks the reference rows
    other = KNN(n_neighbors=1, max_reference=2000, random_state=4).fit(X)
    assert not np.array_equal(other.reference_, det.reference_)


def test_small_training_sets_are_cross_fitted():
    det = KNN(n_neighbors=1).fit(_gauss(1000))
    assert det.calibration_source_.startswith("training rows, out-of-fold")
    assert det.calibration_scores_.min() > 0  # no row was scored against itself


@pytest.mark.parametrize(("params", "message"), [
    ({"n_neighbors": 0}, "n_neighbors must be an integer ≥ 1"),
    ({"n_neighbors": 2.5}, "n_neighbors must be an integer ≥ 1"),
    ({"n_neighbors": 5, "max_reference": 3}, "max_reference must be None or an integer ≥ n_neighbors"),
    ({"n_neighbors": 50}, "needs at least 50 training rows, got 20"),
])
def test_bad_parameters(params, message):
    with pytest.raises(DataError, match=message):
        make_detector("knn", **params).fit(_gauss(20))


def test_load_refuses_a_reference_that_does_not_fit(tmp_path):
    save_file({"reference": np.zeros((10, 4), np.float32)}, str(tmp_path / "weights.safetensors"))
    with pytest.raises(ArtifactError, match=r"do not fit 5 features"):
        KNN().load_state(tmp_path, {"n_features_in": 5})
    with pytest.raises(ArtifactError, match="10 reference rows; n_neighbors=1 and max_reference=8"):
        KNN(max_reference=8).load_state(tmp_path, {"n_features_in": 4})
    save_file({"reference": np.zeros((10, 4), np.float32), "extra": np.zeros(2, np.float32)},
              str(tmp_path / "weights.safetensors"))
    with pytest.raises(ArtifactError, match="kNN tensors"):
        KNN().load_state(tmp_path, {"n_features_in": 4})


def _cli(*args):
    import os
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "nadkit", *map(str, args)], capture_output=True, text=True,
                          env={**os.environ, "COLUMNS": "200"}, timeout=600)


def test_train_without_model_uses_the_default_model_of_the_data_kind(nsl_csv, tmp_path):
    import json

    from nadkit.models import DEFAULT_TABLE_MODEL

    res = _cli("train", nsl_csv, "--label-col", "label", "-o", tmp_path / "m", "--no-progress")
    assert res.returncode == 0, res.stderr
    assert f"no --model given: {DEFAULT_TABLE_MODEL}, the default flow" in res.stderr
    assert json.loads((tmp_path / "m" / "manifest.json").read_text())["detector"] == DEFAULT_TABLE_MODEL
    res = _cli("detect", tmp_path / "m", nsl_csv, "-o", tmp_path / "scores.csv")
    assert res.returncode == 0, res.stderr
    import pandas as pd

    scores = pd.read_csv(tmp_path / "scores.csv")
    assert len(scores) == 3000
    # `--model auto` on a series dataset is DC-VAE, the default series model (a tiny one here)
    from nadkit.models import DEFAULT_SERIES_MODEL

    res = _cli("train", "skab:valve1/1", "--model", "auto", "-p", "window=16", "-p", "cnn_units=[8,8]",
               "-p", "dilations=[1,2,4]", "-p", "step_budget=20", "-o", tmp_path / "s", "--no-progress")
    assert res.returncode == 0, res.stderr
    assert f"--model auto: {DEFAULT_SERIES_MODEL}, the default series model" in res.stderr
    assert json.loads((tmp_path / "s" / "manifest.json").read_text())["detector"] == DEFAULT_SERIES_MODEL
