"""The incidents page per entity in a real browser (Playwright + Debian's chromium, as
test_dashboard): three entities (hosts) stream SKAB valve1/0 steps into the DC-VAE; the page
lists each stream incident with its entity, filters by entity, and the swimlane has one lane per
entity coloured by severity. A screenshot is saved."""

from __future__ import annotations

import pytest

from .test_incidents_page import open_incidents

pytestmark = pytest.mark.filterwarnings("ignore::nadkit.data.preprocess.UnknownCategoryWarning")
ENTITIES = {"router-1": (0, 700), "router-2": (300, 1000), "router-3": (0, 200)}  # router-3: a short stream


def test_swimlane_has_one_lane_per_entity(page, live, tmp_path):
    from nadkit import artifact
    from nadkit.data.series.gaps import regularize

    channels = artifact.load(live.models["dcvae"]).preprocessor.channels_
    X = regularize(live.series, max_gap=1).X[channels]
    with live.client() as c:
        for entity, (a, b) in ENTITIES.items():
            c.delete(f"/v1/models/dcvae/streams/{entity}")
            for start in range(a, b, 175):
                r = c.post(f"/v1/models/dcvae/streams/{entity}", json={"data": X.iloc[start:min(b, start + 175)].to_dict("records")})
                assert r.status_code == 200, r.text
        streams = c.get("/v1/models/dcvae/streams").json()["streams"]
    per = {s["entity"]: len(s["incidents"]) for s in streams}
    assert per["router-1"] >= 1 and per["router-2"] >= 1
    total = sum(per.values())

    open_incidents(page, live, "dcvae")
    assert page.locator("#stream-incident-count").inner_text() == str(total)
    assert page.locator("#stream-table tr.stream-incident").count() == total
    cells = page.locator("#stream-table td.entity").all_inner_texts()
    assert {e: cells.count(e) for e in per if per[e]} == {e: n for e, n in per.items() if n}
    sev = [float(t) for t in page.locator("#stream-table td.sev").all_inner_texts()]
    assert sev == sorted(sev, reverse=True)  # most severe first
    page.select_option("#stream-entity", "router-2")
    page.wait_for_selector(f"#incidents[data-stream-shown='{per['router-2']}']")
    assert set(page.locator("#stream-table td.entity").all_inner_texts()) == {"router-2"}
    # the swimlane: the dashboard data's lanes and one lane per entity, router-3 without incidents too
    lanes = page.locator("#swimlane .ytick text").evaluate_all("(els) => els.map((e) => e.textContent)")
    assert {f"dcvae · {e}" for e in ENTITIES} <= set(lanes)
    assert int(page.locator("#incidents").get_attribute("data-lanes")) == len(lanes)
    assert page.locator("#swimlane g.point").count() >= total
    page.locator("#swimlane").scroll_into_view_if_needed()
    page.screenshot(path=tmp_path / "incidents-entities.png", full_page=True)
    page.locator("#swimlane").screenshot(path=tmp_path / "swimlane-entities.png")
    assert (tmp_path / "swimlane-entities.png").stat().st_size > 10_000
    print(f"screenshots: {tmp_path / 'incidents-entities.png'}, {tmp_path / 'swimlane-entities.png'}")


def test_a_series_model_without_dashboard_data_shows_its_streams(browser, live, tmp_path):
    import httpx

    from nadkit import artifact
    from nadkit.data.series.gaps import regularize
    from nadkit.service import create_app

    from .conftest import ServerThread, watch

    channels = artifact.load(live.models["dcvae"]).preprocessor.channels_
    X = regularize(live.series, max_gap=1).X[channels].iloc[:400]
    with ServerThread(create_app({"dcvae": live.models["dcvae"]}, api_key="")) as server:  # no --series-data
        r = httpx.post(f"{server.url}/v1/models/dcvae/streams/edge-7", json={"data": X.to_dict("records")}, timeout=60)
        assert r.status_code == 200, r.text
        n = len(httpx.get(f"{server.url}/v1/models/dcvae/streams").json()["streams"][0]["incidents"])
        page = browser.new_page()
        errors = watch(page)
        page.goto(f"{server.url}/incidents")
        page.wait_for_selector("#incidents[data-ready='1']", timeout=30_000)
        assert "No dashboard data" in page.locator("#incident-summary").inner_text()
        assert page.locator("#list").is_hidden()
        assert page.locator("#stream-table tr.stream-incident").count() == n >= 1
        assert page.locator("#incidents").get_attribute("data-lanes") == "1"
        page.screenshot(path=tmp_path / "incidents-streams-only.png", full_page=True)
        page.close()
    assert not errors, errors
