"""`nadkit serve` as a user runs it: a subprocess on a free port, the key from NADKIT_API_KEY,
evaluation data from a labelled CSV; bad arguments end with one error line (exit 2)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx
import numpy as np
import pytest

from .conftest import free_port, serve_error


def nadkit(*args, env=None, **kw):
    return subprocess.Popen([sys.executable, "-m", "nadkit", *map(str, args)], env={**os.environ, **(env or {})},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def test_serve_from_the_command_line(trained_models, series_model, nsl, tmp_path):
    _, test = nsl
    rng = np.random.default_rng(5)
    sub = test.subset(np.sort(rng.choice(len(test), 500, replace=False)))
    labelled = sub.X.assign(label=sub.attack)
    labelled.to_csv(tmp_path / "eval.csv", index=False)
    port = free_port()
    proc = nadkit("serve", f"detector={trained_models['ae']}", f"kpis={series_model}", "--port", port,
                  "--eval-data", tmp_path / "eval.csv", "--eval-labels", "label",
                  "--series-data", "skab:valve1/3", "--series-steps", 400, "--no-access-log",
                  env={"NADKIT_API_KEY": "from-env"})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 120
        while True:
            assert proc.poll() is None, proc.communicate()[1]
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.time() < deadline, "server did not start"
            time.sleep(0.2)
        assert httpx.get(f"{url}/v1/models").status_code == 401
        r = httpx.get(f"{url}/v1/models/detector", headers={"Authorization": "Bearer from-env"})
        assert r.status_code == 200
        ev = r.json()["evaluation"]
        assert ev["n"] == 500 and ev["data"] == "eval.csv" and ev["n_anomalies"] == int(sub.y.sum())
        r = httpx.post(f"{url}/v1/models/detector/score", headers={"X-API-Key": "from-env"},
                       json={"data": sub.X.head(3).to_dict("records")})
        assert r.status_code == 200 and len(r.json()["scores"]) == 3
        view = httpx.get(f"{url}/v1/models/kpis", headers={"X-API-Key": "from-env"}).json()["series_view"]
        assert view["data"] == "skab:valve1/3" and view["n"] == 400 and view["n_unscored"] == 31
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=60)
    assert "serving detector, kpis on http://127.0.0.1" in err


@pytest.mark.parametrize(("args", "message"), [
    (["does-not-exist"], "model directory not found: does-not-exist"),
    (["{ae}", "{ae}"], "two models are named 'model'"),
    (["{ae}", "--eval-data", "nsl-kdd:nope"], "has no split 'nope'"),
    (["{ae}", "--series-data", "skab:valve9/0"], "has no split 'valve9/0'"),
])
def test_serve_errors_are_one_line(trained_models, args, message, monkeypatch, capsys):
    """The CLI's entry point in-process (the subprocess test above covers the real process)."""
    args = [a.format(ae=trained_models["ae"]) for a in args]
    assert message in serve_error(args, monkeypatch, capsys)
