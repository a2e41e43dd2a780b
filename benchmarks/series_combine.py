"""Is DC-VAE combined with a linear baseline more dependable? (issue 12 item 8)

Protocol (written before this script produced any number):

1. Series, split, standardisation, groups and VUS windows: exactly those of
   ``benchmarks/series_defaults.py`` (``_split``; 12 groups: 7 SMD machines, SKAB valve1 /
   valve2 / other, NAB realKnownCause / realAWSCloudwatch). DC-VAE is the default (``a32``,
   ``residual``/``mean``) read from that script's cache (``fits/a32``), the peers (PyOD PCA /
   IForest, TSB-AD CNN) from its ``peers/``; their metrics from its ``metrics.json``. Nothing
   is refitted or written there.
2. Linear baseline: nadkit's own ``pca`` detector (default ``n_components=0.95``), per step
   (no windows: nadkit's PCA is a table detector and has no window option). ``pca`` alone =
   ``PCA().fit(train).score(test)`` (mean squared residual over channels), what a user gets.
3. Combinations need each member's score in the same units without labels and online. DC-VAE's
   cached score is already ``mean_c |x − μ|_c / s_c`` with ``s`` the per-channel residual RMS on
   the held-out last 20 % of the training part (its validation tail). The PCA member is built
   the same way: PCA fitted on the first 80 % of the training part (same cut as DC-VAE's
   ``chronological_split``), ``s'_c`` = RMS of its residual on the last 20 % (floor 1e-3, as
   DC-VAE's), member score ``P = mean_c |x − x̂|_c / s'_c``; ``D`` = DC-VAE's score. A
   tail-probability combination (``nadkit.models.ensemble.tail_scores``) would need DC-VAE's
   scores on held-out training normals, which are not cached; it is not tried (it would need
   refitting every series). Three combinations, fixed here:
   ``mean`` = (D + P) / 2; ``max`` = max(D, P) (either member alarms); ``geo`` = √(D · P)
   (both must agree). ``pca-units`` (P alone) is shown as a diagnostic, not a candidate.
4. Metrics: ``series_defaults._metrics`` (TSB-AD VUS-PR, AUPRC). Criterion: the mean over the
   three datasets of each dataset's mean VUS-PR. Candidates for the criterion and the
   leave-one-group-out check (as ``select()``: pick on the other 11 groups, VUS-PR on the
   held-out one): ``dcvae``, ``pca``, ``mean``, ``max``, ``geo``.
5. Acceptance (issue 12): on SMD and on SKAB, mean VUS-PR and mean AUPRC ≥ the best single
   peer's; dependability: on every SMD machine and SKAB group, VUS-PR ≥ 0.8 × the best peer's
   VUS-PR there. Reported for every candidate; AUPRC never chooses.

6. *Amendment 1, second run (2026-12-03, stop 29; written after the first run's numbers and
   every series_defaults amendment up to 11 had been read, before any of this run's numbers
   were computed).* DC-VAE's default score has since changed (series_defaults amendments 6,
   8 and 10: channel score in training-std units, the mean of the three largest channel
   scores, the causal moving max over 32 steps), and the peers are now the six of
   series_defaults amendment 2. So: D = DC-VAE's current default (``sd.CHOSEN``) from the same
   cache; the PCA member P gets the same post-processing: nadkit's ``PCA()`` fitted on the
   whole training part (what a user gets), channel score |x − x̂| in training-std units (the
   data are z-scored with the training statistics, so no further scale), ``top3`` over
   channels, the causal moving max over 32 steps (started on the test part, as D's).
   ``mean``, ``max``, ``geo`` as in item 3; ``pca`` (mean squared residual, per step) and
   ``pca-units`` (P alone, diagnostic) as before; best peer over all six peers. Criterion,
   leave-one-group-out, acceptance and the rule (item 4) are unchanged. Cached under
   ``results/series-combine/a1``; the first run's tables are quoted in the notes.

    OMP_NUM_THREADS=1 python benchmarks/series_combine.py [--no-docs]

Scores and metrics are cached under ``results/series-combine/`` (rerunning skips what exists).
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import series_defaults as sd
from _common import update_section

from nadkit.models.series_base import aggregate_channels, causal_max

SRC = sd.OUT  # series_defaults.py's cache (read, never written)
OUT = Path(__file__).resolve().parent.parent / "results" / "series-combine" / "a1"  # amendment 1
DEFAULT = sd.CHOSEN  # DC-VAE's default score variant (amendment 1; the first run: sd.OLD_VARIANT)
OWN = ("pca", "pca-units", "mean", "max", "geo")
CANDIDATES = ("dcvae", "pca", "mean", "max", "geo")
CHECKED = ("smd", "skab")
PEERS = ("pyod-pca", "pyod-iforest", "tsb-cnn", "tsb-usad", "tsb-omnianomaly", "tsb-lstmad")  # amendment 1
HOLD = 32  # amendment 1: P's causal moving max, as D's


def _combine(D: np.ndarray, P: np.ndarray) -> dict[str, np.ndarray]:
    return {"pca-units": P, "mean": (D + P) / 2, "max": np.maximum(D, P), "geo": np.sqrt(D * P)}


def scores(ds: str, case) -> Path | None:
    """Score one series (PCA and the combinations) into ``OUT/scores``; None when skipped."""
    from nadkit.models.pca import PCA
    from nadkit.thresholds import CalibrationWarning

    warnings.simplefilter("ignore", CalibrationWarning)  # PCA's own threshold is not used here
    path = OUT / "scores" / f"{ds}__{case.name.replace('/', '__')}.npz"
    fit = SRC / "fits" / "a32" / path.name
    if path.exists():
        return path
    if not fit.exists():
        return None
    split = sd._split(case)
    if split is None:
        return None
    Xtr, Xte, y, _ = split
    f = np.load(fit)
    if not (np.array_equal(f["y"], y) and np.allclose(f["x"], Xte)):
        raise RuntimeError(f"{fit}: cached test part differs from series_defaults._split")
    D = sd.variant_scores(f, *json.loads(DEFAULT))
    pca = PCA().fit(Xtr)
    out = {"pca": pca.score(Xte)}
    # amendment 1: D's post-processing (unit channel score, top3, moving max over HOLD steps)
    P = causal_max(aggregate_channels(np.abs(pca._residual(Xte)).astype(np.float64), "top3"), HOLD)
    out.update(_combine(D, P))
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, y=y, vus_window=f["vus_window"], group=f["group"],
                        **{k: np.asarray(v, dtype=np.float64) for k, v in out.items()})
    return path


def _evaluate(path: str) -> dict[str, dict[str, float]]:
    f = np.load(path)
    y, w = f["y"], int(f["vus_window"])
    return {k: sd._metrics(y, f[k], w) for k in OWN}


def table() -> dict[tuple, dict]:
    """(dataset, series, group) → {candidate or peer: metrics}."""
    paths = [p for ds, c in sd.cases() if (p := scores(ds, c)) is not None]
    cache = OUT / "metrics.json"
    done = json.loads(cache.read_text()) if cache.exists() else {}
    todo = [str(p) for p in paths if str(p) not in done]
    t = time.perf_counter()
    with ProcessPoolExecutor(1) as pool:
        for k, (p, r) in enumerate(zip(todo, pool.map(_evaluate, todo), strict=True), 1):
            done[p] = r
            print(f"metrics {k}/{len(todo)} ({time.perf_counter() - t:.0f} s) {Path(p).name}", flush=True)
            tmp = cache.with_suffix(".tmp")
            tmp.write_text(json.dumps(done))
            tmp.replace(cache)
    theirs = json.loads((SRC / "metrics.json").read_text())
    rows: dict[tuple, dict] = {}
    for p in paths:
        ds, series = p.stem.split("__", 1)
        row = dict(done[str(p)])
        row["dcvae"] = theirs[str(SRC / "fits" / "a32" / p.name)][DEFAULT]
        for peer in PEERS:
            row[peer] = theirs[str(SRC / "peers" / peer / p.name)]["peer"]
        rows[(ds, series, str(np.load(p)["group"]))] = row
    return rows


def _mean(rows, cand: str, metric: str = "vus_pr", keep=lambda k: True) -> float:
    v = [r[cand][metric] for k, r in rows.items() if keep(k)]
    return float(np.mean(v)) if v else float("nan")


def report(rows: dict[tuple, dict]) -> str:
    groups = sorted({k[2] for k in rows})
    ds_of = {k[2]: k[0] for k in rows}
    shown = (*CANDIDATES, "pca-units", *PEERS)
    crit = {c: sd._criterion(rows, c, lambda g: True) for c in CANDIDATES}
    best = max(CANDIDATES, key=crit.get)
    logo = {}
    for g in groups:
        pick = max(CANDIDATES, key=lambda c, g=g: sd._criterion(rows, c, lambda x, g=g: x != g))
        logo[g] = (pick, sd._criterion(rows, pick, lambda x, g=g: x == g))
    gv = {(c, g): _mean(rows, c, keep=lambda k, g=g: k[2] == g) for c in shown for g in groups}
    bestpeer = {g: max(PEERS, key=lambda p, g=g: gv[(p, g)]) for g in groups}
    lines = ["## DC-VAE combined with nadkit's PCA: is it more dependable? (issue 12 item 8)", "",
             f"`python benchmarks/series_combine.py`, {time.strftime('%Y-%m-%d')}, from the cached "
             "DC-VAE fits and peer scores of `series_defaults.py` (seed 0) plus nadkit's `pca` "
             "fitted here. The protocol is the script's docstring with its amendment 1, written "
             "before this run's numbers were read: D = DC-VAE's default score (unit channel "
             "score, mean of the three largest channels, causal moving max over 32 steps), "
             "P = the same post-processing of nadkit's PCA residual (fitted on the whole "
             "training part); `mean` = (D + P) / 2, `max` = max(D, P), `geo` = √(D·P); "
             "`pca` = nadkit's PCA as a user gets it (mean squared residual, per step); "
             "`pca-units` = P alone (diagnostic); peers: the six of series_defaults.", "",
             "Per dataset (mean over its series):", "",
             "| candidate | criterion | " + " | ".join(f"{d} VUS-PR | {d} AUPRC" for d in sd.DATASETS) + " |",
             "|---|---:|" + "---:|" * (2 * len(sd.DATASETS))]
    for c in shown:
        cells = [f"{sd._criterion(rows, c, lambda g: True):.3f}"]
        for d in sd.DATASETS:
            cells += [f"{_mean(rows, c, m, lambda k, d=d: k[0] == d):.3f}" for m in ("vus_pr", "auprc")]
        lines.append(f"| {c} | " + " | ".join(cells) + " |")
    lines += ["", f"**Best by the criterion over all 12 groups: {best} ({crit[best]:.3f}).**", "",
              "Per group (VUS-PR); ✗ = below 0.8 × the best peer there (dependability, SMD and SKAB "
              "groups only):", "",
              "| candidate | " + " | ".join(groups) + " | groups failed |", "|---|" + "---:|" * (len(groups) + 1)]
    failed = {}
    for c in shown:
        cells, bad = [], []
        for g in groups:
            v, ref = gv[(c, g)], gv[(bestpeer[g], g)]
            miss = ds_of[g] in CHECKED and v < 0.8 * ref
            bad += [g] if miss else []
            cells.append(f"{v:.3f}" + (" ✗" if miss else ""))
        failed[c] = bad
        lines.append(f"| {c} | " + " | ".join(cells) + f" | {len(bad)} |")
    lines.append("| best peer | " + " | ".join(f"{bestpeer[g].split('-')[-1]} {gv[(bestpeer[g], g)]:.3f}"
                                                for g in groups) + " | |")
    lines += ["", "Acceptance per candidate (SMD and SKAB: mean VUS-PR and AUPRC ≥ the best peer's "
              "mean; no SMD machine / SKAB group below 0.8 × the best peer's VUS-PR):", "",
              "| candidate | SMD VUS-PR ≥ | SMD AUPRC ≥ | SKAB VUS-PR ≥ | SKAB AUPRC ≥ | dependable |",
              "|---|---|---|---|---|---|"]
    for c in CANDIDATES:
        cells = []
        for d in CHECKED:
            for m in ("vus_pr", "auprc"):
                def keep(k, d=d):
                    return k[0] == d

                ref = max(PEERS, key=lambda p, m=m, keep=keep: _mean(rows, p, m, keep))
                v, rv = _mean(rows, c, m, keep), _mean(rows, ref, m, keep)
                cells.append(f"{'yes' if v >= rv else 'no'} ({v:.3f} vs {ref} {rv:.3f})")
        dep = "yes" if not failed[c] else "no: " + ", ".join(failed[c])
        lines.append(f"| {c} | " + " | ".join(cells) + f" | {dep} |")
    lines += ["", "Leave-one-group-out (pick among the five candidates on the other 11 groups, VUS-PR "
              "on the held-out group):", "", "| held-out group | picked | VUS-PR held out | best peer there |",
              "|---|---|---:|---|"]
    for g in groups:
        pick, v = logo[g]
        lines.append(f"| {g} | {pick} | {v:.3f} | {bestpeer[g]} {gv[(bestpeer[g], g)]:.3f} |")
    held = np.mean([v for _, v in logo.values()])
    lines += ["", f"Mean held-out VUS-PR over the {len(groups)} groups: {held:.3f} "
              f"(DC-VAE alone on the same groups: {np.mean([gv[('dcvae', g)] for g in groups]):.3f})."]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--no-docs", action="store_true", help="print only; do not update docs/benchmarks.md")
    a = ap.parse_args()
    text = report(table())
    print(text)
    (OUT / "section.md").write_text(text)
    if not a.no_docs:
        update_section("series-combine", text)  # the reading by hand: series-combine-notes


if __name__ == "__main__":
    main()
