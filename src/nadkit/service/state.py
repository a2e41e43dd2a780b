"""What the routes share: one :class:`ServiceState` per app (``app.state.service``), reached
through FastAPI dependencies, and the JSON response class.

>>> from typing import Annotated                     # doctest: +SKIP
>>> @router.get("/v1/models/{name}/thing")           # doctest: +SKIP
... def thing(model: Model, state: State) -> dict:   # the served model (404 if unknown), the state
...     return {"model": model.name, "rows": state.max_rows}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

import orjson
from fastapi import Depends, Path, Request
from fastapi.responses import JSONResponse

from nadkit.service.models import ServedModel
from nadkit.service.monitoring import Monitor
from nadkit.service.security import APIKey
from nadkit.service.streams import StreamStore

#: the ``{name}`` path parameter's description; :mod:`nadkit.service.openapi` adds the served
#: models' names to its schema as an ``enum``
MODEL_NAME_DOC = "model name (see GET /v1/models)"


class NotFound(Exception):
    """An unknown model or missing evaluation data (404)."""


@dataclass
class ServiceState:
    """The loaded models and the server's settings and stores, built once by ``create_app``."""

    models: dict[str, ServedModel]
    monitor: Monitor
    streams: StreamStore
    key: APIKey | None = None  # None: no API key (no auth)
    max_rows: int = 200_000
    incidents: dict[str, Any] = field(default_factory=dict)  # the dashboard's incidents, per model, once

    def model(self, name: str) -> ServedModel:
        if name not in self.models:
            raise NotFound(f"unknown model {name!r}; this server has: {', '.join(self.models)}")
        return self.models[name]


# async: FastAPI runs sync dependencies in the thread pool, a hop the inline scoring path avoids
async def get_state(request: Request) -> ServiceState:
    return request.app.state.service


State = Annotated[ServiceState, Depends(get_state)]
ModelName = Annotated[str, Path(description=MODEL_NAME_DOC)]


async def get_model(name: ModelName, state: State) -> ServedModel:
    """The served model the ``{name}`` path parameter names (:class:`NotFound` → 404)."""
    return state.model(name)


Model = Annotated[ServedModel, Depends(get_model)]


def dumps(obj: Any) -> bytes:
    return orjson.dumps(obj, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS)


class FastJSON(JSONResponse):
    """JSON via orjson (numpy arrays serialised natively; NaN → null)."""

    def render(self, content: Any) -> bytes:
        return dumps(content)
