"""Run configuration files (TOML), validated by pydantic.

Example ``ae.toml``::

    model = "ae"
    [params]
    latent = 8
    epochs = 20
    [preprocess]
    scaling = "minmax"
    [threshold]
    method = "fpr"
    fpr = 0.01
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from nadkit.errors import DataError
from nadkit.thresholds.registry import METHODS


class PreprocessConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    categorical: list[str] | None = None
    log_transform: Literal["auto"] | list[str] | bool = "auto"
    log_min_max: float = 1.0
    scaling: Literal["minmax", "standard"] | None = "minmax"
    max_categories: int = Field(100, ge=1)
    min_frequency: int = Field(1, ge=1)
    strict_categories: bool = False


class ThresholdConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    #: a name in the thresholds registry (:data:`nadkit.thresholds.registry.METHODS`)
    method: str = "fpr"
    q: float | None = None
    fpr: float | None = None
    risk: float | None = None
    level: float | None = None
    beta: float | None = None
    value: float | None = None

    @field_validator("method")
    @classmethod
    def _registered(cls, method: str) -> str:
        if method not in METHODS:
            raise ValueError(f"unknown threshold method {method!r}; choose from {', '.join(METHODS)}")
        return method

    def params(self) -> dict[str, Any]:
        return {k: v for k, v in self.model_dump(exclude={"method"}).items() if v is not None}


class RunConfig(BaseModel):
    """A training/benchmark configuration: model, its hyper-parameters, preprocessing, threshold."""

    model_config = ConfigDict(extra="forbid")
    model: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    models: dict[str, dict[str, Any]] = Field(default_factory=dict)
    preprocess: PreprocessConfig = Field(default_factory=PreprocessConfig)
    threshold: ThresholdConfig = Field(default_factory=ThresholdConfig)
    seed: int = 0


def load_config(path: str | Path | None) -> RunConfig:
    """Read and validate a TOML config; None gives the defaults."""
    if path is None:
        return RunConfig()
    p = Path(path)
    if not p.is_file():
        raise DataError(f"config file not found: {p}")
    try:
        raw = tomllib.loads(p.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise DataError(f"{p}: invalid TOML: {exc}") from exc
    try:
        return RunConfig.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(x) for x in err["loc"])
        msg = str(err["ctx"]["error"]) if err["type"] == "value_error" else err["msg"]  # a validator's own
        raise DataError(f"{p}: {where}: {msg}") from exc
