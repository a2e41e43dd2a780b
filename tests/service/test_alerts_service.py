"""Stream alerts and per-entity metrics over real HTTP: the conftest's DC-VAE (trained on real
SKAB valve runs) served with ``alerts=FILE`` and ``webhook=URL`` (a loopback receiver that
answers 503 to its first requests); two streams (two valves: the stream id is the entity) of
SKAB valve1/0 and valve1/6. Every flagged step becomes one ECS alert in the file and arrives once
at the webhook; ``/metrics`` counts steps and anomalies per model and entity."""

from __future__ import annotations

import json
import re
import threading
import time

import numpy as np
import pytest

from nadkit import artifact

from ..webhook_receiver import Receiver
from .conftest import API_KEY, Live, ServerThread


@pytest.fixture(scope="module")
def served(series_model, tmp_path_factory):
    from nadkit.service import create_app

    tmp = tmp_path_factory.mktemp("service-alerts")
    receiver = Receiver(fail=3)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    app = create_app({"dcvae": series_model}, api_key=API_KEY, alerts=tmp / "alerts.jsonl",
                     webhook=f"http://127.0.0.1:{receiver.server_port}/alerts")
    with ServerThread(app) as server:
        yield Live(url=server.url, models={"dcvae": series_model}, eval_table=None, test_rows=None), tmp, receiver
    receiver.shutdown()
    receiver.server_close()


def _points(name: str, channels: list[str], n: int = 500) -> list[dict]:
    from nadkit.data import load_dataset
    from nadkit.data.series.gaps import regularize

    series = regularize(load_dataset("skab", name).slice(0, n + 20), max_gap=1)  # its one-step gaps filled
    X = series.X[channels].iloc[:n]
    times = np.datetime_as_string(series.time[:n], unit="s").tolist()
    return [{**r, "time": t} for r, t in zip(X.to_dict("records"), times, strict=True)]


def test_stream_alerts_and_entity_metrics(served):
    live, tmp, receiver = served
    channels = artifact.load(live.models["dcvae"]).preprocessor.channels_
    flagged: dict[str, list[int]] = {}
    with live.client() as c:
        for entity, name in (("valve-a", "valve1/0"), ("valve-b", "valve1/6")):
            pts = _points(name, channels)
            for start in range(0, len(pts), 100):
                r = c.post(f"/v1/models/dcvae/streams/{entity}", json={"data": pts[start:start + 100]})
                assert r.status_code == 200, r.text
                body = r.json()
                flagged.setdefault(entity, []).extend(s for s, f in zip(body["steps"], body["labels"], strict=True) if f)
        metrics = c.get("/metrics").text
    assert sum(map(len, flagged.values())) > 0
    docs = [json.loads(line) for line in (tmp / "alerts.jsonl").read_text().splitlines()]
    for entity, steps in flagged.items():
        mine = [d for d in docs if d["host"]["name"] == entity]
        assert [d["nadkit"]["step"] for d in mine] == steps
        assert all(d["event"]["kind"] == "alert" and d["event"]["module"] == "nadkit" and d["labels"]["entity"] == entity
                   and d["nadkit"]["model"] == "dcvae" and len(d["nadkit"]["contributions"]) == 5 for d in mine)
        count = re.search(rf'nadkit_entity_anomalies_flagged_total{{entity="{entity}",model="dcvae"}} (\S+)', metrics)
        assert count and float(count.group(1)) == len(steps)
        scored = re.search(rf'nadkit_entity_steps_scored_total{{entity="{entity}",model="dcvae"}} (\S+)', metrics)
        assert scored and float(scored.group(1)) == 500 - 31  # the first window - 1 steps are unscored
        assert f'nadkit_entity_last_score{{entity="{entity}",model="dcvae"}}' in metrics
    keys = {d["event"]["id"] for d in docs}
    assert len(keys) == len(docs)
    deadline = time.time() + 30
    while set(receiver.by_key) != keys and time.time() < deadline:
        time.sleep(0.05)
    assert set(receiver.by_key) == keys and all(len(v) == 1 for v in receiver.by_key.values())
    with live.client() as c:
        assert c.delete("/v1/models/dcvae/streams/valve-a").status_code == 200
        metrics = c.get("/metrics").text
    assert 'entity="valve-a"' not in metrics and 'entity="valve-b"' in metrics
    assert re.search(r'nadkit_webhook_alerts{outcome="sent"} (\S+)', metrics).group(1) == f"{float(len(keys))}"
