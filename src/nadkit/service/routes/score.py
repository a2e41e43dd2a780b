"""``POST /v1/models/{name}/score``: JSON records/rows or a CSV/Parquet/Arrow file → scores,
labels and per-column contributions (a series model: a whole series → per-step scores and
bands)."""

from __future__ import annotations

from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from nadkit.service.inputs import (
    MalformedBody,
    RequestError,
    file_kind,
    frame_from_file,
    frame_from_json,
)
from nadkit.service.models import ServedModel
from nadkit.service.openapi import ERRORS, ScoreResponse
from nadkit.service.security import BodyTimeout
from nadkit.service.state import FastJSON, Model, ServiceState, State, dumps
from nadkit.service.streams import series_fields

router = APIRouter(tags=["scoring"])

JSON_TYPES = ("application/json", "")  # no content type: try JSON
#: bodies up to this size (a few records) are scored on the event loop: handing ~1 ms of work to
#: the thread pool and back costs more latency than it saves; larger bodies go to the pool so a
#: big batch never blocks /health
INLINE_BYTES = 16 * 1024


@router.post("/v1/models/{name}/score", response_model=None, responses={200: {"model": ScoreResponse}, **ERRORS})
async def score(request: Request, model: Model, state: State,
                contributions: Annotated[bool, Query(description="include per-column contributions "
                                                         "(series models: μ, σ, band and flag per channel)")] = True,
                ) -> Response:
    """Score rows: JSON ``{"data": [records]}`` / ``{"instances": [rows]}``, or a CSV, Parquet or
    Arrow file (raw body with its content type, or multipart field ``file``). A series model
    scores the rows as one series of consecutive steps (at least its window): per-step scores
    (null for the first window − 1 steps), labels and the μ ± α·σ band per channel."""
    ctype = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if ctype == "multipart/form-data":
        data, kind = await uploaded_file(request)
    else:
        data = await request.body()
        kind = "json" if ctype in JSON_TYPES or ctype.endswith("+json") else file_kind(ctype)
        if kind is None:
            return FastJSON({"detail": f"unsupported content type {ctype!r}: send application/json, text/csv, "
                                       "application/vnd.apache.parquet, application/vnd.apache.arrow.stream "
                                       "or a multipart form with a 'file' field"}, status_code=415)
    if len(data) <= INLINE_BYTES and model.kind == "table" and model.on_cpu:  # ~1 ms: no thread hop
        return Response(score_body(state, model, data, kind, contributions), media_type="application/json")
    body = await run_in_threadpool(score_body, state, model, data, kind, contributions)
    return Response(body, media_type="application/json")


def score_body(state: ServiceState, model: ServedModel, data: bytes, kind: str, contributions: bool) -> bytes:
    """The JSON answer to one ``/score`` body of ``kind`` ('json', 'csv', 'parquet', 'arrow')."""
    if kind == "json":
        frame, ids, notes = frame_from_json(data, model.schema, state.max_rows, as_frame=model.kind == "series")
    else:
        frame, ids, notes = frame_from_file(data, kind, model.schema, state.max_rows)
    if model.kind == "series":
        return dumps(score_series(state, model, frame, ids, notes, contributions))
    result = model.score(frame, contributions=contributions)
    bad = ~np.isfinite(result.scores)
    if bad.any():
        rows = np.flatnonzero(bad)[:5].tolist()
        raise RequestError(f"the score is not finite for {int(bad.sum())} row(s) (e.g. rows {rows}): "
                           "their values are far outside the range the model was trained on")
    flagged = int(result.labels.sum())
    state.monitor.scored(model.name, len(result.scores), flagged)
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


def score_series(state: ServiceState, model: ServedModel, frame, times, notes: list[str], bands: bool
                 ) -> dict[str, Any]:
    """A series model's answer for one series of consecutive steps."""
    result = model.score_series(frame)  # a series shorter than the window: DataError → 422
    window = int(model.pipeline.detector.series_info()["window"])
    out: dict[str, Any] = {"model": model.name, "n": len(frame), "window": window,
                           "threshold": getattr(model.pipeline.threshold, "value_", None),  # None: α bands
                           **series_fields(result, model.schema.columns, bands=bands, first_scored=window - 1)}
    if times is not None:
        out["times"] = times
    state.monitor.scored(model.name, len(frame) - window + 1, int(result["step_flag"].sum()))
    out["warnings"] = notes
    return out


async def uploaded_file(request: Request) -> tuple[bytes, str]:
    """The ``file`` field of a multipart form: its bytes and file kind."""
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
