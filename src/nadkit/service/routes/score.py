"""``POST /v1/models/{name}/score``: JSON records/rows or a CSV/Parquet/Arrow file → scores,
labels and per-column contributions (a series model: a whole series → per-step scores and
bands; with ``?entity_col=host``, one series per entity, answered per entity)."""

from __future__ import annotations

from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from nadkit.entities import split_entities
from nadkit.service.inputs import (
    MalformedBody,
    RequestError,
    TableSchema,
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
                entity_col: Annotated[str | None, Query(
                    min_length=1, max_length=128,
                    description="series models: the field/column naming each row's entity (host, site, "
                                "interface); each entity's rows (consecutive steps, in order) are scored as a "
                                "series of their own and the answer has one entry per entity")] = None,
                ) -> Response:
    """Score rows: JSON ``{"data": [records]}`` / ``{"instances": [rows]}``, or a CSV, Parquet or
    Arrow file (raw body with its content type, or multipart field ``file``). A series model
    scores the rows as one series of consecutive steps (at least its window): per-step scores
    (null for the first window − 1 steps), labels and the μ ± α·σ band per channel; with
    ``entity_col`` each entity's rows are one series (at least the window each) and the answer's
    ``entities`` maps each entity, in order of first appearance, to its own ``n``, ``scores``,
    ``labels``, bands and ``times`` (``instances`` rows then give the entity first, then the
    channels)."""
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
        return Response(score_body(state, model, data, kind, contributions, entity_col), media_type="application/json")
    body = await run_in_threadpool(score_body, state, model, data, kind, contributions, entity_col)
    return Response(body, media_type="application/json")


def score_body(state: ServiceState, model: ServedModel, data: bytes, kind: str, contributions: bool,
               entity_col: str | None = None) -> bytes:
    """The JSON answer to one ``/score`` body of ``kind`` ('json', 'csv', 'parquet', 'arrow')."""
    if entity_col is not None:
        if model.kind != "series":
            raise RequestError(f"entity_col is for series models; model {model.name!r} scores table rows one by one")
        return dumps(score_entities(state, model, data, kind, entity_col, contributions))
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
    window = int(model.pipeline.detector.series_info()["window"])
    out: dict[str, Any] = {"model": model.name, "n": len(frame), "window": window,
                           "threshold": getattr(model.pipeline.threshold, "value_", None),  # None: α bands
                           **series_answer(state, model, frame, times, bands, window)}
    out["warnings"] = notes
    return out


def series_answer(state: ServiceState, model: ServedModel, frame, times, bands: bool, window: int
                  ) -> dict[str, Any]:
    """``scores``, ``labels``, the bands (with ``bands``) and ``times`` of one series."""
    result = model.score_series(frame)  # a series shorter than the window: DataError → 422
    out = series_fields(result, model.schema.columns, bands=bands, first_scored=window - 1)
    if times is not None:
        out["times"] = times
    state.monitor.scored(model.name, len(frame) - window + 1, int(result["step_flag"].sum()))
    return out


def score_entities(state: ServiceState, model: ServedModel, data: bytes, kind: str, entity_col: str, bands: bool
                   ) -> dict[str, Any]:
    """A series model's answer for a table of many entities' rows: each entity's rows (in the
    order given) scored as a series of their own, like ``nadkit detect --entity-col``."""
    parts, n, notes = entity_rows(model, data, kind, entity_col, state.max_rows)
    window = int(model.pipeline.detector.series_info()["window"])
    short = [(e, len(rows)) for e, rows, _ in parts if len(rows) < window]
    if short:
        shown = ", ".join(f"{e!r} ({k})" for e, k in short[:5]) + (" …" if len(short) > 5 else "")
        raise RequestError(f"{len(short)} entit{'y has' if len(short) == 1 else 'ies have'} fewer rows than the "
                           f"model's window ({window}): {shown}; send at least {window} consecutive steps per entity")
    entities = {e: {"n": len(rows), **series_answer(state, model, rows, times, bands, window)}
                for e, rows, times in parts}
    return {"model": model.name, "n": n, "window": window,
            "threshold": getattr(model.pipeline.threshold, "value_", None),
            "entity_col": entity_col, "entities": entities, "warnings": notes}


def entity_rows(model: ServedModel, data: bytes, kind: str, entity_col: str, max_rows: int
                ) -> tuple[list[tuple[str, Any, list | None]], int, list[str]]:
    """A body of many entities' rows → ``(entity, its channel rows, their times or None)`` in
    order of first appearance (:func:`nadkit.entities.split_entities`), the row count and notes."""
    channels = model.schema.columns
    if entity_col in channels:
        raise RequestError(f"entity column {entity_col!r} is one of the model's channels; name the column "
                           "that says which entity (host, site, interface) each row belongs to")
    schema = TableSchema([entity_col, *channels], channels, {}, echo="time")  # the entity: a string field
    try:
        if kind == "json":
            frame, times, notes = frame_from_json(data, schema, max_rows)
        else:
            frame, times, notes = frame_from_file(data, kind, schema, max_rows)
    except RequestError as exc:
        if f"'{entity_col}'" in str(exc):  # a record without its entity, an entity of the wrong type
            raise type(exc)(f"{exc} (entity_col={entity_col!r}: every row needs its entity)") from exc
        raise
    if entity_col not in frame.columns:
        raise RequestError(f"entity column {entity_col!r} is not in the upload; its columns are "
                           f"{', '.join(map(str, list(frame.columns)[:20]))}")
    missing = [c for c in channels if c not in frame.columns]
    if missing:
        raise RequestError(f"the upload lacks {len(missing)} of the model's channels: {', '.join(missing[:8])}")
    row = "\0row"  # each row's position in the body, carried through the split
    parts = split_entities(frame.assign(**{row: np.arange(len(frame))}), entity_col)  # empty entity: 422
    return [(e, rows[channels], None if times is None else [times[i] for i in rows[row].to_numpy()])
            for e, rows in parts], len(frame), notes


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
