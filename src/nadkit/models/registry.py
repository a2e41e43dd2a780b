"""The detector registry: name → class (imported on first use), kind, and ``make_detector``.

Entries name their class by import path, so this module imports no detector: a composite
detector (the ensemble) looks its members up here without importing the ``nadkit.models``
package's ``__init__`` (no import cycle), and a lookup imports only the module of the class it
returns. Each entry also
states the detector's kind ("table" or "series"), checked against the class's declared tags by
the tests, so the kinds are known without importing anything.

>>> MODEL_NAMES[:3], KINDS["dcvae"]
(('pca', 'ocsvm', 'iforest'), 'series')
>>> make_detector("PCA", n_components=2)
PCA(n_components=2)
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from nadkit.errors import DataError

if TYPE_CHECKING:
    from nadkit.models.base import BaseDetector

#: name → (``module:Class``, kind); the one list of the detectors nadkit can build and load
ENTRIES: dict[str, tuple[str, str]] = {
    "pca": ("nadkit.models.pca:PCA", "table"),
    "ocsvm": ("nadkit.models.sklearn_models:OCSVM", "table"),
    "iforest": ("nadkit.models.sklearn_models:IForest", "table"),
    "knn": ("nadkit.models.knn:KNN", "table"),
    "ensemble": ("nadkit.models.ensemble:Ensemble", "table"),
    "ae": ("nadkit.models.ae:AE", "table"),
    "vae": ("nadkit.models.vae:VAE", "table"),
    "bigan": ("nadkit.models.bigan:BiGAN", "table"),
    "dcvae": ("nadkit.models.dcvae:DCVAE", "series"),
    "seq2seq": ("nadkit.models.seq2seq:Seq2Seq", "series"),
    "seq2seq-rows": ("nadkit.models.seq2seq:RowSeq2Seq", "table"),
    "netgan": ("nadkit.models.netgan:NetGAN", "series"),
    "sae": ("nadkit.models.sae:SAE", "table"),
    "cae": ("nadkit.models.cae:CAE", "table"),
    "ksae": ("nadkit.models.clustered:KSAE", "table"),
    "bae": ("nadkit.models.clustered:BAE", "table"),
}

#: the registered names, in registry order
MODEL_NAMES: tuple[str, ...] = tuple(ENTRIES)
#: name → "table" (scores rows) or "series" (scores time steps)
KINDS: dict[str, str] = {name: kind for name, (_, kind) in ENTRIES.items()}

#: the flow (table) model ``nadkit train`` and the benches use when none is named; chosen by the
#: written protocol of benchmarks/flow_candidates.py (docs/benchmarks.md, flow-candidates):
#: the rank-normalised ensemble of ae, knn (k = 1) and ocsvm, its default members
DEFAULT_TABLE_MODEL = "ensemble"
#: the series model ``nadkit train`` uses when none is named (or ``--model auto``): DC-VAE, the
#: model the written protocols of benchmarks/series_defaults.py and series_combine.py pick on
#: every held-out group (leave-one-group-out over SMD machines, SKAB and NAB groups; no
#: combination with a linear baseline did better there; docs/benchmarks.md, series-combine)
DEFAULT_SERIES_MODEL = "dcvae"


def names_of_kind(kind: str) -> list[str]:
    """The registered names of one kind ("table" or "series")."""
    return [n for n, k in KINDS.items() if k == kind]


def detector_class(name: str) -> type[BaseDetector]:
    """The class registered under ``name`` (case-insensitive); DataError naming the choices."""
    key = name.lower()
    if key not in ENTRIES:
        raise DataError(f"unknown model {name!r}; choose from {', '.join(MODEL_NAMES)}")
    module, _, cls = ENTRIES[key][0].partition(":")
    return getattr(importlib.import_module(module), cls)


class _Registry(Mapping[str, "type[BaseDetector]"]):
    """``name → class``, importing each detector's module when it is first looked up."""

    def __getitem__(self, name: str) -> type[BaseDetector]:
        if name not in ENTRIES:
            raise KeyError(name)
        return detector_class(name)

    def __contains__(self, name: object) -> bool:  # no import
        return name in ENTRIES

    def __iter__(self) -> Iterator[str]:
        return iter(MODEL_NAMES)

    def __len__(self) -> int:
        return len(MODEL_NAMES)

    def __repr__(self) -> str:
        return f"REGISTRY({', '.join(MODEL_NAMES)})"


#: the detectors nadkit can build and load; an artifact can only name one of these
REGISTRY: Mapping[str, type[BaseDetector]] = _Registry()


def make_detector(name: str, **params: Any) -> BaseDetector:
    """Build a registered detector by (case-insensitive) name with hyper-parameters ``params``."""
    cls = detector_class(name)
    valid = cls._get_param_names()
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise DataError(f"unknown parameters for {name.lower()}: {unknown}; valid: {valid}")
    return cls(**params)


def detector_name(det: BaseDetector) -> str:
    """The registered name of ``det``'s class (exactly that class, not a subclass)."""
    for name in MODEL_NAMES:
        if type(det).__module__ == ENTRIES[name][0].partition(":")[0] and detector_class(name) is type(det):
            return name
    raise DataError(f"{type(det).__name__} is not a registered nadkit detector")
