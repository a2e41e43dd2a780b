"""The real server for the service tests: uvicorn on a free loopback port, in a thread, holding
an AE (with per-column contributions) and an IForest (without) trained on a small real
NSL-KDD subset, with labelled NSL-KDD test rows as evaluation data, a small DC-VAE trained on
real SKAB valve runs (their normal leading parts) with per-channel α bands, SKAB valve1/0 as its series-page
data, and an API key."""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest
import uvicorn

API_KEY = "test-key-0123456789"
CHROMIUM = os.environ.get("NADKIT_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
MAX_ROWS = 5_000
MAX_BODY = 2 * 1024 * 1024


@dataclass
class Live:
    url: str
    models: dict[str, Path]
    eval_table: object  # TableData scored at start-up
    test_rows: object  # raw NSL-KDD test features for requests
    series: object = None  # SeriesData (SKAB valve1/0): the series page's data and stream input

    def client(self, key: str | None = API_KEY, **kw) -> httpx.Client:
        headers = {"X-API-Key": key} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60, **kw)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def trained_models(tmp_path_factory, nsl) -> dict[str, Path]:
    """AE + IForest saved as real artifacts (3,000 KDDTrain+ normals, seeded)."""
    from nadkit import artifact
    from nadkit.data import Preprocessor
    from nadkit.models import AE, IForest
    from nadkit.pipeline import Pipeline

    train, _ = nsl
    rng = np.random.default_rng(0)
    normals = train.normal()
    sub = normals.subset(np.sort(rng.choice(len(normals), 3000, replace=False)))
    root = tmp_path_factory.mktemp("service-models")
    out = {}
    for name, det in (("ae", AE(hidden=(32,), latent=8, epochs=8, batch_size=256, random_state=0)),
                      ("iforest", IForest(n_estimators=50, random_state=0))):
        pipe = Pipeline(det, Preprocessor(categorical=train.meta["categorical"])).fit(sub)
        out[name] = artifact.save(pipe, root / name / "model")
    # a metrics.json next to the AE model, the layout `nadkit bench --save-models` writes
    (root / "ae" / "metrics.json").write_text(json.dumps({"auroc": 0.9, "auprc": 0.8, "data": "somewhere"}))
    return out


@pytest.fixture(scope="session")
def small_iforest(tmp_path_factory, nsl) -> Path:
    """A 20-tree IForest pipeline fitted on 1,500 seeded NSL-KDD training normals (saved)."""
    from nadkit import artifact
    from nadkit.data import Preprocessor
    from nadkit.models import IForest
    from nadkit.pipeline import Pipeline

    train, _ = nsl
    normals = train.normal()
    sub = normals.subset(np.sort(np.random.default_rng(0).choice(len(normals), 1500, replace=False)))
    pipe = Pipeline(IForest(n_estimators=20, random_state=0),
                    Preprocessor(categorical=train.meta["categorical"])).fit(sub)
    return artifact.save(pipe, tmp_path_factory.mktemp("small-iforest") / "iforest")


@pytest.fixture(scope="session")
def series_model(tmp_path_factory, data_root) -> Path:
    """A small DC-VAE (window 32, context 41 > window: the legacy layout) trained for 60 steps on
    the normal leading parts (first 560 steps, before any labelled anomaly) of SKAB valve1/1-4;
    α bands calibrated for 1% FPR on the normal leading part of valve1/5. (SKAB's anomaly-free
    file is another operating regime: its accelerometers read ~7× higher than the valve runs.)"""
    import pandas as pd

    from nadkit import artifact
    from nadkit.data.series import SeriesData
    from nadkit.models import DCVAE
    from nadkit.pipeline import SeriesPipeline

    train = SeriesData(pd.concat([skab_normal_part(i) for i in (1, 2, 3, 4)], ignore_index=True),
                       name="skab:valve1/1-4[:560]")
    det = DCVAE(window=32, cnn_units=(16,) * 4, dilations=(1, 2, 4, 8, 16), step_budget=60, batch_size=32,
                train_stride=4, device="cpu", random_state=0)
    pipe = SeriesPipeline(det).fit(train)
    pipe.calibrate(SeriesData(skab_normal_part(5)), method="alpha", target_fpr=0.01)
    return artifact.save(pipe, tmp_path_factory.mktemp("service-series") / "dcvae")


def skab_normal_part(i: int):
    """SKAB valve1/i up to step 560: its normal leading part (no labelled anomaly yet)."""
    from nadkit.data import load_dataset

    data = load_dataset("skab", f"valve1/{i}").slice(0, 560)
    assert data.y.sum() == 0
    return data.X


@pytest.fixture(scope="session")
def netgan_live(tmp_path_factory, data_root) -> Live:
    """A second server holding only a small Net-GAN (window 16; its covering average looks 15
    steps ahead) trained on the normal leading parts of SKAB valve1/1-4, α bands at 1% FPR."""
    import pandas as pd

    from nadkit import artifact
    from nadkit.data import load_dataset
    from nadkit.data.series import SeriesData
    from nadkit.models import NetGAN
    from nadkit.pipeline import SeriesPipeline
    from nadkit.service import create_app

    train = SeriesData(pd.concat([skab_normal_part(i) for i in (1, 2, 3, 4)], ignore_index=True))
    det = NetGAN(window=16, hidden=16, latent=4, epochs=2, inverse_epochs=2, device="cpu", random_state=0)
    pipe = SeriesPipeline(det).fit(train)
    pipe.calibrate(SeriesData(skab_normal_part(5)), method="alpha", target_fpr=0.01)
    path = artifact.save(pipe, tmp_path_factory.mktemp("service-netgan") / "netgan")
    app = create_app({"netgan": path}, api_key=API_KEY)
    with ServerThread(app) as server:
        yield Live(url=server.url, models={"netgan": path}, eval_table=None, test_rows=None,
                   series=load_dataset("skab", "valve1/0"))


class ServerThread:
    """uvicorn serving ``app`` on a free loopback port in a daemon thread (a context manager)."""

    def __init__(self, app) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.time() + 60
        while not self.server.started:
            if not self.thread.is_alive() or time.time() > deadline:
                pytest.fail("the server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


@pytest.fixture(scope="session")
def live(trained_models, series_model, nsl) -> Live:
    from nadkit.data import load_dataset
    from nadkit.service import create_app
    from nadkit.service.evaluation import sample_rows

    _, test = nsl
    eval_table = sample_rows(test, 2000, seed=0)
    series = load_dataset("skab", "valve1/0")
    models = {**trained_models, "dcvae": series_model}
    app = create_app(models, api_key=API_KEY, max_body_bytes=MAX_BODY, max_rows=MAX_ROWS, eval_data=eval_table,
                     flow_rows=60, series_data=series)
    with ServerThread(app) as server:
        yield Live(url=server.url, models=models, eval_table=eval_table, test_rows=test.X, series=series)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """Debian's chromium driven by Playwright (one persistent context per test module)."""
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"{CHROMIUM} not found: `make test` installs Debian's chromium "
                    "(apt-get install chromium chromium-driver)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=CHROMIUM, args=ARGS,
            headless=True, viewport={"width": 1400, "height": 1000})
        yield context
        context.close()


def watch(page) -> list[str]:
    """The page's uncaught errors and console errors, collected as they happen."""
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    return errors


@pytest.fixture
def page(browser, live):
    """A page of the live dashboard, logged in with the API key like a user; the test fails if
    the page logs an error afterwards."""
    page = browser.new_page()
    errors = watch(page)
    page.goto(f"{live.url}/")
    if page.locator("#key").count():  # the API key is set: log in like a user
        page.fill("#key", API_KEY)
        page.click("#login")
        page.wait_for_url(f"{live.url}/")
    errors.clear()  # the browser logs the 401 of the login page itself
    yield page
    page.close()
    assert not errors, errors


def serve_error(args: list[str], monkeypatch, capsys) -> str:
    """Run ``nadkit serve ARGS`` in-process; assert it ends with exit 2 and one ``error:`` line
    (no traceback) and return its stderr."""
    from nadkit.cli import main

    monkeypatch.setattr(sys, "argv", ["nadkit", "serve", *map(str, args), "--port", str(free_port())])
    with pytest.raises(SystemExit) as exit_info:
        main()
    err = capsys.readouterr().err
    assert exit_info.value.code == 2, err
    assert err.strip().splitlines()[-1].startswith("error:") and "Traceback" not in err, err
    return err
