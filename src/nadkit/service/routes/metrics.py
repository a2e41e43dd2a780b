"""``GET /health`` (liveness, no API key) and ``GET /metrics`` (Prometheus text format)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from nadkit.service.monitoring import CONTENT_TYPE
from nadkit.service.openapi import ERRORS
from nadkit.service.state import State

router = APIRouter(tags=["service"])


@router.get("/health")
def health(state: State) -> dict[str, Any]:
    """Liveness: the server is up and holds its models (never needs the API key)."""
    return {"status": "ok", "models": len(state.models)}


@router.get("/metrics", response_class=Response,
            responses={200: {"content": {CONTENT_TYPE: {}}, "description": "Prometheus metrics"}, 401: ERRORS[401]})
def metrics(state: State) -> Response:
    """Prometheus metrics: requests, latency, rows scored, anomalies flagged per model."""
    return Response(state.monitor.exposition(), media_type=CONTENT_TYPE)
