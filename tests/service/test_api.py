"""The REST API over real HTTP: scores equal the library's exactly for every input format,
auth, validation (each bad input class → 4xx naming the problem), size limits, metrics."""

from __future__ import annotations

import io

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pytest
from prometheus_client.parser import text_string_to_metric_families

from nadkit import artifact

from .conftest import API_KEY, MAX_BODY, MAX_ROWS

pytestmark = pytest.mark.filterwarnings("ignore::nadkit.data.preprocess.UnknownCategoryWarning")


@pytest.fixture(scope="module")
def rows(live) -> pd.DataFrame:
    """400 real KDDTest+ rows (with categories never seen in the small training set)."""
    rng = np.random.default_rng(3)
    return live.test_rows.iloc[np.sort(rng.choice(len(live.test_rows), 400, replace=False))].reset_index(drop=True)


@pytest.fixture(scope="module")
def library(live):
    return {name: artifact.load(path) for name, path in live.models.items()}


def arrow_bytes(df: pd.DataFrame) -> bytes:
    table = pa.Table.from_pandas(df, preserve_index=False)
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as w:
        w.write_table(table)
    return sink.getvalue()


def parquet_bytes(df: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    df.to_parquet(buf, index=False)
    return buf.getvalue()


def encodings(df: pd.DataFrame):
    """(name, httpx keyword arguments) for every accepted request format."""
    csv = df.to_csv(index=False).encode()
    return [
        ("json-records", {"content": orjson.dumps({"data": df.to_dict("records")}),
                          "headers": {"content-type": "application/json"}}),
        ("json-instances", {"json": {"instances": df.to_numpy(dtype=object).tolist()}}),
        ("csv", {"content": csv, "headers": {"content-type": "text/csv"}}),
        ("parquet", {"content": parquet_bytes(df), "headers": {"content-type": "application/vnd.apache.parquet"}}),
        ("arrow", {"content": arrow_bytes(df), "headers": {"content-type": "application/vnd.apache.arrow.stream"}}),
        ("multipart-csv", {"files": {"file": ("flows.csv", csv, "text/csv")}}),
        ("multipart-parquet", {"files": {"file": ("flows.parquet", parquet_bytes(df), "application/octet-stream")}}),
    ]


def test_health_needs_no_key_and_models_describe_themselves(live):
    with live.client(key=None) as c:
        assert c.get("/health").json() == {"status": "ok", "models": 3}
    with live.client() as c:
        models = {m["name"]: m for m in c.get("/v1/models").json()["models"]}
    assert set(models) == {"ae", "iforest", "dcvae"}
    ae = models["ae"]
    assert ae["type"] == "ae" and ae["input_kind"] == "table" and ae["contributions"] is True
    assert len(ae["schema"]["columns"]) == 41 and "protocol_type" in ae["schema"]["categories"]
    assert ae["threshold"]["method"] == "fpr" and ae["threshold"]["value"] > 0
    assert ae["training"]["training_rows"] == 3000
    assert ae["metrics"]["auroc"] == 0.9 and ae["metrics_source"].endswith("metrics.json")
    ev = ae["evaluation"]
    assert ev["data"] == "nsl-kdd:test" and ev["n"] == 2000 and 0.5 < ev["auroc"] <= 1
    assert models["iforest"]["contributions"] is False and models["iforest"]["metrics"] is None


@pytest.mark.parametrize("model", ["ae", "iforest"])
def test_scores_equal_the_library_for_every_format(live, rows, library, model):
    pipe = library[model]
    expected = pipe.detect(rows)
    with live.client() as c:
        for fmt, kwargs in encodings(rows):
            r = c.post(f"/v1/models/{model}/score", **kwargs)
            assert r.status_code == 200, (fmt, r.text)
            out = r.json()
            assert out["n"] == len(rows) and out["threshold"] == pipe.threshold.value_
            np.testing.assert_array_equal(out["scores"], expected["score"].to_numpy(), err_msg=fmt)
            np.testing.assert_array_equal(out["labels"], expected["anomaly"].to_numpy(), err_msg=fmt)
            if model == "ae":
                assert out["columns"] == list(rows.columns)
                contrib = expected.filter(like="contrib_").to_numpy()
                np.testing.assert_array_equal(np.array(out["contributions"]), contrib, err_msg=fmt)
                np.testing.assert_allclose(np.array(out["contributions"]).sum(axis=1), out["scores"], rtol=1e-5)
            else:
                assert "contributions" not in out
            assert any("unseen categories" in w for w in out["warnings"]), fmt


def test_single_record_ids_and_options(live, rows, library):
    record = rows.iloc[[7]]
    with live.client() as c:
        r = c.post("/v1/models/ae/score", json={"data": [{**record.to_dict("records")[0], "id": "flow-7"}]})
        assert r.status_code == 200, r.text
        out = r.json()
        assert out["ids"] == ["flow-7"]
        assert out["scores"] == library["ae"].score(record).tolist()
        r = c.post("/v1/models/ae/score?contributions=false", json={"data": record.to_dict("records")})
        assert "contributions" not in r.json()
        r = c.post("/v1/models/ae/score", content=rows.assign(label="x").to_csv(index=False),
                   headers={"content-type": "text/csv"})
        assert r.status_code == 200 and any("'label'" in w for w in r.json()["warnings"])


def test_api_key(live):
    with live.client(key=None) as anon:
        for method, path in (("GET", "/v1/models"), ("GET", "/v1/models/ae"), ("POST", "/v1/models/ae/score"),
                             ("GET", "/metrics"), ("GET", "/openapi.json"), ("GET", "/docs"), ("GET", "/"),
                             ("GET", "/v1/models/ae/evaluation")):
            r = anon.request(method, path, json={"data": []})
            assert r.status_code == 401, path
            assert "API key" in r.json()["detail"]
        page = anon.get("/evaluation", headers={"accept": "text/html"})
        assert page.status_code == 401 and "<form" in page.text  # browsers get the login form
        assert anon.get("/v1/models", headers={"X-API-Key": "wrong"}).status_code == 401
        assert anon.get("/v1/models", headers={"Authorization": f"Bearer {API_KEY}"}).status_code == 200
        assert anon.get("/v1/models", headers={"X-API-Key": API_KEY}).status_code == 200
        assert anon.post("/login", data={"key": "wrong"}).status_code == 401
        r = anon.post("/login", data={"key": API_KEY})
        assert r.status_code == 303 and "httponly" in r.headers["set-cookie"].lower()
        assert API_KEY not in r.headers["set-cookie"]  # the cookie holds a token, not the key
        assert anon.get("/").status_code == 200  # the session cookie is now sent


def _record(rows, **changes):
    rec = rows.iloc[0].to_dict()
    rec.update(changes)
    return rec


BAD_JSON = [
    ("missing field", lambda r: {"data": [{k: v for k, v in _record(r).items() if k != "src_bytes"}]}, 422,
     "missing field(s) 'src_bytes'"),
    ("unknown field", lambda r: {"data": [_record(r, bogus=1)]}, 422, "unknown field(s) 'bogus'"),
    ("string for a number", lambda r: {"data": [_record(r, src_bytes="12kB")]}, 422,
     "field 'src_bytes' must be a number"),
    ("boolean for a number", lambda r: {"data": [_record(r, duration=True)]}, 422, "field 'duration' must be a number"),
    ("number for a category", lambda r: {"data": [_record(r, protocol_type=1.5)]}, 422,
     "field 'protocol_type' must be a string"),
    ("list for a value", lambda r: {"data": [_record(r, hot=[1, 2])]}, 422, "field 'hot' must be a number"),
    ("null", lambda r: {"data": [_record(r, dst_bytes=None)]}, 422, "field 'dst_bytes' is null"),
    ("empty batch", lambda r: {"data": []}, 422, "empty batch"),
    ("not a record", lambda r: {"data": [[1, 2]]}, 422, "record 0 must be an object"),
    ("neither key", lambda r: {"rows": []}, 422, "unknown key(s) in the JSON body: 'rows'"),
    ("both keys", lambda r: {"data": [_record(r)], "instances": [[1]]}, 422, "exactly one of 'data'"),
    ("short instance", lambda r: {"instances": [[0, "tcp", "http"]]}, 422, "has 3 values; the model expects 41"),
    ("not an object", lambda r: [1, 2], 422, "must be an object"),
    ("too many rows", lambda r: {"instances": [list(_record(r).values())] * (MAX_ROWS + 1)}, 413, "too many rows"),
]


@pytest.mark.parametrize("case", BAD_JSON, ids=[c[0] for c in BAD_JSON])
def test_bad_json_is_a_4xx_naming_the_problem(live, rows, case):
    _, make, status, message = case
    with live.client() as c:
        r = c.post("/v1/models/ae/score", content=orjson.dumps(make(rows)), headers={"content-type": "application/json"})
    assert r.status_code == status, r.text
    assert message in r.json()["detail"]


def _with_literal(rows, literal: bytes) -> bytes:
    """A JSON record whose ``duration`` is ``literal`` (NaN, Infinity, 1e999: not writable by orjson)."""
    return orjson.dumps({"data": [_record(rows, duration="@@")]}).replace(b'"@@"', literal)


BAD_BODIES = [
    ("malformed JSON", lambda r: b'{"data": [', "application/json", 400, "malformed JSON"),
    ("NaN literal", lambda r: _with_literal(r, b"NaN"), "application/json", 400, "NaN is not a valid JSON number"),
    ("Infinity literal", lambda r: _with_literal(r, b"-Infinity"), "application/json", 400,
     "-Infinity is not a valid JSON number"),
    ("overflow to inf", lambda r: _with_literal(r, b"1e999"), "application/json", 422,
     "NaN/inf values in 1 rows: duration"),
    ("empty body", lambda r: b"", "application/json", 400, "empty request body"),
    ("CSV without a column", lambda r: r.drop(columns=["service"]).to_csv(index=False), "text/csv", 422,
     "missing feature columns (1): service"),
    ("CSV with text in a number column", lambda r: r.astype({"src_bytes": object}).assign(
        src_bytes=lambda d: d.src_bytes.where(d.index != 3, "12kB")).to_csv(index=False), "text/csv", 422,
     "non-numeric values in numeric columns: src_bytes"),
    ("CSV with NaN", lambda r: r.assign(dst_bytes=lambda d: d.dst_bytes.where(d.index != 5)).to_csv(index=False),
     "text/csv", 422, "NaN values in 1 rows: dst_bytes"),
    ("CSV header only", lambda r: ",".join(r.columns), "text/csv", 422, "header but no rows"),
    ("garbage Parquet", lambda r: b"PAR1 this is not parquet", "application/vnd.apache.parquet", 400,
     "cannot read the Parquet upload"),
    ("garbage Arrow", lambda r: b"\x00\x01\x02 nope", "application/vnd.apache.arrow.stream", 400,
     "cannot read the Arrow IPC stream upload"),
    ("unsupported type", lambda r: b"<xml/>", "application/xml", 415, "unsupported content type 'application/xml'"),
    ("body over the limit", lambda r: b"x" * (MAX_BODY + 1), "text/csv", 413, "request body too large"),
]


@pytest.mark.parametrize("case", BAD_BODIES, ids=[c[0] for c in BAD_BODIES])
def test_bad_bodies_are_a_4xx_naming_the_problem(live, rows, case):
    _, make, ctype, status, message = case
    body = make(rows)
    with live.client() as c:
        r = c.post("/v1/models/ae/score", content=body.encode() if isinstance(body, str) else body,
                   headers={"content-type": ctype})
    assert r.status_code == status, r.text
    assert message in r.json()["detail"]


def test_streamed_body_over_the_limit_and_unknown_model(live):
    def chunks():  # no Content-Length: the limit applies while the body streams in
        for _ in range(5):
            yield b"x" * (MAX_BODY // 4)

    with live.client() as c:
        r = c.post("/v1/models/ae/score", content=chunks(), headers={"content-type": "text/csv"})
        assert r.status_code == 413 and "too large" in r.json()["detail"]
        r = c.post("/v1/models/nope/score", json={"data": [{}]})
        assert r.status_code == 404 and "unknown model 'nope'" in r.json()["detail"]
        assert c.post("/v1/models/ae/score", files={"other": ("a.csv", b"a\n1")}).status_code == 422
        r = c.post("/v1/models/ae/streams/s1", json={"data": [{"x": 1}]})  # streams are for series models
        assert r.status_code == 422 and "POST /v1/models/ae/score" in r.json()["detail"]


def _samples(text: str) -> dict:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_prometheus_metrics_count_requests_and_anomalies(live, rows):
    with live.client() as c:
        before = _samples(c.get("/metrics").text)
        r = c.post("/v1/models/ae/score?contributions=false", json={"data": rows.to_dict("records")})
        flagged = sum(r.json()["labels"])
        c.post("/v1/models/ae/score", json={"data": []})
        after = _samples(c.get("/metrics").text)
    flag_key = ("nadkit_anomalies_flagged_total", (("model", "ae"),))
    rows_key = ("nadkit_rows_scored_total", (("model", "ae"),))
    assert after[flag_key] - before.get(flag_key, 0) == flagged > 0
    assert after[rows_key] - before.get(rows_key, 0) == len(rows)
    route = "/v1/models/{name}/score"
    ok = ("nadkit_http_requests_total", (("method", "POST"), ("route", route), ("status", "200")))
    bad = ("nadkit_http_requests_total", (("method", "POST"), ("route", route), ("status", "422")))
    assert after[ok] - before.get(ok, 0) == 1 and after[bad] - before.get(bad, 0) == 1
    count = ("nadkit_http_request_duration_seconds_count", (("method", "POST"), ("route", route)))
    assert after[count] - before[count] == 2
    assert after[("nadkit_models_loaded", ())] == 3


def test_concurrent_requests_each_get_their_own_scores(live, rows, library):
    """Requests scored at the same time in the server's thread pool do not mix."""
    from concurrent.futures import ThreadPoolExecutor

    batches = [rows.iloc[i * 50:(i + 1) * 50 + i].reset_index(drop=True) for i in range(6)]

    def score(batch):
        with live.client() as c:
            r = c.post("/v1/models/ae/score?contributions=false", content=arrow_bytes(batch),
                       headers={"content-type": "application/vnd.apache.arrow.stream"})
        return r.json()["scores"]

    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(score, batches * 2))
    for batch, got in zip(batches * 2, results, strict=True):
        np.testing.assert_array_equal(got, library["ae"].score(batch))
