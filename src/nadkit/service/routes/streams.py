"""``POST``/``DELETE /v1/models/{name}/streams/{id}``, ``POST /v1/models/{name}/streams?entity_col=``
(many entities' points in one body) and ``GET /v1/models/{name}/streams``: series models'
streams, one per entity (see :mod:`nadkit.service.streams`)."""

from __future__ import annotations

from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from nadkit.service.inputs import RequestError, frame_from_json
from nadkit.service.models import ServedModel
from nadkit.service.openapi import ERRORS
from nadkit.service.routes.score import entity_rows
from nadkit.service.state import ModelName, NotFound, ServiceState, State, dumps
from nadkit.service.streams import STREAM_ID

router = APIRouter(tags=["streaming"])
StreamId = Annotated[str, Path(description="your name for the stream (1-128 of A-Z a-z 0-9 . _ : -)", max_length=128)]
Bands = Annotated[bool, Query(description="include μ, σ, band limits and flags per channel")]


def series_model(state: ServiceState, name: str) -> ServedModel:
    """The served series model ``name`` (404 unknown, 422 a table model)."""
    model = state.model(name)
    if model.kind != "series":
        raise RequestError(f"model {name!r} scores table rows: POST /v1/models/{name}/score")
    return model


@router.post("/v1/models/{name}/streams/{stream_id}", response_model=None,
             responses={k: ERRORS[k] for k in (400, 401, 404, 408, 409, 413, 422)})
async def stream(request: Request, name: ModelName, stream_id: StreamId, state: State,
                 bands: Bands = True,
                 ) -> Response:
    """Series models: append points (consecutive steps) to a stream; every new point whose
    window is full gets its score and label (null before that), and its μ ± α·σ band per channel.
    A model whose scores look ahead L steps (Net-GAN) answers for the steps that became final
    (``steps``), L steps behind the points received; ``pending`` counts those still waiting.
    Points with a ``time`` must continue the stream at the model's step: a gap or a replayed
    time is a 409 naming the expected time (see :mod:`nadkit.service.streams`)."""
    model = series_model(state, name)
    data = await request.body()

    def work() -> bytes:
        frame, times, _ = frame_from_json(data, model.schema, state.max_rows)
        return dumps(append(state, model, stream_id, frame, times, bands))

    return Response(await run_in_threadpool(work), media_type="application/json")


@router.post("/v1/models/{name}/streams", response_model=None,
             responses={k: ERRORS[k] for k in (400, 401, 404, 408, 409, 413, 422)})
async def stream_entities(request: Request, name: ModelName, state: State,
                          entity_col: Annotated[str, Query(min_length=1, max_length=128, description=(
                              "the field naming each point's entity (host, site, interface): its stream id"))],
                          bands: Bands = True,
                          ) -> Response:
    """Series models: points of many entities in one body, each carrying its entity in the
    ``entity_col`` field; each entity's points (in the order given) are appended to the stream
    named by the entity, as ``POST /v1/models/{name}/streams/{entity}`` would. The answer's
    ``streams`` maps each entity, in order of first appearance, to that stream's answer. Entities
    are appended one after the other: an error names the entity it stopped at, and the entities
    before it were appended."""
    model = series_model(state, name)
    data = await request.body()

    def work() -> bytes:
        parts, _, _ = entity_rows(model, data, "json", entity_col, state.max_rows)
        bad = [e for e, _, _ in parts if not STREAM_ID.match(e)]
        if bad:
            raise RequestError(f"entity {bad[0]!r} cannot name a stream: entities must be 1-128 letters, digits, "
                               "'.', '_', ':' or '-'")
        out: dict[str, Any] = {}
        for entity, rows, times in parts:
            try:
                out[entity] = append(state, model, entity, rows, times, bands)
            except RequestError as exc:
                done = f" (appended before it: {', '.join(out)})" if out else ""
                raise type(exc)(f"entity {entity!r}: {exc}{done}") from exc
        return dumps({"model": model.name, "entity_col": entity_col, "streams": out})

    return Response(await run_in_threadpool(work), media_type="application/json")


def append(state: ServiceState, model: ServedModel, stream_id: str, frame, times, bands: bool) -> dict[str, Any]:
    """Append points to one stream and count them in ``/metrics``; the stream's answer."""
    out = state.streams.append(model, stream_id, frame, bands=bands, times=times)
    flagged = sum(1 for label in out["labels"] if label)
    state.monitor.scored(model.name, int(np.isfinite(out["scores"]).sum()), flagged)
    state.monitor.stream_scored(model.name, stream_id, out["scores"], out["labels"])
    return out


@router.delete("/v1/models/{name}/streams/{stream_id}", responses={k: ERRORS[k] for k in (401, 404)})
def forget_stream(name: ModelName, stream_id: str, state: State) -> dict[str, Any]:
    """Forget a stream's buffered points (the next append starts a new window)."""
    state.model(name)
    if not state.streams.forget(name, stream_id):
        raise NotFound(f"no stream {stream_id!r} for model {name!r}")
    state.monitor.forget_entity(name, stream_id)
    return {"forgotten": stream_id}


@router.get("/v1/models/{name}/streams", responses={k: ERRORS[k] for k in (401, 404, 422)})
def list_streams(name: ModelName, state: State) -> dict[str, Any]:
    """Series models: every stream (one per entity, named by its stream id), least recently
    appended first, with the steps it has seen and its incidents (their latest state, each
    with its ``entity``), for the dashboard's per-entity incidents and swimlane."""
    model = series_model(state, name)
    return {"model": model.name, "streams": state.streams.entities(model.name)}
