"""Save and load a fitted pipeline as a directory; loading never runs code from the files.

Layout::

    manifest.json        format, nadkit + library versions, detector, created, training-data
                         hash, input schema, and the SHA-256 and size of every other file
    config.json          detector name and hyper-parameters (+ fitted metadata)
    preprocessor.json    fitted preprocessing state
    weights.safetensors  torch/numpy tensors (model.skops for scikit-learn estimators)
    threshold.json       method, parameters, value(s), calibration-data hash

Writes go to a temporary directory renamed into place. ``load`` checks every file against the
manifest, so a truncated or edited artifact is refused with a message naming the file.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
from pathlib import Path
from typing import Any

import numpy as np

from nadkit import __version__
from nadkit.errors import ArtifactError, DataError
from nadkit.io import atomic_dir, sha256_file, write_json
from nadkit.models import REGISTRY, detector_name, make_detector
from nadkit.pipeline import Pipeline, make_pipeline
from nadkit.thresholds import threshold_from_dict

FORMAT = "nadkit-model"
FORMAT_VERSION = 1
#: preprocessor kinds an artifact may name → the class that reads them (series models add theirs)
PREPROCESSORS: dict[str, Any] = {}


def _register_default_preprocessors() -> None:
    from nadkit.data.preprocess import Preprocessor
    from nadkit.data.series import SeriesPreprocessor

    PREPROCESSORS.setdefault("table", Preprocessor)
    PREPROCESSORS.setdefault("series", SeriesPreprocessor)


def _library_versions() -> dict[str, str]:
    import sklearn
    import torch

    return {"nadkit": __version__, "python": platform.python_version(), "numpy": np.__version__,
            "torch": torch.__version__, "scikit-learn": sklearn.__version__}


def save(pipeline: Pipeline, path: str | os.PathLike[str], extra: dict[str, Any] | None = None) -> Path:
    """Write ``pipeline`` to directory ``path`` atomically (replacing an existing one)."""
    det = pipeline.detector
    det._check_fitted()
    path = Path(path)
    with atomic_dir(path) as tmp:
        state_meta = det.save_state(tmp)
        write_json(tmp / "config.json", {"detector": detector_name(det),
                                         "params": _jsonable(det.get_params()), "state": state_meta})
        write_json(tmp / "preprocessor.json", pipeline.preprocessor.to_dict())
        write_json(tmp / "threshold.json", pipeline.threshold.to_dict())
        files = {p.name: {"sha256": sha256_file(p), "bytes": p.stat().st_size}
                 for p in sorted(tmp.iterdir()) if p.is_file()}
        manifest = {
            "format": FORMAT, "format_version": FORMAT_VERSION,
            "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "versions": _library_versions(),
            "detector": detector_name(det), "detector_class": type(det).__name__,
            "input_kind": det.input_kind,
            "schema": pipeline.preprocessor.schema(),
            "training": pipeline.info, "files": files, **(extra or {}),
        }
        if det.input_kind == "series":
            manifest["series"] = det.series_info()
        write_json(tmp / "manifest.json", manifest)
    return path


def update_threshold(path: str | os.PathLike[str], pipeline: Pipeline) -> None:
    """Rewrite threshold.json of an existing artifact (and its manifest entry), atomically."""
    path = Path(path)
    manifest = read_manifest(path)
    write_json(path / "threshold.json", pipeline.threshold.to_dict())
    manifest["files"]["threshold.json"] = {"sha256": sha256_file(path / "threshold.json"),
                                           "bytes": (path / "threshold.json").stat().st_size}
    write_json(path / "manifest.json", manifest)


def read_manifest(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and check manifest.json of a model directory."""
    path = Path(path)
    if not path.exists():
        raise ArtifactError(f"model directory not found: {path}")
    if not path.is_dir():
        raise ArtifactError(f"not a model directory (it is a file): {path}")
    manifest = _read_json(path, "manifest.json")
    if manifest.get("format") != FORMAT:
        raise ArtifactError(f"{path}/manifest.json is not a nadkit model manifest")
    version = manifest.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ArtifactError(f"{path} uses artifact format {version}; this nadkit ({__version__}) "
                            f"reads format ≤ {FORMAT_VERSION}: upgrade nadkit")
    return manifest


def load(path: str | os.PathLike[str]) -> Pipeline:
    """Load a pipeline saved by :func:`save`, verifying every file first."""
    _register_default_preprocessors()
    path = Path(path)
    manifest = read_manifest(path)
    for name, info in manifest.get("files", {}).items():
        f = path / name
        if not f.is_file():
            raise ArtifactError(f"{path}: file {name} listed in the manifest is missing")
        size = f.stat().st_size
        if size != info.get("bytes"):
            raise ArtifactError(f"{path}: {name} is truncated or changed ({size} bytes, expected {info.get('bytes')})")
        if sha256_file(f) != info.get("sha256"):
            raise ArtifactError(f"{path}: {name} is corrupt (SHA-256 does not match the manifest)")
    config = _read_json(path, "config.json")
    name = config.get("detector")
    if name not in REGISTRY:
        raise ArtifactError(f"{path}: unknown detector {name!r} (known: {', '.join(REGISTRY)})")
    try:
        det = make_detector(name, **_params_from_json(REGISTRY[name], config.get("params", {})))
    except DataError as exc:
        raise ArtifactError(f"{path}: config.json does not match detector {name}: {exc}") from exc
    det.load_state(path, config.get("state", {}))
    pre_dict = _read_json(path, "preprocessor.json")
    kind = pre_dict.get("kind", "table")
    if kind not in PREPROCESSORS:
        raise ArtifactError(f"{path}: unknown preprocessor kind {kind!r}")
    try:
        pre = PREPROCESSORS[kind].from_dict(pre_dict)
        det.threshold_ = threshold_from_dict(_read_json(path, "threshold.json"))
    except (KeyError, TypeError, ValueError) as exc:
        raise ArtifactError(f"{path}: malformed preprocessor or threshold file: {exc}") from exc
    pipe = make_pipeline(det, pre)
    pipe.info = manifest.get("training", {})
    pipe.manifest = manifest
    return pipe


def _read_json(path: Path, name: str) -> dict[str, Any]:
    f = path / name
    if not f.is_file():
        raise ArtifactError(f"{path}: {name} is missing (not a complete nadkit model directory)")
    try:
        data = json.loads(f.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ArtifactError(f"{path}: {name} is corrupt ({exc.__class__.__name__}: {exc})") from exc
    if not isinstance(data, dict):
        raise ArtifactError(f"{path}: {name} should hold a JSON object")
    return data


def _params_from_json(cls: type, params: dict[str, Any]) -> dict[str, Any]:
    """JSON has no tuples: give back tuples where the class's default is a tuple."""
    import inspect

    defaults = {k: p.default for k, p in inspect.signature(cls.__init__).parameters.items()}
    return {k: tuple(v) if isinstance(v, list) and isinstance(defaults.get(k), tuple) else v
            for k, v in params.items()}


def _jsonable(params: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in params.items():
        if isinstance(v, tuple):
            v = list(v)
        elif isinstance(v, np.generic):
            v = v.item()
        out[k] = v
    return out
