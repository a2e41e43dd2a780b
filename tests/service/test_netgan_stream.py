"""Streams of a model whose scores look ahead (Net-GAN's covering average over a 16-step window
looks 15 steps ahead), over real HTTP: each append answers for the steps that became final, L
steps behind the points received, and those scores equal scoring the whole series with the
library; the last L steps stay pending."""

from __future__ import annotations

import numpy as np

from nadkit import artifact
from nadkit.data.series.gaps import regularize

N = 200
CHUNKS = (3, 10, 1, 40, 2, 77, 67)  # sums to N; the first chunks are shorter than the lookahead


def test_lookahead_stream_returns_final_steps_equal_to_the_library(netgan_live):
    lib = artifact.load(netgan_live.models["netgan"])
    info = lib.detector.series_info()
    window, lookahead = info["window"], info["lookahead"]
    assert lookahead == window - 1 == 15
    series = regularize(netgan_live.series, max_gap=1)  # a stream's points are consecutive steps
    X = series.X[lib.preprocessor.channels_].iloc[:N]
    times = np.datetime_as_string(series.time[:N], unit="s").tolist()
    whole = lib.bands(X)
    steps, scores, upper, got_times = [], [], [], []
    with netgan_live.client() as c:
        start = 0
        for k in CHUNKS:
            rows = [{**r, "time": times[start + i]} for i, r in enumerate(X.iloc[start:start + k].to_dict("records"))]
            r = c.post("/v1/models/netgan/streams/s1", json={"data": rows})
            assert r.status_code == 200, r.text
            out = r.json()
            start += k
            final = max(0, start - lookahead)  # steps [0, final) are final now
            assert out["seen"] == start and out["pending"] == start - final
            assert out["steps"] == list(range(len(steps), final))
            assert out["times"] == times[len(steps):final]
            steps += out["steps"]
            scores += out["scores"]
            upper += out["upper"]
            got_times += out["times"]
        c.delete("/v1/models/netgan/streams/s1")
    assert steps == list(range(N - lookahead)) and got_times == times[:N - lookahead]
    scores = np.array(scores, dtype=float)
    assert np.isnan(scores[:window - 1]).all() and np.isfinite(scores[window - 1:]).all()
    np.testing.assert_allclose(scores, whole["step_score"][:N - lookahead], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.array(upper, dtype=float), whole["upper"][:N - lookahead], rtol=1e-5, atol=1e-5)
