"""The thesis' cluster-weighted AUROC (labelled as such, never instead of the global AUROC) and MCC."""

import numpy as np
import pytest
from sklearn.metrics import matthews_corrcoef

from nadkit.metrics import auprc, auroc, binary_report, cluster_weighted_auroc, mcc, per_cluster


def test_cluster_weighted_auroc_is_the_size_weighted_mean_of_per_cluster_aurocs():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 600)
    clusters = rng.integers(0, 3, 600)
    scores = y * 1.0 + rng.normal(0, 1, 600) + 5 * clusters        # clusters on different scales
    parts = per_cluster(y, scores, clusters)
    expected = sum(p["n"] / 600 * auroc(y[clusters == k], scores[clusters == k]) for k, p in parts.items())
    assert cluster_weighted_auroc(y, scores, clusters) == pytest.approx(expected)
    assert cluster_weighted_auroc(y, scores, clusters) > auroc(y, scores) + 0.05   # hides the scale mix-up
    assert cluster_weighted_auroc(y, scores, clusters, metric=auprc) == pytest.approx(
        sum(p["n"] / 600 * auprc(y[clusters == k], scores[clusters == k]) for k, p in parts.items()))


def test_a_one_class_cluster_counts_zero_like_the_thesis():
    y = np.array([0, 1, 0, 1, 0, 0])
    s = np.array([0.1, 0.9, 0.2, 0.8, 0.3, 0.4])
    assert cluster_weighted_auroc(y, s, [0, 0, 0, 0, 1, 1]) == pytest.approx(4 / 6)


def test_mcc_matches_scikit_learn_and_is_in_the_report():
    rng = np.random.default_rng(1)
    y, pred = rng.integers(0, 2, 500), rng.integers(0, 2, 500)
    assert mcc(y, pred) == pytest.approx(matthews_corrcoef(y, pred))
    assert mcc(y, np.zeros(500)) == 0.0
    assert binary_report(y, pred.astype(float), threshold=0.5)["mcc"] == pytest.approx(matthews_corrcoef(y, pred))
