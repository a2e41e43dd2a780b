"""Hardening regressions (issue 14), against real uvicorn servers on 127.0.0.1 and the real
``python -m nadkit serve`` process:

* a lone UTF-16 surrogate escape in a JSON string is a 400 naming it (was a 500);
* a client that disconnects mid-body is logged at INFO and counted as 499, never 500/ERROR;
* a body shorter than its Content-Length gets 408 after the read timeout and the connection
  closes (it was held open forever);
* ``serve`` refuses out-of-range options and a port in use with one ``error:`` line, exit 2,
  before loading anything or printing "serving";
* stream points must carry the next timestamp: a gap, a replay or a step other than the
  model's is a 409 naming the expected time, and the refused chunk leaves the stream as it was.
"""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from nadkit import artifact

from .conftest import API_KEY, Live, ServerThread, free_port

READ_TIMEOUT = 1.0
pytestmark = pytest.mark.filterwarnings("ignore::nadkit.data.preprocess.UnknownCategoryWarning")


@pytest.fixture(scope="module")
def stepped_model(series_model, tmp_path_factory):
    """The conftest DC-VAE, its schema given SKAB's 1 s step (it was trained on frames without
    timestamps, so it knows no step)."""
    pipe = artifact.load(series_model)
    assert pipe.preprocessor.step_ is None
    pipe.preprocessor.step_ = "0 days 00:00:01"
    return artifact.save(pipe, tmp_path_factory.mktemp("service-stepped") / "stepped")


@pytest.fixture(scope="module")
def hard(trained_models, series_model, stepped_model, nsl) -> Live:
    """A server of its own (fresh /metrics) with a 1 s body read timeout."""
    from nadkit.data import load_dataset
    from nadkit.service import create_app

    models = {"iforest": trained_models["iforest"], "dcvae": series_model, "stepped": stepped_model}
    app = create_app(models, api_key=API_KEY, read_timeout=READ_TIMEOUT)
    with ServerThread(app) as server:
        yield Live(url=server.url, models=models, eval_table=None, test_rows=nsl[1].X,
                   series=load_dataset("skab", "valve1/0"))


def raw_request(live: Live, path: str, body: bytes, length: int, ctype: str = "application/json") -> socket.socket:
    """Open a socket, send the request head declaring ``length`` body bytes and ``body``."""
    port = int(live.url.rsplit(":", 1)[1])
    sock = socket.create_connection(("127.0.0.1", port), timeout=15)
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: {API_KEY}\r\nContent-Type: {ctype}\r\n"
            f"Content-Length: {length}\r\n\r\n").encode()
    sock.sendall(head + body)
    return sock


def request_counts(live: Live) -> dict[tuple[str, str], float]:
    """/metrics request counters as {(route, status): count}."""
    with live.client() as c:
        text = c.get("/metrics").text
    out: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "nadkit_http_requests_total":
                key = (sample.labels["route"], sample.labels["status"])
                out[key] = out.get(key, 0) + sample.value
    return out


def one_record(live: Live) -> dict:
    return json.loads(live.test_rows.head(1).to_json(orient="records"))[0]


# ----------------------------------------------------------------------------------- HTTP 500s
def test_lone_surrogate_in_a_json_string_is_a_400(hard):
    record = one_record(hard)
    text = json.dumps({"data": [{**record, "service": "SURROGATE"}]}).replace("SURROGATE", "\\ud800")
    assert "\\ud800" in text  # escaped in the JSON text, as a client would send it
    with hard.client() as c:
        for url in ("/v1/models/iforest/score", "/v1/models/dcvae/streams/s-surrogate"):
            r = c.post(url, content=text.encode(), headers={"content-type": "application/json"})
            assert r.status_code == 400, (url, r.text)
            assert "lone UTF-16 surrogate" in r.json()["detail"]
        # a proper surrogate pair (an emoji) is text: an unseen category, scored
        pair = json.dumps({"data": [{**record, "service": "\U0001f600"}]})
        assert "\\ud83d\\ude00" in pair
        r = c.post("/v1/models/iforest/score", content=pair.encode(), headers={"content-type": "application/json"})
        assert r.status_code == 200 and len(r.json()["scores"]) == 1


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_client_disconnect_mid_body_is_info_and_499_not_500(hard):
    handler = Records()
    loggers = [logging.getLogger(n) for n in ("nadkit.service", "uvicorn.error")]
    service_level = loggers[0].level
    for lg in loggers:
        lg.addHandler(handler)
    loggers[0].setLevel(logging.INFO)
    try:
        before = request_counts(hard)
        sock = raw_request(hard, "/v1/models/iforest/score", b'{"data": [{"dura', length=1000)
        time.sleep(0.2)
        sock.close()  # gone before the rest of the body
        route = ("/v1/models/{name}/score", "499")
        deadline = time.time() + 10
        while request_counts(hard).get(route, 0) <= before.get(route, 0):
            assert time.time() < deadline, f"no 499 counted: {request_counts(hard)}"
            time.sleep(0.05)
        after = request_counts(hard)
    finally:
        for lg in loggers:
            lg.removeHandler(handler)
        loggers[0].setLevel(service_level)
    assert not any(status == "500" for _, status in after), after
    assert not [r for r in handler.records if r.levelno >= logging.ERROR], [r.getMessage() for r in handler.records]
    notes = [r for r in handler.records if "disconnected" in r.getMessage()]
    assert notes and all(r.levelno == logging.INFO for r in notes)


@pytest.mark.parametrize("ctype", ["application/json", "multipart/form-data; boundary=xyz"])
def test_body_shorter_than_its_content_length_gets_408_and_closes(hard, ctype):
    start = time.monotonic()
    sock = raw_request(hard, "/v1/models/iforest/score", b"--xyz\r\n0123", length=100, ctype=ctype)
    with sock:
        reply = b""
        while chunk := sock.recv(65536):  # ends when the server closes the connection
            reply += chunk
    elapsed = time.monotonic() - start
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408"), reply
    assert b"connection: close" in head.lower()
    detail = json.loads(body)["detail"]
    assert detail == "request body incomplete: no data for 1 s after 11 bytes of the 100 its Content-Length declares"
    assert READ_TIMEOUT <= elapsed < READ_TIMEOUT + 5
    assert ("/v1/models/{name}/score", "408") in request_counts(hard)


def test_a_slow_but_steady_body_is_not_cut_off(hard):
    """The timeout is per read: a body that keeps arriving, though slower than the timeout in
    all, is scored."""
    rows = json.dumps({"data": [one_record(hard)] * 3}).encode()
    pieces = np.array_split(np.frombuffer(rows, np.uint8), 4)
    sock = raw_request(hard, "/v1/models/iforest/score", b"", length=len(rows))
    with sock:
        for piece in pieces:
            time.sleep(READ_TIMEOUT * 0.4)
            sock.sendall(piece.tobytes())
        reply = sock.recv(65536)
    assert reply.startswith(b"HTTP/1.1 200"), reply


# ------------------------------------------------------------------------------ serve options
def serve(*args, timeout: float = 60) -> subprocess.CompletedProcess:
    """The real ``python -m nadkit serve`` (killed, failing the test, if it starts serving)."""
    return subprocess.run([sys.executable, "-m", "nadkit", "serve", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout)


@pytest.mark.parametrize(("args", "message"), [
    (["--port", "70000"], "--port must be 1-65535, got 70000"),
    (["--port", "0"], "--port must be 1-65535, got 0"),
    (["--max-body-mb", "-1"], "--max-body-mb must be a positive number, got -1"),
    (["--max-body-mb", "nan"], "--max-body-mb must be a positive number, got nan"),
    (["--max-rows", "0"], "--max-rows must be at least 1, got 0"),
    (["--read-timeout", "0"], "--read-timeout must be a positive number, got 0"),
    (["--host", "no-such-host.invalid"], "cannot listen on host 'no-such-host.invalid'"),
])
def test_serve_refuses_bad_options(trained_models, args, message):
    r = serve(trained_models["iforest"], *args)
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip() == f"error: {message}" or (r.stderr.startswith(f"error: {message}")
                                                       and len(r.stderr.strip().splitlines()) == 1), r.stderr


def test_serve_on_a_port_in_use_fails_before_serving(trained_models):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", free_port()))
        taken.listen()
        port = taken.getsockname()[1]
        r = serve(trained_models["iforest"], "--port", port)
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip() == f"error: port {port} on 127.0.0.1 is in use"
    assert "serving" not in r.stderr + r.stdout


# ------------------------------------------------------------------------------- stream times
@pytest.fixture(scope="module")
def steps(hard):
    """SKAB valve1/0 with its one-step gaps filled (1 s steps), as channel frame + ISO times."""
    from nadkit.data.series.gaps import regularize

    series = regularize(hard.series, max_gap=1)
    lib = artifact.load(hard.models["dcvae"])
    X = series.X[lib.preprocessor.channels_].iloc[:60]
    times = np.datetime_as_string(series.time[:60], unit="s").tolist()
    assert len(set(np.diff(series.time[:60]).tolist())) == 1
    return lib, X, times


def points(X, times, start, stop, at=None):
    """Records of steps start:stop, carrying the times ``at`` (default: their own)."""
    at = times[start:stop] if at is None else at
    return {"data": [{**r, "time": t} for r, t in zip(X.iloc[start:stop].to_dict("records"), at, strict=True)]}


def test_stream_points_must_carry_the_next_time(hard, steps):
    lib, X, times = steps
    url = "/v1/models/stepped/streams/timed"
    with hard.client() as c:
        c.delete(url)
        first = c.post(url, json=points(X, times, 0, 40))
        assert first.status_code == 200 and first.json()["seen"] == 40, first.text
        refused = {
            "gap": (points(X, times, 40, 45, at=times[41:46]), 409,
                    f"point 0 has time '{times[41]}': a gap; the stream expects {times[40]}"),
            "replay": (points(X, times, 40, 45, at=times[39:44]), 409,
                       f"point 0 has time '{times[39]}': a replayed or out-of-order time; the stream expects {times[40]}"),
            "duplicate inside the chunk": (points(X, times, 40, 42, at=[times[40], times[40]]), 409,
                                           f"point 1 has time '{times[40]}': a replayed or out-of-order time; "
                                           f"the stream expects {times[41]}"),
            "no times": ({"instances": X.iloc[40:45].to_numpy().tolist()}, 409,
                         f"this stream's points carry a 'time'; the next is expected at {times[40]}"),
            "one point without": ({"data": [{**X.iloc[40].to_dict(), "time": times[40]}, X.iloc[41].to_dict()]}, 422,
                                  "point 1 has no 'time'"),
            "not a time": (points(X, times, 40, 41, at=["soon"]), 422,
                           "'time' of point 0 is not an ISO 8601 timestamp: 'soon'"),
            "with an offset": (points(X, times, 40, 41, at=[times[40] + "+00:00"]), 422,
                               "this stream's times are timestamps without a UTC offset"),
        }
        for what, (body, status, words) in refused.items():
            r = c.post(url, json=body)
            assert r.status_code == status and words in r.json()["detail"], (what, r.text)
        # nothing refused changed the stream: the right next points continue it
        nxt = c.post(url, json=points(X, times, 40, 45))
        assert nxt.status_code == 200, nxt.text
        c.delete(url)
    out = nxt.json()
    assert out["steps"] == list(range(40, 45)) and out["times"] == times[40:45] and out["seen"] == 45
    np.testing.assert_allclose(np.array(out["scores"], dtype=float), lib.score(X.iloc[:45])[40:], rtol=1e-5, atol=1e-6)


def test_stream_step_comes_from_the_model_or_else_the_stream(hard, steps):
    _, X, times = steps
    two_s = times[0:40:2]  # every other timestamp: a 2 s step
    with hard.client() as c:
        # the model's schema says 1 s: a 2 s stream is refused from its second point on
        r = c.post("/v1/models/stepped/streams/slow", json=points(X, times, 0, 20, at=two_s))
        assert r.status_code == 409 and f"point 1 has time '{two_s[1]}': a gap; the stream expects {times[1]}" \
            in r.json()["detail"], r.text
        r = c.post("/v1/models/stepped/streams/slow", json=points(X, times, 0, 3))
        assert r.status_code == 200 and r.json()["steps"] == [0, 1, 2]  # the refused chunk added nothing
        c.delete("/v1/models/stepped/streams/slow")
        # a model without a step: the stream's first two times set it (here 2 s), later points keep it
        url = "/v1/models/dcvae/streams/slow"
        c.delete(url)
        assert c.post(url, json=points(X, times, 0, 1, at=two_s[:1])).status_code == 200
        assert c.post(url, json=points(X, times, 1, 10, at=two_s[1:10])).status_code == 200
        r = c.post(url, json=points(X, times, 10, 11, at=[times[21]]))
        assert r.status_code == 409 and f"a gap; the stream expects {two_s[10]}" in r.json()["detail"]
        assert "0 days 00:00:02" in r.json()["detail"]
        ok = c.post(url, json=points(X, times, 10, 12, at=two_s[10:12]))
        assert ok.status_code == 200 and ok.json()["seen"] == 12, ok.text
        # numbers work as times too
        nums = "/v1/models/dcvae/streams/numbered"
        c.delete(nums)
        assert c.post(nums, json=points(X, times, 0, 5, at=[0.5, 1.0, 1.5, 2.0, 2.5])).status_code == 200
        r = c.post(nums, json=points(X, times, 5, 6, at=[2.5]))
        assert r.status_code == 409 and "a replayed or out-of-order time; the stream expects 3.0" in r.json()["detail"]
        for u in (url, nums):
            c.delete(u)
