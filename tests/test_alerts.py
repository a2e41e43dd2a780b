"""Alert output: ``nadkit detect --alerts -`` writes ECS-shaped JSON lines (and nothing else) on
stdout for real NSL-KDD rows the test gives addresses and ports; the webhook sender delivers
every alert exactly once to a real HTTP receiver on loopback that fails its first attempts."""

from __future__ import annotations

import json
import threading
import warnings
from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from nadkit.alerts import WebhookSender, dumps, risk, table_alerts

from .inprocess import run_nadkit as nadkit
from .webhook_receiver import Receiver


@pytest.fixture(scope="module")
def flows(tmp_path_factory, nsl):
    """3,000 real NSL-KDD rows (normal ones train a PCA) with the identifier columns a flow
    export has: source/destination address and port, a time."""
    tmp = tmp_path_factory.mktemp("alerts")
    train, test = nsl
    rng = np.random.default_rng(0)
    normals = train.normal()
    normals.X.iloc[np.sort(rng.choice(len(normals), 3000, replace=False))].to_csv(tmp / "train.csv", index=False)
    rows = test.X.iloc[np.sort(rng.choice(len(test), 600, replace=False))].reset_index(drop=True)
    n = len(rows)
    ids = pd.DataFrame({"timestamp": pd.date_range("2024-05-01 12:00", periods=n, freq="1s").astype(str),
                        "Src IP": [f"10.0.{i // 250}.{i % 250 + 1}" for i in range(n)],
                        "Src Port": rng.integers(49152, 65535, n), "Dst IP": "192.168.1.10",
                        "Dst Port": rng.choice([22, 80, 443], n), "Protocol": 6})
    pd.concat([ids, rows], axis=1).to_csv(tmp / "test.csv", index=False)
    res = nadkit("train", tmp / "train.csv", "--model", "pca", "-o", tmp / "model")
    assert res.returncode == 0, res.stderr
    return tmp


REQUIRED = {"@timestamp": str, "event": dict, "rule": dict, "observer": dict, "labels": dict, "nadkit": dict}


def check_ecs(doc: dict) -> None:
    for field, kind in REQUIRED.items():
        assert isinstance(doc.get(field), kind), (field, doc)
    datetime.fromisoformat(doc["@timestamp"].replace("Z", "+00:00"))
    ev = doc["event"]
    assert ev["kind"] == "alert" and ev["module"] == "nadkit"
    assert ev["severity"] in (21, 47, 73, 99) and isinstance(ev["severity"], int)
    assert isinstance(ev["risk_score"], float) and 0 <= ev["risk_score"] <= 100
    assert isinstance(ev["id"], str) and len(ev["id"]) == 32
    assert isinstance(doc["rule"]["name"], str) and doc["rule"]["name"]
    assert doc["observer"]["product"] == "nadkit"
    assert all(isinstance(v, str) for v in doc["labels"].values())  # ECS labels are keywords
    nk = doc["nadkit"]
    assert isinstance(nk["score"], float) and isinstance(nk["model"], str)
    assert nk["threshold"] is None or nk["score"] > nk["threshold"]


def test_detect_alerts_on_stdout_are_ecs_json_lines(flows):
    res = nadkit("detect", flows / "model", flows / "test.csv", "-o", flows / "scores.parquet",
                 "--key-cols", "timestamp,Src IP,Src Port,Dst IP,Dst Port,Protocol", "--contributions",
                 "--alerts", "-")
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    docs = [json.loads(line) for line in lines]  # every stdout line is one JSON document
    scores = pd.read_parquet(flows / "scores.parquet")
    flagged = scores[scores["anomaly"] == 1]
    assert 0 < len(docs) == len(flagged)
    assert "rows scored" in res.stderr and f"{len(docs):,} alerts" in res.stderr
    for doc, (_, row) in zip(docs, flagged.iterrows(), strict=True):
        check_ecs(doc)
        assert doc["source"] == {"ip": row["Src IP"], "port": int(row["Src Port"])}
        assert doc["destination"] == {"ip": "192.168.1.10", "port": int(row["Dst Port"])}
        assert doc["network"] == {"transport": "tcp"}
        assert doc["@timestamp"] == pd.Timestamp(row["timestamp"]).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        assert doc["nadkit"]["score"] == pytest.approx(row["score"])
        assert len(doc["nadkit"]["contributions"]) == 5
    assert len({d["event"]["id"] for d in docs}) == len(docs)


def test_alerts_file_is_written_and_refuses_a_user_file(flows):
    res = nadkit("detect", flows / "model", flows / "test.csv", "-o", flows / "s2.csv", "--alerts", flows / "a.jsonl")
    assert res.returncode == 0, res.stderr
    assert "rows scored" in res.stdout
    docs = [json.loads(line) for line in (flows / "a.jsonl").read_text().splitlines()]
    assert docs and all(d["event"]["kind"] == "alert" for d in docs)
    (flows / "notes.txt").write_text("mine\n")
    res = nadkit("detect", flows / "model", flows / "test.csv", "-o", flows / "s3.csv", "--alerts", flows / "notes.txt")
    assert res.returncode == 2 and "not a nadkit alerts file" in res.stderr
    assert (flows / "notes.txt").read_text() == "mine\n" and not (flows / "s3.csv").exists()
    res = nadkit("detect", flows / "model", flows / "test.csv", "-o", flows / "s6.csv", "--alerts", flows / "s6.csv")
    assert res.returncode == 2 and "is an input or output of this command" in res.stderr


def test_risk_scale():
    assert risk(1.0, 1.0)[1:] == (50.0, 21, "low")
    assert risk(2.0, 1.0)[1:] == (75.0, 73, "high")
    assert risk(10.0, 1.0)[2:] == (99, "critical")
    assert risk(1.0, None)[1:] == (50.0, 47, "medium")


# ------------------------------------------------------------------------------------ webhook


@pytest.fixture
def receiver():
    srv = Receiver(fail=5)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def _alerts(n: int) -> list[dict]:
    frame = pd.DataFrame({"Src IP": [f"10.1.0.{i}" for i in range(n)], "score": np.linspace(2, 9, n),
                          "anomaly": 1})
    return table_alerts(frame, model="ae", threshold=1.5, source="test")


def test_webhook_delivers_every_alert_once_under_retries(receiver):
    docs = _alerts(40)
    sender = WebhookSender(f"http://127.0.0.1:{receiver.server_port}/alerts", backoff=0.01, max_backoff=0.05)
    for doc in docs:
        assert sender.send(doc)
    sender.close(timeout=30)
    keys = {d["event"]["id"] for d in docs}
    assert set(receiver.by_key) == keys  # every alert arrived …
    assert all(len(v) == 1 for v in receiver.by_key.values())  # … exactly once (200 only once per key)
    assert receiver.requests == 40 + 5 and sender.sent == 40 and sender.failed == sender.dropped == 0
    assert [v[0]["source"]["ip"] for v in receiver.by_key.values()] == [d["source"]["ip"] for d in docs]


def test_webhook_warns_when_the_queue_drops(receiver):
    receiver.fail = 10**6  # always 503: the worker keeps retrying the first alert
    sender = WebhookSender(f"http://127.0.0.1:{receiver.server_port}/", max_queue=3, retries=2, backoff=0.2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        results = [sender.send(doc) for doc in _alerts(10)]
        sender.close(timeout=5)
    assert results.count(False) == sender.dropped >= 5
    messages = [str(w.message) for w in caught]
    assert any("queue is full" in m and "dropped" in m for m in messages)
    assert any(f"{sender.dropped:,} dropped (queue full)" in m for m in messages)


def test_detect_webhook_end_to_end(flows, receiver):
    receiver.fail = 2
    res = nadkit("detect", flows / "model", flows / "test.csv", "-o", flows / "s4.parquet",
                 "--keep-cols", "Src IP", "--webhook", f"http://127.0.0.1:{receiver.server_port}/hook")
    assert res.returncode == 0, res.stderr
    flagged = int(pd.read_parquet(flows / "s4.parquet")["anomaly"].sum())
    assert len(receiver.by_key) == flagged and all(len(v) == 1 for v in receiver.by_key.values())
    assert f"{flagged:,} delivered, 0 failed, 0 dropped" in res.stderr


def test_bad_webhook_url_is_one_line_error(flows):
    res = nadkit("detect", flows / "model", flows / "test.csv", "-o", flows / "s5.csv", "--webhook", "ftp://x")
    assert res.returncode == 2 and "webhook URL must start with http://" in res.stderr
    assert "Traceback" not in res.stderr


def test_documents_are_strict_json():
    frame = pd.DataFrame({"ts": [1.7e9, np.nan], "score": [np.inf, 3.0], "anomaly": [1, 1]})
    docs = table_alerts(frame, model="m", threshold=1.0)
    text = [dumps(d) for d in docs]
    assert all("NaN" not in t and "Infinity" not in t for t in text)
    assert docs[0]["@timestamp"].startswith("2023-11-14T22:13:20")


def test_series_alerts_carry_each_steps_own_threshold():
    """A rolling threshold moves: each alert names the threshold its step was compared with
    (``detect``'s ``step_threshold`` column), so its ratio is above 1; without the column the
    fixed one is used."""
    from nadkit.alerts import series_alerts

    frame = pd.DataFrame({"step": [0, 1, 2, 3], "step_score": [0.5, 2.0, 1.5, 3.0],
                          "step_threshold": [1.0, 1.2, 1.4, 2.5], "step_flag": [0, 1, 1, 1],
                          "a_score": [0.1, 2.0, 1.0, 3.0], "b_score": [0.4, 0.1, 1.5, 0.2]})
    docs = series_alerts(frame, "dcvae", 9.0, ["a", "b"])
    assert [d["nadkit"]["step"] for d in docs] == [1, 2, 3]
    assert [d["nadkit"]["threshold"] for d in docs] == [1.2, 1.4, 2.5]
    for d in docs:
        check_ecs(d)
    fixed = series_alerts(frame.drop(columns="step_threshold"), "dcvae", 1.0, ["a", "b"])
    assert [d["nadkit"]["threshold"] for d in fixed] == [1.0, 1.0, 1.0]
