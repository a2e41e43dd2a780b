"""Detectors, by name. ``make_detector("ae", latent=4)`` builds one from the registry
(:mod:`nadkit.models.registry`, re-exported here with every detector class; a class's module is
imported on first use, so a table model never imports torch)."""

from __future__ import annotations

import importlib
from typing import Any

from nadkit.models.base import BaseDetector
from nadkit.models.registry import (
    DEFAULT_SERIES_MODEL,
    DEFAULT_TABLE_MODEL,
    KINDS,
    MODEL_NAMES,
    REGISTRY,
    detector_class,
    detector_name,
    make_detector,
    names_of_kind,
)

#: detector classes by name → the module defining them, imported on first use (PEP 562), so
#: that using a table model never imports torch
_CLASSES = {
    "AE": "ae", "BiGAN": "bigan", "CAE": "cae", "BAE": "clustered", "KSAE": "clustered",
    "DCVAE": "dcvae", "Ensemble": "ensemble", "KNN": "knn", "NetGAN": "netgan", "PCA": "pca",
    "SAE": "sae", "RowSeq2Seq": "seq2seq", "Seq2Seq": "seq2seq", "OCSVM": "sklearn_models",
    "IForest": "sklearn_models", "VAE": "vae",
}


def __getattr__(name: str) -> Any:
    if name not in _CLASSES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_CLASSES[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "AE",
    "BAE",
    "CAE",
    "DCVAE",
    "DEFAULT_SERIES_MODEL",
    "DEFAULT_TABLE_MODEL",
    "KINDS",
    "KNN",
    "KSAE",
    "MODEL_NAMES",
    "OCSVM",
    "PCA",
    "REGISTRY",
    "SAE",
    "VAE",
    "BaseDetector",
    "BiGAN",
    "Ensemble",
    "IForest",
    "NetGAN",
    "RowSeq2Seq",
    "Seq2Seq",
    "detector_class",
    "detector_name",
    "make_detector",
    "names_of_kind",
]
