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
  see :func:`incidents_payload`); with ``--entity-col``, one lane per entity.

With an API key the pages need the session cookie that ``POST /login`` sets. The routes are in
:mod:`nadkit.service.routes.dashboard`; this module renders the templates and builds the data.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import jinja2

from nadkit import __version__

HERE = Path(__file__).resolve().parent
env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True,
                         undefined=jinja2.StrictUndefined)
env.filters["fmt"] = lambda v, digits=4: (f"{v:.{digits}g}" if isinstance(v, float) else str(v))
env.filters["metric"] = lambda v: "—" if v is None or v != v else (f"{v:.4f}" if isinstance(v, float) else str(v))
env.globals["METRICS"] = {"auroc": "AUROC", "auprc": "AUPRC", "tpr_at_fpr_0.01": "TPR@1%FPR", "precision": "precision",
                          "recall": "recall", "f1": "F1", "f2": "F2", "accuracy": "accuracy"}


@functools.cache
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


def incidents_payload(model: Any, view: Any = None) -> dict[str, Any] | None:
    """A served model's incidents on its dashboard data (None when it has none): series models
    on the ``--series-data`` view (or the given ``view``; per entity with ``--entity-col``, see
    :func:`entity_incidents_payload`), table models on the evaluation rows (in their order),
    each with ``labelled``/``event`` when the data has labels, and the event coverage."""
    import numpy as np

    from nadkit import incidents as inc

    if view is None and getattr(model, "series_views", None) is not None:
        return entity_incidents_payload(model)
    view = view if view is not None else getattr(model, "series_view", None)
    ev = getattr(model, "evaluation", None)
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


def entity_incidents_payload(model: Any) -> dict[str, Any]:
    """:func:`incidents_payload` of a series model whose start-up data is one series per entity
    (``--entity-col``): each entity's incidents (steps, ids and labelled events counted within
    its own series) with ``entity``, the entities in order, and the coverage summed over them."""
    per = {}
    for entity, view in model.series_views.items():
        one = incidents_payload(model, view)
        per[entity] = one
        for record in one["incidents"]:
            record["entity"] = entity
        for event in one.get("events", []):
            event["entity"] = entity
    first = next(iter(per.values()))
    out: dict[str, Any] = {k: first[k] for k in ("model", "kind", "severity_basis", "gap", "min_flagged")}
    out.update(data=f"{len(per)} entities ({model.entity_col})", entity_col=model.entity_col,
               entities=[{"entity": e, "data": p["data"], "n": len(model.series_views[e].bands["step_score"]),
                          "incidents": len(p["incidents"])} for e, p in per.items()])
    covered = []
    for entity, p in per.items():  # labelled data: an entity without events has only false incidents
        if "coverage" not in p and model.series_views[entity].y is not None:
            n = len(p["incidents"])
            p["coverage"] = {"events": 0, "incidents": n, "events_overlapped": 0, "false_incidents": n,
                             "missed_events": []}
            for record in p["incidents"]:
                record.update(labelled=False, event=0)
        if "coverage" in p:
            covered.append(p["coverage"])
    if covered:
        out["coverage"] = {k: sum(c[k] for c in covered) for k in ("events", "incidents", "events_overlapped",
                                                                  "false_incidents")}
        out["coverage"]["missed_events"] = [[e, k] for e, p in per.items() for k in p.get("coverage", {}).get(
            "missed_events", [])]
        out["events"] = [ev for p in per.values() for ev in p.get("events", [])]
    out["incidents"] = [r for p in per.values() for r in p["incidents"]]
    return out
