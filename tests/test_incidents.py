"""Incidents (nadkit.incidents): the run merging, severity from the normal-score tail, flows by
source/destination pair, truth overlap, and the stream tracker against batch merging."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from nadkit import incidents as inc
from nadkit.artifact_schema import validate_threshold
from nadkit.errors import ArtifactError, DataError
from nadkit.thresholds import TargetFPR, normal_tail, threshold_from_dict


def spans(df):
    return list(zip(df["start"].tolist(), df["end"].tolist(), strict=True))


@pytest.mark.parametrize("flags, gap, want", [
    ([0, 0, 0, 0], 0, []),                                  # no flags
    ([1, 1, 1, 1], 0, [(0, 3)]),                            # all flags
    ([1, 0, 0, 0, 1], 0, [(0, 0), (4, 4)]),                 # a flag at each end
    ([1, 0, 0, 0, 1], 2, [(0, 0), (4, 4)]),                 # gap of 3 > 2: apart
    ([1, 0, 0, 0, 1], 3, [(0, 4)]),                         # gap of 3 <= 3: merged
    ([0, 1, 1, 0, 1, 0, 0, 1, 1], 1, [(1, 4), (7, 8)]),
    ([1], 0, [(0, 0)]),
])
def test_runs(flags, gap, want):
    s, e = inc.runs(flags, gap)
    assert list(zip(s.tolist(), e.tolist(), strict=True)) == want
    score = np.arange(len(flags), dtype=float)
    assert spans(inc.series_incidents(score, flags, gap=gap, min_flagged=1)) == want


def test_series_incidents_fields():
    score = np.array([np.nan, np.nan, 0.1, 4.0, 0.3, 6.0, 6.0, 0.2, 0.1, 0.1, 0.1, 2.0])
    flag = score > 1
    channels = np.c_[score, score * 2, np.full(len(score), 0.5)]
    t = pd.date_range("2024-01-01", periods=len(score), freq="1min").to_numpy()
    out = inc.series_incidents(score, flag, channels, ["a", "b", "c"], time=t, gap=1, top=2, min_flagged=1)
    assert list(out.columns) == list(inc.COLUMNS)
    assert spans(out) == [(3, 6), (11, 11)]
    assert out["n_flagged"].tolist() == [3, 1]
    assert out["peak_score"].tolist() == [6.0, 2.0]
    assert out["peak_at"].tolist() == [5, 11]  # the first step with the peak
    assert out["duration"].tolist() == [180.0, 0.0]  # seconds from first to last flagged step
    assert out["start_time"].iloc[0] == "2024-01-01T00:03:00"
    assert out["top"].tolist() == [["b", "a"], ["b", "a"]]
    assert out["severity"].isna().all()  # no normal tail given: no severity
    # a run needs min_flagged flagged steps (the default: DEFAULT_MIN_FLAGGED = 1)
    assert spans(inc.series_incidents(score, flag, gap=1, min_flagged=2)) == [(3, 6)]
    assert spans(inc.series_incidents(score, flag, gap=1)) == spans(inc.series_incidents(
        score, flag, gap=1, min_flagged=inc.DEFAULT_MIN_FLAGGED)) == [(3, 6), (11, 11)]
    with pytest.raises(DataError, match="steps"):
        inc.series_incidents(score, flag[:-1])
    with pytest.raises(DataError, match="gap"):
        inc.runs(flag, gap=-1)


def test_empty_series_keeps_the_columns():
    out = inc.series_incidents(np.zeros(5), np.zeros(5), np.zeros((5, 2)), ["a", "b"])
    assert len(out) == 0 and list(out.columns) == list(inc.COLUMNS)


def test_severity_is_calibrated_on_normal_scores():
    rng = np.random.default_rng(0)
    normal = rng.normal(size=20_000)
    t = TargetFPR(0.01).fit(normal)
    tail = t.normal_tail_
    assert tail["n"] == 20_000 and len(tail["scores"]) <= 128
    # the tail probability at the threshold is the target FPR, at the largest normal 1/(n+1)
    assert inc.tail_probability([t.value_], tail)[0] == pytest.approx(0.01, rel=0.05)
    assert inc.tail_probability([normal.max()], tail)[0] == pytest.approx(1 / 20_001)
    # fresh normals: the share at or above a severity matches its tail probability
    fresh = rng.normal(size=200_000)
    p = inc.tail_probability(fresh, tail)
    for level in (0.1, 0.01, 0.001):
        assert np.mean(p <= level) == pytest.approx(level, rel=0.2)
    sev = inc.severity(inc.tail_probability([-5.0, 0.0, t.value_, normal.max(), normal.max() + 10], tail))
    assert sev[0] == 0 and sev[1] < 10 and sev[2] == pytest.approx(100 / 3, abs=1)
    assert np.all(np.diff(sev) >= 0) and sev[-1] == 100.0


def test_normal_tail_travels_in_threshold_json():
    t = TargetFPR(0.01).fit(np.random.default_rng(1).exponential(size=3000))
    d = t.to_dict()
    validate_threshold(d)
    back = threshold_from_dict(d)
    assert back.normal_tail_ == t.normal_tail_
    bad = {**d, "normal_tail": {**d["normal_tail"], "scores": d["normal_tail"]["scores"][::-1]}}
    with pytest.raises(ArtifactError, match="normal_tail"):
        validate_threshold(bad)
    assert normal_tail(np.array([np.nan])) is None


def test_flow_incidents_by_pair_and_window():
    score = np.array([5.0, 0.1, 6.0, 7.0, 0.2, 8.0, 9.0])
    flag = score > 1
    src = np.array(["10.0.0.1", "x", "10.0.0.1", "10.0.0.2", "x", "10.0.0.1", "10.0.0.2"])
    dst = np.array(["10.0.0.9"] * 7)
    time = np.array([0.0, 1, 100, 110, 111, 1000, 120])
    contrib = pd.DataFrame({"contrib_bytes": score, "contrib_pkts": 10 - score})
    out = inc.flow_incidents(score, flag, contrib, src, dst, time, window=200)
    # .1 → .9: rows 0, 2 (100 s apart) merge, row 5 is 900 s later; .2 → .9: rows 3 and 6
    assert spans(out) == [(0, 2), (3, 6), (5, 5)]
    assert out["src"].tolist() == ["10.0.0.1", "10.0.0.2", "10.0.0.1"]
    assert out["n_flagged"].tolist() == [2, 2, 1]
    assert out["peak_score"].tolist() == [6.0, 9.0, 8.0]
    assert out["peak_at"].tolist() == [2, 6, 5]
    assert out["duration"].tolist() == [100.0, 10.0, 0.0]
    assert out["top"].tolist()[0] == ["bytes", "pkts"]  # 5+6 > (10-5)+(10-6)
    assert spans(inc.flow_incidents(score, flag, contrib, src, dst, time, window=200, min_flagged=2)) == [(0, 2), (3, 6)]
    # no pair columns: consecutive flagged rows (gaps of at most `gap` rows)
    assert spans(inc.flow_incidents(score, flag, gap=0, min_flagged=1)) == [(0, 0), (2, 3), (5, 6)]
    assert spans(inc.flow_incidents(score, flag, gap=0, min_flagged=2)) == [(2, 3), (5, 6)]
    assert spans(inc.flow_incidents(score, flag, gap=0)) == [(0, 0), (2, 3), (5, 6)]  # DEFAULT_MIN_FLAGGED = 1
    assert inc.flow_incidents(score, flag, gap=0, min_flagged=2)["incident_id"].tolist() == [1, 2]
    assert spans(inc.flow_incidents(score, flag, gap=1)) == [(0, 6)]
    assert len(inc.flow_incidents(score, np.zeros(7))) == 0


def test_flow_columns_are_found_by_name():
    cols = ["Flow ID", "Src IP", "Dst IP", "Timestamp", "Flow Bytes/s"]
    assert inc.flow_columns(cols) == {"src": "Src IP", "dst": "Dst IP", "time": "Timestamp"}
    assert inc.flow_columns(["srcip", "dstip", "stime"]) == {"src": "srcip", "dst": "dstip", "time": "stime"}
    assert inc.flow_columns(["bytes"]) == {"src": None, "dst": None, "time": None}


def test_truth_overlap_and_event_coverage():
    y = np.array([0, 1, 1, 0, 0, 0, 0, 1, 0, 0, 0, 1])
    found = pd.DataFrame({"start": [0, 4, 9], "end": [1, 5, 11]})
    lab = inc.label_overlap(found, y)
    assert lab["labelled"].tolist() == [True, False, True]
    assert lab["event"].tolist() == [1, 0, 3]
    cov = inc.event_coverage(found, y)
    assert cov == {"events": 3, "incidents": 3, "events_overlapped": 2, "false_incidents": 1, "missed_events": [1]}
    none = inc.event_coverage(found.iloc[:0], y)
    assert none["events_overlapped"] == 0 and none["missed_events"] == [0, 1, 2]


def test_stream_tracker_equals_batch_merging():
    rng = np.random.default_rng(3)
    n, c = 600, 3
    score = rng.gamma(1.0, size=n)
    flag = (score > 2.5) | (rng.random(n) < 0.02)
    chan = rng.random((n, c))
    tail = normal_tail(rng.gamma(1.0, size=5000))
    batch = inc.series_incidents(score, flag, chan, ["a", "b", "c"], gap=4, tail=tail, min_flagged=2)
    tracker = inc.IncidentTracker(gap=4, tail=tail, channels=["a", "b", "c"], min_flagged=2)
    final: dict[int, dict] = {}
    cuts = np.r_[0, np.sort(rng.choice(np.arange(1, n), 25, replace=False)), n]
    for lo, hi in itertools.pairwise(cuts):
        for i in tracker.update(np.arange(lo, hi), score[lo:hi], flag[lo:hi], chan[lo:hi]):
            final[i["incident_id"]] = i
    got = [final[k] for k in sorted(final)]
    assert [(i["start"], i["end"]) for i in got] == spans(batch)
    assert [i["n_flagged"] for i in got] == batch["n_flagged"].tolist()
    assert [i["peak_score"] for i in got] == batch["peak_score"].tolist()
    assert [i["peak_at"] for i in got] == batch["peak_at"].tolist()
    assert [i["top"] for i in got] == batch["top"].tolist()
    assert np.allclose([i["severity"] for i in got], batch["severity"])
    assert all(i["status"] == "closed" for i in got[:-1])
    assert (batch["n_flagged"] >= 2).all()
    assert len(inc.series_incidents(score, flag, gap=4, min_flagged=1)) > len(batch)  # singletons were dropped


def test_write_json_and_csv(tmp_path):
    from nadkit.io import OutputError, output_kind

    out = inc.series_incidents(np.array([0, 3.0, 0]), np.array([0, 1, 0]), np.ones((3, 2)), ["a", "b"], min_flagged=1)
    inc.write(out, tmp_path / "i.json", gap=10)
    inc.write(out, tmp_path / "i.csv")
    assert output_kind(tmp_path / "i.json") == output_kind(tmp_path / "i.csv") == "incidents"
    assert pd.read_csv(tmp_path / "i.csv")["top"].tolist() == ["a;b"]
    inc.check_path(tmp_path / "i.json")  # an incidents file of ours may be replaced
    (tmp_path / "mine.json").write_text("{}")
    with pytest.raises(OutputError, match="refusing to replace"):
        inc.check_path(tmp_path / "mine.json")
    with pytest.raises(OutputError, match=r"\.csv or \.json"):
        inc.check_path(tmp_path / "i.parquet")
    with pytest.raises(OutputError, match="also an input"):
        inc.check_path(tmp_path / "s.csv", [tmp_path / "s.csv"])
