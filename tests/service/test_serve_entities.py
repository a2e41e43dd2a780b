"""`nadkit serve --series-data kpis.csv --entity-col host`: the start-up dashboard data of a series
model is one series per entity. A long table (rows shuffled) holds three pumps, each a span of
real SKAB valve1/0 steps with its labels; the real server (uvicorn, over HTTP) scores each
pump's rows as a series of its own, exactly as the library scores that pump alone, with the
first window − 1 steps of every pump unscored; its incidents carry their entity and equal the
library's on that pump; the swimlane has one lane per pump. Bad input ends `serve` with one
`error:` line (exit 2)."""

from __future__ import annotations

import warnings

import httpx
import numpy as np
import pandas as pd
import pytest

from nadkit import artifact

from .conftest import ServerThread, serve_error, watch

pytestmark = pytest.mark.filterwarnings("ignore::nadkit.data.preprocess.UnknownCategoryWarning")
#: pump → its steps of SKAB valve1/0 (one-step gaps filled; labelled anomalies in steps 600-1019)
PUMPS = {"pump-b": (450, 900), "pump-a": (0, 450), "pump-c": (900, 1200)}


@pytest.fixture(scope="module")
def pumps(data_root):
    """Each pump's raw channels, times and labels (the library's reference input)."""
    from nadkit.data import load_dataset
    from nadkit.data.series.gaps import regularize

    s = regularize(load_dataset("skab", "valve1/0"), max_gap=1)
    return {p: (s.X.iloc[a:b].reset_index(drop=True), s.time[a:b], s.y[a:b]) for p, (a, b) in PUMPS.items()}


@pytest.fixture(scope="module")
def kpis(pumps, tmp_path_factory):
    """The long table a user has: time, host, the channels and a label column, rows shuffled."""
    parts = [X.assign(datetime=np.datetime_as_string(t, unit="s"), host=p, anomaly=y)
             for p, (X, t, y) in pumps.items()]
    table = pd.concat(parts, ignore_index=True)
    table = table.iloc[np.random.default_rng(0).permutation(len(table))]
    path = tmp_path_factory.mktemp("entities") / "kpis.csv"
    table[["datetime", "host", *pumps["pump-a"][0].columns, "anomaly"]].to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def order(kpis):
    """The hosts in order of first appearance in the shuffled table."""
    return list(dict.fromkeys(pd.read_csv(kpis)["host"]))


@pytest.fixture(scope="module")
def server(series_model, kpis):
    """The server as `serve --series-data kpis.csv --series-labels anomaly --entity-col host` builds it."""
    from nadkit.entities import read_entities
    from nadkit.service import create_app

    series = read_entities(str(kpis), "host", label_col="anomaly")  # what the CLI reads
    app = create_app({"dcvae": series_model}, api_key="", series_data=series, series_steps=400,
                     entity_col="host")
    with ServerThread(app) as srv:
        yield srv


def test_each_entity_of_the_start_up_data_is_scored_as_its_own_series(server, series_model, pumps, order):
    from nadkit import incidents as inc
    from nadkit.data.series import SeriesData

    lib = artifact.load(series_model)
    window = lib.detector.window
    with httpx.Client(base_url=server.url, timeout=60) as c:
        model = c.get("/v1/models/dcvae").json()
        assert model["entity_col"] == "host"
        assert list(model["series_entities"]) == order and set(order) == set(PUMPS)
        payloads = {p: c.get("/v1/models/dcvae/series", params={"entity": p, "channel": "Pressure"}).json()
                    for p in PUMPS}
        default = c.get("/v1/models/dcvae/series").json()
        found = c.get("/v1/models/dcvae/incidents").json()
        unknown = c.get("/v1/models/dcvae/series", params={"entity": "pump-z"})
        page = c.get("/series", params={"model": "dcvae", "entity": "pump-c"})
    assert unknown.status_code == 404 and "'pump-z'" in unknown.json()["detail"] and "pump-a" in unknown.json()["detail"]
    assert page.status_code == 200 and 'data-entity="pump-c"' in page.text and 'id="entity-picker"' in page.text
    assert default["entity"] == order[0] and default["entities"] == list(model["series_entities"])
    assert found["entity_col"] == "host" and [e["entity"] for e in found["entities"]] == list(model["series_entities"])
    want_incidents = []
    for p in order:
        X, t, y = pumps[p]
        steps = min(len(X), 400)  # --series-steps: the first 400 steps of each entity
        series = SeriesData(X.iloc[:steps], time=t[:steps], y=y[:steps])
        want = lib.bands(series)  # the library on this pump's rows alone
        got = payloads[p]
        assert got["entity"] == p and model["series_entities"][p]["n"] == steps
        scores = np.array(got["step_score"], dtype=float)
        assert np.isnan(scores[:window - 1]).all() and np.isfinite(scores[window - 1:]).all()
        np.testing.assert_array_equal(scores, want["step_score"])
        np.testing.assert_array_equal(np.array(got["values"]["Pressure"]["upper"], dtype=float),
                                      want["upper"][:, list(lib.preprocessor.channels_).index("Pressure")])
        assert got["y"] == y[:steps].tolist()
        times = np.datetime_as_string(np.asarray(t[:steps], "datetime64[ms]")).tolist()
        assert got["time"] == times
        mine = [i for i in found["incidents"] if i["entity"] == p]
        ref = inc.for_series(lib, want, time=times)
        assert [(i["start"], i["end"], i["severity"]) for i in mine] == list(
            zip(ref["start"].tolist(), ref["end"].tolist(), ref["severity"].tolist(), strict=True))
        want_incidents += mine
    assert found["incidents"] == want_incidents and want_incidents  # valve1/0's anomalies give incidents
    labelled = {i["entity"] for i in found["incidents"] if i["labelled"]}
    assert labelled and labelled <= {"pump-b", "pump-c"}  # only those pumps hold labelled steps
    assert found["coverage"]["events"] == sum(bool(y[:400].any()) for _, _, y in pumps.values())


def test_the_swimlane_has_one_lane_per_entity(browser, server, order, tmp_path):
    page = browser.new_page()
    errors = watch(page)
    page.goto(f"{server.url}/incidents?model=dcvae")
    page.wait_for_selector("#incidents[data-ready='1']", timeout=30_000)
    lanes = page.locator("#swimlane .ytick text").evaluate_all("(els) => els.map((e) => e.textContent)")
    assert lanes == [f"dcvae · kpis.csv [host={p}]" for p in order]  # one lane per entity, no stream yet
    entities = page.locator("#incident-table td.entity").all_inner_texts()
    with httpx.Client(base_url=server.url, timeout=60) as c:
        found = c.get("/v1/models/dcvae/incidents").json()["incidents"]
    assert sorted(entities) == sorted(i["entity"] for i in found)
    page.screenshot(path=tmp_path / "incidents-entities-start-up.png", full_page=True)
    last = order[-1]
    page.locator(f"#incident-table tr.incident[data-entity='{last}'] a.view").first.click()
    page.wait_for_url(f"**/series?model=dcvae&entity={last}*")
    page.wait_for_selector("#series-plot .main-svg", timeout=30_000)
    assert page.locator("#entity-picker").input_value() == last
    page.screenshot(path=tmp_path / "series-entity.png", full_page=True)
    page.close()
    assert not errors, errors


@pytest.fixture(scope="module")
def table_model(pumps, tmp_path_factory):
    """A PCA table model on the pumps' rows (real SKAB values)."""
    from nadkit.data import Preprocessor
    from nadkit.data.container import TableData
    from nadkit.models import PCA
    from nadkit.pipeline import Pipeline

    X = pd.concat([X for X, _, _ in pumps.values()], ignore_index=True)
    with warnings.catch_warnings():  # few normal rows for the default 1 % FPR: irrelevant here
        warnings.simplefilter("ignore")
        pipe = Pipeline(PCA(n_components=3), Preprocessor()).fit(TableData(X))
    return artifact.save(pipe, tmp_path_factory.mktemp("entities-pca") / "pca")


@pytest.mark.parametrize(("args", "message"), [
    (["{pca}", "--series-data", "{kpis}", "--entity-col", "host"],
     "--entity-col is for series models (dcvae, seq2seq, netgan), not pca"),
    (["{dcvae}", "--series-data", "{kpis}", "--entity-col", "site"], "entity column 'site' not in the data"),
    (["{dcvae}", "--entity-col", "host"], "--entity-col names the entity column of --series-data"),
    (["{dcvae}", "--series-data", "{kpis}", "--series-labels", "{kpis}", "--entity-col", "host"],
     "with --entity-col, --series-labels names a label column"),
    (["{dcvae}", "--series-data", "skab:valve1/0", "--entity-col", "host"], "--entity-col reads a CSV/Parquet file"),
])
def test_bad_entity_options_end_serve_with_one_error_line(table_model, series_model, kpis, args, message,
                                                           monkeypatch, capsys):
    args = [a.format(pca=table_model, dcvae=series_model, kpis=kpis) for a in args]
    assert message in serve_error(args, monkeypatch, capsys)


def test_an_entity_column_that_is_a_channel_is_refused(series_model, pumps):
    from nadkit.entities import entity_series
    from nadkit.errors import DataError
    from nadkit.service import create_app

    X = pumps["pump-a"][0]
    series = entity_series(X.iloc[:40], "Pressure")  # a numeric column: it splits, wrongly
    with pytest.raises(DataError, match="--entity-col Pressure is one of model dcvae's channels"):
        create_app({"dcvae": series_model}, api_key="", series_data=series, entity_col="Pressure")
