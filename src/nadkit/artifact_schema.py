"""What a model directory may hold, checked before anything is built from it.

* :func:`read_plain` / :func:`read_verified` open only plain files directly inside the
  directory (no ``..``, absolute paths, subdirectories, symbolic links, FIFOs or devices:
  ``lstat`` then ``open(O_NOFOLLOW)`` relative to the directory), check the size against the
  manifest and a limit per file kind *before* reading, and hash the bytes they return, so a
  file is read once and what was verified is what gets loaded (:class:`ModelFiles`).
* :func:`parse_json` refuses NaN/Infinity tokens, numbers that overflow to ±inf, nesting deeper
  than :data:`MAX_JSON_DEPTH` and non-objects.
* Pydantic models give every field of manifest.json, config.json, threshold.json and
  preprocessor.json a type, a range and a size limit; ``validate_*`` raise
  :class:`~nadkit.errors.ArtifactError` with one line naming the file and the field.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import math
import os
import stat
import typing
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from nadkit.errors import ArtifactError

#: the table preprocessor's catch-all category for unseen and rare values (nadkit.data.preprocess
#: imports it from here, so the schema needs nothing above the floor)
OTHER = "__other__"

MiB = 1 << 20
#: the largest file of each kind a model directory may hold (checked before a byte is read)
MAX_BYTES = {".json": 64 * MiB, ".safetensors": 4096 * MiB, ".skops": 1024 * MiB}
MAX_JSON_DEPTH = 32
#: the widest model input (n_features_in, preprocessor output, series channels)
MAX_FEATURES = 1_000_000
MAX_COLUMNS = 100_000
MAX_WINDOW = 1_000_000
MAX_TEXT = 10_000
#: the JSON files of every model directory; state files depend on the detector
JSON_FILES = ("config.json", "preprocessor.json", "threshold.json")
_O_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)


# ------------------------------------------------------------------------------ reading files
def max_bytes(name: str) -> int:
    """The size limit for a file of this name (by suffix)."""
    return MAX_BYTES.get(Path(name).suffix, 64 * MiB)


def check_name(name: str, where: str | Path) -> None:
    """Refuse anything but a plain file name (no separators, ``.``/``..``, hidden or odd names)."""
    ok = (isinstance(name, str) and 0 < len(name) <= 128 and "/" not in name and "\\" not in name
          and "\0" not in name and not name.startswith(".") and name.isprintable())
    if not ok:
        raise ArtifactError(f"{where}: manifest lists {name!r}, which is not a plain file name inside "
                            "the model directory")


def _open_plain(dir_fd: int, where: Path, name: str) -> tuple[int, os.stat_result]:
    """An fd of the plain file ``name`` directly inside ``dir_fd`` (never through a symlink)."""
    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        raise ArtifactError(f"{where}: file {name} listed in the manifest is missing") from None
    except OSError as exc:
        raise ArtifactError(f"{where}: cannot read {name}: {exc.strerror}") from exc
    if stat.S_ISLNK(st.st_mode):
        raise ArtifactError(f"{where}: {name} is a symbolic link; a model directory holds only plain files")
    if not stat.S_ISREG(st.st_mode):
        raise ArtifactError(f"{where}: {name} is not a plain file")
    try:
        fd = os.open(name, _O_FLAGS, dir_fd=dir_fd)
    except OSError as exc:
        raise ArtifactError(f"{where}: cannot open {name}: {exc.strerror}") from exc
    st2 = os.fstat(fd)
    if not stat.S_ISREG(st2.st_mode) or (st2.st_dev, st2.st_ino) != (st.st_dev, st.st_ino):
        os.close(fd)
        raise ArtifactError(f"{where}: {name} changed while being opened")
    return fd, st2


def _read_fd(fd: int, n: int) -> bytes:
    chunks, left = [], n + 1  # one byte more than expected shows a file that grew
    while left > 0:
        block = os.read(fd, min(left, 16 * MiB))
        if not block:
            break
        chunks.append(block)
        left -= len(block)
    return b"".join(chunks)


def _dir_fd(path: Path) -> int:
    try:
        return os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise ArtifactError(f"model directory not found: {path}") from None
    except NotADirectoryError:
        raise ArtifactError(f"not a model directory (it is a file): {path}") from None
    except OSError as exc:
        raise ArtifactError(f"cannot open model directory {path}: {exc.strerror}") from exc


def read_plain(path: str | os.PathLike[str], name: str, missing: str | None = None) -> bytes:
    """The bytes of the plain file ``name`` inside directory ``path`` (size-capped, no symlinks)."""
    path = Path(path)
    check_name(name, path)
    dfd = _dir_fd(path)
    try:
        try:
            fd, st = _open_plain(dfd, path, name)
        except ArtifactError:
            if missing is not None and not _exists(dfd, name):
                raise ArtifactError(missing) from None
            raise
        try:
            if st.st_size > max_bytes(name):
                raise ArtifactError(f"{path}: {name} is {st.st_size:,} bytes, more than the "
                                    f"{max_bytes(name):,} allowed")
            data = _read_fd(fd, st.st_size)
        finally:
            os.close(fd)
    finally:
        os.close(dfd)
    if len(data) > max_bytes(name):
        raise ArtifactError(f"{path}: {name} grew while being read")
    return data


def _exists(dfd: int, name: str) -> bool:
    try:
        os.stat(name, dir_fd=dfd, follow_symlinks=False)
    except OSError:
        return False
    return True


class ModelFiles(Mapping[str, bytes]):
    """The verified bytes of a model directory's files, by name (what ``load_state`` reads)."""

    def __init__(self, path: Path, blobs: dict[str, bytes]) -> None:
        self.path = Path(path)
        self._blobs = blobs

    def __getitem__(self, name: str) -> bytes:
        return self._blobs[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._blobs)

    def __len__(self) -> int:
        return len(self._blobs)

    def __truediv__(self, name: str) -> Path:  # ``directory / NAME`` in messages and exists checks
        return self.path / name


def read_verified(path: Path, files: Mapping[str, FileEntry]) -> ModelFiles:
    """Read every file the manifest lists, each checked for name, type, size (before reading)
    and SHA-256; return them as :class:`ModelFiles`."""
    blobs = {}
    dfd = _dir_fd(path)
    try:
        for name, entry in files.items():
            check_name(name, path)
            limit = max_bytes(name)
            if entry.bytes > limit:
                raise ArtifactError(f"{path}: manifest lists {name} as {entry.bytes:,} bytes, more than "
                                    f"the {limit:,} allowed for a {Path(name).suffix} file")
            fd, st = _open_plain(dfd, path, name)
            try:
                if st.st_size != entry.bytes:
                    raise ArtifactError(f"{path}: {name} is truncated or changed ({st.st_size} bytes, "
                                        f"expected {entry.bytes})")
                data = _read_fd(fd, entry.bytes)
            finally:
                os.close(fd)
            if len(data) != entry.bytes:
                raise ArtifactError(f"{path}: {name} changed while being read")
            if hashlib.sha256(data).hexdigest() != entry.sha256:
                raise ArtifactError(f"{path}: {name} is corrupt (SHA-256 does not match the manifest)")
            blobs[name] = data
    finally:
        os.close(dfd)
    return ModelFiles(path, blobs)


def state_file(directory: Path | ModelFiles, name: str) -> bytes:
    """Bytes of a state file: from verified :class:`ModelFiles`, or read safely from a path."""
    if isinstance(directory, ModelFiles):
        if name not in directory:
            raise ArtifactError(f"{directory.path}: {name} is missing (not listed in the manifest)")
        return directory[name]
    return read_plain(directory, name, missing=f"{directory}: {name} is missing")


def has_state_file(directory: Path | ModelFiles, name: str) -> bool:
    if isinstance(directory, ModelFiles):
        return name in directory
    return os.path.lexists(Path(directory) / name)


# ------------------------------------------------------------------------------------- JSON
def _reject_constant(token: str) -> float:
    raise ValueError(f"non-finite number {token} (only finite numbers are allowed)")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:40]} is out of range")
    return value


def _depth(obj: Any) -> int:
    deepest, stack = 0, [(obj, 1)]
    while stack:
        item, d = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, d)
            if d > MAX_JSON_DEPTH:
                return d
            stack.extend((v, d + 1) for v in (item.values() if isinstance(item, dict) else item))
    return deepest


def parse_json(data: bytes, where: str) -> dict[str, Any]:
    """A JSON object from ``data``; ``where`` ("<dir>: <file>") names it in every error."""
    try:
        obj = json.loads(data.decode("utf-8"), parse_constant=_reject_constant, parse_float=_finite_float)
    except RecursionError:
        raise ArtifactError(f"{where} is corrupt (nested too deeply)") from None
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError) as exc:
        raise ArtifactError(f"{where} is corrupt ({exc.__class__.__name__}: {exc})") from exc
    if not isinstance(obj, dict):
        raise ArtifactError(f"{where} should hold a JSON object")
    if _depth(obj) > MAX_JSON_DEPTH:
        raise ArtifactError(f"{where} is nested more than {MAX_JSON_DEPTH} levels deep")
    return obj


# ------------------------------------------------------------------------------------ schemas
Finite = Annotated[float, Field(allow_inf_nan=False)]
Positive = Annotated[float, Field(gt=0, allow_inf_nan=False)]
Share = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
Count = Annotated[int, Field(ge=0)]
Text = Annotated[str, Field(max_length=MAX_TEXT)]
Scalar = Text | int | Finite | bool | None


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class FileEntry(_Strict):
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    bytes: Count


class SeriesInfo(_Strict):
    window: Annotated[int, Field(ge=1, le=MAX_WINDOW)]
    context: Annotated[int, Field(ge=1, le=4 * MAX_WINDOW)]
    n_unscored: Annotated[int, Field(ge=0, le=MAX_WINDOW)]
    aggregate: Annotated[str, Field(max_length=32)]
    lookahead: Annotated[int, Field(ge=0, le=MAX_WINDOW)] | None = None


class Manifest(BaseModel):
    """manifest.json; other top-level keys (``save(extra=...)``, e.g. metrics) are allowed."""

    model_config = ConfigDict(extra="allow", strict=True)
    format: Literal["nadkit-model"]
    format_version: Annotated[int, Field(ge=1)]
    created: Annotated[str, Field(max_length=64)]
    versions: Annotated[dict[Annotated[str, Field(max_length=64)], Annotated[str, Field(max_length=256)]],
                        Field(max_length=64)]
    detector: Annotated[str, Field(max_length=64)]
    detector_class: Annotated[str, Field(max_length=128)]
    input_kind: Literal["table", "series"]
    schema_: dict[Text, Any] = Field(alias="schema")
    training: dict[Text, Scalar] = Field(default_factory=dict, max_length=256)
    files: Annotated[dict[str, FileEntry], Field(max_length=32)]
    series: SeriesInfo | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Manifest:
        if "nadkit" not in self.versions:
            raise ValueError("versions must name the nadkit version")
        if (self.series is None) != (self.input_kind == "table"):
            raise ValueError("a series model's manifest has a 'series' section; a table model's has none")
        return self


History = Annotated[list[dict[Annotated[str, Field(max_length=128)], Scalar]], Field(max_length=1_000_000)]
Features = Annotated[int, Field(ge=1, le=MAX_FEATURES)]


class DetectorState(_Strict):
    """config.json ``state``: fitted metadata next to the weights (every key any detector saves)."""

    n_features_in: Features
    n_components: Annotated[int, Field(ge=0, le=MAX_FEATURES)] | None = None  # PCA may keep 0 (one channel)
    epochs_run: Count | None = None
    best_epoch: Annotated[int, Field(ge=-1)] | None = None
    history: History | None = None
    residual_scale: Annotated[list[Positive], Field(max_length=MAX_FEATURES)] | None = None
    residual_source: Annotated[str, Field(max_length=128)] | None = None
    train_scale: Annotated[list[Positive], Field(max_length=MAX_FEATURES)] | None = None  # series models
    data_std: Positive | None = None
    inverse_history: History | None = None
    term_scales: Annotated[list[Positive], Field(min_length=3, max_length=3)] | None = None  # Net-GAN
    cluster_thresholds: Annotated[list[Finite], Field(max_length=100_000)] | None = None
    cluster_sizes: Annotated[list[Count], Field(max_length=100_000)] | None = None
    dropped_clusters: Count | None = None
    submodels: Annotated[list[SubmodelState], Field(max_length=10_000)] | None = None
    params: dict[Text, Any] | None = None  # a clustered model's sub-model hyper-parameters

    @model_validator(mode="after")
    def _widths(self) -> DetectorState:
        for key in ("residual_scale", "train_scale"):
            values = getattr(self, key)
            if values is not None and len(values) != self.n_features_in:
                raise ValueError(f"{key} has {len(values)} values for {self.n_features_in} channels")
        if self.n_components is not None and self.n_components > self.n_features_in:
            raise ValueError(f"n_components {self.n_components} > n_features_in {self.n_features_in}")
        for sub in self.submodels or []:
            if sub.n_features_in != self.n_features_in:
                raise ValueError(f"a sub-model has n_features_in {sub.n_features_in}, the model "
                                 f"{self.n_features_in}")
        return self


class SubmodelState(DetectorState):
    params: dict[Text, Any]


DetectorState.model_rebuild()


class ConfigFile(_Strict):
    detector: Annotated[str, Field(max_length=64)]
    params: Annotated[dict[Annotated[str, Field(max_length=64)], Any], Field(max_length=256)]
    state: DetectorState


class _Params(_Strict):
    pass


class _QuantileParams(_Params):
    q: Finite


class _FPRParams(_Params):
    fpr: Finite


class _RollingParams(_FPRParams):
    window: Annotated[int, Field(ge=1, le=100_000)]


class _BestF1Params(_Params):
    beta: Positive = 1.0


class _POTParams(_Params):
    risk: Finite
    level: Finite


class _FixedParams(_Params):
    value: Finite


class _AlphaParams(_Params):
    grid: Annotated[list[Finite], Field(max_length=10_000)] | None = None
    metric: Literal["point", "range"] = "point"
    target_fpr: Finite | None = None
    legacy_grid: bool = False
    sigma_floor: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 0.0


THRESHOLD_PARAMS: dict[str, type[_Params]] = {
    "quantile": _QuantileParams, "fpr": _FPRParams, "rolling": _RollingParams, "best-f1": _BestF1Params,
    "best-accuracy": _Params, "pot": _POTParams, "fixed": _FixedParams, "alpha": _AlphaParams}
OptShare = Share | None
Channels = Annotated[list[Finite], Field(min_length=1, max_length=MAX_FEATURES)]


class NormalTail(_Strict):
    """threshold.json ``normal_tail``: the normal scores' upper tail (incident severity)."""

    n: Annotated[int, Field(ge=1)]
    scores: Annotated[list[Finite], Field(min_length=1, max_length=4096)]
    p: Annotated[list[Share], Field(min_length=1, max_length=4096)]
    excess_scale: Annotated[float, Field(ge=0, allow_inf_nan=False)]

    @model_validator(mode="after")
    def _sorted(self) -> NormalTail:
        if len(self.scores) != len(self.p):
            raise ValueError("normal_tail scores and p must have one length")
        if any(b <= a for a, b in zip(self.scores, self.scores[1:], strict=False)) or \
                any(b > a for a, b in zip(self.p, self.p[1:], strict=False)):
            raise ValueError("normal_tail scores must increase and p must not")
        return self


class ThresholdFile(_Strict):
    method: Literal[tuple(THRESHOLD_PARAMS)]  # one entry per method in nadkit.thresholds.METHODS
    params: dict[str, Any] = Field(default_factory=dict)
    value: Finite | None = None
    n_calibration: Count = 0
    n_normal: Count = 0
    data_hash: Annotated[str, Field(max_length=256)] | None = None
    gpd_shape: Finite | None = None
    gpd_scale: Finite | None = None
    initial_threshold: Finite | None = None
    validation_fbeta: OptShare = None
    validation_accuracy: OptShare = None
    alpha_up: Channels | None = None
    alpha_down: Channels | None = None
    best_f1: Annotated[list[OptShare], Field(max_length=MAX_FEATURES)] | None = None
    fpr: Annotated[list[OptShare], Field(max_length=MAX_FEATURES)] | None = None
    n_above: Count | None = None
    expected_fpr: OptShare = None
    fpr_interval: Annotated[list[Share], Field(min_length=2, max_length=2)] | None = None
    fpr_interval_level: OptShare = None
    #: autocorrelated (series) calibration scores counted as this many independent ones
    n_effective: Annotated[float, Field(ge=1, allow_inf_nan=False)] | None = None
    normal_tail: NormalTail | None = None
    sigma_min: Annotated[list[Annotated[float, Field(ge=0, allow_inf_nan=False)]],
                         Field(max_length=MAX_FEATURES)] | None = None
    flat_value: Annotated[list[Finite | None], Field(max_length=MAX_FEATURES)] | None = None
    step_fpr: OptShare = None
    held_out_fpr: OptShare = None
    #: a 'rolling' threshold's starting window: the calibration tail's last scores, in time order
    reference: Annotated[list[Finite], Field(min_length=1, max_length=100_000)] | None = None

    @model_validator(mode="after")
    def _by_method(self) -> ThresholdFile:
        try:
            THRESHOLD_PARAMS[self.method].model_validate(self.params)
        except ValidationError as exc:
            raise ValueError(f"params of a {self.method!r} threshold: {_problem(exc)}") from None
        if self.method == "alpha":
            if self.alpha_up is None or self.alpha_down is None:
                raise ValueError("an 'alpha' threshold needs alpha_up and alpha_down")
            n = len(self.alpha_up)
            if any(v is not None and len(v) != n
                   for v in (self.alpha_down, self.best_f1, self.fpr, self.sigma_min, self.flat_value)):
                raise ValueError("alpha_up, alpha_down, best_f1, fpr, sigma_min and flat_value must "
                                 "have one length")
        elif self.value is None:
            raise ValueError(f"a {self.method!r} threshold needs a finite value")
        if self.method == "pot" and None in (self.gpd_shape, self.gpd_scale, self.initial_threshold):
            raise ValueError("a 'pot' threshold needs gpd_shape, gpd_scale and initial_threshold")
        return self


Name = Annotated[str, Field(max_length=MAX_TEXT)]


class TableParams(_Strict):
    categorical: Annotated[list[Name], Field(max_length=MAX_COLUMNS)] | None = None
    log_transform: Literal["auto"] | Annotated[list[Name], Field(max_length=MAX_COLUMNS)] | bool = "auto"
    log_min_max: Finite = 1.0
    scaling: Literal["minmax", "standard"] | None = "minmax"
    max_categories: Annotated[int, Field(ge=1, le=MAX_FEATURES)] = 100
    min_frequency: Count = 1
    strict_categories: bool = False


class TableState(_Strict):
    columns_in_: Annotated[list[Name], Field(min_length=1, max_length=MAX_COLUMNS)]
    numeric_: Annotated[list[Name], Field(max_length=MAX_COLUMNS)]
    categories_: Annotated[dict[Name, Annotated[list[Name], Field(max_length=MAX_FEATURES)]],
                           Field(max_length=MAX_COLUMNS)]
    log_columns_: Annotated[list[Name], Field(max_length=MAX_COLUMNS)]
    feature_names_out_: Annotated[list[str], Field(min_length=1, max_length=MAX_FEATURES)]
    keep_: Annotated[list[bool], Field(max_length=2 * MAX_FEATURES)]
    offset_: Annotated[list[Finite], Field(max_length=MAX_FEATURES)]
    scale_: Annotated[list[Positive], Field(max_length=MAX_FEATURES)]

    @model_validator(mode="after")
    def _consistent(self) -> TableState:
        cols, num, cats = self.columns_in_, self.numeric_, self.categories_
        if len(set(cols)) != len(cols):
            raise ValueError("columns_in_ has duplicate names")
        if set(num) & set(cats) or set(num) | set(cats) != set(cols) or len(set(num)) != len(num):
            raise ValueError("numeric_ and categories_ must split columns_in_")
        if not set(self.log_columns_) <= set(num):
            raise ValueError("log_columns_ must be numeric columns")
        if sum(len(v) for v in cats.values()) > MAX_FEATURES:
            raise ValueError(f"more than {MAX_FEATURES:,} categories")
        names = num + [f"{c}={v}" for c, values in cats.items() for v in [*values, OTHER]]
        if len(self.keep_) != len(names):
            raise ValueError(f"keep_ has {len(self.keep_)} entries for {len(names)} encoded columns")
        if self.feature_names_out_ != [n for n, k in zip(names, self.keep_, strict=True) if k]:
            raise ValueError("feature_names_out_ does not match the columns, categories and keep_")
        n = len(self.feature_names_out_)
        if len(self.offset_) != n or len(self.scale_) != n:
            raise ValueError(f"offset_ and scale_ must have {n} values (one per output feature)")
        return self


class TablePreprocessorFile(_Strict):
    kind: Literal["table"] = "table"
    params: TableParams
    state: TableState


def _step(value: str | None) -> str | None:
    if value is not None:
        import pandas as pd

        try:
            pd.Timedelta(value)
        except (ValueError, TypeError, OverflowError) as exc:
            raise ValueError(f"step_ {value[:40]!r} is not a time step") from exc
    return value


class SeriesParams(_Strict):
    mask_outliers: bool = False
    max_std: Positive = 7.0
    scaling: Literal["zscore", "minmax"] = "zscore"


class SeriesState(_Strict):
    channels_: Annotated[list[Name], Field(min_length=1, max_length=MAX_FEATURES)]
    mean_: Annotated[list[Finite], Field(max_length=MAX_FEATURES)]
    scale_: Annotated[list[Positive], Field(max_length=MAX_FEATURES)]
    step_: Annotated[str, Field(max_length=64)] | None
    window_: Annotated[int, Field(ge=1, le=MAX_WINDOW)]
    n_masked_: Count

    @model_validator(mode="after")
    def _consistent(self) -> SeriesState:
        if len(set(self.channels_)) != len(self.channels_):
            raise ValueError("channels_ has duplicate names")
        if not len(self.channels_) == len(self.mean_) == len(self.scale_):
            raise ValueError("channels_, mean_ and scale_ have different lengths")
        _step(self.step_)
        return self


class SeriesPreprocessorFile(_Strict):
    kind: Literal["series"]
    params: SeriesParams
    state: SeriesState


# --------------------------------------------------------------------------------- validation
def _problem(exc: ValidationError) -> str:
    """One line from a pydantic error: the field path, the message and the offending value."""
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"])
    msg = err["msg"].removeprefix("Value error, ")
    value = err.get("input")
    shown = ""
    if isinstance(value, str | int | float | bool) or value is None:
        text = repr(value)
        shown = f" (got {text[:60]}{'…' if len(text) > 60 else ''})"
    more = f" (and {exc.error_count() - 1} more problems)" if exc.error_count() > 1 else ""
    if not loc:  # a check across fields (model validator): its message says what is wrong
        return f"{msg}{more}"
    return f"field {loc}: {msg}{shown}{more}"


def _validate(model: type[BaseModel], data: Any, where: str) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ArtifactError(f"{where}: {_problem(exc)}") from None
    except RecursionError:
        raise ArtifactError(f"{where} is nested too deeply") from None


def validate_manifest(data: dict[str, Any], where: str = "manifest.json") -> Manifest:
    return _validate(Manifest, data, where)


def validate_config(data: dict[str, Any], where: str = "config.json") -> ConfigFile:
    return _validate(ConfigFile, data, where)


def validate_threshold(data: dict[str, Any], where: str = "threshold.json") -> ThresholdFile:
    return _validate(ThresholdFile, data, where)


def validate_preprocessor(data: dict[str, Any], where: str = "preprocessor.json") -> BaseModel:
    kind = data.get("kind", "table") if isinstance(data, dict) else None
    models = {"table": TablePreprocessorFile, "series": SeriesPreprocessorFile}
    if kind not in models:
        raise ArtifactError(f"{where}: unknown preprocessor kind {kind!r}")
    return _validate(models[kind], data, where)


@functools.cache
def _param_adapters(cls: type) -> dict[str, tuple[TypeAdapter, Any]]:
    hints = typing.get_type_hints(cls.__init__)
    sig = inspect.signature(cls.__init__)
    return {k: (TypeAdapter(hints[k]), p.default) for k, p in sig.parameters.items()
            if k != "self" and k in hints}


def validate_params(cls: type, params: dict[str, Any], where: str = "config.json") -> dict[str, Any]:
    """Hyper-parameters for ``cls`` from JSON: known names, each of its annotated type (strict:
    no "5" for 5, no true for 1); lists become tuples where the default is a tuple."""
    adapters = _param_adapters(cls)
    out = {}
    for key, value in params.items():
        if key not in adapters:
            raise ArtifactError(f"{where}: unknown parameter {key!r} for {cls.__name__}")
        adapter, default = adapters[key]
        if isinstance(value, list) and isinstance(default, tuple):
            value = tuple(value)
        try:
            adapter.validate_python(value, strict=True)
        except ValidationError as exc:
            problem = _problem(exc)
            shown = repr(value)
            raise ArtifactError(f"{where}: parameter {key}: {problem.removeprefix('field ')} "
                                f"(got {shown[:60]}{'…' if len(shown) > 60 else ''})") from None
        out[key] = value
    return out


# ----------------------------------------------------------------------------------- tensors
def _finite(value: Any) -> tuple[bool, bool, bool]:
    """(numeric dtype, floating dtype, all finite) of a numpy array or torch tensor."""
    if isinstance(value, np.ndarray):
        floating = value.dtype.kind == "f"
        return value.dtype.kind in "fiub", floating, not floating or bool(np.isfinite(value).all())
    import torch

    floating = value.dtype.is_floating_point
    numeric = floating or value.dtype in (torch.bool, torch.uint8, torch.int8, torch.int16,
                                          torch.int32, torch.int64)
    return numeric, floating, not floating or bool(torch.isfinite(value).all())


def check_arrays(arrays: Mapping[str, Any], name: str) -> None:
    """Every tensor/array numeric and finite (NaN/inf weights would score NaN silently)."""
    for key, value in arrays.items():
        numeric, _, finite = _finite(value)
        if not numeric:
            raise ArtifactError(f"{name}: tensor {key!r} has unsupported dtype {value.dtype}")
        if not finite:
            raise ArtifactError(f"{name}: tensor {key!r} holds NaN or infinite values")


def load_safetensors(data: bytes, name: str, framework: Literal["torch", "numpy"] = "torch") -> dict[str, Any]:
    """Tensors from safetensors bytes, each checked numeric and finite; any parse failure is an
    :class:`ArtifactError` naming the file."""
    try:
        if framework == "torch":
            from safetensors.torch import load
        else:
            from safetensors.numpy import load
        tensors = load(bytes(data))
    except Exception as exc:  # SafetensorError, RuntimeError, ValueError, OverflowError ...
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ArtifactError(f"cannot load {name}: not a valid safetensors file ({first})") from exc
    check_arrays(tensors, name)
    return tensors


def jsonable(params: dict[str, Any]) -> dict[str, Any]:
    """Hyper-parameters as JSON values (tuples → lists, numpy scalars → Python)."""
    out = {}
    for k, v in params.items():
        if isinstance(v, tuple):
            v = list(v)
        elif isinstance(v, np.generic):
            v = v.item()
        out[k] = v
    return out
