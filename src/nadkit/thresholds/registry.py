"""Threshold methods by name: ``make_threshold`` (the CLI's ``--method``) and
``threshold_from_dict`` (threshold.json). A new method is its class in a module of this package,
one entry in :data:`METHODS` and its saved form in :mod:`nadkit.artifact_schema` (a params model
in ``THRESHOLD_PARAMS``, plus a ``ThresholdFile`` field per new fitted field)."""

from __future__ import annotations

from typing import Any

from nadkit.errors import DataError
from nadkit.thresholds.base import Threshold
from nadkit.thresholds.channel import ChannelAlpha
from nadkit.thresholds.rolling import RollingFPR
from nadkit.thresholds.scalar import POT, BestAccuracy, BestF1, Fixed, Quantile, TargetFPR

#: method name (threshold.json's ``method``, ``--method``) → class
METHODS: dict[str, type[Threshold]] = {
    cls.method: cls for cls in (Quantile, TargetFPR, RollingFPR, BestF1, BestAccuracy, POT, Fixed, ChannelAlpha)
}


def make_threshold(method: str, **params: Any) -> Threshold:
    """Build a threshold by CLI name: quantile, fpr, rolling, best-f1, best-accuracy, pot, fixed or alpha."""
    if method not in METHODS:
        raise DataError(f"unknown threshold method {method!r}; choose from {sorted(METHODS)}")
    import inspect

    cls = METHODS[method]
    accepted = set(inspect.signature(cls.__init__).parameters) - {"self"}
    unknown = sorted(set(params) - accepted)
    if unknown:
        raise DataError(f"threshold method {method!r} takes no {', '.join(unknown)} "
                        f"(its parameters: {', '.join(sorted(accepted)) or 'none'})")
    return cls(**params)


def threshold_from_dict(d: dict[str, Any]) -> Threshold:
    """Rebuild a fitted threshold from its JSON form, every field checked first (types, finite
    values, lengths: :class:`nadkit.artifact_schema.ThresholdFile`)."""
    from nadkit.artifact_schema import validate_threshold
    from nadkit.errors import ArtifactError

    method = d.get("method") if isinstance(d, dict) else None
    if method not in METHODS:
        raise DataError(f"unknown threshold method {method!r} in saved threshold")
    try:
        validate_threshold(d, "saved threshold is malformed")
    except ArtifactError as exc:
        raise DataError(str(exc)) from None
    return METHODS[method].from_dict(d)
