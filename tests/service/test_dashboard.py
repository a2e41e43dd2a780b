"""The dashboard in a real browser (Playwright driving Debian's chromium): log in with the API
key, open every page, move the threshold slider and check the numbers against
``nadkit.metrics``, click a flow row and check its features and contributions; screenshots
are saved under the test's tmp_path."""

from __future__ import annotations

import numpy as np
import pytest

from nadkit import artifact
from nadkit.metrics import threshold_metrics

from .conftest import ServerThread

pytestmark = pytest.mark.filterwarnings("ignore::nadkit.data.preprocess.UnknownCategoryWarning")


def numbers(page, ids):
    return {i: page.locator(f"#{i}").inner_text() for i in ids}


def expected(y, scores, t):
    m = threshold_metrics(y, scores > t)
    shown = {k: f"{m[k]:.4f}" for k in ("precision", "recall", "f1", "f2", "fpr", "accuracy")}
    shown.update({k: f"{v:,}" for k, v in m["confusion"].items()})
    return shown


IDS = ("precision", "recall", "f1", "f2", "fpr", "accuracy", "tp", "fp", "fn", "tn")


def test_models_page(page, live, tmp_path):
    assert page.locator("section.model").count() == 3
    ae = page.locator("#model-ae")
    assert ae.locator(".threshold-method").inner_text() == "target FPR 1 %"  # the default: TargetFPR(0.01)
    assert ae.locator("table.evaluation-metrics td").count() == 8
    assert ae.locator("table.recorded-metrics").count() == 1  # from the metrics.json next to it
    page.screenshot(path=tmp_path / "models.png", full_page=True)
    assert (tmp_path / "models.png").stat().st_size > 10_000


def test_evaluation_slider_updates_metrics(page, live, tmp_path):
    page.goto(f"{live.url}/evaluation?model=ae")
    page.wait_for_selector("#evaluation[data-ready='1']", timeout=30_000)
    assert page.locator("#histogram .main-svg").count() and page.locator("#roc .main-svg").count()
    scores = artifact.load(live.models["ae"]).score(live.eval_table.X)
    y = live.eval_table.y

    def shown_threshold() -> float:
        return float(page.locator("#threshold-value").get_attribute("data-threshold"))

    t0 = shown_threshold()
    assert t0 == artifact.load(live.models["ae"]).threshold.value_  # starts at the model's threshold
    first = numbers(page, IDS)
    assert first == expected(y, scores, t0)
    page.screenshot(path=tmp_path / "evaluation-model-threshold.png", full_page=True)
    for position in ("150", "900"):
        page.locator("#threshold-slider").fill(position)
        t = shown_threshold()
        assert t != t0
        now = numbers(page, IDS)
        assert now != first and now == expected(y, scores, t)
    per_class = page.locator("#per-class tr").count()
    assert per_class > 3  # normal + several attack classes
    page.screenshot(path=tmp_path / "evaluation-slider.png", full_page=True)
    page.click("#threshold-reset")
    assert shown_threshold() == t0 and numbers(page, IDS) == first


def test_flows_row_shows_features_and_contributions(page, live, tmp_path):
    page.goto(f"{live.url}/flows?model=ae")
    page.wait_for_selector("#flows[data-ready='1']", timeout=30_000)
    rows = page.locator("tr.flow")
    assert rows.count() == 60
    scores = [float(rows.nth(i).locator("td").nth(1).inner_text()) for i in range(rows.count())]
    assert scores == sorted(scores, reverse=True)  # highest first
    rows.first.click()
    page.wait_for_selector("#detail:not([hidden]) #detail-table tr.feature", timeout=30_000)
    features = page.locator("#detail-table tr.feature")
    assert features.count() == 41
    contrib = [float(features.nth(i).locator("td.contribution").inner_text()) for i in range(41)]
    assert all(c >= 0 for c in contrib) and contrib == sorted(contrib, reverse=True)
    detail_score = float(page.locator("#detail-score").inner_text())
    np.testing.assert_allclose(sum(contrib), detail_score, rtol=1e-3)
    np.testing.assert_allclose(detail_score, scores[0], rtol=1e-3)
    assert page.locator("#contrib-plot .main-svg").count()
    page.screenshot(path=tmp_path / "flows-detail.png", full_page=True)
    page.click("#detail-close")
    assert page.locator("#detail").is_hidden()


def test_flows_of_a_model_without_contributions(page, live, tmp_path):
    page.goto(f"{live.url}/flows?model=iforest")
    page.wait_for_selector("#flows[data-ready='1']", timeout=30_000)
    page.locator("tr.flow").first.click()  # the features are still listed, without contributions
    page.wait_for_selector("#detail:not([hidden]) #detail-table tr.feature", timeout=30_000)
    assert page.locator("td.contribution").first.inner_text() == "—"
    page.screenshot(path=tmp_path / "flows-iforest.png", full_page=True)


def test_series_page_shows_bands_flags_and_scores(page, live, tmp_path):
    page.click("#model-dcvae a.series-link")  # reachable from the model list
    page.wait_for_url(f"{live.url}/series?model=dcvae")
    page.wait_for_selector("#series[data-ready='1']", timeout=30_000)
    lib = artifact.load(live.models["dcvae"])
    bands = lib.bands(live.series)
    channels = lib.preprocessor.channels_
    assert page.locator("#channel-picker input").count() == len(channels)
    assert page.locator("#channel-picker input:checked").count() == 3
    assert page.locator("#n-flagged").inner_text() == f"{int(bands['step_flag'].sum()):,}"
    assert page.locator("#shown-flags").inner_text() == f"{int(bands['flag'][:, :3].sum()):,}"
    plot = page.locator("#series-plot")
    assert plot.locator(".main-svg").count() and plot.locator("g.cartesianlayer .subplot").count() == 4
    page.screenshot(path=tmp_path / "series.png", full_page=True)
    page.locator("#channel-picker input").nth(5).check()  # one more channel: one more subplot
    page.wait_for_selector("#series[data-ready='1'][data-channels='4']", timeout=30_000)
    assert plot.locator("g.cartesianlayer .subplot").count() == 5
    assert channels[5] in page.locator("#shown-channels").inner_text()
    assert page.locator("#shown-flags").inner_text() == f"{int(bands['flag'][:, [0, 1, 2, 5]].sum()):,}"
    page.screenshot(path=tmp_path / "series-4-channels.png", full_page=True)
    assert (tmp_path / "series-4-channels.png").stat().st_size > 20_000


def test_pages_without_evaluation_data_say_how_to_get_it(browser, trained_models, tmp_path):
    from nadkit.service import create_app

    with ServerThread(create_app(trained_models, api_key="")) as server:  # no key, no --eval-data
        page = browser.new_page()
        for path in ("/evaluation", "/flows"):
            page.goto(server.url + path)
            assert "--eval-data" in page.locator("#no-evaluation").inner_text()
        page.goto(server.url + "/series")
        assert "no series model" in page.locator("#no-series").inner_text()
        page.goto(server.url + "/")
        assert page.locator("section.model").count() == 2 and page.locator("#key").count() == 0
        page.screenshot(path=tmp_path / "no-evaluation.png", full_page=True)
        page.close()
