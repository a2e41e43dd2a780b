"""Save and load a fitted pipeline as a directory; loading never runs code from the files.

Layout::

    manifest.json        format, nadkit + library versions, detector, created, training-data
                         hash, input schema, and the SHA-256 and size of every other file
    config.json          detector name and hyper-parameters (+ fitted metadata)
    preprocessor.json    fitted preprocessing state
    weights.safetensors  torch/numpy tensors (model.skops for scikit-learn estimators)
    threshold.json       method, parameters, value(s), calibration-data hash

Writes go to a temporary directory renamed into place; :func:`update_threshold` (calibrate)
writes a complete new directory and swaps it in atomically. Should a crash during a swap on a
system without ``renameat2`` leave no directory at the path, :func:`load` reads the complete
backup ``.<name>.old-<pid>`` next to it (and warns).

``load`` opens only the plain files the manifest lists, directly inside the directory (no
``..``, absolute paths, symbolic links), checks each one's size before reading it and its
SHA-256 after, and validates every JSON field with the schemas in :mod:`nadkit.artifact_schema`
before building anything, so a truncated, edited or hostile artifact is refused with a
message naming the file.
"""

from __future__ import annotations

import ctypes
import datetime as dt
import errno
import glob
import hashlib
import json
import os
import platform
import shutil
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from nadkit import __version__
from nadkit.artifact_schema import (
    JSON_FILES,
    ModelFiles,
    check_name,
    parse_json,
    read_plain,
    read_verified,
    validate_config,
    validate_manifest,
    validate_params,
    validate_preprocessor,
    validate_threshold,
)
from nadkit.errors import ArtifactError, DataError
from nadkit.io import atomic_dir, sha256_file, write_json
from nadkit.models import REGISTRY, detector_name, make_detector
from nadkit.pipeline import Pipeline, make_pipeline
from nadkit.thresholds import threshold_from_dict

WEIGHTS = "weights.safetensors"
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
    """Replace threshold.json of an existing artifact (and its manifest entry) in one atomic
    directory swap: a complete new directory is written next to ``path`` and exchanged with it,
    so ``path`` always holds a complete model, the old one or the new one."""
    path = Path(path)
    if path.is_symlink():  # update the directory it names; the link stays a link
        path = path.resolve()
    source = _existing(path)
    manifest = read_manifest(source)
    files = dict(read_verified(source, validate_manifest(manifest, f"{source}/manifest.json").files))
    files["threshold.json"] = _json_bytes(pipeline.threshold.to_dict())
    manifest["files"]["threshold.json"] = {"sha256": hashlib.sha256(files["threshold.json"]).hexdigest(),
                                           "bytes": len(files["threshold.json"])}
    files["manifest.json"] = _json_bytes(manifest)
    replace_dir(path, files, stale=None if source == path else source)


def _json_bytes(obj: Any) -> bytes:
    return (json.dumps(obj, indent=2, sort_keys=False, allow_nan=False) + "\n").encode()


def replace_dir(path: Path, files: dict[str, bytes], stale: Path | None = None) -> None:
    """Write ``files`` as a new directory next to ``path``, then swap it into place atomically
    (``renameat2(RENAME_EXCHANGE)`` where the system has it; else ``path`` → a backup
    ``.<name>.old-<pid>``, new → ``path``, backup removed: :func:`load` reads that backup if a
    crash left no ``path``). ``stale``: a backup to remove once ``path`` is complete."""
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        for name, data in files.items():
            check_name(name, path)
            fd = os.open(tmp / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            try:
                os.write(fd, data) if len(data) < (1 << 30) else _write_all(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
        _fsync_dir(tmp)
        _swap_into_place(tmp, path)
        _fsync_dir(path.parent)
    except OSError as exc:
        raise ArtifactError(f"cannot update {path}: {exc.strerror or exc}") from exc
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    if stale is not None and stale != path:
        shutil.rmtree(stale, ignore_errors=True)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view[: 1 << 30]):]


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _swap_into_place(new: Path, path: Path) -> None:
    """Put directory ``new`` at ``path``; what was at ``path`` ends at ``new`` (then removed)."""
    if not os.path.lexists(path):
        os.rename(new, path)
        return
    if _exchange(new, path):
        shutil.rmtree(new, ignore_errors=True)
        return
    backup = path.with_name(f".{path.name}.old-{os.getpid()}")
    if os.path.lexists(backup):
        shutil.rmtree(backup)
    _rename(path, backup)
    _rename(new, path)
    shutil.rmtree(backup, ignore_errors=True)


def _rename(src: Path, dst: Path) -> None:
    os.rename(src, dst)


def _exchange(a: Path, b: Path) -> bool:
    """Atomically exchange two paths with Linux ``renameat2(RENAME_EXCHANGE)``; False where
    the system or file system does not offer it."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    at_fdcwd, rename_exchange = -100, 2
    if fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.EPERM):
        return False
    raise OSError(err, os.strerror(err), str(b))


def _existing(path: Path) -> Path:
    """``path``, or (when a crash during an update left none) the newest complete backup
    ``.<name>.old-*`` next to it, with a warning saying so."""
    if os.path.lexists(path):
        return path
    backups = [b for b in path.parent.glob(f".{glob.escape(path.name)}.old-*")
               if b.is_dir() and not b.is_symlink() and (b / "manifest.json").is_file()]
    if not backups:
        raise ArtifactError(f"model directory not found: {path}")
    backup = max(backups, key=lambda b: b.stat().st_mtime)
    warnings.warn(f"{path} is missing; reading {backup.name}, the copy an interrupted update left "
                  f"(rename it to {path.name} to keep it)", stacklevel=3)
    return backup


def read_manifest(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and check manifest.json of a model directory (every field validated)."""
    path = _existing(Path(path))
    if not path.is_dir():
        raise ArtifactError(f"not a model directory (it is a file): {path}")
    where = f"{path}: manifest.json"
    manifest = parse_json(read_plain(path, "manifest.json", missing=f"{path}: manifest.json is missing "
                                     "(not a complete nadkit model directory)"), where)
    if manifest.get("format") != FORMAT:
        raise ArtifactError(f"{path}/manifest.json is not a nadkit model manifest")
    version = manifest.get("format_version")
    if type(version) is not int or version < 1:
        raise ArtifactError(f"{where}: field format_version must be an integer ≥ 1 (got {version!r})")
    if version > FORMAT_VERSION:
        raise ArtifactError(f"{path} uses artifact format {version!r}; this nadkit ({__version__}) "
                            f"reads format ≤ {FORMAT_VERSION}: upgrade nadkit")
    validate_manifest(manifest, where)
    return manifest


from nadkit.artifact_schema import jsonable as _jsonable  # noqa: E402


def load(path: str | os.PathLike[str]) -> Pipeline:
    """Load a pipeline saved by :func:`save`. Every file is checked against the manifest (plain
    file directly inside the directory, size, SHA-256) and every JSON field against its schema
    before anything is built; any problem is an :class:`ArtifactError` naming the file."""
    _register_default_preprocessors()
    path = _existing(Path(path))
    manifest = read_manifest(path)
    m = validate_manifest(manifest, f"{path}: manifest.json")
    if m.detector not in REGISTRY:
        raise ArtifactError(f"{path}: unknown detector {m.detector!r} (known: {', '.join(REGISTRY)})")
    cls = REGISTRY[m.detector]
    for name in m.files:
        check_name(name, path)
    _check_listed(path, m, set(JSON_FILES))  # the JSON files first: they name the state files
    json_files = read_verified(path, {name: m.files[name] for name in JSON_FILES})
    raw = {name: parse_json(json_files[name], f"{path}: {name}") for name in JSON_FILES}
    config = validate_config(raw["config.json"], f"{path}: config.json")
    pre_file = validate_preprocessor(raw["preprocessor.json"], f"{path}: preprocessor.json")
    thr = validate_threshold(raw["threshold.json"], f"{path}: threshold.json")
    _cross_check(path, m, config, pre_file, thr, cls)
    params = validate_params(cls, config.params, f"{path}: config.json")
    # a parameter added after the file was written keeps the behaviour the file was saved with
    params = {**cls.params_added, **params}
    try:
        det = make_detector(m.detector, **params)
        required, optional = det.state_files()  # the detector's own (an ensemble's: its members')
    except DataError as exc:
        raise ArtifactError(f"{path}: config.json does not match detector {m.detector}: {exc}") from exc
    _check_listed(path, m, set(JSON_FILES) | required, set(JSON_FILES) | required | optional)
    state = read_verified(path, {name: e for name, e in m.files.items() if name not in JSON_FILES})
    files = ModelFiles(path, {**dict(json_files), **dict(state)})
    try:
        det.load_state(files, raw["config.json"]["state"])
    except ArtifactError as exc:
        raise ArtifactError(exc.args[0] if str(path) in exc.args[0] else f"{path}: {exc}") from exc
    except DataError as exc:
        raise ArtifactError(f"{path}: config.json state does not fit {m.detector}: {exc}") from exc
    kind = pre_file.kind
    if kind not in PREPROCESSORS:
        raise ArtifactError(f"{path}: unknown preprocessor kind {kind!r}")
    try:
        pre = PREPROCESSORS[kind].from_dict(raw["preprocessor.json"])
    except (KeyError, TypeError, ValueError, ArtifactError) as exc:
        raise ArtifactError(f"{path}: malformed preprocessor.json: {exc}") from exc
    try:
        threshold = threshold_from_dict(raw["threshold.json"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ArtifactError(f"{path}: malformed threshold.json: {exc}") from exc
    if pre.schema() != m.schema_:
        raise ArtifactError(f"{path}: manifest.json schema does not match preprocessor.json")
    if m.series is not None and det.series_info() != manifest["series"]:
        raise ArtifactError(f"{path}: manifest.json series section does not match the model "
                            f"({det.series_info()})")
    pipe = make_pipeline(det, pre)  # the kind that fits the detector
    pipe.threshold = threshold
    pipe.info = manifest.get("training", {})
    pipe.manifest = manifest
    return pipe


def _check_listed(path: Path, m: Any, required: set[str], allowed: set[str] | None = None) -> None:
    """The manifest lists every ``required`` file and (unless None) nothing beyond ``allowed``."""
    listed = set(m.files)
    if allowed is not None and (unexpected := listed - allowed):
        raise ArtifactError(f"{path}: manifest lists files a {m.detector} model does not have: "
                            f"{sorted(unexpected)}")
    if missing := required - listed:
        raise ArtifactError(f"{path}: manifest does not list {sorted(missing)} (not a complete "
                            f"{m.detector} model directory)")


def _cross_check(path: Path, m: Any, config: Any, pre: Any, thr: Any, cls: type) -> None:
    """The files agree with each other: detector names and kinds, model input width =
    preprocessor output width (= channels), a per-channel threshold per channel."""
    if config.detector not in REGISTRY:
        raise ArtifactError(f"{path}: unknown detector {config.detector!r} (known: {', '.join(REGISTRY)})")
    if config.detector != m.detector:
        raise ArtifactError(f"{path}: config.json names detector {config.detector!r}, the manifest "
                            f"{m.detector!r}")
    if m.detector_class != cls.__name__ or m.input_kind != cls.input_kind:
        raise ArtifactError(f"{path}: manifest.json says {m.detector_class} ({m.input_kind}); "
                            f"{m.detector} is {cls.__name__} ({cls.input_kind})")
    if (pre.kind == "series") != (cls.input_kind == "series"):
        raise ArtifactError(f"{path}: a {cls.input_kind} model needs a "
                            f"{'series' if cls.input_kind == 'series' else 'table'} preprocessor, "
                            f"preprocessor.json is {pre.kind!r}")
    n = config.state.n_features_in
    width = len(pre.state.channels_) if pre.kind == "series" else len(pre.state.feature_names_out_)
    if n != width:
        raise ArtifactError(f"{path}: config.json has n_features_in {n}, but preprocessor.json "
                            f"makes {width} features")
    if thr.method == "alpha" and len(thr.alpha_up) != n:
        raise ArtifactError(f"{path}: threshold.json has α for {len(thr.alpha_up)} channels, the "
                            f"model has {n}")


