"""``/docs``: Swagger UI 5 served from the ``swagger-ui-bundle-v2`` package (Apache-2.0, in the
serve extra), assets under ``/static/swagger-ui/``, so the page works with no network. Without
the package, FastAPI's CDN page (with a warning)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

log = logging.getLogger("nadkit.service")
SWAGGER_ASSETS = "/static/swagger-ui"
router = APIRouter(include_in_schema=False)


def swagger_assets() -> dict[str, Any]:
    """The page's asset URLs (empty without the package: FastAPI's CDN defaults)."""
    try:
        from swagger_ui_bundle import swagger_ui_path  # noqa: F401
    except ImportError:
        return {}
    return {"swagger_js_url": f"{SWAGGER_ASSETS}/swagger-ui-bundle.js",
            "swagger_css_url": f"{SWAGGER_ASSETS}/swagger-ui.css",
            "swagger_favicon_url": f"{SWAGGER_ASSETS}/favicon-32x32.png"}


@router.get("/docs")
def docs(request: Request) -> HTMLResponse:
    app = request.app
    return get_swagger_ui_html(openapi_url=app.openapi_url or "/openapi.json", title=f"{app.title} API",
                               oauth2_redirect_url="/docs/oauth2-redirect", **swagger_assets())


@router.get("/docs/oauth2-redirect")
def oauth2_redirect() -> HTMLResponse:
    return get_swagger_ui_oauth2_redirect_html()


def add_docs(app: FastAPI) -> None:
    """Mount the Swagger UI assets (before the dashboard's ``/static`` mount, which would shadow
    them) and include :data:`router`."""
    try:
        from swagger_ui_bundle import swagger_ui_path
    except ImportError:
        log.warning("swagger-ui-bundle-v2 is not installed: /docs loads Swagger UI from a CDN "
                    "(pip install 'nadkit[serve]' serves it locally)")
    else:
        app.mount(SWAGGER_ASSETS, StaticFiles(directory=str(swagger_ui_path)), name="swagger-ui")
    app.include_router(router)
