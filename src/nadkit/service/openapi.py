"""The OpenAPI document's shared parts: the error and score response models, the error
responses each route declares, and the request bodies of ``/score`` and ``/streams/{id}``,
which depend on the served models and are added to the generated document by :func:`install`
(with the models' names as the ``enum`` of every ``{name}`` parameter)."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import FastAPI
from pydantic import BaseModel, Field

from nadkit.service.models import ServedModel
from nadkit.service.state import MODEL_NAME_DOC

SCORE_PATH = "/v1/models/{name}/score"
STREAM_PATH = "/v1/models/{name}/streams/{stream_id}"
ENTITY_STREAMS_PATH = "/v1/models/{name}/streams"


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


def install(app: FastAPI, models: dict[str, ServedModel]) -> None:
    """Generate ``app``'s OpenAPI document with the request bodies of ``/score`` and
    ``/streams/{id}`` and the models' names as the ``{name}`` enum."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = generate()
            bodies = {(SCORE_PATH, "post"): score_body(models), (STREAM_PATH, "post"): stream_body(models),
                      (ENTITY_STREAMS_PATH, "post"): stream_body(models)}
            for path, operations in doc.get("paths", {}).items():
                for method, op in operations.items():
                    if (path, method) in bodies:
                        op["requestBody"] = bodies[path, method]
                    for param in op.get("parameters", []):
                        if param.get("in") == "path" and param.get("description") == MODEL_NAME_DOC:
                            param["schema"]["enum"] = list(models)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
