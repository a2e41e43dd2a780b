"""``GET /v1/models`` and ``GET /v1/models/{name}``: what the server holds."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from nadkit.service.openapi import ERRORS
from nadkit.service.state import Model, State

router = APIRouter(tags=["models"])


@router.get("/v1/models", responses={401: ERRORS[401]})
def list_models(state: State) -> dict[str, Any]:
    """Every model: name, type, input schema, threshold, metrics."""
    return {"models": [m.describe() for m in state.models.values()]}


@router.get("/v1/models/{name}", responses={k: ERRORS[k] for k in (401, 404)})
def describe_model(model: Model) -> dict[str, Any]:
    """One model: name, type, input schema, threshold, metrics."""
    return model.describe()
