"""BiGAN specifics (the shared contract/quality/save-load/determinism tests run it too, via
tests/models/test_detectors.py): two optimisers in the shared trainer, the score's parts."""

import numpy as np
import pytest

from nadkit.errors import DataError
from nadkit.models import BiGAN


@pytest.fixture(scope="module")
def small(nsl_small):
    X = nsl_small["X_train"][:3000]
    det = BiGAN(latent=4, epochs=3, batch_size=256, random_state=0).fit(X)
    return det, nsl_small["X_test"][:400]


def test_trains_discriminator_and_generator_every_epoch(small):
    det, _ = small
    assert det.epochs_run_ == 3
    for row in det.history_:
        assert {"train_d_loss", "train_ge_loss", "train_loss", "val_loss", "val_score"} <= set(row)
        assert np.isfinite([row["train_d_loss"], row["train_ge_loss"], row["val_loss"]]).all()
    # real epochs: every epoch saw all training rows, so the losses moved
    assert det.history_[0]["train_ge_loss"] != det.history_[-1]["train_ge_loss"]


def test_score_is_weighted_l1_plus_per_row_discriminator_term(small):
    det, X = small
    import torch

    with torch.inference_mode():
        residual, ld = det.net_.score_terms(torch.from_numpy(X))
    rec, ld = residual.sum(dim=1).numpy(), ld.numpy()
    np.testing.assert_allclose(det.score(X), 0.9 * rec + 0.1 * ld, rtol=1e-5)
    assert np.ptp(ld) > 0  # per row, not one batch-averaged scalar
    w = det.score_weight
    det.set_params(score_weight=0.0)  # score-time parameters may change after fitting
    try:
        np.testing.assert_allclose(det.score(X), rec, rtol=1e-5)
        det.set_params(score_weight=1.5)
        with pytest.raises(DataError, match="score_weight"):
            det.score(X)
    finally:
        det.set_params(score_weight=w)


def test_feature_matching_mode(nsl_small):
    X = nsl_small["X_train"][:2000]
    det = BiGAN(latent=4, epochs=2, score_mode="feature-matching", random_state=0).fit(X)
    s = det.score(nsl_small["X_test"][:300])
    np.testing.assert_allclose(det.score_features(nsl_small["X_test"][:300]).sum(axis=1), s, rtol=1e-4)
    assert np.isfinite(s).all() and np.ptp(s) > 0


@pytest.mark.parametrize("params, message", [
    ({"score_mode": "wasserstein"}, "score_mode must be one of"),
    ({"output": "tanh"}, "output must be one of"),
    ({"score_weight": 1.5}, "score_weight must be in"),
])
def test_bad_hyper_parameters(params, message):
    with pytest.raises(DataError, match=message):
        BiGAN(epochs=1, **params).fit(np.random.default_rng(0).uniform(size=(200, 4)))


def test_cycle_discriminator_trains_and_round_trips(nsl_small, tmp_path):
    from nadkit import artifact
    from nadkit.pipeline import Pipeline

    det = BiGAN(latent=4, epochs=2, cycle=True, random_state=0).fit(nsl_small["X_train"][:2000])
    assert any(k.startswith("disc_xx.") for k in det.net_.state_dict())
    artifact.save(Pipeline(det, nsl_small["pre"]), tmp_path / "m")
    again = artifact.load(tmp_path / "m").detector
    X = nsl_small["X_test"][:500]
    np.testing.assert_array_equal(again.score(X), det.score(X))
