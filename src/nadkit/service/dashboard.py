"""Dashboard pages served by the same app: Jinja2 templates + small vanilla JS, Plotly.js from
the installed ``plotly`` package (no CDN, no Node build).

* ``/`` models: each model, its training data, threshold method, metrics;
* ``/evaluation?model=NAME``: score histogram by class, ROC and PR curves, and a threshold
  slider that recomputes precision, recall, F1 and the confusion matrix in the browser from the
  evaluation scores and labels (``GET /v1/models/{name}/evaluation``);
* ``/flows?model=NAME``: a sample of records coloured by score and label; clicking a row scores
  it through ``POST /v1/models/{name}/score`` and shows its features and contributions;
* ``/series?model=NAME`` (series models): pick channels and see their values with the
  μ − α_down·σ … μ + α_up·σ band and flagged points above the score per step and the threshold,
  all sharing one zoomable time axis (``GET /v1/models/{name}/series``, see
  :mod:`nadkit.service.series`);
* ``/incidents?model=NAME``: the model's incidents on the start-up series (series models) or the
  evaluation rows (table models; consecutive flagged rows of the evaluation sample), a sortable,
  filterable table linking each to the series or flows page, with the labelled truth, and a
  swimlane of every model × time coloured by severity (``GET /v1/models/{name}/incidents``,
  see :func:`incidents_payload`).

With an API key the pages need the session cookie that ``POST /login`` sets.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jinja2
from fastapi import FastAPI, Form, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from nadkit import __version__
from nadkit.service.security import COOKIE, APIKey

HERE = Path(__file__).resolve().parent
env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True,
                         undefined=jinja2.StrictUndefined)
env.filters["fmt"] = lambda v, digits=4: (f"{v:.{digits}g}" if isinstance(v, float) else str(v))
env.filters["metric"] = lambda v: "—" if v is None or v != v else (f"{v:.4f}" if isinstance(v, float) else str(v))
env.globals["METRICS"] = {"auroc": "AUROC", "auprc": "AUPRC", "tpr_at_fpr_0.01": "TPR@1%FPR", "precision": "precision",
                          "recall": "recall", "f1": "F1", "f2": "F2", "accuracy": "accuracy"}


def plotly_js() -> Path:
    """The ``plotly.min.js`` bundled with the installed ``plotly`` Python package."""
    import plotly

    path = Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"
    if not path.is_file():
        raise FileNotFoundError(f"plotly.min.js not found in the plotly package ({path})")
    return path


def render(template: str, **context: Any) -> str:
    return env.get_template(template).render(version=__version__, **context)


def login_html(message: str = "", auth: bool = True) -> bytes:
    return render("login.html", message=message, auth=auth, page="login").encode()


#: the incident gap on the evaluation rows of table models (independent records, not a sequence)
EVAL_GAP = 0


def incidents_payload(model: Any) -> dict[str, Any] | None:
    """A served model's incidents on its dashboard data (None when it has none): series models
    on the ``--series-data`` view, table models on the evaluation rows (in their order), each
    with ``labelled``/``event`` when the data has labels, and the event coverage."""
    import numpy as np

    from nadkit import incidents as inc

    view, ev = getattr(model, "series_view", None), getattr(model, "evaluation", None)
    if view is not None:
        found = inc.for_series(model.pipeline, view.bands, time=view.time)
        y, data, kind = view.y, view.data, "series"
    elif ev is not None:
        thr = model.pipeline.threshold
        tail, basis = inc._reference_tail(model.pipeline, ev.scores)
        # evaluation rows are independent records (often a random sample): merge only adjacent ones
        found = inc.flow_incidents(ev.scores, ev.scores > thr.value_, tail=tail, gap=EVAL_GAP, min_flagged=1)
        found.attrs["severity_basis"] = basis
        y, data, kind = ev.y, ev.data, "flows"
    else:
        return None
    out: dict[str, Any] = {"model": model.name, "kind": kind, "data": data,
                           "severity_basis": found.attrs.get("severity_basis"),
                           "gap": inc.DEFAULT_GAP if kind == "series" else EVAL_GAP,
                           "min_flagged": inc.DEFAULT_MIN_FLAGGED if kind == "series" else 1}
    if y is not None and np.asarray(y).any():
        out["coverage"] = inc.event_coverage(found, y)
        found = inc.label_overlap(found, y)
        starts, ends = inc.runs(y)
        out["events"] = [{"start": int(a), "end": int(b)} for a, b in zip(starts, ends, strict=True)]
    out["incidents"] = inc.to_records(found)
    if kind == "flows":  # which evaluation rows the flows page's sample holds
        out["flow_rows"] = ev.flow_index.tolist()
    return out


def add_pages(app: FastAPI, models: dict, key: APIKey | None) -> None:
    """Register the dashboard pages and static assets on ``app``."""
    plotly_path = plotly_js()

    @app.get("/static/vendor/plotly.min.js", include_in_schema=False)
    def plotly() -> FileResponse:
        return FileResponse(plotly_path, media_type="text/javascript",
                            headers={"Cache-Control": "public, max-age=86400"})

    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    def page(template: str, request: Request, **context: Any) -> HTMLResponse:
        return HTMLResponse(render(template, models=models, auth=key is not None, page=template.split(".")[0],
                                   **context))

    def chosen(model: str | None, need_evaluation: bool = False):
        candidates = [m for m in models.values() if m.kind == "table"
                      and (m.evaluation is not None or not need_evaluation)]
        if model in models:
            return models[model], candidates
        return (candidates[0] if candidates else None), candidates

    @app.get("/", include_in_schema=False)
    def models_page(request: Request) -> HTMLResponse:
        return page("models.html", request, described=[m.describe() for m in models.values()])

    @app.get("/evaluation", include_in_schema=False)
    def evaluation_page(request: Request, model: str | None = Query(None)) -> HTMLResponse:
        current, candidates = chosen(model, need_evaluation=True)
        return page("evaluation.html", request, current=current, candidates=candidates)

    @app.get("/flows", include_in_schema=False)
    def flows_page(request: Request, model: str | None = Query(None)) -> HTMLResponse:
        current, candidates = chosen(model, need_evaluation=True)
        return page("flows.html", request, current=current, candidates=candidates)

    @app.get("/series", include_in_schema=False)
    def series_page(request: Request, model: str | None = Query(None)) -> HTMLResponse:
        candidates = [m for m in models.values() if m.kind == "series"]
        current = models[model] if model in models and models[model].kind == "series" else (
            next((m for m in candidates if m.series_view is not None), candidates[0] if candidates else None))
        return page("series.html", request, current=current, candidates=candidates)

    cache: dict[str, Any] = {}

    @app.get("/v1/models/{name}/incidents", tags=["dashboard"])
    def incidents(name: str) -> Response:
        """Incidents on the dashboard data: merged flagged steps (series models, ``--series-data``)
        or rows (table models, ``--eval-data``) with severity 0–100 and, with labels, the truth."""
        from fastapi import HTTPException

        if name not in models:
            raise HTTPException(404, f"no model named {name!r}; see GET /v1/models")
        if name not in cache:
            cache[name] = incidents_payload(models[name])
        if cache[name] is None:
            raise HTTPException(404, f"no dashboard data for model {name!r}: start the server with --series-data "
                                     "(series models) or --eval-data (table models)")
        return Response(json.dumps(cache[name], allow_nan=False), media_type="application/json")

    @app.get("/incidents", include_in_schema=False)
    def incidents_page(request: Request, model: str | None = Query(None)) -> HTMLResponse:
        candidates = [m for m in models.values()
                      if getattr(m, "series_view", None) is not None or getattr(m, "evaluation", None) is not None]
        current = models[model] if model in models else (candidates[0] if candidates else None)
        return page("incidents.html", request, current=current, candidates=candidates)

    @app.get("/login", include_in_schema=False)
    def login_form() -> HTMLResponse:
        return HTMLResponse(login_html(auth=key is not None))

    @app.post("/login", include_in_schema=False)
    def login(key_field: str = Form("", alias="key")) -> Response:
        if key is None:
            return RedirectResponse("/", status_code=303)
        if not key.matches(key_field):
            return HTMLResponse(login_html("Wrong key."), status_code=401)
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(COOKIE, key.cookie_token, httponly=True, samesite="strict", path="/")
        return response

    @app.post("/logout", include_in_schema=False)
    def logout() -> RedirectResponse:
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE, path="/")
        return response
