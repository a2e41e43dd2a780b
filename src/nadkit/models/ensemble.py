"""Rank-normalised ensemble: members' scores as tail probabilities among held-out normals."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import save_file

from nadkit.artifact_schema import ModelFiles, load_safetensors, read_plain, state_file
from nadkit.errors import ArtifactError, DataError
from nadkit.models.base import MIN_HELD_OUT, BaseDetector
from nadkit.models.registry import make_detector, names_of_kind
from nadkit.thresholds import excess_scale

CALIBRATION_FILE = "calibration.safetensors"
#: the most members an ensemble may have
MAX_MEMBERS = 8


def member_file(i: int, name: str) -> str:
    """The name member ``i``'s state file ``name`` has inside the model directory."""
    return f"m{i}-{name}"


def tail_scores(calibration: np.ndarray, s: np.ndarray) -> np.ndarray:
    """−log of the empirical tail probability ``(1 + #{c ≥ s}) / (n + 1)`` of each score ``s``
    among the sorted calibration scores ``c``; higher = more anomalous.

    Beyond the largest calibration score the tail is extrapolated as exponential (the
    peaks-over-threshold fit of the top 1 %, at least 10 scores): ``log(n + 1) + (s − c_max) /
    scale`` with ``scale`` the mean excess of the top scores, so rows beyond every calibration
    score keep their order instead of tying at the ceiling (which would make low-FPR ranking
    among them a coin toss).

    >>> c = np.arange(100.0)
    >>> bool(np.all(np.diff(tail_scores(c, np.array([50.0, 99.0, 100.0, 200.0]))) > 0))
    True
    """
    n = len(calibration)
    ge = n - np.searchsorted(calibration, s, side="left")
    out = -np.log((ge + 1.0) / (n + 1.0))
    beyond = s > calibration[-1]
    if beyond.any():
        scale = excess_scale(calibration)
        scale = scale if scale > 0 else max(abs(float(calibration[-1])), 1.0) * 1e-6
        out[beyond] = np.log(n + 1.0) + (s[beyond] - calibration[-1]) / scale
    return out


class Ensemble(BaseDetector):
    """Rank-normalised ensemble of registered table detectors.

    A seeded sample of ``calibration_rows`` training rows (at most a fifth of them) is held
    out; every member (default hyper-parameters, this ``random_state``) fits on the other rows
    and scores the held-out ones. A row's score is the mean over members of −log of its
    empirical tail probability among that member's held-out scores, so every member speaks on
    the same scale (−log p) and none dominates by its units. The default threshold is
    calibrated on the held-out rows' leave-one-out ensemble scores (each row's tail
    probability among the *other* held-out rows: conformal, out-of-sample). Member states are
    saved in their own formats (safetensors, skops) as ``m<i>-<file>``, the sorted held-out
    scores in ``calibration.safetensors``.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(5000, 3))
    >>> det = Ensemble(members=("knn", "iforest"), calibration_rows=1000).fit(X)
    >>> bool(det.score([[6.0, 6.0, 6.0]])[0] > np.quantile(det.score(X), 0.99))
    True
    """

    def __init__(self, members: tuple[str, ...] = ("ae", "knn", "ocsvm", "iforest"), calibration_rows: int = 5000,
                 random_state: int = 0) -> None:
        self._init_params(locals())

    def _check_params(self) -> tuple[str, ...]:
        names = self.members
        if not isinstance(names, tuple | list) or not names or not all(isinstance(n, str) for n in names):
            raise DataError(f"members must be a non-empty tuple of detector names, got {names!r}")
        names = tuple(n.lower() for n in names)
        table = [n for n in names_of_kind("table") if n != "ensemble"]
        bad = [n for n in names if n not in table]
        if bad:
            raise DataError(f"ensemble members {bad} are not table detectors; choose from {', '.join(table)}")
        if len(set(names)) != len(names) or len(names) > MAX_MEMBERS:
            raise DataError(f"ensemble members must be distinct and at most {MAX_MEMBERS}, got {list(names)}")
        c = self.calibration_rows
        if isinstance(c, bool) or not isinstance(c, int | np.integer) or c < MIN_HELD_OUT:
            raise DataError(f"calibration_rows must be an integer ≥ {MIN_HELD_OUT}, got {c!r}")
        return names

    def _make_members(self, names: tuple[str, ...]) -> list[BaseDetector]:
        out = []
        for n in names:
            det = make_detector(n)
            if "random_state" in det.get_params():
                det.set_params(random_state=self.random_state)
            out.append(det)
        return out

    def _fit(self, X: np.ndarray) -> np.ndarray:
        names = self._check_params()
        n_cal = min(int(self.calibration_rows), len(X) // 5)
        if n_cal < MIN_HELD_OUT:
            raise DataError(f"an ensemble needs at least {5 * MIN_HELD_OUT} training rows "
                            f"(a fifth is held out to calibrate the members), got {len(X)}")
        perm = np.random.default_rng(self.random_state).permutation(len(X))
        X_cal, X_fit = X[perm[:n_cal]], X[perm[n_cal:]]  # (permuted order, as the bench split)
        self.members_ = self._make_members(names)
        raw = []
        for det in self.members_:
            det.n_features_in_ = X.shape[1]
            det._fit(X_fit)  # members' own thresholds are not needed (not calibrated: cheaper)
            raw.append(np.asarray(det._score(X_cal), dtype=np.float64))
        self.calibration_ = [np.sort(r) for r in raw]
        # leave-one-out: a held-out row's tail among the other held-out rows (out-of-sample)
        n = len(X_cal)
        loo = [-np.log((n - np.searchsorted(c, r, side="left")) / n)
               for c, r in zip(self.calibration_, raw, strict=True)]
        return np.mean(loo, axis=0)

    def member_scores(self, X: np.ndarray) -> np.ndarray:
        """Each member's −log tail probability of each row, shape (n, members)."""
        return np.column_stack([tail_scores(c, np.asarray(m._score(X), dtype=np.float64))
                                for m, c in zip(self.members_, self.calibration_, strict=True)])

    def _score(self, X: np.ndarray) -> np.ndarray:
        return self.member_scores(X).mean(axis=1)

    # --------------------------------------------------------------------------- persistence
    required_files = frozenset({CALIBRATION_FILE})

    def state_files(self) -> tuple[frozenset[str], frozenset[str]]:
        """The calibration file; optional: ``m<i>-<file>`` for ``i`` < :data:`MAX_MEMBERS` and
        any state file of one of its members' kinds (only the members' classes are imported,
        so an ensemble of knn and ocsvm never imports torch; a file of a member index it does
        not have is refused by :meth:`load_state`, naming it)."""
        own = frozenset().union(*(f for det in self._make_members(self._check_params())
                                  for f in det.state_files()))
        return self.required_files, frozenset(member_file(i, f) for i in range(MAX_MEMBERS) for f in own)

    def save_state(self, directory: Path) -> dict[str, Any]:
        from nadkit.artifact_schema import jsonable as _jsonable

        directory = Path(directory)
        subs = []
        for i, det in enumerate(self.members_):
            tmp = Path(tempfile.mkdtemp(dir=directory, prefix=f".m{i}-"))
            try:
                meta = det.save_state(tmp)
                for f in sorted(tmp.iterdir()):
                    os.replace(f, directory / member_file(i, f.name))
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
            subs.append(dict(meta, params=_jsonable(det.get_params())))
        save_file({f"member{i}": np.ascontiguousarray(c) for i, c in enumerate(self.calibration_)},
                  str(directory / CALIBRATION_FILE))
        return {"n_features_in": self.n_features_in_, "submodels": subs}

    def load_state(self, directory: Path | ModelFiles, meta: dict[str, Any]) -> None:
        names = self._check_params()
        d, subs = int(meta["n_features_in"]), meta.get("submodels") or []
        if len(subs) != len(names):
            raise ArtifactError(f"config.json state lists {len(subs)} members, members= names {len(names)}")
        arrays = load_safetensors(state_file(directory, CALIBRATION_FILE), CALIBRATION_FILE, framework="numpy")
        want = {f"member{i}" for i in range(len(names))}
        if set(arrays) != want or any(a.ndim != 1 or len(a) < MIN_HELD_OUT for a in arrays.values()):
            got = {k: a.shape for k, a in arrays.items()}
            raise ArtifactError(f"{CALIBRATION_FILE}: tensors {got}; expected 1-D member0…"
                                f"member{len(names) - 1} of ≥ {MIN_HELD_OUT} scores each")
        cal = [np.sort(arrays[f"member{i}"].astype(np.float64)) for i in range(len(names))]
        if len({len(c) for c in cal}) != 1:
            raise ArtifactError(f"{CALIBRATION_FILE}: members hold different numbers of calibration scores")
        present = _file_names(directory)
        stray = sorted(f for f in present if f.startswith("m") and "-" in f
                       and not any(f.startswith(member_file(i, "")) for i in range(len(names))))
        if stray:
            raise ArtifactError(f"files {stray} belong to no member of this {len(names)}-member ensemble")
        members = self._make_members(names)
        for i, (det, sub) in enumerate(zip(members, subs, strict=True)):
            expected = {k: v for k, v in det.get_params().items()}
            if _plain(sub.get("params", {})) != _plain(expected):
                raise ArtifactError(f"config.json: member {i} ({names[i]}) parameters {sub.get('params')} "
                                    f"are not the ones this ensemble builds ({expected})")
            state = {k: v for k, v in sub.items() if k != "params"}
            try:
                det.load_state(_member_files(directory, i, present), state)
            except (ArtifactError, DataError) as exc:
                raise ArtifactError(f"member {i} ({names[i]}, files {member_file(i, '*')}): {exc}") from exc
            if det.n_features_in_ != d:
                raise ArtifactError(f"member {i} ({names[i]}) takes {det.n_features_in_} features, the ensemble {d}")
        self.members_, self.calibration_, self.n_features_in_ = members, cal, d


def _plain(params: dict[str, Any]) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in params.items()}


def _file_names(directory: Path | ModelFiles) -> list[str]:
    if isinstance(directory, ModelFiles):
        return list(directory)
    return [p.name for p in Path(directory).iterdir()]


def _member_files(directory: Path | ModelFiles, i: int, present: list[str]) -> ModelFiles:
    """Member ``i``'s state files under their own names (what its ``load_state`` reads)."""
    prefix = member_file(i, "")
    names = [f for f in present if f.startswith(prefix)]
    if isinstance(directory, ModelFiles):
        blobs = {f[len(prefix):]: directory[f] for f in names}
        return ModelFiles(directory.path, blobs)
    return ModelFiles(Path(directory), {f[len(prefix):]: read_plain(directory, f) for f in names})
