"""The models registry and the hyper-parameter contract every registered detector keeps.

``params_before.json`` holds ``repr`` of each detector's default ``get_params()`` as computed on
main before the shared ``_init_params`` helper replaced the per-class assignment blocks (issue 15):
the refactor must not change one name, default or type. Later deliberate default changes are
edited into the file, each with its commit: DC-VAE ``cnn_units`` (64,)×6 → (32,)×6 (issue 12,
chosen by ``benchmarks/series_defaults.py``); Net-GAN's stabilised training and label-free score
(issue 12 item 5: ``gan_loss`` etc. added, ``g_rounds`` 3 → 1, ``lr_d`` 1e-3 → 4e-4; chosen by
``benchmarks/netgan_select.py``; ``netgan.LEGACY_PARAMS`` gives the old ones); AE ``dropout`` 0 → 0.2
and ``batch_norm`` on, ensemble ``members`` ("knn", "ocsvm") → ("ae", "knn", "ocsvm") (issue 13,
chosen by ``benchmarks/flow_candidates.py``'s leave-one-dataset-out rule) → ("ae", "knn", "ocsvm",
"iforest") (its amendment 5's seed rule);
DC-VAE ``horizon`` added (default 0, the published model; issue 12), DC-VAE ``smooth``
1 → 8 (the causal moving mean of the step score; series_defaults amendment 3);
DC-VAE ``validation_blocks`` added (default 1, the chronological tail; issue 12), DC-VAE
``channel_score`` 'residual' → 'unit' (series_defaults amendment 6), DC-VAE ``smooth_stat`` added
with default 'max' (the causal moving max; amendment 7) and ``smooth`` 8 → 32 (amendment 8);
Net-GAN ``channel_units`` ('unit'), ``smooth`` (32), ``smooth_stat`` ('max') and ``cycle_weight`` (10)
added (issue 12, chosen by ``benchmarks/netgan_defaults.py``; ``netgan.PRE_SMOOTHED`` and
``PRE_CYCLE`` give the old model); DC-VAE ``aggregate`` 'mean' → 'top3' (series_defaults amendment 10);
Net-GAN ``cycle_weight`` 10 → 0, ``channel_units`` 'unit' → 'residual' and ``aggregate`` 'mean' → 'max'
(netgan_defaults amendment 2).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sklearn.base import clone

from nadkit.errors import DataError
from nadkit.models import KINDS, MODEL_NAMES, REGISTRY, detector_name, make_detector
from nadkit.models.registry import ENTRIES, detector_class, names_of_kind
from nadkit.models.torch_base import TorchDetector, TrainingParams

BEFORE = json.loads((Path(__file__).parent / "params_before.json").read_text(encoding="utf-8"))


def test_registry_lists_every_model_once_with_its_kind():
    assert list(REGISTRY) == list(MODEL_NAMES) == list(ENTRIES)
    assert sorted(MODEL_NAMES) == sorted(BEFORE)
    for name in MODEL_NAMES:
        assert REGISTRY[name].input_kind == KINDS[name], name
    assert "dcvae" in names_of_kind("series") and "pca" in names_of_kind("table")


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_get_params_unchanged(name):
    got = {k: repr(v) for k, v in sorted(make_detector(name).get_params().items())}
    assert got == BEFORE[name]


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_clone_and_set_params(name):
    det = make_detector(name)
    params = det.get_params()
    key = "random_state" if "random_state" in params else sorted(params)[0]
    value = 7 if key == "random_state" else params[key]
    det.set_params(**{key: value})
    copy = clone(det)  # scikit-learn checks every parameter is stored as passed
    assert type(copy) is type(det) and copy is not det
    assert copy.get_params() == det.get_params()
    assert detector_name(copy) == name


def test_make_detector_errors_name_the_problem():
    with pytest.raises(DataError, match="unknown model 'nope'; choose from pca, ocsvm"):
        make_detector("nope")
    with pytest.raises(DataError, match=r"unknown parameters for pca: \['depth'\]"):
        make_detector("PCA", depth=3)
    assert detector_class("AE") is REGISTRY["ae"]


def test_a_torch_detector_must_list_the_training_parameters():
    with pytest.raises(TypeError, match=r"must list the training parameters \['verbose'\]"):
        class Odd(TorchDetector):
            def __init__(self, epochs=None, batch_size=1, lr=1.0, weight_decay=0.0,
                         validation_fraction=0.1, patience=None, device="cpu", random_state=0) -> None:
                self._init_params(locals())
    assert "epochs" in TrainingParams.TRAINING_PARAMS
