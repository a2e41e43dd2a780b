"""Rank-normalised ensemble specifics (the registry-wide contract is in test_detectors.py)."""

import numpy as np
import pytest
from safetensors.numpy import save

from nadkit import artifact
from nadkit.errors import ArtifactError, DataError
from nadkit.models import make_detector
from nadkit.models.ensemble import CALIBRATION_FILE, Ensemble, tail_scores
from nadkit.pipeline import Pipeline

from ..tampering import rewrite


def _gauss(n, d=5, seed=0):
    return np.random.default_rng(seed).normal(size=(n, d))


def test_score_is_mean_tail_of_members_fitted_without_the_held_out_rows():
    X, Q = _gauss(2000), _gauss(300, seed=1)
    det = Ensemble(members=("knn", "pca"), calibration_rows=300, random_state=2).fit(X)
    perm = np.random.default_rng(2).permutation(len(X))  # the split the docstring promises
    cal, fit = X[perm[:300]], X[perm[300:]]
    parts = []
    for name in ("knn", "pca"):
        m = make_detector(name, **({"random_state": 2} if name == "knn" else {})).fit(fit)
        parts.append(tail_scores(np.sort(m.score(cal)), m.score(Q)))
    np.testing.assert_allclose(det.score(Q), np.mean(parts, axis=0), rtol=1e-12)
    assert det.member_scores(Q).shape == (300, 2)
    # each member's −log tail is ≥ 0 and unit-free: within the calibration range it lies in
    # [0, log(n + 1)]; beyond it, the exponential tail extrapolation keeps far rows in order
    m = det.member_scores(Q)
    assert m.min() >= 0
    far = det.member_scores(np.vstack([Q[:1] + 6, Q[:1] + 12]))
    assert (far[0] > np.log(301)).all() and (far[1] > far[0]).all()


def test_threshold_holds_its_target_on_fresh_normals():
    det = Ensemble(members=("knn", "iforest"), calibration_rows=2000).fit(_gauss(10000))
    assert det.calibration_source_ == "held-out training rows"
    assert len(det.calibration_scores_) == 2000
    fpr = det.predict(_gauss(20000, seed=5)).mean()
    assert 0.004 < fpr < 0.02, fpr
    far = det.score(_gauss(50, seed=6) + 8)
    assert (far > det.threshold_.value_).all()


def test_default_members_save_load(tmp_path, nsl_small):
    X = nsl_small["X_train"][:3000]
    det = Ensemble().fit(X)  # ae + knn + ocsvm + iforest
    assert det.members == ("ae", "knn", "ocsvm", "iforest") and len(det.calibration_[0]) == 600
    artifact.save(Pipeline(det, nsl_small["pre"]), tmp_path / "m")
    names = {p.name for p in (tmp_path / "m").iterdir()}
    assert {"m0-weights.safetensors", "m1-weights.safetensors", "m2-model.skops", CALIBRATION_FILE} <= names
    again = artifact.load(tmp_path / "m").detector
    Xt = nsl_small["X_test"]
    np.testing.assert_array_equal(again.score(Xt), det.score(Xt))

    # a calibration file that does not fit is refused, naming the file
    bad = tmp_path / "bad"
    artifact.save(Pipeline(det, nsl_small["pre"]), bad)
    rewrite(bad, CALIBRATION_FILE, save({"member0": np.zeros(600)}))
    with pytest.raises(ArtifactError, match=r"calibration\.safetensors"):
        artifact.load(bad)
    # a member file of a member the ensemble does not have is refused
    stray = tmp_path / "stray"
    artifact.save(Pipeline(det, nsl_small["pre"]), stray)
    rewrite(stray, "m5-weights.safetensors", (stray / "m0-weights.safetensors").read_bytes())
    with pytest.raises(ArtifactError, match="belong to no member"):
        artifact.load(stray)
    # a file none of its members' kinds writes (an SAE head for the ae) is refused by the manifest check
    alien = tmp_path / "alien"
    artifact.save(Pipeline(det, nsl_small["pre"]), alien)
    rewrite(alien, "m0-head.skops", (alien / "m2-model.skops").read_bytes())
    with pytest.raises(ArtifactError, match=r"does not have: \['m0-head\.skops'\]"):
        artifact.load(alien)


@pytest.mark.parametrize(("params", "match"), [
    ({"members": ()}, "non-empty tuple"),
    ({"members": "knn,ocsvm"}, "non-empty tuple"),
    ({"members": ("knn", "lstm-magic")}, "not table detectors"),
    ({"members": ("knn", "seq2seq")}, "not table detectors"),
    ({"members": ("knn", "ensemble")}, "not table detectors"),
    ({"members": ("knn", "knn")}, "distinct"),
    ({"calibration_rows": 10}, "calibration_rows"),
])
def test_bad_params(params, match):
    with pytest.raises(DataError, match=match):
        make_detector("ensemble", **params).fit(_gauss(1000))


def test_too_few_rows():
    with pytest.raises(DataError, match="at least 250 training rows"):
        Ensemble(members=("pca",)).fit(_gauss(200))
