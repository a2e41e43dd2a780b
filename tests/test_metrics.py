import numpy as np
import pytest
from sklearn.metrics import f1_score, fbeta_score, precision_score, recall_score, roc_auc_score

from nadkit.metrics import binary_report, per_class_detection, tpr_at_fpr


def test_binary_report_matches_sklearn():
    rng = np.random.default_rng(0)
    y = (rng.random(5000) < 0.3).astype(int)
    s = rng.normal(size=5000) + 2 * y
    r = binary_report(y, s, threshold=1.0)
    pred = s > 1.0
    assert r["auroc"] == pytest.approx(roc_auc_score(y, s))
    assert r["precision"] == pytest.approx(precision_score(y, pred))
    assert r["recall"] == pytest.approx(recall_score(y, pred))
    assert r["f1"] == pytest.approx(f1_score(y, pred))
    assert r["f2"] == pytest.approx(fbeta_score(y, pred, beta=2))
    c = r["confusion"]
    assert c["tp"] + c["fn"] == y.sum() and c["tn"] + c["fp"] == (1 - y).sum()


def test_tpr_at_fpr_brute_force():
    rng = np.random.default_rng(1)
    y = (rng.random(3000) < 0.5).astype(int)
    s = rng.normal(size=3000) + y
    best = 0.0
    for t in np.unique(s):
        p = s >= t
        if (p & (y == 0)).sum() / (y == 0).sum() <= 0.01:
            best = max(best, (p & (y == 1)).sum() / y.sum())
    assert tpr_at_fpr(y, s, 0.01) == pytest.approx(best)


def test_per_class_detection():
    attack = np.array(["normal", "dos", "dos", "probe", "normal"])
    pred = np.array([1, 1, 0, 1, 0])
    r = per_class_detection(attack, pred)
    assert r["dos"] == {"n": 2, "detected": 1, "rate": 0.5}
    assert r["normal"]["rate"] == 0.5 and r["probe"]["rate"] == 1.0


def test_single_class_gives_nan_not_crash():
    r = binary_report(np.zeros(10, int), np.arange(10.0), threshold=5)
    assert np.isnan(r["auroc"]) and r["fpr"] == 0.4
