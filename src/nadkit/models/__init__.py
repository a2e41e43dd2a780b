"""Detectors, by name. ``make_detector("ae", latent=4)`` builds one from the registry."""

from __future__ import annotations

from typing import Any

from nadkit.errors import DataError
from nadkit.models.ae import AE
from nadkit.models.base import BaseDetector
from nadkit.models.bigan import BiGAN
from nadkit.models.cae import CAE
from nadkit.models.clustered import BAE, KSAE
from nadkit.models.dcvae import DCVAE
from nadkit.models.ensemble import Ensemble
from nadkit.models.knn import KNN
from nadkit.models.netgan import NetGAN
from nadkit.models.pca import PCA
from nadkit.models.sae import SAE
from nadkit.models.seq2seq import RowSeq2Seq, Seq2Seq
from nadkit.models.sklearn_models import OCSVM, IForest
from nadkit.models.vae import VAE

#: the detectors nadkit can build and load; an artifact can only name one of these
REGISTRY: dict[str, type[BaseDetector]] = {
    "pca": PCA,
    "ocsvm": OCSVM,
    "iforest": IForest,
    "knn": KNN,
    "ensemble": Ensemble,
    "ae": AE,
    "vae": VAE,
    "bigan": BiGAN,
    "dcvae": DCVAE,
    "seq2seq": Seq2Seq,
    "seq2seq-rows": RowSeq2Seq,
    "netgan": NetGAN,
    "sae": SAE,
    "cae": CAE,
    "ksae": KSAE,
    "bae": BAE,
}

#: the flow (table) model ``nadkit train`` and the benches use when none is named; chosen by the
#: written protocol of benchmarks/flow_candidates.py (docs/benchmarks.md, flow-candidates):
#: the rank-normalised ensemble of knn (k = 1) and ocsvm, its default members
DEFAULT_TABLE_MODEL = "ensemble"


def make_detector(name: str, **params: Any) -> BaseDetector:
    """Build a registered detector by (case-insensitive) name with hyper-parameters ``params``."""
    key = name.lower()
    if key not in REGISTRY:
        raise DataError(f"unknown model {name!r}; choose from {', '.join(REGISTRY)}")
    cls = REGISTRY[key]
    valid = cls._get_param_names()
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise DataError(f"unknown parameters for {key}: {unknown}; valid: {valid}")
    return cls(**params)


def detector_name(det: BaseDetector) -> str:
    for name, cls in REGISTRY.items():
        if type(det) is cls:
            return name
    raise DataError(f"{type(det).__name__} is not a registered nadkit detector")


__all__ = [
    "AE",
    "BAE",
    "CAE",
    "DCVAE",
    "DEFAULT_TABLE_MODEL",
    "KNN",
    "KSAE",
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
    "detector_name",
    "make_detector",
]
