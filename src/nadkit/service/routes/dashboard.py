"""The dashboard: its JSON endpoints (``api``: evaluation, flows, series, incidents) and its pages,
login and Plotly bundle (``pages``); the templates and the data they show live in
:mod:`nadkit.service.dashboard`."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Query
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from nadkit.service import dashboard
from nadkit.service.models import ServedModel
from nadkit.service.openapi import ERRORS
from nadkit.service.security import COOKIE
from nadkit.service.state import FastJSON, Model, NotFound, ServiceState, State

api = APIRouter(tags=["dashboard"])
pages = APIRouter(include_in_schema=False)


# ---------------------------------------------------------------------------------- JSON (api)
@api.get("/v1/models/{name}/evaluation", responses={k: ERRORS[k] for k in (401, 404)})
def evaluation(model: Model) -> Response:
    """Scores and labels on the server's evaluation data (``--eval-data``), with the report."""
    return FastJSON(evaluation_of(model).payload())


@api.get("/v1/models/{name}/flows", responses={k: ERRORS[k] for k in (401, 404)})
def flows(model: Model) -> Response:
    """A sample of evaluation records with their scores and true labels (the flows page)."""
    return FastJSON(evaluation_of(model).flows_payload())


@api.get("/v1/models/{name}/series", responses={k: ERRORS[k] for k in (401, 404, 422)})
def series(model: Model,
           channel: Annotated[list[str] | None, Query(description="channels to include (repeatable)")] = None,
           entity: Annotated[str | None, Query(description="with --entity-col: the entity (default: the first)")] = None,
           ) -> Response:
    """The server's series (``--series-data``) scored by a series model: score and flag per step
    and, for each requested channel, values, μ, band limits and flags (the series page); with
    ``--entity-col``, those of one entity and the list of ``entities``."""
    view = series_view_of(model, entity)
    if view is None:
        raise NotFound(f"no series data for model {model.name!r}: start the server with --series-data DATA "
                       "(a series with the model's channels; only series models have one)")
    out = view.payload(channel)
    if model.series_views is not None:
        out["entity_col"], out["entities"] = model.entity_col, list(model.series_views)
    return FastJSON(out)


def series_view_of(model: ServedModel, entity: str | None = None):
    """The model's start-up series view: that of ``entity`` (with --entity-col; 404 naming the
    entities when unknown), else the only (or first) one; None when it has none."""
    if entity is None or model.series_view is None:
        return model.series_view
    views = model.series_views
    if views is None:
        raise NotFound(f"model {model.name!r} has one start-up series, not one per entity: start the server "
                       "with --entity-col COLUMN to score --series-data per entity")
    if entity not in views:
        names = list(views)
        raise NotFound(f"no entity {entity!r} in the series data of model {model.name!r}; its {model.entity_col} "
                       f"values are {', '.join(names[:10])}{' …' if len(names) > 10 else ''}")
    return views[entity]


def evaluation_of(model: ServedModel):
    if model.evaluation is None:
        raise NotFound(f"no evaluation data for model {model.name!r}: start the server with "
                       "--eval-data DATA (labelled, with the model's columns)")
    return model.evaluation


@api.get("/v1/models/{name}/incidents")
def incidents(name: str, state: State) -> Response:
    """Incidents on the dashboard data: merged flagged steps (series models, ``--series-data``)
    or rows (table models, ``--eval-data``) with severity 0–100 and, with labels, the truth."""
    models, cache = state.models, state.incidents
    if name not in models:
        raise HTTPException(404, f"no model named {name!r}; see GET /v1/models")
    if name not in cache:
        cache[name] = dashboard.incidents_payload(models[name])
    if cache[name] is None:
        raise HTTPException(404, f"no dashboard data for model {name!r}: start the server with --series-data "
                                 "(series models) or --eval-data (table models)")
    return Response(json.dumps(cache[name], allow_nan=False), media_type="application/json")


# ------------------------------------------------------------------------------------- pages
@pages.get("/static/vendor/plotly.min.js")
def plotly() -> FileResponse:
    return FileResponse(dashboard.plotly_js(), media_type="text/javascript",
                        headers={"Cache-Control": "public, max-age=86400"})


def page(state: ServiceState, template: str, **context: Any) -> HTMLResponse:
    return HTMLResponse(dashboard.render(template, models=state.models, auth=state.key is not None,
                                         page=template.split(".")[0], **context))


def chosen(state: ServiceState, model: str | None, need_evaluation: bool = False):
    models = state.models
    candidates = [m for m in models.values() if m.kind == "table" and (m.evaluation is not None or not need_evaluation)]
    if model in models:
        return models[model], candidates
    return (candidates[0] if candidates else None), candidates


@pages.get("/")
def models_page(state: State) -> HTMLResponse:
    return page(state, "models.html", described=[m.describe() for m in state.models.values()])


@pages.get("/evaluation")
def evaluation_page(state: State, model: str | None = Query(None)) -> HTMLResponse:
    current, candidates = chosen(state, model, need_evaluation=True)
    return page(state, "evaluation.html", current=current, candidates=candidates)


@pages.get("/flows")
def flows_page(state: State, model: str | None = Query(None)) -> HTMLResponse:
    current, candidates = chosen(state, model, need_evaluation=True)
    return page(state, "flows.html", current=current, candidates=candidates)


@pages.get("/series")
def series_page(state: State, model: str | None = Query(None), entity: str | None = Query(None)) -> HTMLResponse:
    models = state.models
    candidates = [m for m in models.values() if m.kind == "series"]
    current = models[model] if model in models and models[model].kind == "series" else (
        next((m for m in candidates if m.series_view is not None), candidates[0] if candidates else None))
    view = None if current is None else series_view_of(current, entity)
    return page(state, "series.html", current=current, candidates=candidates, view=view)


@pages.get("/incidents")
def incidents_page(state: State, model: str | None = Query(None)) -> HTMLResponse:
    models = state.models
    with_data = [m for m in models.values()
                 if getattr(m, "series_view", None) is not None or getattr(m, "evaluation", None) is not None]
    streamed = [m for m in models.values() if m.kind == "series"]  # their streams' incidents, per entity
    candidates = [m for m in models.values() if m in with_data or m in streamed]
    current = models[model] if model in models else (with_data or candidates or [None])[0]
    return page(state, "incidents.html", current=current, candidates=candidates, with_data=with_data,
                streamed=streamed)


@pages.get("/login")
def login_form(state: State) -> HTMLResponse:
    return HTMLResponse(dashboard.login_html(auth=state.key is not None))


@pages.post("/login")
def login(state: State, key_field: str = Form("", alias="key")) -> Response:
    key = state.key
    if key is None:
        return RedirectResponse("/", status_code=303)
    if not key.matches(key_field):
        return HTMLResponse(dashboard.login_html("Wrong key."), status_code=401)
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(COOKIE, key.cookie_token, httponly=True, samesite="strict", path="/")
    return response


@pages.post("/logout")
def logout() -> RedirectResponse:
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response
