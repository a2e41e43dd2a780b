"""The FastAPI app: REST scoring, Prometheus metrics and the dashboard on one port.

>>> from nadkit.service import create_app        # doctest: +SKIP
>>> app = create_app(["models/ae"], api_key="s3cret")  # doctest: +SKIP
>>> # uvicorn.run(app, host="127.0.0.1", port=8000)

Routes (one :class:`fastapi.APIRouter` per area in :mod:`nadkit.service.routes`, sharing a
:class:`~nadkit.service.state.ServiceState`; all but ``/health``, ``/login`` and ``/static`` need
the API key when one is set):

=====================================  ==================================================
``GET /health``                        liveness: ``{"status": "ok", "models": n}``
``GET /metrics``                       Prometheus text format
``GET /v1/models``                     every model: type, schema, threshold, metrics
``GET /v1/models/{name}``              one model
``POST /v1/models/{name}/score``       JSON records/rows or a CSV/Parquet/Arrow file →
                                       scores, labels, per-column contributions (a series
                                       model: a whole series → per-step scores and bands;
                                       ``?entity_col=host``: one series per entity)
``POST /v1/models/{name}/streams/{id}``  series models: append points, get per-step scores
``POST /v1/models/{name}/streams``     series models: points of many entities (``?entity_col=``),
                                       each appended to the stream named by its entity
``GET /v1/models/{name}/streams``      series models: the streams (entities) and their incidents
``GET /v1/models/{name}/evaluation``   scores + labels on the evaluation data (dashboard)
``GET /v1/models/{name}/flows``        the flows sample (dashboard)
``GET /v1/models/{name}/series``       the start-up series with bands (dashboard)
``GET /v1/models/{name}/incidents``    incidents on the dashboard data (dashboard)
``GET /``, ``/evaluation``, ``/flows``,  dashboard pages
``/series``, ``/incidents``
=====================================  ==================================================
"""


import logging
import os
from collections.abc import Iterable, Mapping

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from starlette.requests import ClientDisconnect

from nadkit import __version__
from nadkit.data.container import TableData
from nadkit.data.series import SeriesData
from nadkit.errors import DataError
from nadkit.service import dashboard, openapi
from nadkit.service.evaluation import attach as attach_evaluations
from nadkit.service.inputs import RequestError
from nadkit.service.models import load_models
from nadkit.service.monitoring import MetricsMiddleware, Monitor
from nadkit.service.openapi import ERRORS, Problem, ScoreResponse, score_body, stream_body
from nadkit.service.routes import ROUTERS
from nadkit.service.routes.docs import SWAGGER_ASSETS, add_docs
from nadkit.service.routes.score import INLINE_BYTES, JSON_TYPES
from nadkit.service.security import APIKey, APIKeyMiddleware, BodyLimitMiddleware, BodyTimeout
from nadkit.service.state import FastJSON, NotFound, ServiceState, dumps
from nadkit.service.streams import StreamStore

__all__ = ["CLIENT_CLOSED", "DEFAULT_MAX_BODY_BYTES", "DEFAULT_MAX_ROWS", "DEFAULT_READ_TIMEOUT", "ERRORS",
           "INLINE_BYTES", "JSON_TYPES", "SWAGGER_ASSETS", "FastJSON", "NotFound", "Problem", "ScoreResponse",
           "add_docs", "create_app", "dumps", "score_body", "stream_body"]

log = logging.getLogger("nadkit.service")

DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024
DEFAULT_MAX_ROWS = 200_000
DEFAULT_READ_TIMEOUT = 30.0  # seconds without request body data before 408
#: the status /metrics counts for a request whose client went away before its body arrived
#: (nginx's "client closed request"; nothing is sent)
CLIENT_CLOSED = 499


# -------------------------------------------------------------------------------- the factory
def create_app(model_dirs: Iterable[str | os.PathLike[str]] | Mapping[str, str | os.PathLike[str]],
               api_key: str | None = None, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
               max_rows: int = DEFAULT_MAX_ROWS, eval_data: TableData | None = None,
               eval_rows: int = 20_000, flow_rows: int = 300, max_streams: int = 1000,
               series_data: SeriesData | list[tuple[str, SeriesData]] | None = None, series_steps: int = 5_000,
               read_timeout: float = DEFAULT_READ_TIMEOUT, alerts: str | os.PathLike[str] | None = None,
               webhook: str | None = None, entity_col: str | None = None) -> FastAPI:
    """Load the models (once) and build the app.

    ``api_key`` defaults to the ``NADKIT_API_KEY`` environment variable (unset/empty = no
    auth). ``eval_data`` (labelled) feeds the evaluation and flows pages; see
    :mod:`nadkit.service.evaluation`. Series models keep at most ``max_streams`` streams (see
    :mod:`nadkit.service.streams`); ``series_data`` (its first ``series_steps`` steps) feeds the
    series page, see :mod:`nadkit.service.series`; with ``entity_col`` it is a list of
    ``(entity, series)`` (:func:`nadkit.entities.read_entities`), each scored as its own series.
    A request body that stops arriving for ``read_timeout`` seconds gets 408 (connection
    closed); a client that disconnects before its body arrived is logged at INFO and counted as
    status 499 in ``/metrics``. Flagged stream
    steps become ECS alerts (:mod:`nadkit.alerts`) appended to ``alerts`` (JSON lines) and/or
    POSTed to ``webhook``; ``/metrics`` has per model and entity (stream id) gauges/counters.
    """
    api_key = api_key if api_key is not None else os.environ.get("NADKIT_API_KEY") or None
    models = load_models(model_dirs)
    attach_evaluations(models, eval_data, series_data, eval_rows=eval_rows, flow_rows=flow_rows,
                       series_steps=series_steps, entity_col=entity_col)  # each dataset for the models of its kind only
    monitor = Monitor()
    monitor.models.set(len(models))
    from nadkit.alerts import ServiceAlerts

    alert_out = ServiceAlerts(alerts, webhook) if alerts is not None or webhook else None
    streams = StreamStore(max_streams, alerts=alert_out)
    key = APIKey(api_key) if api_key else None
    dashboard.plotly_js()  # fail at start-up, not on the first page, without plotly's bundle

    app = FastAPI(title="nadkit", version=__version__, default_response_class=FastJSON,
                  description="Anomaly scores for network flow records and monitoring time series. "
                              "Send the API key as `X-API-Key` or `Authorization: Bearer` when the "
                              "server has one.", docs_url=None, redoc_url=None)
    app.state.service = ServiceState(models=models, monitor=monitor, streams=streams, key=key, max_rows=max_rows)
    app.state.models = models
    app.state.monitor = monitor
    app.state.max_rows = max_rows
    app.state.auth = key is not None
    if alert_out is not None:
        app.router.on_shutdown.append(alert_out.close)
        if alert_out.webhook is not None:
            monitor.watch_webhook(alert_out.webhook)
    for exc, handler in HANDLERS.items():
        app.add_exception_handler(exc, handler)

    add_docs(app)  # /docs from the installed swagger-ui-bundle-v2: no CDN
    for router in ROUTERS:
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=dashboard.HERE / "static"), name="static")
    openapi.install(app, models)  # the request bodies and model names that depend on the models

    # ----------------------------------------------------------------- middleware (outermost last)
    app.add_middleware(BodyLimitMiddleware, max_bytes=max_body_bytes, read_timeout=read_timeout)
    if key is not None:
        app.add_middleware(APIKeyMiddleware, key=key, login_page=dashboard.login_html)
    app.add_middleware(MetricsMiddleware, monitor=monitor)
    return app


# ------------------------------------------------------------------------ exception handlers
async def data_error(request: Request, exc: DataError) -> Response:
    status = exc.status if isinstance(exc, RequestError) else 422
    return FastJSON({"detail": str(exc)}, status_code=status)


async def not_found(request: Request, exc: NotFound) -> Response:
    return FastJSON({"detail": str(exc)}, status_code=404)


async def body_timeout(request: Request, exc: BodyTimeout) -> Response:
    log.info("%s %s: %s", request.method, request.url.path, exc)
    return FastJSON({"detail": str(exc)}, status_code=408, headers={"connection": "close"})


async def client_disconnect(request: Request, exc: ClientDisconnect) -> Response:
    log.info("%s %s: the client disconnected before sending the whole request", request.method, request.url.path)
    return Response(status_code=CLIENT_CLOSED)  # nobody reads it; /metrics counts it


HANDLERS = {DataError: data_error, NotFound: not_found, BodyTimeout: body_timeout, ClientDisconnect: client_disconnect}
