import numpy as np
import pytest
from sklearn.metrics import f1_score, fbeta_score, precision_score, recall_score, roc_auc_score

from nadkit.metrics import (
    binary_report,
    partial_auroc,
    per_class_detection,
    threshold_at_fpr,
    tpr_at_fpr,
)


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


def test_low_fpr_metrics_match_sklearn_and_brute_force():
    rng = np.random.default_rng(2)
    y = (rng.random(20_000) < 0.2).astype(int)
    s = np.round(rng.normal(size=20_000) + 1.5 * y, 2)  # rounded: ties at the cuts
    attack = np.where(y == 1, rng.choice(["dos", "probe", "r2l"], size=len(y)), "normal")
    r = binary_report(y, s, threshold=1.0, attack=attack)
    for max_fpr in (0.001, 0.01):
        # brute force over the ROC cuts "score >= t"
        n0, n1 = (y == 0).sum(), y.sum()
        best = max(((s >= t) & (y == 1)).sum() / n1 for t in np.unique(s)
                   if ((s >= t) & (y == 0)).sum() / n0 <= max_fpr)
        assert r[f"tpr_at_fpr_{max_fpr:g}"] == pytest.approx(best)
    assert r["pauroc_0.01"] == pytest.approx(roc_auc_score(y, s, max_fpr=0.01))
    assert partial_auroc(y, s, 0.05) == pytest.approx(roc_auc_score(y, s, max_fpr=0.05))
    assert partial_auroc(y, -s, 0.01) < 0.5 < r["pauroc_0.01"] <= 1.0
    # per-attack rates at the oracle FPR-1 % cut: the cut tpr_at_fpr reports, FPR ≤ 1 % on these normals
    t = r["threshold_at_fpr_0.01"]
    assert t == threshold_at_fpr(y, s, 0.01)
    oracle = r["per_class_at_fpr_0.01"]
    assert oracle["normal"]["rate"] <= 0.01 and oracle["normal"]["n"] == (y == 0).sum()
    detected = sum(v["detected"] for c, v in oracle.items() if c != "normal")
    assert detected / y.sum() == pytest.approx(r["tpr_at_fpr_0.01"])
    for c in ("dos", "probe", "r2l"):
        rows = attack == c
        assert oracle[c]["rate"] == pytest.approx((s[rows] > t).mean())
        assert r["per_class"][c]["rate"] == pytest.approx((s[rows] > 1.0).mean())  # the given threshold
    assert "oracle" in r["operating_point_note"]


def test_low_fpr_metrics_single_class_are_nan():
    r = binary_report(np.zeros(10, int), np.arange(10.0), attack=np.array(["normal"] * 10))
    assert np.isnan(r["tpr_at_fpr_0.001"]) and np.isnan(r["pauroc_0.01"])
    assert "per_class_at_fpr_0.01" not in r
