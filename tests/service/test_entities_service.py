"""Entities over real HTTP (the session server of conftest; its DC-VAE has window 32):

* ``POST /v1/models/dcvae/score?entity_col=host`` with one table of interleaved rows of several
  entities scores each entity's rows as a series of its own: every entity's scores and bands
  equal the library on that entity's rows alone, keyed by entity in order of first appearance,
  from JSON records and from a CSV upload alike;
* a missing entity column, an entity shorter than the window, an entity column that is a channel
  and an entity column on a table model are 4xx errors naming the problem;
* streams are entities: every stream incident carries its ``entity`` (the stream id), and
  ``GET /v1/models/dcvae/streams`` lists each entity with its incidents' latest state.
"""

from __future__ import annotations

import numpy as np
import pytest

from nadkit import artifact

pytestmark = pytest.mark.filterwarnings("ignore::nadkit.data.preprocess.UnknownCategoryWarning")


@pytest.fixture(scope="module")
def lib(live):
    return artifact.load(live.models["dcvae"])


@pytest.fixture(scope="module")
def hosts(live, lib):
    """Three entities' consecutive steps of SKAB valve1/0 (its one-step gaps filled), with times:
    ``h1`` steps 0-89, ``h2`` 500-559, ``h3`` 1000-1039."""
    from nadkit.data.series.gaps import regularize

    series = regularize(live.series, max_gap=1)
    X = series.X[lib.preprocessor.channels_]
    times = np.datetime_as_string(series.time, unit="s")
    spans = {"h1": (0, 90), "h2": (500, 560), "h3": (1000, 1040)}
    return {h: (X.iloc[a:b].reset_index(drop=True), times[a:b].tolist()) for h, (a, b) in spans.items()}


def interleaved(hosts, with_time=True):
    """The entities' records mixed into one table: round-robin, each entity's rows in order."""
    per = {h: [{**r, "host": h, **({"time": t[i]} if with_time else {})} for i, r in enumerate(X.to_dict("records"))]
           for h, (X, t) in hosts.items()}
    out, k = [], 0
    while any(k < len(v) for v in per.values()):
        out += [v[k] for v in per.values() if k < len(v)]
        k += 1
    return out


def test_score_scores_each_entity_as_its_own_series(live, lib, hosts):
    import pandas as pd

    body = interleaved(hosts)
    with live.client() as c:
        r = c.post("/v1/models/dcvae/score?entity_col=host", json={"data": body})
        assert r.status_code == 200, r.text
        out = r.json()
        table = pd.DataFrame(interleaved(hosts, with_time=False))
        csv = c.post("/v1/models/dcvae/score?entity_col=host&contributions=false", content=table.to_csv(index=False),
                     headers={"content-type": "text/csv"})
        assert csv.status_code == 200, csv.text
        csv = csv.json()
    assert out["entity_col"] == "host" and out["n"] == len(body) and out["window"] == lib.detector.window
    assert list(out["entities"]) == list(csv["entities"]) == ["h1", "h2", "h3"]
    for h, (X, times) in hosts.items():
        want = lib.bands(X)  # the library on this entity's rows alone
        got = out["entities"][h]
        assert got["n"] == len(X) and got["times"] == times
        np.testing.assert_array_equal(np.array(got["scores"], dtype=float), want["step_score"])
        np.testing.assert_array_equal(np.array(got["upper"], dtype=float), want["upper"])
        assert got["labels"][:31] == [None] * 31 and got["labels"][31:] == want["step_flag"][31:].tolist()
        np.testing.assert_array_equal(np.array(csv["entities"][h]["scores"], dtype=float), want["step_score"])
        assert "upper" not in csv["entities"][h]  # contributions=false: no bands


def test_entity_errors_are_4xx_naming_the_problem(live, hosts):
    body = interleaved(hosts)
    with live.client() as c:
        def post(url, **kw):
            r = c.post(url, **kw)
            assert 400 <= r.status_code < 500, r.text
            return r.status_code, r.json()["detail"]

        status, detail = post("/v1/models/dcvae/score?entity_col=site", json={"data": body})
        assert status == 422 and "'site'" in detail and "entity" in detail
        status, detail = post("/v1/models/dcvae/score?entity_col=site", content="a,b\n1,2\n",
                              headers={"content-type": "text/csv"})
        assert status == 422 and "entity column 'site' is not in the upload" in detail
        short = [r for r in body if r["host"] != "h3"] + [r for r in body if r["host"] == "h3"][:10]
        status, detail = post("/v1/models/dcvae/score?entity_col=host", json={"data": short})
        assert status == 422 and "'h3' (10)" in detail and "window (32)" in detail
        status, detail = post("/v1/models/dcvae/score?entity_col=Pressure", json={"data": body})
        assert status == 422 and "one of the model's channels" in detail
        status, detail = post("/v1/models/ae/score?entity_col=host", json={"data": body})
        assert status == 422 and "entity_col is for series models" in detail
        assert c.get("/v1/models/ae/streams").status_code == 422  # table models have no streams


def test_stream_incidents_carry_their_entity(live, hosts):
    from nadkit.data.series.gaps import regularize

    series = regularize(live.series, max_gap=1)
    X = series.X[list(hosts["h1"][0].columns)].iloc[:700]
    seen: dict[str, dict[int, dict]] = {"ent-a": {}, "ent-b": {}}
    with live.client() as c:
        for entity, rows in (("ent-a", X), ("ent-b", X.iloc[::-1].reset_index(drop=True))):
            c.delete(f"/v1/models/dcvae/streams/{entity}")
            for start in range(0, len(rows), 140):
                r = c.post(f"/v1/models/dcvae/streams/{entity}",
                           json={"data": rows.iloc[start:start + 140].to_dict("records")})
                assert r.status_code == 200, r.text
                for i in r.json()["incidents"]:
                    assert i["entity"] == entity
                    seen[entity][i["incident_id"]] = i
        listed = c.get("/v1/models/dcvae/streams").json()
    assert listed["model"] == "dcvae"
    streams = {s["entity"]: s for s in listed["streams"]}
    assert {"ent-a", "ent-b"} <= set(streams)
    for entity, incidents in seen.items():
        assert incidents, f"no incident on {entity}"  # valve1/0's labelled anomalies lie in its first 700 steps
        assert streams[entity]["seen"] == len(X)
        assert streams[entity]["incidents"] == [incidents[k] for k in sorted(incidents)]  # latest state, in order


def test_one_body_of_many_entities_feeds_one_stream_per_entity(live, hosts):
    body = interleaved(hosts)
    half = len(body) // 2
    with live.client() as c:
        for h in hosts:
            for sid in (h, f"solo-{h}"):
                c.delete(f"/v1/models/dcvae/streams/{sid}")
        got: dict[str, list] = {h: [] for h in hosts}
        for chunk in (body[:half], body[half:]):
            r = c.post("/v1/models/dcvae/streams?entity_col=host", json={"data": chunk})
            assert r.status_code == 200, r.text
            out = r.json()
            assert out["entity_col"] == "host" and list(out["streams"]) == list(dict.fromkeys(p["host"] for p in chunk))
            for h, answer in out["streams"].items():
                assert answer["stream"] == h
                got[h] += answer["scores"]
        for h, (X, _) in hosts.items():  # the same points, one stream at a time
            solo = []
            for chunk in (body[:half], body[half:]):
                pts = [{k: v for k, v in p.items() if k != "host"} for p in chunk if p["host"] == h]
                if pts:
                    solo += c.post(f"/v1/models/dcvae/streams/solo-{h}", json={"data": pts}).json()["scores"]
            assert got[h] == solo and len(got[h]) == len(X)
        # a name that cannot be a stream id: nothing appended
        bad = [{**p, "host": "no spaces"} for p in body[:40]]
        r = c.post("/v1/models/dcvae/streams?entity_col=host", json={"data": bad})
        assert r.status_code == 422 and "'no spaces' cannot name a stream" in r.json()["detail"]
        # a replayed time on the second entity: 409 naming it, the first one was appended
        c.delete("/v1/models/dcvae/streams/fresh-1")
        h2_first = next(p for p in body if p["host"] == "h2")
        r = c.post("/v1/models/dcvae/streams?entity_col=host", json={"data": [{**body[0], "host": "fresh-1"}, h2_first]})
        assert r.status_code == 409 and r.json()["detail"].startswith("entity 'h2': point 0 has time")
        assert "appended before it: fresh-1" in r.json()["detail"]
        assert c.post("/v1/models/ae/streams?entity_col=host", json={"data": body[:5]}).status_code == 422
