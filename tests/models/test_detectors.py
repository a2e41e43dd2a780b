"""Every registered detector: contract, quality on real data, save→load, determinism, bad input."""

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from nadkit import artifact
from nadkit.data.preprocess import Preprocessor
from nadkit.errors import DataError, NotFittedError
from nadkit.metrics import auroc
from nadkit.models import REGISTRY, make_detector
from nadkit.pipeline import Pipeline

FAST = {
    "pca": {},
    "iforest": {"n_estimators": 50},
    "knn": {"max_reference": 5000},
    "ensemble": {"members": ("knn", "iforest"), "calibration_rows": 1000},
    "ocsvm": {"max_samples_fit": 3000},
    "ae": {"epochs": 4},
    "vae": {"epochs": 4},
    "bigan": {"epochs": 4, "lr": 1e-3},  # the default lr 2e-4 needs more than 4 epochs
    "seq2seq-rows": {"epochs": 15, "hidden": 16, "batch_size": 128, "lr": 1e-2},  # ~900 steps
    "sae": {"hidden": (64,), "latent": 6, "epochs": 4},
    "cae": {"hidden": (64,), "latent": 6, "epochs": 4, "n_clusters": 3},
    "ksae": {"hidden": (64,), "latent": 6, "epochs": 3, "n_clusters": 2},
    "bae": {"hidden": (64,), "latent": 6, "epochs": 4, "n_clusters": 2, "lr": 0.01},
}


#: table detectors (series detectors have their own tests in tests/models/test_series_models.py)
TABLE = sorted(name for name, cls in REGISTRY.items() if cls.input_kind == "table")


@pytest.fixture(scope="module", params=TABLE)
def fitted(request, nsl_small):
    name = request.param
    det = make_detector(name, **FAST[name]).fit(nsl_small["X_train"])
    return name, det


def test_registry_covers_fast_params():
    assert set(FAST) == set(TABLE)


def test_quality_on_real_data(fitted, nsl_small):
    name, det = fitted
    a = auroc(nsl_small["y_test"], det.score(nsl_small["X_test"]))
    assert a > 0.88, f"{name} AUROC {a:.3f} on an NSL-KDD subset"


def test_contract(fitted, nsl_small):
    _, det = fitted
    X = nsl_small["X_test"][:500]
    s = det.score(X)
    assert s.shape == (500,) and s.dtype == np.float64 and np.isfinite(s).all()
    np.testing.assert_array_equal(det.decision_function(X), s)
    # a pure function of the fitted state: one row alone scores like inside a batch
    np.testing.assert_allclose(det.score(X[7:8])[0], s[7], rtol=1e-5, atol=1e-7)
    assert set(np.unique(det.predict(X))) <= {0, 1}
    assert clone(det).get_params() == det.get_params()
    if det.has_feature_scores:
        f = det.score_features(X)
        assert f.shape == X.shape
        np.testing.assert_allclose(f.sum(axis=1), s, rtol=1e-4, atol=1e-7)
    else:
        with pytest.raises(NotImplementedError):
            det.score_features(X)


def test_save_load_bit_identical(fitted, nsl_small, tmp_path):
    name, det = fitted
    pipe = Pipeline(det, nsl_small["pre"])
    artifact.save(pipe, tmp_path / name)
    again = artifact.load(tmp_path / name)
    X = nsl_small["X_test"]
    np.testing.assert_array_equal(again.detector.score(X), det.score(X))
    assert again.threshold.value_ == det.threshold_.value_
    assert again.detector.get_params() == det.get_params()


def test_same_seed_same_scores(fitted, nsl_small):
    name, det = fitted
    if "random_state" not in det.get_params():
        pytest.skip(f"{name} is deterministic without a seed")
    again = clone(det).fit(nsl_small["X_train"])
    X = nsl_small["X_test"]
    np.testing.assert_array_equal(again.score(X), det.score(X))


def test_bad_input(fitted, nsl_small):
    _, det = fitted
    X = nsl_small["X_test"][:10].copy()
    with pytest.raises(DataError, match="features; the model was fitted on"):
        det.score(X[:, :-1])
    X[3, 2] = np.nan
    with pytest.raises(DataError, match="NaN/inf in 1 rows"):
        det.score(X)
    with pytest.raises(DataError, match="2-D"):
        det.score(X[0])
    with pytest.raises(DataError, match="no rows"):
        det.score(X[:0])


def test_unfitted_and_unknown():
    with pytest.raises(NotFittedError):
        make_detector("ae").score(np.zeros((2, 3)))
    with pytest.raises(DataError, match="unknown model"):
        make_detector("lstm-magic")
    with pytest.raises(DataError, match="unknown parameters for ae"):
        make_detector("ae", layers=3)


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_declared_tags_match_the_methods(name):
    from nadkit.models.base import BaseDetector

    cls = REGISTRY[name]
    assert cls.has_tag("clusters") == hasattr(cls, "assign_clusters")
    assert cls.has_tag("gaussian") == hasattr(cls, "gaussian")
    assert cls.has_tag("series") == hasattr(cls, "series_info") == (cls.input_kind == "series")
    overrides = (cls._score_features is not BaseDetector._score_features
                 or cls.score_features is not BaseDetector.score_features)
    assert cls.has_tag("feature_scores") == overrides == cls.has_feature_scores
    assert cls.input_scaling in ("zscore", "minmax")


def test_unknown_tags_are_refused():
    from nadkit.models.base import BaseDetector

    with pytest.raises(TypeError, match="unknown tags"):
        type("Odd", (BaseDetector,), {"tags": frozenset({"telepathy"})})
    with pytest.raises(ValueError, match="unknown tag"):
        REGISTRY["ae"].has_tag("telepathy")
    # a subclass adds to its base's tags
    sub = type("Sub", (REGISTRY["netgan"],), {"tags": frozenset({"clusters"})})
    assert sub.tags == REGISTRY["netgan"].tags | {"clusters"}


@pytest.mark.parametrize("n_channels", [1, 2])
def test_pca_keeps_a_residual_direction(tmp_path, n_channels):
    """With a variance share, PCA keeps at most all but one component: on one channel (or on
    uncorrelated channels that need every component for 95 %) the score is not 0 everywhere,
    and the model with no kept component saves and loads."""
    X = np.random.default_rng(0).normal(size=(2000, n_channels)).astype("float32")
    det = make_detector("pca").fit(X)
    assert det.n_components_ == n_channels - 1
    far = np.full((1, n_channels), 4.0, dtype="float32")
    assert det.score(far)[0] > np.quantile(det.score(X), 0.99) > 0
    pre = Preprocessor(scaling=None, log_transform=False).fit(pd.DataFrame(X, columns=[f"c{i}" for i in range(n_channels)]))
    artifact.save(Pipeline(det, pre), tmp_path / "m")
    again = artifact.load(tmp_path / "m").detector
    np.testing.assert_array_equal(again.score(X), det.score(X))
