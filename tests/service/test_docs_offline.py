"""`/docs` with the network unplugged: a real chromium (Playwright) whose every non-loopback
request is blocked renders Swagger UI from the installed swagger-ui-bundle-v2 package; nothing
leaves loopback. The real server (uvicorn on a free port) holds a small real IForest model."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest

from .conftest import API_KEY, ARGS, CHROMIUM, ServerThread, watch

LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}


@pytest.fixture(scope="module")
def docs_server(small_iforest):
    from nadkit.service import create_app

    with ServerThread(create_app({"iforest": small_iforest}, api_key=API_KEY)) as server:
        yield server


def test_docs_render_offline(docs_server, tmp_path):
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"{CHROMIUM} not found (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    requested, blocked, errors = [], [], []

    def only_loopback(route):
        url = route.request.url
        if urlsplit(url).hostname in LOOPBACK:
            route.continue_()
        else:
            blocked.append(url)
            route.abort("internetdisconnected")

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            context = browser.new_context(extra_http_headers={"X-API-Key": API_KEY},
                                          viewport={"width": 1400, "height": 1000})
            page = context.new_page()
            page.route("**/*", only_loopback)
            page.on("request", lambda r: requested.append(r.url))
            errors += watch(page)
            page.goto(f"{docs_server.url}/docs")
            try:
                page.locator(".opblock-summary-path").first.wait_for(state="visible", timeout=60_000)
            except Exception:  # say what the page shows instead
                text = page.locator("body").inner_text()[:2000]
                raise AssertionError(f"no operation visible: {text!r} {errors} {blocked}") from None
            paths = [t.replace("\u200b", "") for t in page.locator(".opblock-summary-path").all_inner_texts()]
            assert "/v1/models/{name}/score" in paths and "/health" in paths, paths
            assert page.locator(".opblock").count() >= 6
            assert page.evaluate("typeof SwaggerUIBundle") == "function"
            page.screenshot(path=tmp_path / "docs.png", full_page=False)
        finally:
            browser.close()
    assert not blocked, blocked
    assert not errors, errors
    assert requested and all(urlsplit(u).hostname in LOOPBACK for u in requested), requested
    assert any(u.endswith("/static/swagger-ui/swagger-ui-bundle.js") for u in requested)
    assert any(u.endswith("/openapi.json") for u in requested)
    assert (tmp_path / "docs.png").stat().st_size > 10_000


def test_docs_assets_need_no_key(docs_server):
    import httpx

    r = httpx.get(f"{docs_server.url}/static/swagger-ui/swagger-ui.css", timeout=30)
    assert r.status_code == 200 and "swagger-ui" in r.text[:2000]
    assert httpx.get(f"{docs_server.url}/docs", timeout=30).status_code == 401  # the page itself does
