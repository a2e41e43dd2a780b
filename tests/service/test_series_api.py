"""Series models over real HTTP: a DC-VAE trained on real SKAB valve runs (see conftest), fed
SKAB valve1/0 (a run it never saw).

* streaming ``POST /v1/models/dcvae/streams/{id}`` in chunks of varying size (the first ones
  shorter than the window) gives every step the score, μ, band and flags that scoring the whole
  series with the library gives it, to float32 tolerance (the stream scores a sliding buffer of
  ``context - 1 + k`` steps, the library one pass over all of them: float32 convolutions over
  inputs of different lengths are not bit-identical, see the report in docs/architecture.md);
* ``POST /v1/models/dcvae/score`` with a whole series equals the library on the same rows exactly;
* a wrong channel set, a series shorter than the window, null/NaN, text and values far outside the
  training range are 4xx errors naming the problem, and a refused chunk leaves its stream as it was.
"""

from __future__ import annotations

import numpy as np
import pytest

from nadkit import artifact
from nadkit.metrics import auroc

STREAM = "/v1/models/dcvae/streams"
N = 300  # steps streamed
CHUNKS = (5, 20, 1, 60, 3, 110, 7, 94)  # sums to N; the first three stay below the window (32)


@pytest.fixture(scope="module")
def lib(live):
    return artifact.load(live.models["dcvae"])


@pytest.fixture(scope="module")
def points(live, lib):
    """The first N steps of SKAB valve1/0 as the model's channels, with their timestamps, its
    one-step gaps (a 2 s step every ~20 steps) filled as ``--fill-gaps 1`` does: a stream's
    points must be consecutive steps."""
    from nadkit.data.series.gaps import regularize

    series = regularize(live.series, max_gap=1)
    X = series.X[lib.preprocessor.channels_].iloc[:N]
    times = np.datetime_as_string(series.time[:N], unit="s").tolist()
    return X, times


def records(X, times=None, start=0):
    rows = X.to_dict("records")
    return [{**r, "time": times[start + i]} for i, r in enumerate(rows)] if times else rows


def assert_flags_match(got, want, value, lower, upper, sigma):
    """Flags equal, except where the value lies within float32 noise of a band edge."""
    edge = np.minimum(np.abs(value - lower), np.abs(value - upper)) < 1e-4 * np.maximum(sigma, 1e-12)
    assert np.array_equal(np.asarray(got)[~edge], np.asarray(want)[~edge])


def test_stream_chunks_match_scoring_the_whole_series(live, lib, points):
    X, times = points
    whole = lib.bands(X)  # the library, one call on the whole series
    window = lib.detector.window
    assert lib.detector.context_ > window  # the buffer must hold more than a window
    got = {k: [] for k in ("scores", "mu", "lower", "upper", "sigma", "flag", "labels")}
    with live.client() as c:
        c.delete(f"{STREAM}/pump-1")  # start clean even when the session reruns
        start = 0
        for k in CHUNKS:
            r = c.post(f"{STREAM}/pump-1", json={"data": records(X.iloc[start:start + k], times, start)})
            assert r.status_code == 200, r.text
            out = r.json()
            assert out["steps"] == list(range(start, start + k)) and out["seen"] == start + k
            assert out["times"] == times[start:start + k] and out["channels"] == lib.preprocessor.channels_
            for key in got:
                got[key].extend(out[key])
            start += k
        assert c.delete(f"{STREAM}/pump-1").json() == {"forgotten": "pump-1"}
        assert c.delete(f"{STREAM}/pump-1").status_code == 404
    scores = np.array(got["scores"], dtype=float)
    unscored = np.arange(N) < window - 1
    assert np.isnan(scores[unscored]).all() and np.isfinite(scores[~unscored]).all()
    assert all(label is None for label in np.array(got["labels"], dtype=object)[unscored])
    np.testing.assert_allclose(scores, whole["step_score"], rtol=1e-5, atol=1e-6)
    for key in ("mu", "lower", "upper", "sigma"):
        np.testing.assert_allclose(np.array(got[key], dtype=float), whole[key], rtol=1e-5, atol=1e-5, err_msg=key)
    args = (X.to_numpy(), whole["lower"], whole["upper"], whole["sigma"])
    assert_flags_match(np.array(got["flag"], dtype=float)[~unscored], whole["flag"][~unscored],
                       *(a[~unscored] for a in args))
    labels = np.array([v if v is not None else 0 for v in got["labels"]])
    assert labels.sum() == np.array(got["flag"], dtype=float)[~unscored].any(axis=1).sum()


def test_stream_without_bands_and_streams_are_separate(live, lib, points):
    X, _ = points
    with live.client() as c:
        a = c.post(f"{STREAM}/a?bands=false", json={"instances": X.iloc[:40].to_numpy().tolist()}).json()
        b = c.post(f"{STREAM}/b?bands=false", json={"instances": X.iloc[10:50].to_numpy().tolist()}).json()
        assert set(a) == {"model", "stream", "window", "received", "steps", "scores", "labels", "thresholds", "seen", "incidents"}
        assert a["seen"] == b["seen"] == 40
        for s in ("a", "b"):
            c.delete(f"{STREAM}/{s}")
    np.testing.assert_allclose(np.array(a["scores"], dtype=float), lib.score(X.iloc[:40]), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.array(b["scores"], dtype=float), lib.score(X.iloc[10:50]), rtol=1e-5, atol=1e-6)


def test_score_a_whole_series_equals_the_library_exactly(live, lib, points):
    X, times = points
    whole = lib.bands(X)
    with live.client() as c:
        r = c.post("/v1/models/dcvae/score", json={"data": records(X, times)})
        assert r.status_code == 200, r.text
        out = r.json()
        csv = c.post("/v1/models/dcvae/score", content=X.assign(datetime=times).to_csv(index=False),
                     headers={"content-type": "text/csv"}).json()
    assert out["n"] == N and out["window"] == lib.detector.window and out["threshold"] is None  # α bands
    for got in (out, csv):
        np.testing.assert_array_equal(np.array(got["scores"], dtype=float), whole["step_score"])
        np.testing.assert_array_equal(np.array(got["upper"], dtype=float), whole["upper"])
        np.testing.assert_array_equal(np.array(got["flag"], dtype=float)[31:], whole["flag"][31:])
    assert out["times"] == times and any("'datetime'" in w for w in csv["warnings"])


def test_bad_series_input_is_a_clear_4xx_and_leaves_the_stream_alone(live, lib, points):
    X, _ = points
    channels = lib.preprocessor.channels_
    good = records(X.iloc[:40])
    one = good[0]
    bad = {
        "missing channel": ({"data": [{k: v for k, v in one.items() if k != "Pressure"}]}, 422,
                            "missing field(s) 'Pressure'"),
        "unknown channel": ({"data": [{**one, "Pressure2": 1.0}]}, 422, "unknown field(s) 'Pressure2'"),
        "row too short": ({"instances": [list(one.values())[:-1]]}, 422,
                          f"has {len(channels) - 1} values; the model expects {len(channels)}"),
        "null": ({"data": [{**one, "Current": None}]}, 422, "field 'Current' is null in record 0"),
        "text": ({"data": [{**one, "Current": "high"}]}, 422, "field 'Current' must be a number"),
        "empty": ({"data": []}, 422, "empty batch"),
    }
    with live.client() as c:
        c.delete(f"{STREAM}/guarded")
        first = c.post(f"{STREAM}/guarded", json={"data": good})
        assert first.status_code == 200 and first.json()["seen"] == 40
        for what, (body, status, words) in bad.items():
            for url in (f"{STREAM}/guarded", "/v1/models/dcvae/score"):
                r = c.post(url, json=body)
                assert r.status_code == status and words in r.json()["detail"], (what, url, r.text)
        nan = c.post(f"{STREAM}/guarded", content=b'{"instances": [[NaN' + b", 1" * (len(channels) - 1) + b"]]}",
                     headers={"content-type": "application/json"})
        assert nan.status_code == 400 and "NaN is not a valid JSON number" in nan.json()["detail"]
        huge = c.post(f"{STREAM}/guarded", json={"data": [{**one, "Current": 1e300}]})
        assert huge.status_code == 422 and "values too large in 1 steps (channels ['Current'])" in huge.json()["detail"], huge.text
        short = c.post("/v1/models/dcvae/score", json={"data": good[:10]})
        assert short.status_code == 422
        assert "10 time steps, fewer than the model's window length 32" in short.json()["detail"]
        holed = X.iloc[:40].copy()
        holed.iloc[5, channels.index("Current")] = np.nan  # an empty CSV cell
        gap = c.post("/v1/models/dcvae/score", content=holed.to_csv(index=False), headers={"content-type": "text/csv"})
        assert gap.status_code == 422 and "NaN/inf values in 1 steps (channels ['Current'])" in gap.json()["detail"]
        assert c.post(f"{STREAM}/bad%20id", json={"data": good}).status_code == 422
        assert c.post("/v1/models/dcvae/streams/x" + "y" * 200, json={"data": good}).status_code == 422
        # the refused chunks changed nothing: the next points continue the stream
        nxt = c.post(f"{STREAM}/guarded", json={"data": records(X.iloc[40:45])}).json()
        c.delete(f"{STREAM}/guarded")
    assert nxt["steps"] == list(range(40, 45))
    np.testing.assert_allclose(np.array(nxt["scores"], dtype=float), lib.score(X.iloc[:45])[40:], rtol=1e-5, atol=1e-6)


def test_series_page_data(live, lib):
    with live.client() as c:
        models = {m["name"]: m for m in c.get("/v1/models").json()["models"]}
        base = c.get("/v1/models/dcvae/series").json()
        one = c.get("/v1/models/dcvae/series", params={"channel": ["Current", "Pressure"]}).json()
        assert c.get("/v1/models/dcvae/series", params={"channel": "nope"}).status_code == 422
        assert c.get("/v1/models/ae/series").status_code == 404
    d = models["dcvae"]
    assert d["input_kind"] == "series" and d["series"]["window"] == 32 and d["threshold"]["method"] == "alpha"
    n = len(live.series)
    assert d["series_view"]["n"] == n and d["series_view"]["data"] == "skab:valve1/0"
    whole = lib.bands(live.series)
    assert base["values"] == {} and base["channels"] == lib.preprocessor.channels_
    np.testing.assert_array_equal(np.array(base["step_score"], dtype=float), whole["step_score"])
    assert base["step_flag"] == whole["step_flag"].tolist() and base["y"] == live.series.y.tolist()
    k = lib.preprocessor.channels_.index("Current")
    np.testing.assert_array_equal(np.array(one["values"]["Current"]["lower"], dtype=float), whole["lower"][:, k])
    assert one["values"]["Current"]["alpha_up"] == lib.threshold.alpha_up_[k]
    ok = np.isfinite(whole["step_score"])  # the page's AUROC is the library's on the scored steps
    assert base["summary"]["auroc"] == auroc(live.series.y[ok], whole["step_score"][ok])
    assert base["summary"]["n_flagged"] == whole["step_flag"].sum() and base["summary"]["n_unscored"] == 31
