"""Series metrics: hand-computed answers from the definitions, and a loop-by-loop transcription of
Tatbul et al. (NeurIPS 2018) as an independent reference for range precision/recall."""

import json

import numpy as np
import pytest

from nadkit.errors import DataError
from nadkit.metrics import (
    event_detection_rate,
    event_ranges,
    per_channel_f1,
    point_adjust,
    point_adjusted_f1,
    range_f1,
    range_precision_recall,
    series_report,
    time_to_detect,
)


def test_event_ranges_edges():
    assert event_ranges([1, 1, 0, 1]) == [(0, 2), (3, 4)]
    assert event_ranges([0, 0]) == []
    assert event_ranges(np.ones(3, bool)) == [(0, 3)]


# ---------------------------------------------------------------- range metrics, by hand
# y: one real range R = [1, 6) (L = 5); predictions P1 = [1, 3) inside R and P2 = [7, 9) outside.
# Recall covers positions 1, 2 of R; δ over R's positions 1..5 is
#   flat 1,1,1,1,1 → 2/5;  front 5,4,3,2,1 → 9/15;  back 1..5 → 3/15;  middle 1,2,3,2,1 → 3/9.
# Precision: P1 is inside R (ω = 1 for any bias), P2 touches nothing → (1 + 0) / 2.
Y_A = [0, 1, 1, 1, 1, 1, 0, 0, 0, 0]
P_A = [0, 1, 1, 0, 0, 0, 0, 1, 1, 0]


@pytest.mark.parametrize(("bias", "recall"), [("flat", 0.4), ("front", 0.6), ("back", 0.2),
                                               ("middle", 1 / 3)])
def test_range_bias_by_hand(bias, recall):
    p, r = range_precision_recall(Y_A, P_A, bias=bias)
    assert p == pytest.approx(0.5)
    assert r == pytest.approx(recall)
    # existence reward: alpha·1 + (1 − alpha)·overlap reward
    assert range_precision_recall(Y_A, P_A, alpha=1.0, bias=bias)[1] == pytest.approx(1.0)
    assert range_precision_recall(Y_A, P_A, alpha=0.5, bias=bias)[1] == pytest.approx(0.5 + recall / 2)
    assert range_f1(Y_A, P_A, bias=bias) == pytest.approx(2 * 0.5 * recall / (0.5 + recall))


# One real range R = [0, 6) (L = 6) overlapped by two predicted ranges, P1 = [0, 2) and P2 = [3, 4),
# plus P3 = [7, 8) outside. Covered positions of R: 1, 2, 4 (1-based). δ over 1..6:
#   flat → 3/6; front 6,5,4,3,2,1 → (6+5+3)/21; back 1..6 → (1+2+4)/21; middle 1,2,3,3,2,1 → 6/12.
# Cardinality factor for R (2 overlapping ranges): one → 1, reciprocal → 1/2, udf γ(2).
# Precision: P1, P2 inside R → 1 each, P3 → 0: 2/3 whatever the cardinality.
Y_B = [1, 1, 1, 1, 1, 1, 0, 0]
P_B = [1, 1, 0, 1, 0, 0, 0, 1]


@pytest.mark.parametrize(("bias", "omega"), [("flat", 0.5), ("front", 14 / 21), ("back", 7 / 21),
                                              ("middle", 0.5)])
@pytest.mark.parametrize(("cardinality", "factor"), [("one", 1.0), ("reciprocal", 0.5),
                                                      ("udf_gamma", 1.0)])
def test_range_recall_cardinality_by_hand(bias, omega, cardinality, factor):
    p, r = range_precision_recall(Y_B, P_B, cardinality=cardinality, bias=bias)
    assert p == pytest.approx(2 / 3)
    assert r == pytest.approx(factor * omega)


def test_range_udf_gamma():
    _, r = range_precision_recall(Y_B, P_B, cardinality="udf_gamma", gamma=lambda k: 1 / k**2)
    assert r == pytest.approx(0.5 / 4)


# A predicted range P = [1, 6) (L = 5) over two real ranges R1 = [0, 2) and R2 = [4, 5): P's
# positions 1 and 4 are labelled. δ over P: flat → 2/5; front 5,4,3,2,1 → (5+2)/15;
# back → (1+4)/15; middle 1,2,3,2,1 → (1+2)/9; reciprocal halves these (2 overlapping ranges).
# Recall: R1 (L = 2) has its position 2 covered: flat 1/2, front (δ 2,1) 1/3, back (δ 1,2) 2/3,
# middle (δ 1,1) 1/2; R2 is covered fully → recall = (ω(R1) + 1) / 2.
Y_C = [1, 1, 0, 0, 1, 0]
P_C = [0, 1, 1, 1, 1, 1]


@pytest.mark.parametrize(("bias", "p_omega", "r1"), [("flat", 2 / 5, 1 / 2), ("front", 7 / 15, 1 / 3),
                                                      ("back", 5 / 15, 2 / 3), ("middle", 3 / 9, 1 / 2)])
def test_range_precision_cardinality_by_hand(bias, p_omega, r1):
    p_one, r = range_precision_recall(Y_C, P_C, cardinality="one", bias=bias)
    p_rec, r_rec = range_precision_recall(Y_C, P_C, cardinality="reciprocal", bias=bias)
    assert p_one == pytest.approx(p_omega)
    assert p_rec == pytest.approx(p_omega / 2)
    assert r == pytest.approx((r1 + 1) / 2) and r_rec == pytest.approx(r)
    # the precision's own existence weight (the paper recommends 0, so it is a keyword)
    assert range_precision_recall(Y_C, P_C, bias=bias, p_alpha=1.0)[0] == pytest.approx(1.0)


def test_range_empty_cases_follow_prts():
    assert range_precision_recall([0, 1, 1, 0], [0, 0, 0, 0]) == (0.0, 0.0)
    assert range_precision_recall([0, 0, 0, 0], [0, 1, 0, 0]) == (0.0, 0.0)
    assert range_f1([0, 1, 1, 0], [0, 1, 1, 0]) == 1.0


def _reference_range_pr(y, p, alpha, cardinality, bias):
    """Tatbul et al.'s definitions, transcribed with plain loops (ranges inclusive, 1-based δ)."""
    def ranges(a):
        return [(s, e - 1) for s, e in event_ranges(a)]

    def delta(i, length):
        if bias == "flat":
            return 1.0
        if bias == "front":
            return length - i + 1.0
        if bias == "back":
            return float(i)
        return float(i) if i <= length / 2 else length - i + 1.0

    def omega(rng, lo, hi):
        length = rng[1] - rng[0] + 1
        mine = sum(delta(i, length) for i in range(1, length + 1) if lo <= rng[0] + i - 1 <= hi)
        return mine / sum(delta(i, length) for i in range(1, length + 1))

    def score(own, other, a):
        if not own:
            return 0.0
        total = 0.0
        for r in own:
            hits = [(max(r[0], q[0]), min(r[1], q[1])) for q in other if r[0] <= q[1] and q[0] <= r[1]]
            gamma = 1.0 if len(hits) <= 1 or cardinality != "reciprocal" else 1.0 / len(hits)
            total += a * bool(hits) + (1 - a) * gamma * sum(omega(r, lo, hi) for lo, hi in hits)
        return total / len(own)

    real, pred = ranges(y), ranges(p)
    return score(pred, real, 0.0), score(real, pred, alpha)


def test_range_metrics_match_reference_on_random_series():
    rng = np.random.default_rng(0)
    for _ in range(60):
        n = int(rng.integers(5, 120))
        y = np.repeat(rng.random(n) < 0.3, rng.integers(1, 6, n))[:n]
        p = np.repeat(rng.random(n) < 0.3, rng.integers(1, 6, n))[:n]
        for bias in ("flat", "front", "back", "middle"):
            for cardinality in ("one", "reciprocal"):
                for alpha in (0.0, 0.4):
                    got = range_precision_recall(y, p, alpha, cardinality, bias)
                    assert got == pytest.approx(_reference_range_pr(y, p, alpha, cardinality, bias))


def test_range_metric_errors():
    with pytest.raises(DataError, match="bias"):
        range_precision_recall(Y_A, P_A, bias="end")
    with pytest.raises(DataError, match="cardinality"):
        range_precision_recall(Y_A, P_A, cardinality="two")
    with pytest.raises(DataError, match="alpha"):
        range_precision_recall(Y_A, P_A, alpha=2.0)
    with pytest.raises(DataError, match="equal length"):
        range_precision_recall([0, 1], [0, 1, 1])
    with pytest.raises(DataError, match="0/1"):
        range_precision_recall([0, 2], [0, 1])


# ------------------------------------------------------------ point adjust, events, TTD
def test_point_adjust_and_event_rate():
    y = [0, 1, 1, 1, 0, 0, 1, 1, 0, 1]
    p = [1, 0, 0, 1, 0, 0, 0, 0, 0, 1]
    assert point_adjust(y, p).tolist() == [1, 1, 1, 1, 0, 0, 0, 0, 0, 1]
    assert event_detection_rate(y, p) == pytest.approx(2 / 3)
    # adjusted: tp 4 (event 1 + last), fp 1, fn 2 → F1 = 8 / (8 + 1 + 2)
    assert point_adjusted_f1(y, p) == pytest.approx(8 / 11)
    assert np.isnan(event_detection_rate([0, 0], [1, 0]))


def test_time_to_detect_steps_and_timestamps():
    y = np.array([0, 1, 1, 1, 1, 0, 1, 1, 0, 1, 1])
    p = np.array([1, 0, 0, 1, 1, 0, 1, 0, 0, 0, 0])
    r = time_to_detect(y, p)
    np.testing.assert_array_equal(r["per_event"], [2.0, 0.0, np.nan])
    assert (r["mean"], r["median"], r["n_events"], r["n_detected"], r["unit"]) == (1.0, 1.0, 3, 2, "steps")
    ts = np.datetime64("2024-01-01T00:00") + np.arange(len(y)) * np.timedelta64(5, "m")
    r = time_to_detect(y, p, ts)
    assert r["unit"] == "seconds" and r["per_event"][0] == 600.0
    assert time_to_detect(y, p, np.arange(len(y)) * 2.5)["mean"] == 2.5
    assert np.isnan(time_to_detect([0, 1], [0, 0])["mean"])
    with pytest.raises(DataError, match="timestamps"):
        time_to_detect(y, p, ts[:3])


def test_per_channel_f1_point_and_range():
    labels = np.zeros((10, 3), int)
    preds = np.zeros((10, 3), int)
    labels[2:6, 0] = 1
    preds[4:8, 0] = 1  # tp 2, fp 2, fn 2 → point F1 0.5
    labels[1:3, 1] = 1
    preds[1:3, 1] = 1  # perfect
    preds[5, 2] = 1  # channel 2 has no labelled anomaly → NaN
    f1 = per_channel_f1(labels, preds)
    assert f1[0] == pytest.approx(0.5) and f1[1] == 1.0 and np.isnan(f1[2])
    fr = per_channel_f1(labels, preds, kind="range", bias="front")
    p0, r0 = range_precision_recall(labels[:, 0], preds[:, 0], bias="front")
    assert fr[0] == pytest.approx(2 * p0 * r0 / (p0 + r0)) and fr[1] == 1.0 and np.isnan(fr[2])
    with pytest.raises(DataError, match="point"):
        per_channel_f1(labels, preds, kind="event")
    with pytest.raises(DataError, match="shape"):
        per_channel_f1(labels, preds[:, :2])


# ------------------------------------------------------------------------- the report
def test_series_report_warmup_and_labelled_point_adjustment():
    n = 200
    y = np.zeros(n, int)
    y[2:6] = 1  # inside the warm-up: ignored
    y[100:140] = 1  # one long event, flagged at a single step
    scores = np.linspace(0, 1, n)
    scores[:10] = np.nan
    scores[120] = 5.0
    r = series_report(y, scores, threshold=2.0)
    assert r["n_ignored"] == 10 and r["n_anomalies_ignored"] == 4 and r["n_events"] == 1
    assert r["n_anomalies"] == 40
    # point-wise: 1 of 40 anomalous steps; point-adjusted: all 40 → reported side by side
    assert r["recall"] == pytest.approx(1 / 40) and r["f1"] == pytest.approx(2 / 41)
    assert r["point_adjusted_f1"] == 1.0 and r["point_adjusted_recall"] == 1.0
    assert r["range_recall"] == pytest.approx(1 / 40) and r["range_precision"] == 1.0
    assert r["event_detection_rate"] == 1.0 and r["time_to_detect"] == [20.0]
    assert 0 <= r["auroc"] <= 1 and r["range_params"]["cardinality"] == "reciprocal"
    json.dumps(r, allow_nan=False)


def test_series_report_per_channel_and_json_safety():
    rng = np.random.default_rng(3)
    n, c = 300, 4
    cl = np.zeros((n, c), int)
    cl[50:60, 0] = 1
    cl[200:205, 2] = 1
    y = cl.any(axis=1).astype(int)
    cp = cl.copy()
    cp[55:70, 0] = 1
    scores = rng.random(n) + 2 * y
    r = series_report(y, scores, pred=cp.any(axis=1), channel_labels=cl, channel_pred=cp,
                      timestamps=np.arange(n) * 60.0)
    assert r["per_channel_f1"][1] is None and r["per_channel_f1"][3] is None
    assert r["per_channel_f1"][2] == 1.0 and r["n_channels_labelled"] == 2
    assert r["per_channel_f1_mean"] == pytest.approx((per_channel_f1(cl, cp)[[0, 2]]).mean())
    assert r["per_channel_range_f1_mean"] is not None and r["time_to_detect_unit"] == "timestamp units"
    assert r["auroc"] == pytest.approx(1.0)
    json.dumps(r, allow_nan=False)
    no_events = series_report(np.zeros(50, int), rng.random(50), threshold=0.5)
    assert no_events["auroc"] is None and no_events["event_detection_rate"] is None
    json.dumps(no_events, allow_nan=False)


def test_series_report_errors():
    with pytest.raises(DataError, match="shape"):
        series_report(np.zeros(5), np.zeros(4))
    with pytest.raises(DataError, match="every score is NaN"):
        series_report(np.zeros(3), np.full(3, np.nan))
    with pytest.raises(DataError, match="both"):
        series_report(np.zeros(3), np.zeros(3), channel_labels=np.zeros((3, 2)))
    with pytest.raises(DataError, match="needs scores"):
        series_report(np.zeros(3), None, threshold=1.0)
