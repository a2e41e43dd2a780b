"""The incidents page in a real browser (Playwright + Debian's chromium, as test_dashboard):
the DC-VAE's incidents on SKAB valve1/0 listed with their labelled truth, sorted by a header
click, filtered by severity and text, the swimlane drawn, and an incident's link opening the
series page zoomed on it; the AE's incidents link to the flows page. Screenshots are saved."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.filterwarnings("ignore::nadkit.data.preprocess.UnknownCategoryWarning")


def severities(page):
    return [float(t) for t in page.locator("#incident-table td.sev").all_inner_texts()]


def open_incidents(page, live, model):
    page.goto(f"{live.url}/incidents?model={model}")
    page.wait_for_selector("#incidents[data-ready='1']", timeout=30_000)


def test_incidents_page_lists_sorts_and_filters(page, live, tmp_path):
    with live.client() as c:
        p = c.get("/v1/models/ae/incidents").json()
    n = len(p["incidents"])
    assert n >= 3
    page.click("header nav a:text('Incidents')")
    page.wait_for_url(f"{live.url}/incidents")
    open_incidents(page, live, "ae")
    assert page.locator("#incident-count").inner_text() == str(n)
    assert page.locator("#event-count").inner_text() == str(p["coverage"]["events"])
    assert page.locator("#events-overlapped").inner_text() == str(p["coverage"]["events_overlapped"])
    assert page.locator("#incident-table tr.incident").count() == n
    sev = severities(page)
    assert sev == sorted(sev, reverse=True)  # most severe first
    truth = page.locator("#incident-table tr.incident td.anomaly, #incident-table tr.incident td.normal").all_inner_texts()
    assert sum(t.startswith("event") for t in truth) == sum(i["labelled"] for i in p["incidents"])
    assert page.locator("#swimlane .main-svg").count() and page.locator("#swimlane g.point").count() >= n
    page.screenshot(path=tmp_path / "incidents.png", full_page=True)
    # sort by start, ascending on a second click
    page.click("#incident-table th[data-key='start']")
    page.click("#incident-table th[data-key='start']")
    ids = [int(t) for t in page.locator("#incident-table tr.incident td:first-child").all_inner_texts()]
    starts = {i["incident_id"]: i["start"] for i in p["incidents"]}
    assert [starts[i] for i in ids] == sorted(starts.values())
    # filters: severity at least the median, only incidents on a labelled event, a text search
    cut = int(sorted(i["severity"] for i in p["incidents"])[n // 2])
    page.fill("#incident-min-severity", str(cut))
    page.wait_for_selector(f"#incidents[data-shown='{sum(i['severity'] >= cut for i in p['incidents'])}']")
    assert all(s >= cut - 0.5 for s in severities(page))
    page.fill("#incident-min-severity", "0")
    page.select_option("#incident-truth", "0")
    page.wait_for_selector(f"#incidents[data-shown='{sum(not i['labelled'] for i in p['incidents'])}']")
    page.select_option("#incident-truth", "")
    q = str(p["incidents"][-1]["start"])  # the search looks in top features, times, id, start and end

    def text(i):
        return " ".join([" ".join(i["top"]), i["start_time"] or "", i["end_time"] or "", str(i["incident_id"]),
                         str(i["start"]), str(i["end"])]).lower()
    page.fill("#incident-search", q)
    page.wait_for_selector(f"#incidents[data-shown='{sum(q in text(i) for i in p['incidents'])}']")
    page.screenshot(path=tmp_path / "incidents-filtered.png", full_page=True)
    assert (tmp_path / "incidents.png").stat().st_size > 20_000


def test_series_incident_opens_the_series_page_zoomed_on_it(page, live, tmp_path):
    with live.client() as c:
        p = c.get("/v1/models/dcvae/incidents").json()
    assert p["incidents"] and p["coverage"]["events"] >= 1
    open_incidents(page, live, "dcvae")
    assert page.locator("#incident-table tr.incident").count() == len(p["incidents"])
    assert page.locator("#swimlane g.point").count() >= len(p["incidents"])  # all models' lanes
    page.screenshot(path=tmp_path / "incidents-dcvae.png", full_page=True)
    first = page.locator("#incident-table tr.incident").first
    chosen = next(i for i in p["incidents"] if i["incident_id"] == int(first.locator("td").first.inner_text()))
    first.locator("a.view").click()
    page.wait_for_url(f"{live.url}/series?model=dcvae#from={chosen['start']}&to={chosen['end']}")
    page.wait_for_selector("#series[data-range]", timeout=30_000)
    lo, hi = (int(v) for v in page.locator("#series").get_attribute("data-range").split("-"))
    assert lo <= chosen["start"] and hi >= chosen["end"]
    page.screenshot(path=tmp_path / "incident-series.png", full_page=True)


def test_table_model_incidents_link_to_flows(page, live, tmp_path):
    with live.client() as c:
        p = c.get("/v1/models/ae/incidents").json()
    open_incidents(page, live, "ae")
    links = page.locator("#incident-table a.view").evaluate_all("(a) => a.map((e) => e.getAttribute('href'))")
    assert sorted(links) == sorted(f"/flows?model=ae#row={i['peak_at']}" for i in p["incidents"])
    sampled = set(p["flow_rows"])
    hit = next((i for i in p["incidents"] if i["peak_at"] in sampled), None)
    miss = next((i for i in p["incidents"] if i["peak_at"] not in sampled), None)
    if hit is not None:  # a record in the flows sample opens with its detail
        page.goto(f"{live.url}/flows?model=ae#row={hit['peak_at']}")
        page.wait_for_selector("#flows[data-detail]", timeout=30_000)
        assert page.locator("#detail-title").inner_text() == f"Record {hit['peak_at']}"
    if miss is not None:  # else the page says the record is not in its sample
        page.goto("about:blank")  # a new document: a hash-only change would not reload the page
        page.goto(f"{live.url}/flows?model=ae#row={miss['peak_at']}")
        page.wait_for_selector("#row-not-sampled", timeout=30_000)
    assert hit is not None or miss is not None
