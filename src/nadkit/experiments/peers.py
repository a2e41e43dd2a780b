"""Peer detectors for the series benchmark (the ``peers`` extra), behind one small adapter,
and TSB-AD's VUS-PR / VUS-ROC.

* PyOD: ``pyod-pca`` (``n_components=0.999``: PyOD's default keeps zero-variance directions and
  divides by their explained variance, so every score is inf on series with constant
  channels), ``pyod-iforest``, ``pyod-ae`` (``batch_size=256``); point-wise on each step.
* TSB-AD 1.5 (``pip install --no-deps tsb-ad==1.5``; it pins ``numpy<2`` but runs on
  numpy 2 with two shims applied here): ``tsb-cnn``, ``tsb-lstmad``, ``tsb-usad``,
  ``tsb-omnianomaly``, ``tsb-pca`` with TSB-AD's tuned multivariate settings
  (``TSB_AD.HP_list.Optimal_Multi_algo_HP_dict``), fitted on the training part and scoring the
  test part (TSB-AD's semi-supervised protocol; its PCA is fitted on the training part too).
  When the training part is too short for a window (TSB-AD holds out the last 20 % of it for
  early stopping and needs a window there), the window is shortened to fit; the row's
  ``params`` record the window used.

Every adapter: ``fit(X)`` on the standardised training part, ``score(X)`` → one score per step
(higher = more anomalous), ``context`` (steps of history the score uses: the benchmark
prepends that many training steps to the test part), ``params`` (what was used).
"""

from __future__ import annotations

import contextlib
import inspect
import os
import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from nadkit.errors import DataError

TSB_HINT = ("TSB-AD is not installed: `pip install --no-deps tsb-ad==1.5` plus the peers extra "
            "(`pip install \"nadkit[peers]\"`)")


def has_tsb() -> bool:
    """True when TSB-AD can be imported."""
    import importlib.util

    return importlib.util.find_spec("TSB_AD") is not None


@contextlib.contextmanager
def _quiet():
    """TSB-AD prints GPU notices and tqdm bars on every call: send them to /dev/null."""
    with open(os.devnull, "w") as null, contextlib.redirect_stdout(null), contextlib.redirect_stderr(null):
        yield


class _NumpyCompat(types.ModuleType):
    """numpy with the aliases NumPy 2 removed that TSB-AD 1.5 still uses (``np.Inf``)."""

    Inf = np.inf
    NaN = np.nan

    def __getattr__(self, name: str) -> Any:
        return getattr(np, name)


def _tsb():
    """Import TSB-AD's pieces we use, with the numpy-2 shims in place."""
    if not has_tsb():
        raise DataError(TSB_HINT)
    with _quiet():
        import TSB_AD.models.feature as feature
        import TSB_AD.utils.torch_utility as torch_utility
        from TSB_AD.HP_list import Optimal_Multi_algo_HP_dict
    torch_utility.np = _NumpyCompat("numpy")   # EarlyStoppingTorch uses np.Inf
    feature.np = _NumpyCompat("numpy")         # np.NaN in its feature helpers
    return Optimal_Multi_algo_HP_dict


def _tsb_class(module: str, cls: str) -> type:
    _tsb()
    with _quiet():
        mod = __import__(f"TSB_AD.models.{module}", fromlist=[cls])
    klass = getattr(mod, cls)
    if cls == "PCA":   # scikit-learn ≥ 1.6's check_is_fitted needs estimator tags
        from sklearn.base import BaseEstimator

        klass = type("TSBPCA", (klass, BaseEstimator), {})
    return klass


@dataclass
class PeerSpec:
    """How to build one peer: its library, defaults and the class (imported lazily)."""

    library: str
    load: Callable[[], type]
    defaults: Callable[[], dict[str, Any]]
    window_key: str | None = None       # the window parameter (TSB-AD), None for point-wise
    seeded: bool = True
    holdout: float = 0.0                # share of the training part TSB-AD holds out


def _pyod(module: str, cls: str) -> Callable[[], type]:
    def load():
        mod = __import__(f"pyod.models.{module}", fromlist=[cls])
        return getattr(mod, cls)
    return load


def _tsb_hp(key: str, **run_defaults: Any) -> Callable[[], dict[str, Any]]:
    """TSB-AD's tuned setting for ``key`` over the defaults its ``run_<key>`` wrapper passes."""
    return lambda: {**run_defaults, **_tsb()[key]}


PEERS: dict[str, PeerSpec] = {
    "pyod-pca": PeerSpec("PyOD", _pyod("pca", "PCA"), lambda: {"n_components": 0.999}, seeded=False),
    "pyod-iforest": PeerSpec("PyOD", _pyod("iforest", "IForest"), dict),
    "pyod-ae": PeerSpec("PyOD", _pyod("auto_encoder", "AutoEncoder"),
                        lambda: {"batch_size": 256, "verbose": 0}),
    "tsb-cnn": PeerSpec("TSB-AD", lambda: _tsb_class("CNN", "CNN"),
                        _tsb_hp("CNN", batch_size=128, lr=0.0008), "window_size", holdout=0.2),
    "tsb-lstmad": PeerSpec("TSB-AD", lambda: _tsb_class("LSTMAD", "LSTMAD"),
                           _tsb_hp("LSTMAD", pred_len=1, batch_size=128), "window_size", holdout=0.2),
    "tsb-usad": PeerSpec("TSB-AD", lambda: _tsb_class("USAD", "USAD"), _tsb_hp("USAD"), "win_size",
                         holdout=0.2),
    "tsb-omnianomaly": PeerSpec("TSB-AD", lambda: _tsb_class("OmniAnomaly", "OmniAnomaly"),
                                _tsb_hp("OmniAnomaly"), "win_size", holdout=0.2),
    "tsb-pca": PeerSpec("TSB-AD", lambda: _tsb_class("PCA", "PCA"),
                        _tsb_hp("PCA", slidingWindow=100), "slidingWindow", seeded=False),
}


def is_peer(name: str) -> bool:
    return name.lower() in PEERS


class Peer:
    """One peer detector with nadkit's series-benchmark interface (see the module docs)."""

    def __init__(self, name: str, seed: int = 0, **params: Any) -> None:
        key = name.lower()
        if key not in PEERS:
            raise DataError(f"unknown peer {name!r}; choose from {', '.join(PEERS)}")
        self.name, self.spec, self.seed = key, PEERS[key], seed
        self.cls = self.spec.load()
        valid = [p for p in inspect.signature(self.cls.__init__).parameters if p not in ("self", "feats")]
        unknown = sorted(set(params) - set(valid))
        if unknown:
            raise DataError(f"unknown parameters for {key}: {unknown}; valid: {valid}")
        self.params: dict[str, Any] = {**self.spec.defaults(), **params}
        if self.spec.library == "PyOD" and self.spec.seeded:
            self.params.setdefault("random_state", seed)
        self.context = 1

    def _window(self, n_train: int) -> None:
        key = self.spec.window_key
        if key is None:
            return
        w = int(self.params[key])
        room = int(self.spec.holdout * n_train) - 2 if self.spec.holdout else n_train - 1
        if room < 2:
            raise DataError(f"{self.name}: the training part has {n_train} steps, too short for a window")
        if w > room:
            self.params[key] = room
        self.context = int(self.params[key])

    def fit(self, X: np.ndarray) -> Peer:
        import torch

        X = np.asarray(X, dtype=np.float64 if self.spec.library == "PyOD" else np.float32)
        self._window(len(X))
        kw = dict(self.params)
        if self.spec.library == "TSB-AD" and self.spec.window_key != "slidingWindow":
            kw["feats"] = X.shape[1]
        torch.manual_seed(self.seed)
        np.random.seed(self.seed)
        with _quiet():
            self.model_ = self.cls(**kw)
            self.model_.fit(X)
        return self

    def score(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64 if self.spec.library == "PyOD" else np.float32)
        with _quiet():
            s = np.asarray(self.model_.decision_function(X), dtype=np.float64).ravel()
        if len(s) != len(X):
            raise DataError(f"{self.name} returned {len(s)} scores for {len(X)} steps")
        return np.nan_to_num(s, nan=np.nan, posinf=np.finfo(np.float64).max / 1e3,
                             neginf=-np.finfo(np.float64).max / 1e3)


def make_peer(name: str, seed: int = 0, **params: Any) -> Peer:
    """Build a peer adapter by name (see ``PEERS``)."""
    return Peer(name, seed=seed, **params)


# ------------------------------------------------------------------------------------ VUS
def vus_window(x: np.ndarray) -> int:
    """TSB-AD's sliding window for VUS: the dominant period of the first channel by its
    autocorrelation (``find_length_rank(rank=1)``; 125 when there is none)."""
    _tsb()
    from TSB_AD.utils.slidingWindows import find_length_rank

    x = np.asarray(x, dtype=np.float64)
    x = x[:, 0] if x.ndim == 2 else x
    if not np.isfinite(x).all() or np.std(x) == 0:
        return 125
    with _quiet(), np.errstate(all="ignore"):
        return int(find_length_rank(x.reshape(-1, 1), rank=1))


def vus(y: np.ndarray, scores: np.ndarray, window: int) -> dict[str, float]:
    """VUS-PR and VUS-ROC (Paparrizos et al. 2022) from TSB-AD's maintained implementation
    (``generate_curve``, the code behind ``get_metrics``; version ``opt``, 250 thresholds)."""
    _tsb()
    from TSB_AD.evaluation.basic_metrics import generate_curve

    y = np.asarray(y).astype(int)
    s = np.asarray(scores, dtype=np.float64)
    if not 0 < y.sum() < len(y):
        return {"vus_pr": float("nan"), "vus_roc": float("nan")}
    with _quiet(), np.errstate(all="ignore"):
        *_, vus_roc, vus_pr = generate_curve(y, s, int(window), "opt", 250)
    return {"vus_pr": float(vus_pr), "vus_roc": float(vus_roc)}
