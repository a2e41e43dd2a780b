"""Detectors, by name. ``make_detector("ae", latent=4)`` builds one from the registry
(:mod:`nadkit.models.registry`, re-exported here with every detector class)."""

from __future__ import annotations

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
from nadkit.models.registry import (
    DEFAULT_TABLE_MODEL,
    KINDS,
    MODEL_NAMES,
    REGISTRY,
    detector_class,
    detector_name,
    make_detector,
    names_of_kind,
)
from nadkit.models.sae import SAE
from nadkit.models.seq2seq import RowSeq2Seq, Seq2Seq
from nadkit.models.sklearn_models import OCSVM, IForest
from nadkit.models.vae import VAE

__all__ = [
    "AE",
    "BAE",
    "CAE",
    "DCVAE",
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
