"""The Cloudera KDD Cup 99 protocol: the upstream split row for row, the label fix, thresholds
from the validation split only, and the comparison table."""

import json

import numpy as np
import pytest

from nadkit.experiments.cloudera import (
    FEATURES,
    REPORTED,
    TRAINING_ATTACK_TYPES,
    cloudera_split,
    default_models,
    run_cloudera,
)
from nadkit.thresholds import BestF1

TEST_ONLY = {"snmpgetattack", "mailbomb", "apache2", "snmpguess", "processtable", "mscan", "saint"}


@pytest.fixture(scope="module")
def splits(data_root):
    return cloudera_split(), cloudera_split(legacy_labels=True)


def test_split_sizes_features_and_seeds(splits):
    fixed, _ = splits
    assert list(fixed.train.X.columns) == FEATURES
    assert len(fixed.train) == 97_278 and fixed.train.y.sum() == 0  # normals of the 10% file
    assert len(fixed.test) == 10_000 and fixed.test.y.sum() == 2_000  # partition 8020
    # validation = 20% of corrected's normals (60,593) and attacks (250,436)
    assert (fixed.validation.y == 0).sum() == round(0.2 * 60_593)
    assert fixed.validation.y.sum() == round(0.2 * 250_436)
    again = cloudera_split()
    np.testing.assert_array_equal(again.test.X.to_numpy(), fixed.test.X.to_numpy())


def test_test_only_attack_types_are_attacks_unless_legacy(splits):
    fixed, legacy = splits
    assert set(fixed.test.attack[fixed.test.y == 0]) == {"normal"}
    assert set(fixed.test.attack[fixed.test.y == 1]) >= TEST_ONLY
    # upstream's mislabelling, for parity: every name outside the training table is "normal"
    legacy_inliers = set(legacy.test.attack[legacy.test.y == 0])
    assert legacy_inliers >= TEST_ONLY and not legacy_inliers & set(TRAINING_ATTACK_TYPES)
    assert (legacy.test.attack[legacy.test.y == 0] == "normal").mean() < 0.8


def test_run_sets_thresholds_on_validation_and_writes_the_comparison(splits, tmp_path):
    fixed, _ = splits
    assert default_models()[:3] == ["ae", "vae", "bigan"] and "pca" in default_models()
    rows = run_cloudera(["pca"], tmp_path, split=fixed)
    assert [(r["model"], r["threshold"]) for r in rows] == [("pca", "best-f1"), ("pca", "best-accuracy")]
    report = json.loads((tmp_path / "pca" / "metrics.json").read_text())
    assert report["auroc"] > 0.9 and "validation" in report["threshold_set_on"]
    # the best-F1 threshold is exactly the one fitted on the validation scores, not on test
    from nadkit.experiments.cloudera import preprocessor
    from nadkit.models import PCA

    pre = preprocessor().fit(fixed.train.X)
    det = PCA().fit(pre.transform(fixed.train.X))
    expected = BestF1().fit(det.score(pre.transform(fixed.validation.X)), fixed.validation.y)
    assert report["thresholds"]["best-f1"]["threshold"] == pytest.approx(expected.value_)
    assert set(report["thresholds"]) == {"best-f1", "best-accuracy"}
    assert report["reported_by_cloudera"] == REPORTED["pca"]
    md = (tmp_path / "leaderboard.md").read_text()
    assert "best-f1 on the validation split" in md and "best accuracy on the TEST split" in md
    assert md.count("| pca |") == 3  # ours (two threshold rules) + Cloudera's row
    for png in ("histogram.png", "roc_pr.png", "per_class.png"):
        assert (tmp_path / "pca" / png).stat().st_size > 5000
    assert (tmp_path / "roc_pr.png").is_file()


def test_bigan_restart_and_score_weight_are_chosen_on_validation(splits, tmp_path):
    from nadkit import artifact
    from nadkit.experiments.cloudera import TUNED
    from nadkit.metrics import auroc

    fixed, _ = splits
    run_cloudera(["bigan"], tmp_path, split=fixed, params={"bigan": {"epochs": 1}},
                 restarts={"bigan": 2}, save_models=True)
    report = json.loads((tmp_path / "bigan" / "metrics.json").read_text())
    w, grid = report["tuned_on_validation"]["score_weight"], TUNED["bigan"]["score_weight"]
    assert w in grid and len(report["restarts_validation_auroc"]) == 2
    pipe = artifact.load(tmp_path / "bigan" / "model")  # the kept run, saved with its weight
    assert pipe.detector.score_weight == w
    best = auroc(fixed.validation.y, pipe.score(fixed.validation))
    assert best == pytest.approx(max(report["restarts_validation_auroc"]))
    for v in grid:  # no other weight does better on validation
        pipe.detector.set_params(score_weight=v)
        assert auroc(fixed.validation.y, pipe.score(fixed.validation)) <= best + 1e-12
