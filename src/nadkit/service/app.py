"""The FastAPI app: REST scoring, Prometheus metrics and the dashboard on one port.

>>> from nadkit.service import create_app        # doctest: +SKIP
>>> app = create_app(["models/ae"], api_key="s3cret")  # doctest: +SKIP
>>> # uvicorn.run(app, host="127.0.0.1", port=8000)

Routes (all but ``/health``, ``/login`` and ``/static`` need the API key when one is set):

=====================================  ==================================================
``GET /health``                        liveness: ``{"status": "ok", "models": n}``
``GET /metrics``                       Prometheus text format
``GET /v1/models``                     every model: type, schema, threshold, metrics
``GET /v1/models/{name}``              one model
``POST /v1/models/{name}/score``       JSON records/rows or a CSV/Parquet/Arrow file →
                                       scores, labels, per-column contributions (a series
                                       model: a whole series → per-step scores and bands)
``POST /v1/models/{name}/streams/{id}``  series models: append points, get per-step scores
``GET /v1/models/{name}/evaluation``   scores + labels on the evaluation data (dashboard)
``GET /v1/models/{name}/flows``        the flows sample (dashboard)
``GET /v1/models/{name}/series``       the start-up series with bands (dashboard)
``GET /``, ``/evaluation``, ``/flows``,  dashboard pages
``/series``
=====================================  ==================================================
"""


import logging
import os
from collections.abc import Iterable, Mapping
from typing import Annotated, Any

import numpy as np
import orjson
from fastapi import FastAPI, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from nadkit import __version__
from nadkit.data.container import TableData
from nadkit.data.series import SeriesData
from nadkit.errors import DataError
from nadkit.service import dashboard
from nadkit.service.evaluation import attach as attach_evaluations
from nadkit.service.inputs import (
    MalformedBody,
    RequestError,
    file_kind,
    frame_from_file,
    frame_from_json,
)
from nadkit.service.models import ServedModel, load_models
from nadkit.service.monitoring import CONTENT_TYPE, MetricsMiddleware, Monitor
from nadkit.service.security import APIKey, APIKeyMiddleware, BodyLimitMiddleware, BodyTimeout
from nadkit.service.streams import StreamStore, series_fields

log = logging.getLogger("nadkit.service")

DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024
DEFAULT_MAX_ROWS = 200_000
DEFAULT_READ_TIMEOUT = 30.0  # seconds without request body data before 408
#: the status /metrics counts for a request whose client went away before its body arrived
#: (nginx's "client closed request"; nothing is sent)
CLIENT_CLOSED = 499
JSON_TYPES = ("application/json", "")  # no content type: try JSON
#: bodies up to this size (a few records) are scored on the event loop: handing ~1 ms of work to
#: the thread pool and back costs more latency than it saves; larger bodies go to the pool so a
#: big batch never blocks /health
INLINE_BYTES = 16 * 1024


# ---------------------------------------------------------------------------- OpenAPI models
class Problem(BaseModel):
    """Every error: ``detail`` names the problem (FastAPI's own parameter errors give a list)."""

    detail: str | list[Any]


class ScoreResponse(BaseModel):
    model: str
    n: int
    threshold: float
    scores: list[float]
    labels: list[int] = Field(description="1 = anomaly (score > threshold)")
    ids: list[Any] | None = Field(None, description="the records' ids, when they carried one")
    columns: list[str] | None = Field(None, description="input columns the contributions are given for")
    contributions: list[list[float]] | None = Field(
        None, description="per row, each input column's share of the score (rows sum to the score)")
    warnings: list[str] = []


ERRORS = {400: {"model": Problem, "description": "malformed body"},
          401: {"model": Problem, "description": "missing or wrong API key"},
          404: {"model": Problem, "description": "unknown model"},
          408: {"model": Problem, "description": "the request body stopped arriving"},
          409: {"model": Problem, "description": "stream points whose times do not continue the stream"},
          413: {"model": Problem, "description": "body or batch too large"},
          415: {"model": Problem, "description": "unsupported content type"},
          422: {"model": Problem, "description": "input does not match the model's schema"}}

def score_body(models: dict[str, ServedModel]) -> dict[str, Any]:
    """The OpenAPI request body of ``/score``: exact record fields when every table model shares
    one input schema (the usual case), otherwise records of named numbers/strings."""
    schemas = {orjson.dumps(m.schema.to_dict()): m.schema for m in models.values() if m.kind == "table"}
    record: dict[str, Any] = {"type": "object", "additionalProperties": {"type": ["number", "string"]}}
    row: dict[str, Any] = {"type": "array", "items": {"type": ["number", "string"]}}
    if len(schemas) == 1:
        schema = next(iter(schemas.values()))
        fields = {c: {"type": "number"} if schema.is_numeric(c) else
                  {"type": "string", "examples": schema.categories.get(c, [])[:5]} for c in schema.columns}
        example = {c: 0 if schema.is_numeric(c) else (schema.categories.get(c) or [""])[0] for c in schema.columns}
        if schema.id_field():
            fields[schema.id_field()] = {"type": ["string", "integer"], "description": "echoed back in 'ids'"}
        record = {"type": "object", "properties": fields, "required": schema.columns,
                  "additionalProperties": False, "example": example}
        row = {"type": "array", "minItems": len(schema.columns), "maxItems": len(schema.columns),
               "items": {"type": ["number", "string"]}, "description": f"values in this order: {', '.join(schema.columns)}"}
    return {
        "required": True,
        "content": {
            "application/json": {"schema": {"oneOf": [
                {"title": "Records", "type": "object", "required": ["data"], "additionalProperties": False,
                 "properties": {"data": {"type": "array", "minItems": 1, "items": record}}},
                {"title": "Instances", "type": "object", "required": ["instances"], "additionalProperties": False,
                 "properties": {"instances": {"type": "array", "minItems": 1, "items": row}}},
            ]}},
            "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
                "file": {"type": "string", "format": "binary",
                         "description": "CSV, Parquet (.parquet) or Arrow IPC stream (.arrow) file"}}}},
            "text/csv": {"schema": {"type": "string"}},
            "application/vnd.apache.parquet": {"schema": {"type": "string", "format": "binary"}},
            "application/vnd.apache.arrow.stream": {"schema": {"type": "string", "format": "binary"}},
        },
    }


def stream_body(models: dict[str, ServedModel]) -> dict[str, Any]:
    """The OpenAPI request body of ``/streams/{id}``: points as records or rows of channels."""
    point = {"type": "object", "description": "one value per channel (+ optional 'time')",
             "additionalProperties": {"type": ["number", "string"]}}
    row = {"type": "array", "items": {"type": "number"}, "description": "one value per channel, in channel order"}
    return {"required": True, "content": {"application/json": {"schema": {"oneOf": [
        {"title": "Points", "type": "object", "required": ["data"], "additionalProperties": False,
         "properties": {"data": {"type": "array", "minItems": 1, "items": point}}},
        {"title": "Rows", "type": "object", "required": ["instances"], "additionalProperties": False,
         "properties": {"instances": {"type": "array", "minItems": 1, "items": row}}},
    ]}}}}


def dumps(obj: Any) -> bytes:
    return orjson.dumps(obj, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS)


class FastJSON(JSONResponse):
    """JSON via orjson (numpy arrays serialised natively; NaN → null)."""

    def render(self, content: Any) -> bytes:
        return dumps(content)


# -------------------------------------------------------------------------------- the factory
def create_app(model_dirs: Iterable[str | os.PathLike[str]] | Mapping[str, str | os.PathLike[str]],
               api_key: str | None = None, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
               max_rows: int = DEFAULT_MAX_ROWS, eval_data: TableData | None = None,
               eval_rows: int = 20_000, flow_rows: int = 300, max_streams: int = 1000,
               series_data: SeriesData | None = None, series_steps: int = 5_000,
               read_timeout: float = DEFAULT_READ_TIMEOUT, alerts: str | os.PathLike[str] | None = None,
               webhook: str | None = None) -> FastAPI:
    """Load the models (once) and build the app.

    ``api_key`` defaults to the ``NADKIT_API_KEY`` environment variable (unset/empty = no
    auth). ``eval_data`` (labelled) feeds the evaluation and flows pages; see
    :mod:`nadkit.service.evaluation`. Series models keep at most ``max_streams`` streams (see
    :mod:`nadkit.service.streams`); ``series_data`` (its first ``series_steps`` steps) feeds the
    series page, see :mod:`nadkit.service.series`. A request body that stops arriving for
    ``read_timeout`` seconds gets 408 (connection closed); a client that disconnects before its
    body arrived is logged at INFO and counted as status 499 in ``/metrics``. Flagged stream
    steps become ECS alerts (:mod:`nadkit.alerts`) appended to ``alerts`` (JSON lines) and/or
    POSTed to ``webhook``; ``/metrics`` has per model and entity (stream id) gauges/counters.
    """
    api_key = api_key if api_key is not None else os.environ.get("NADKIT_API_KEY") or None
    models = load_models(model_dirs)
    attach_evaluations(models, eval_data, series_data, eval_rows=eval_rows, flow_rows=flow_rows,
                       series_steps=series_steps)  # each dataset for the models of its kind only
    monitor = Monitor()
    monitor.models.set(len(models))
    from nadkit.alerts import ServiceAlerts

    alert_out = ServiceAlerts(alerts, webhook) if alerts is not None or webhook else None
    streams = StreamStore(max_streams, alerts=alert_out)
    key = APIKey(api_key) if api_key else None

    app = FastAPI(title="nadkit", version=__version__, default_response_class=FastJSON,
                  description="Anomaly scores for network flow records and monitoring time series. "
                              "Send the API key as `X-API-Key` or `Authorization: Bearer` when the "
                              "server has one.", docs_url=None, redoc_url=None)
    add_docs(app)  # /docs from the installed swagger-ui-bundle-v2: no CDN
    app.state.models = models
    app.state.monitor = monitor
    app.state.max_rows = max_rows
    app.state.auth = key is not None
    if alert_out is not None:
        app.router.on_shutdown.append(alert_out.close)
        if alert_out.webhook is not None:
            monitor.watch_webhook(alert_out.webhook)

    @app.exception_handler(DataError)
    async def data_error(request: Request, exc: DataError) -> Response:
        status = exc.status if isinstance(exc, RequestError) else 422
        return FastJSON({"detail": str(exc)}, status_code=status)

    def get_model(name: str) -> ServedModel:
        if name not in models:
            raise NotFound(f"unknown model {name!r}; this server has: {', '.join(models)}")
        return models[name]

    @app.exception_handler(NotFound)
    async def not_found(request: Request, exc: NotFound) -> Response:
        return FastJSON({"detail": str(exc)}, status_code=404)

    @app.exception_handler(BodyTimeout)
    async def body_timeout(request: Request, exc: BodyTimeout) -> Response:
        log.info("%s %s: %s", request.method, request.url.path, exc)
        return FastJSON({"detail": str(exc)}, status_code=408, headers={"connection": "close"})

    @app.exception_handler(ClientDisconnect)
    async def client_disconnect(request: Request, exc: ClientDisconnect) -> Response:
        log.info("%s %s: the client disconnected before sending the whole request", request.method, request.url.path)
        return Response(status_code=CLIENT_CLOSED)  # nobody reads it; /metrics counts it

    ModelName = Annotated[str, Path(description="model name (see GET /v1/models)",
                                    json_schema_extra={"enum": list(models)})]

    # ------------------------------------------------------------------------------- REST
    @app.get("/health", tags=["service"])
    def health() -> dict[str, Any]:
        """Liveness: the server is up and holds its models (never needs the API key)."""
        return {"status": "ok", "models": len(models)}

    @app.get("/metrics", tags=["service"], response_class=Response,
             responses={200: {"content": {CONTENT_TYPE: {}}, "description": "Prometheus metrics"}, 401: ERRORS[401]})
    def metrics() -> Response:
        """Prometheus metrics: requests, latency, rows scored, anomalies flagged per model."""
        return Response(monitor.exposition(), media_type=CONTENT_TYPE)

    @app.get("/v1/models", tags=["models"], responses={401: ERRORS[401]})
    def list_models() -> dict[str, Any]:
        """Every model: name, type, input schema, threshold, metrics."""
        return {"models": [m.describe() for m in models.values()]}

    @app.get("/v1/models/{name}", tags=["models"], responses={k: ERRORS[k] for k in (401, 404)})
    def describe_model(name: ModelName) -> dict[str, Any]:
        """One model: name, type, input schema, threshold, metrics."""
        return get_model(name).describe()

    @app.post("/v1/models/{name}/score", tags=["scoring"], response_model=None, openapi_extra={"requestBody": score_body(models)},
              responses={200: {"model": ScoreResponse}, **ERRORS})
    async def score(request: Request, name: ModelName,
                    contributions: Annotated[bool, Query(description="include per-column contributions "
                                                             "(series models: μ, σ, band and flag per channel)")] = True,
                    ) -> Response:
        """Score rows: JSON ``{"data": [records]}`` / ``{"instances": [rows]}``, or a CSV, Parquet or
        Arrow file (raw body with its content type, or multipart field ``file``). A series model
        scores the rows as one series of consecutive steps (at least its window): per-step scores
        (null for the first window − 1 steps), labels and the μ ± α·σ band per channel."""
        model = get_model(name)
        ctype = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if ctype == "multipart/form-data":
            data, kind = await _uploaded_file(request)
        else:
            data = await request.body()
            kind = "json" if ctype in JSON_TYPES or ctype.endswith("+json") else file_kind(ctype)
            if kind is None:
                return FastJSON({"detail": f"unsupported content type {ctype!r}: send application/json, text/csv, "
                                           "application/vnd.apache.parquet, application/vnd.apache.arrow.stream "
                                           "or a multipart form with a 'file' field"}, status_code=415)
        if len(data) <= INLINE_BYTES and model.kind == "table" and model.on_cpu:  # ~1 ms: no thread hop
            return Response(_score_body(model, data, kind, contributions, max_rows), media_type="application/json")
        body = await run_in_threadpool(_score_body, model, data, kind, contributions, max_rows)
        return Response(body, media_type="application/json")

    def _score_body(model: ServedModel, data: bytes, kind: str, contributions: bool, limit: int) -> bytes:
        if kind == "json":
            frame, ids, notes = frame_from_json(data, model.schema, limit, as_frame=model.kind == "series")
        else:
            frame, ids, notes = frame_from_file(data, kind, model.schema, limit)
        if model.kind == "series":
            return dumps(_score_series(model, frame, ids, notes, contributions))
        result = model.score(frame, contributions=contributions)
        bad = ~np.isfinite(result.scores)
        if bad.any():
            rows = np.flatnonzero(bad)[:5].tolist()
            raise RequestError(f"the score is not finite for {int(bad.sum())} row(s) (e.g. rows {rows}): "
                               "their values are far outside the range the model was trained on")
        flagged = int(result.labels.sum())
        monitor.scored(model.name, len(result.scores), flagged)
        out: dict[str, Any] = {"model": model.name, "n": len(result.scores),
                               "threshold": model.pipeline.threshold.value_,
                               "scores": result.scores, "labels": result.labels}
        if ids is not None:
            out["ids"] = ids
        if result.contributions is not None:
            out["columns"] = result.columns
            out["contributions"] = np.ascontiguousarray(result.contributions)
        out["warnings"] = notes + result.notes
        return dumps(out)

    def _score_series(model: ServedModel, frame, times, notes: list[str], bands: bool) -> dict[str, Any]:
        result = model.score_series(frame)  # a series shorter than the window: DataError → 422
        window = int(model.pipeline.detector.series_info()["window"])
        out: dict[str, Any] = {"model": model.name, "n": len(frame), "window": window,
                               "threshold": getattr(model.pipeline.threshold, "value_", None),  # None: α bands
                               **series_fields(result, model.schema.columns, bands=bands, first_scored=window - 1)}
        if times is not None:
            out["times"] = times
        monitor.scored(model.name, len(frame) - window + 1, int(result["step_flag"].sum()))
        out["warnings"] = notes
        return out

    @app.post("/v1/models/{name}/streams/{stream_id}", tags=["streaming"], response_model=None,
              openapi_extra={"requestBody": stream_body(models)},
              responses={k: ERRORS[k] for k in (400, 401, 404, 408, 409, 413, 422)})
    async def stream(request: Request, name: ModelName,
                     stream_id: Annotated[str, Path(description="your name for the stream (1-128 of A-Z a-z 0-9 . _ : -)",
                                                    max_length=128)],
                     bands: Annotated[bool, Query(description="include μ, σ, band limits and flags per channel")] = True,
                     ) -> Response:
        """Series models: append points (consecutive steps) to a stream; every new point whose
        window is full gets its score and label (null before that), and its μ ± α·σ band per channel.
        A model whose scores look ahead L steps (Net-GAN) answers for the steps that became final
        (``steps``), L steps behind the points received; ``pending`` counts those still waiting.
        Points with a ``time`` must continue the stream at the model's step: a gap or a replayed
        time is a 409 naming the expected time (see :mod:`nadkit.service.streams`)."""
        model = get_model(name)
        if model.kind != "series":
            raise RequestError(f"model {name!r} scores table rows: POST /v1/models/{name}/score")
        data = await request.body()

        def work() -> bytes:
            frame, times, _ = frame_from_json(data, model.schema, max_rows)
            out = streams.append(model, stream_id, frame, bands=bands, times=times)
            flagged = sum(1 for label in out["labels"] if label)
            monitor.scored(model.name, int(np.isfinite(out["scores"]).sum()), flagged)
            monitor.stream_scored(model.name, stream_id, out["scores"], out["labels"])
            return dumps(out)

        return Response(await run_in_threadpool(work), media_type="application/json")

    @app.delete("/v1/models/{name}/streams/{stream_id}", tags=["streaming"], responses={k: ERRORS[k] for k in (401, 404)})
    def forget_stream(name: ModelName, stream_id: str) -> dict[str, Any]:
        """Forget a stream's buffered points (the next append starts a new window)."""
        get_model(name)
        if not streams.forget(name, stream_id):
            raise NotFound(f"no stream {stream_id!r} for model {name!r}")
        monitor.forget_entity(name, stream_id)
        return {"forgotten": stream_id}

    @app.get("/v1/models/{name}/evaluation", tags=["dashboard"], responses={k: ERRORS[k] for k in (401, 404)})
    def evaluation(name: ModelName) -> Response:
        """Scores and labels on the server's evaluation data (``--eval-data``), with the report."""
        return FastJSON(_evaluation_of(get_model(name)).payload())

    @app.get("/v1/models/{name}/flows", tags=["dashboard"], responses={k: ERRORS[k] for k in (401, 404)})
    def flows(name: ModelName) -> Response:
        """A sample of evaluation records with their scores and true labels (the flows page)."""
        return FastJSON(_evaluation_of(get_model(name)).flows_payload())

    @app.get("/v1/models/{name}/series", tags=["dashboard"], responses={k: ERRORS[k] for k in (401, 404, 422)})
    def series(name: ModelName,
               channel: Annotated[list[str] | None, Query(description="channels to include (repeatable)")] = None,
               ) -> Response:
        """The server's series (``--series-data``) scored by a series model: score and flag per step
        and, for each requested channel, values, μ, band limits and flags (the series page)."""
        model = get_model(name)
        if model.series_view is None:
            raise NotFound(f"no series data for model {model.name!r}: start the server with --series-data DATA "
                           "(a series with the model's channels; only series models have one)")
        return FastJSON(model.series_view.payload(channel))

    def _evaluation_of(model: ServedModel):
        if model.evaluation is None:
            raise NotFound(f"no evaluation data for model {model.name!r}: start the server with "
                           "--eval-data DATA (labelled, with the model's columns)")
        return model.evaluation

    dashboard.add_pages(app, models, key)

    # ----------------------------------------------------------------- middleware (outermost last)
    app.add_middleware(BodyLimitMiddleware, max_bytes=max_body_bytes, read_timeout=read_timeout)
    if key is not None:
        app.add_middleware(APIKeyMiddleware, key=key, login_page=dashboard.login_html)
    app.add_middleware(MetricsMiddleware, monitor=monitor)
    return app


SWAGGER_ASSETS = "/static/swagger-ui"


def add_docs(app: FastAPI) -> None:
    """``/docs``: Swagger UI 5 served from the ``swagger-ui-bundle-v2`` package (Apache-2.0, in the
    serve extra), assets under ``/static/swagger-ui/``, so the page works with no network.
    Without the package, FastAPI's CDN page (with a warning)."""
    from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
    from fastapi.responses import HTMLResponse
    from fastapi.staticfiles import StaticFiles

    try:
        from swagger_ui_bundle import swagger_ui_path
    except ImportError:
        swagger_ui_path = None
        log.warning("swagger-ui-bundle-v2 is not installed: /docs loads Swagger UI from a CDN "
                    "(pip install 'nadkit[serve]' serves it locally)")
    assets = {} if swagger_ui_path is None else {
        "swagger_js_url": f"{SWAGGER_ASSETS}/swagger-ui-bundle.js",
        "swagger_css_url": f"{SWAGGER_ASSETS}/swagger-ui.css",
        "swagger_favicon_url": f"{SWAGGER_ASSETS}/favicon-32x32.png"}
    if swagger_ui_path is not None:  # before the dashboard's /static mount, which would shadow it
        app.mount(SWAGGER_ASSETS, StaticFiles(directory=str(swagger_ui_path)), name="swagger-ui")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url=app.openapi_url or "/openapi.json",
                                   title=f"{app.title} API", oauth2_redirect_url="/docs/oauth2-redirect",
                                   **assets)

    @app.get("/docs/oauth2-redirect", include_in_schema=False)
    def oauth2_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()


class NotFound(Exception):
    """An unknown model or missing evaluation data (404)."""


async def _uploaded_file(request: Request) -> tuple[bytes, str]:
    try:
        form = await request.form(max_files=1, max_fields=10)
    except (ClientDisconnect, BodyTimeout):
        raise
    except Exception as exc:  # python-multipart/starlette parse errors have no common base
        status = getattr(exc, "status_code", 400)
        if status == 413:
            raise
        raise MalformedBody(f"malformed multipart form: {exc}") from exc
    upload = form.get("file")
    if upload is None or isinstance(upload, str):
        raise RequestError("the multipart form needs a 'file' field holding a CSV, Parquet or Arrow file")
    kind = file_kind(upload.content_type, upload.filename) or file_kind(None, upload.filename) or "csv"
    data = await upload.read()
    await form.close()
    return data, kind
