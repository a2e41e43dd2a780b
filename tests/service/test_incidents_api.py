"""Incidents over real HTTP (the session server of conftest: a DC-VAE on SKAB valve1/0, an AE and
an IForest on labelled NSL-KDD rows): ``GET /v1/models/{name}/incidents`` equals the library on
the same data, with the labelled truth; streams return incidents merged across chunks exactly as
batch merging of the streamed flags gives them."""

from __future__ import annotations

import numpy as np
import pytest

from nadkit import artifact
from nadkit import incidents as inc

pytestmark = pytest.mark.filterwarnings("ignore::nadkit.data.preprocess.UnknownCategoryWarning")


def test_series_incidents_match_the_library(live):
    with live.client() as c:
        r = c.get("/v1/models/dcvae/incidents")
    assert r.status_code == 200, r.text
    p = r.json()
    assert p["kind"] == "series" and p["severity_basis"] == "calibration"
    lib = artifact.load(live.models["dcvae"])
    series = live.series.slice(0, min(5000, len(live.series)))
    want = inc.for_series(lib, lib.bands(series))
    got = p["incidents"]
    assert [(i["start"], i["end"], i["n_flagged"]) for i in got] == \
        list(zip(want["start"], want["end"], want["n_flagged"], strict=True))
    assert np.allclose([i["severity"] for i in got], want["severity"])
    assert all(0 <= i["severity"] <= 100 for i in got)
    cov = inc.event_coverage(want, series.y)
    assert p["coverage"] == cov and cov["events"] >= 1
    assert [i["labelled"] for i in got] == inc.label_overlap(want, series.y)["labelled"].tolist()
    assert got[0]["start_time"] is not None


def test_table_incidents_on_the_evaluation_rows(live):
    with live.client() as c:
        p = c.get("/v1/models/ae/incidents").json()
        assert c.get("/v1/models/nope/incidents").status_code == 404
        assert c.get("/v1/models/ae/incidents", headers={"X-API-Key": "wrong"}).status_code == 401
    lib = artifact.load(live.models["ae"])
    scores = lib.score(live.eval_table.X[lib.preprocessor.schema()["columns"]])
    flags = scores > lib.threshold.value_
    assert p["kind"] == "flows" and sum(i["n_flagged"] for i in p["incidents"]) == int(flags.sum())
    want = inc.flow_incidents(scores, flags, gap=0, min_flagged=1)  # evaluation rows: adjacent ones only
    assert [i["start"] for i in p["incidents"]] == want["start"].tolist()
    assert p["coverage"]["events"] == inc.event_coverage(want, live.eval_table.y)["events"]
    assert len(p["flow_rows"]) == 60


def test_stream_returns_incidents_merged_across_chunks(live):
    from nadkit.data.series.gaps import regularize

    lib = artifact.load(live.models["dcvae"])
    X = regularize(live.series, max_gap=1).X[lib.preprocessor.channels_].iloc[:600]
    chunks = (7, 30, 1, 100, 3, 160, 50, 249)
    assert sum(chunks) == len(X)
    seen: dict[int, dict] = {}
    scores, flags, per_channel = [], [], []
    start = 0
    with live.client() as c:
        c.delete("/v1/models/dcvae/streams/inc-1")
        for k in chunks:
            r = c.post("/v1/models/dcvae/streams/inc-1", json={"data": X.iloc[start:start + k].to_dict("records")})
            assert r.status_code == 200, r.text
            out = r.json()
            start += k
            scores += [np.nan if s is None else s for s in out["scores"]]
            flags += [0 if f is None else f for f in out["labels"]]
            per_channel += [[np.nan if v is None else v for v in row] for row in out["score"]]
            for i in out["incidents"]:
                seen[i["incident_id"]] = i
    want = inc.series_incidents(scores, flags, np.asarray(per_channel, float), list(lib.preprocessor.channels_),
                                tail=inc.stream_tail(lib))
    assert len(want) >= 1
    got = [seen[k] for k in sorted(seen)]
    assert [(i["start"], i["end"], i["n_flagged"], i["top"]) for i in got] == \
        list(zip(want["start"], want["end"], want["n_flagged"], want["top"], strict=True))
    assert np.allclose([i["severity"] for i in got], want["severity"])
    assert {i["status"] for i in got[:-1]} <= {"closed"}
