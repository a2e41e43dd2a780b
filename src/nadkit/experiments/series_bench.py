"""Series benchmark: nadkit series models and peers on every series of a dataset, one table.

Protocol (the same for every model; no choice is made on test labels):

* Series and their train → test parts: SMD, one series per machine: train file → test file.
  SKAB, one per experiment file: the first 400 steps train (SKAB's own benchmark
  convention), the rest test. NAB, one per file: the first 15 % train (NAB's probationary
  period), the rest test. A CSV/Parquet series with ``--labels``: the first ``train_share``
  (default 30 %) train. A series whose test part has no labelled anomaly is skipped (said in
  the progress lines and in ``metrics.json``).
* Every model sees the channels standardised with the training part's statistics
  (``SeriesPreprocessor``; Net-GAN: min-max, its ``input_scaling``). The test part directly
  follows the training part in time, so the last ``context - 1`` training steps are prepended
  as history and every test step gets a score.
* Threshold metrics (range-F1, event detection rate): the model's default flags: for nadkit
  models its default threshold (a 1 % target FPR over the last 250 scores of the stream,
  starting from the held-out tail of the training part, or the training part when it is too
  short for a tail), for peers the 99th percentile of their scores on the training part.
* VUS-PR / VUS-ROC from TSB-AD (``nadkit.experiments.peers.vus``; its sliding window from the
  test part's first channel, as TSB-AD does); AUPRC/AUROC/range-F1/event rate from
  ``nadkit.metrics.series_report``; both through ``nadkit.evaluation.series_metrics``.
* nadkit models run once per seed (``random_state``); the means over series are averaged per
  seed, then reported as mean ± sd over seeds. Peers run once (seed = the first seed).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nadkit.data.series import SeriesData, SeriesPreprocessor
from nadkit.errors import DataError

#: ``fpr``: the share of the test part's scored normal steps flagged at the model's own
#: threshold (a 1 % target for every entrant), next to the threshold-free metrics
METRICS = ("vus_pr", "vus_roc", "auprc", "auroc", "range_f1", "event_detection_rate", "fpr",
           "fit_s", "score_s")
COLUMNS = ("model", *METRICS)
DEFAULT_MODELS = ("dcvae", "seq2seq", "netgan", "pyod-pca", "pyod-iforest")
SKAB_TRAIN_STEPS = 400
NAB_TRAIN_SHARE = 0.15
FILE_TRAIN_SHARE = 0.3


@dataclass
class Case:
    """One series of the benchmark; ``load()`` → (train part, labelled test part)."""

    name: str
    group: str
    load: Callable[[], tuple[SeriesData, SeriesData]]


def _prefix(data: SeriesData, steps: int) -> tuple[SeriesData, SeriesData]:
    if not 0 < steps < len(data):
        raise DataError(f"{data.name}: a training prefix of {steps} steps leaves no test part "
                        f"({len(data)} steps)")
    return data.slice(0, steps, name=f"{data.name} (train)"), data.slice(steps, None, name=f"{data.name} (test)")


def series_cases(dataset: str, labels: str | None = None, train_share: float | None = None,
                 ) -> tuple[list[Case], str]:
    """The benchmark's series for ``dataset`` (smd, skab, nab or a CSV/Parquet file) and the
    protocol in words."""
    from nadkit.data import load_dataset
    from nadkit.data.download import data_dir
    from nadkit.data.series.loaders import NAB_FILES, SKAB_FILES, SMD_MACHINES

    if train_share is not None and not 0 < train_share < 1:
        raise DataError(f"--train-share must be in (0, 1), got {train_share}")
    name = dataset.lower()
    root = data_dir()
    if labels is not None and name in ("smd", "skab", "nab"):
        raise DataError(f"{dataset} has its own labels; --labels is for a CSV/Parquet series")

    def share_split(spec: str, share: float):
        def load():
            d = load_dataset(name, spec)
            return _prefix(d, round(share * len(d)))
        return load

    if name == "smd":
        have = [m for m in SMD_MACHINES if any((root / "smd" / "train" / f"{m}{s}").is_file()
                                               for s in (".txt", ".txt.gz"))]
        if not have:
            raise DataError(f"no SMD machines found under {root / 'smd' / 'train'}")

        if train_share is not None:
            raise DataError("SMD has separate train files; --train-share is for SKAB, NAB and files")

        def smd(m):
            return lambda: (load_dataset("smd", m), load_dataset("smd", f"{m}:test"))

        return ([Case(m, m, smd(m)) for m in have],
                "SMD: per machine, train file → test file")
    if name == "skab":
        files = [f for f in SKAB_FILES if f != "anomaly-free"]

        def skab(f):
            def load():
                d = load_dataset("skab", f)
                steps = round(train_share * len(d)) if train_share is not None else SKAB_TRAIN_STEPS
                return _prefix(d, steps)
            return load

        rule = f"the first {train_share:.0%}" if train_share is not None else f"the first {SKAB_TRAIN_STEPS} steps"
        return ([Case(f, f.split("/")[0], skab(f)) for f in files],
                f"SKAB: per experiment file, {rule} train, the rest test")
    if name == "nab":
        share = NAB_TRAIN_SHARE if train_share is None else train_share
        return ([Case(f.split("/")[1], f.split("/")[0], share_split(f, share)) for f in NAB_FILES],
                f"NAB: per file, the first {share:.0%} train (probationary period), the rest test")
    path = Path(dataset)
    if not path.is_file():
        from nadkit.data.loaders import DATASETS

        info = DATASETS.get(name)
        if info is not None:
            raise DataError(f"{dataset} is a {info.kind} dataset without a series benchmark; "
                            "series benches: smd, skab, nab or a CSV/Parquet file with --labels")
        raise DataError(f"data not found: {dataset} (give smd, skab, nab, a registered dataset or a "
                        "CSV/Parquet series file)")
    if labels is None:
        raise DataError(f"{dataset}: a series benchmark needs labels: pass --labels FILE or --labels COLUMN")
    share = FILE_TRAIN_SHARE if train_share is None else train_share

    def from_file():
        from nadkit.experiments.protocols import resolve_series

        is_file = Path(labels).is_file()
        d = resolve_series(str(path), label_col=None if is_file else labels,
                           labels=labels if is_file else None)
        return _prefix(d, round(share * len(d)))

    return [Case(path.name, path.name, from_file)], f"{path.name}: the first {share:.0%} train, the rest test"


def select_cases(cases: list[Case], series: Sequence[str] | None) -> list[Case]:
    """Only the named series (by name, or a whole group such as ``valve1``)."""
    if not series:
        return cases
    names = {c.name for c in cases} | {c.group for c in cases}
    unknown = [s for s in series if s not in names]
    if unknown:
        shown = ", ".join(c.name for c in cases[:8]) + (" …" if len(cases) > 8 else "")
        raise DataError(f"unknown series {unknown}; this dataset has {shown}")
    return [c for c in cases if c.name in series or c.group in series]


# ------------------------------------------------------------------------------------ models
class _Entrant:
    """A nadkit detector or a peer, built per series and seed with one interface."""

    def __init__(self, name: str, params: dict[str, Any]) -> None:
        from nadkit.experiments.peers import is_peer, make_peer
        from nadkit.models import make_detector

        self.name, self.params = name, params
        self.peer = is_peer(name)
        if self.peer:
            probe = make_peer(name, **params)
            self.seeded, self.library, self.scaling = False, probe.spec.library, "zscore"
        else:
            det = make_detector(name, **params)
            self.seeded = "random_state" in det.get_params()
            self.library, self.scaling = "nadkit", det.input_scaling
            self.window = getattr(det, "window", 1)

    def build(self, seed: int):
        from nadkit.experiments.peers import make_peer
        from nadkit.models import make_detector

        if self.peer:
            return make_peer(self.name, seed=seed, **self.params)
        kw = dict(self.params)
        if self.seeded:
            kw.setdefault("random_state", seed)
        return make_detector(self.name, **kw)


def _run_one(model, X_train: np.ndarray, X_test: np.ndarray) -> dict[str, Any]:
    """Fit on the training part, score the test part with history; scores and threshold."""
    t = time.perf_counter()
    model.fit(X_train)
    fit_s = time.perf_counter() - t
    context = getattr(model, "context_", None) or getattr(model, "context", 1)
    h = min(int(context) - 1, len(X_train))
    X = np.concatenate([X_train[len(X_train) - h:], X_test]) if h > 0 else X_test
    t = time.perf_counter()
    scores = np.asarray(model.score(X), dtype=np.float64)[h:]
    score_s = time.perf_counter() - t
    if hasattr(model, "threshold_"):   # nadkit: its default threshold (rolling, from the held-out tail)
        thr = float(model.threshold_.value_)
        pred = np.asarray(model.threshold_.predict(scores), dtype=np.int8)
        source = getattr(model, "calibration_source_", "training normals")
    else:
        train_scores = model.score(X_train)
        thr = float(np.nanquantile(train_scores, 0.99))
        pred = None
        source = "training part (in-sample)"
    return {"scores": scores, "threshold": thr, "pred": pred, "threshold_set_on": source, "fit_s": fit_s,
            "score_s": score_s}


def _metrics(y: np.ndarray, scores: np.ndarray, threshold: float, vus_window: int | None,
             pred: np.ndarray | None = None) -> dict[str, Any]:
    from nadkit.evaluation import series_metrics

    s = np.where(np.isinf(scores), np.sign(scores) * np.finfo(np.float64).max / 1e3, scores)
    r = series_metrics(y, s, threshold=None if pred is not None else threshold, pred=pred, vus_window=vus_window)
    return {k: r.get(k) for k in ("auprc", "auroc", "range_f1", "event_detection_rate", "fpr", "n_ignored",
                                  "vus_pr", "vus_roc")}


def _clean(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_clean(x) for x in v]
    if isinstance(v, float | np.floating):
        return None if not np.isfinite(v) else float(v)
    if isinstance(v, np.integer):
        return int(v)
    return v


def _mean_sd(values: Sequence[float | None]) -> tuple[float | None, float | None]:
    vals = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
    ok = vals[np.isfinite(vals)]
    if not len(ok):
        return None, None
    return float(ok.mean()), (float(ok.std(ddof=1)) if len(ok) > 1 else None)


def summarise(records: list[dict[str, Any]], models: Sequence[str]) -> dict[str, Any]:
    """Per (series, model): mean over seeds; per model: the mean over series of each seed,
    then mean ± sd over seeds; per (group, model): mean over the group's series."""
    per_series, means, groups = [], [], {}
    series = list(dict.fromkeys(r["series"] for r in records))
    for name in models:
        mine = [r for r in records if r["model"] == name]
        if not mine:
            continue
        seeds = sorted({r["seed"] for r in mine})
        for s in series:
            rs = [r for r in mine if r["series"] == s]
            if rs:
                row = {"series": s, "group": rs[0]["group"], "model": name, "seeds": [r["seed"] for r in rs]}
                for m in METRICS:
                    row[m], row[f"{m}_sd"] = _mean_sd([r.get(m) for r in rs])
                per_series.append(row)
        row = {"model": name, "n_series": len({r["series"] for r in mine}), "seeds": seeds}
        for m in METRICS:
            per_seed = [_mean_sd([r.get(m) for r in mine if r["seed"] == sd])[0] for sd in seeds]
            row[m], row[f"{m}_sd"] = _mean_sd(per_seed)
        means.append(row)
        for g in dict.fromkeys(r["group"] for r in mine):
            rs = [r for r in per_series if r["model"] == name and r["group"] == g]
            groups.setdefault(g, {})[name] = {m: _mean_sd([r[m] for r in rs])[0] for m in METRICS}
    means.sort(key=lambda r: -np.inf if r.get("vus_pr") is None and r.get("auprc") is None
               else -(r.get("vus_pr") if r.get("vus_pr") is not None else r["auprc"]))
    return {"per_series": per_series, "mean": means, "groups": groups}


def run_series_bench(dataset: str, models: Sequence[str] | None, out_dir: str | Path,
                     params: dict[str, dict[str, Any]] | None = None, seeds: Sequence[int] = (0,),
                     series: Sequence[str] | None = None, labels: str | None = None,
                     train_share: float | None = None,
                     on_progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Train each model on each series' training part, score its test part, write
    ``metrics.json``, ``leaderboard.json`` and ``leaderboard.md`` under ``out_dir``; returns
    the summary (``mean`` rows per model, ``per_series``, ``groups``)."""
    from nadkit.experiments.leaderboard import leaderboard_markdown
    from nadkit.experiments.peers import TSB_HINT, has_tsb, vus_window
    from nadkit.io import atomic_path, write_json

    say = on_progress or (lambda _m: None)
    models = list(models or DEFAULT_MODELS)
    seeds = list(seeds) or [0]
    params = params or {}
    unknown_params = sorted(set(params) - set(models))
    if unknown_params:
        raise DataError(f"--param names models not in --models: {unknown_params}")
    entrants = [_Entrant(m, params.get(m, {})) for m in models]
    cases, protocol = series_cases(dataset, labels=labels, train_share=train_share)
    cases = select_cases(cases, series)
    with_vus = has_tsb()
    if not with_vus:
        say(f"VUS-PR/VUS-ROC columns need the peers extra: {TSB_HINT}")
    runs = [(e, sd) for e in entrants for sd in (seeds if e.seeded else seeds[:1])]
    total, done = len(cases) * len(runs), 0
    say(f"{Path(dataset).name}: {len(cases)} series × {len(runs)} model runs = {total} fits ({protocol})")
    records, skipped = [], []
    for case in cases:
        train, test = case.load()
        if test.y is None or not test.y.any():
            skipped.append(case.name)
            done += len(runs)
            say(f"skipping {case.name}: no labelled anomaly in its test part")
            continue
        matrices: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        window = vus_window(test.values) if with_vus else None
        for e, seed in runs:
            done += 1
            tag = f" (seed {seed})" if e.seeded and len(seeds) > 1 else ""
            say(f"[{done}/{total}] {e.name}{tag} on {case.name} ({len(train):,} train / "
                f"{len(test):,} test steps) …")
            if len(train) < getattr(e, "window", 1):
                raise DataError(f"{case.name}: its training part has {len(train)} steps, fewer than "
                                f"{e.name}'s window length {e.window}; give a longer series, a larger "
                                f"--train-share or -p {e.name}.window=N")
            if e.scaling not in matrices:
                pre = SeriesPreprocessor(scaling=e.scaling)
                matrices[e.scaling] = (pre.fit_transform(train, window=getattr(e, "window", 1)),
                                       pre.transform(test))
            X_train, X_test = matrices[e.scaling]
            model = e.build(seed)
            out = _run_one(model, X_train, X_test)
            rec = {"series": case.name, "group": case.group, "model": e.name, "library": e.library,
                   "seed": seed, "n_train": len(train), "n_test": len(test),
                   "fit_s": out["fit_s"], "score_s": out["score_s"], "threshold": out["threshold"],
                   "threshold_set_on": out["threshold_set_on"], "vus_window": window,
                   **_metrics(test.y, out["scores"], out["threshold"], window, out["pred"])}
            rec["params"] = _jsonable(model.params if e.peer else model.get_params())
            records.append(rec)
            say(f"    VUS-PR {_f(rec['vus_pr'])}  AUPRC {_f(rec['auprc'])}  AUROC {_f(rec['auroc'])}  "
                f"range-F1 {_f(rec['range_f1'])}  fit {out['fit_s']:.1f}s")
    if not records:
        raise DataError(f"{dataset}: no series with a labelled anomaly in its test part")
    summary = summarise(records, models)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    meta = {"dataset": dataset, "protocol": protocol, "seeds": seeds, "models": models,
            "series": [c.name for c in cases], "skipped": skipped,
            "vus": "TSB-AD 1.5 generate_curve (opt, 250 thresholds)" if with_vus else f"not computed: {TSB_HINT}"}
    write_json(out / "metrics.json", _clean({**meta, "mean": summary["mean"], "groups": summary["groups"],
                                             "per_series": summary["per_series"], "runs": records}))
    write_json(out / "leaderboard.json", _clean({**meta, "rows": summary["mean"]}))
    with atomic_path(out / "leaderboard.md") as tmp:
        tmp.write_text(leaderboard_markdown(summary["mean"], COLUMNS, title=f"{dataset} — {protocol}")
                       + "\n" + leaderboard_markdown(summary["per_series"], ("series", *COLUMNS),
                                                     title="per series"))
    summary.update(meta)
    return _clean(summary)


def _jsonable(p: dict[str, Any]) -> dict[str, Any]:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in p.items()
            if isinstance(v, int | float | str | bool | list | tuple | type(None))}


def _f(v: float | None) -> str:
    return "–" if v is None or not np.isfinite(v) else f"{v:.3f}"
