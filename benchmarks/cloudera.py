"""The Cloudera table, row by row, on the fixed Cloudera KDD Cup 99 protocol.

* ``--select``: hyper-parameter selection for BiGAN on the VALIDATION split only (AUROC on the
  20% of corrected's rows the protocol sets aside; the test split is not scored); writes the
  ``cloudera-selection`` section of docs/benchmarks.md.
* default: runs ``run_cloudera`` (AE, VAE, BiGAN, PCA, OCSVM; Seq2Seq once registered) with
  the protocol's parameters (``nadkit.experiments.cloudera.PARAMS``) for the given seeds, then
  scores the same fitted models on the upstream-labelled split (``legacy_labels=True``, for a
  like-for-like parity row; the training normals are identical under both labellings), and
  writes the ``cloudera`` section: the Cloudera numbers, ours (threshold by best F1 and by best
  accuracy, both fitted on the validation split), and a per-row verdict.

    OMP_NUM_THREADS=1 python benchmarks/cloudera.py [--select] [--seeds 0 1 2] [--out DIR]

Seeds can run in parallel (``--seeds 1 --no-docs`` in separate processes), then
``--seeds 0 1 2 --reuse`` collects them and writes the docs.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np
from _common import machine, update_section

from nadkit.experiments.cloudera import (
    PARAMS,
    REPORTED,
    THRESHOLDS,
    cloudera_split,
    default_models,
    preprocessor,
    run_cloudera,
)
from nadkit.metrics import auroc, threshold_metrics
from nadkit.models import make_detector

warnings.filterwarnings("ignore")

#: the BiGAN grid searched on the validation split (seed 0; lr 1e-3 unless given; dropout 0.2)
GRID = [
    {"epochs": 30, "latent": 2, "cycle": False, "lr": 1e-3},
    {"epochs": 30, "latent": 16, "cycle": False, "lr": 1e-3},
    {"epochs": 20, "latent": 8, "cycle": True, "lr": 1e-3},
    {"epochs": 20, "latent": 8, "cycle": True, "lr": 2e-4},
    {"epochs": 40, "latent": 8, "cycle": True, "output": "linear", "lr": 1e-3},
]
SCORE_GRID = [(mode, w) for mode in ("cross-entropy", "feature-matching")
              for w in (0.0, 0.1, 0.3, 0.5, 0.9, 1.0)]
METRICS = ("accuracy", "precision", "recall", "f1", "f2", "auroc")

#: per-row explanation, written from the measured table (3 seeds) — see docs/benchmarks.md
NOTES = {
    "threshold": (
        "The validation split holds 20% of corrected's attacks and normals, so it is 80% attacks, "
        "while the 8020 test split is 20% attacks: a threshold with the best F1 or accuracy on "
        "validation leans towards recall, which costs precision on test. Cloudera's threshold was "
        "tuned on the test split itself, so their precision/accuracy are optimistic."),
    "ae": (
        "AUROC 0.952 (fixed labels) / 0.949 (upstream labels) vs 0.956: a small shortfall on the "
        "upstream labels. Their number is one run of a (15, 7)/2 AE; that architecture scored 0.940 "
        "on our validation split, our default (64, 32)/16 0.950, and we searched no further. F1 is "
        "far higher (0.77-0.83 vs 0.515): their accuracy-tuned threshold left recall at 0.41. The F1 "
        "spread over seeds (±0.05) comes from the validation/test class-mix difference above."),
    "vae": "Beaten on every metric with both labellings (β = 0.001, chosen on validation; deterministic "
           "score at the posterior mean instead of their sampled one).",
    "bigan": (
        "Five training runs per seed (seeds s, s + 1000, …, s + 4000; `cloudera.RESTARTS`), each with "
        "an exponential moving average of its weights (`ema=0.999`) and its score weight w chosen "
        "on the validation split (`cloudera.TUNED`, w ∈ 0, 0.05, …, 1; chosen 0.9 / 0.8 / 0.75); "
        "the run with the best validation AUROC is kept. Fixed labels: beaten on every metric "
        "(AUROC 0.956 ± 0.006, seeds 0.962 / 0.948 / 0.958; F1 0.888 vs 0.812). Upstream labels "
        "(like for like): AUROC 0.962 ± 0.004, F1 0.885. Before the per-run w (fixed w = 0.5, "
        "3 runs, no averaging) the fixed-label AUROC was 0.945 ± 0.003: the best w moves from run "
        "to run because the scales of the L1 residual and of L_D do, and a run's validation AUROC "
        "tracks its test AUROC within about 0.002 (both splits come from `corrected`), so choosing "
        "on validation pays. The plain BiGAN (no cycle discriminator, as upstream) reached only "
        "0.93 on validation."),
    "pca": (
        "Beaten by a wide margin: nadkit's PCA scores the reconstruction error; Cloudera's score "
        "(sum of distances to the two principal axes, `score_mode=\"legacy\"`) is not an anomaly "
        "score, hence their AUROC 0.754."),
    "ocsvm": (
        "Fixed labels: beaten (AUROC 0.963, F1 0.893). Upstream labels: AUROC and F1 reproduced "
        "(0.957 / 0.865-0.875 vs 0.958 / 0.868) with the threshold from validation instead of test; "
        "precision is lower and recall higher, as explained under threshold."),
    "seq2seq-rows": (
        "Beaten by a wide margin (AUROC 0.953 ± 0.002 fixed, 0.962 upstream labels, vs 0.806): "
        "`seq2seq-rows` reads each row as an 18-step sequence like upstream, but trains on its "
        "real target (upstream rolled it circularly) and scores the whole 8020 test split in one "
        "batched pass; Cloudera's number came from 480 rows resampled from the first 100 test "
        "rows of each class, decoded one by one. Defaults (hidden 32) chosen on validation: "
        "hidden 16 / 32 / 64 gave 0.946 / 0.950 / 0.951 at 112 / 230 / 544 s (loaded machine)."),
}


def select() -> str:
    """Validation-only grid for BiGAN; returns a markdown table (test split never scored)."""
    split = cloudera_split()
    pre = preprocessor().fit(split.train.X)
    Xtr, Xv, yv = pre.transform(split.train.X), pre.transform(split.validation.X), split.validation.y
    lines = ["| BiGAN config | " + " | ".join(f"{m[:2].upper()} w={w}" for m, w in SCORE_GRID) + " |",
             "|---|" + "---|" * len(SCORE_GRID)]
    best = (0.0, None)
    for cfg in GRID:
        t = time.perf_counter()
        det = make_detector("bigan", random_state=0, **cfg).fit(Xtr)
        cells = []
        for mode, w in SCORE_GRID:
            det.set_params(score_mode=mode, score_weight=w)
            a = auroc(yv, det.score(Xv))
            cells.append(f"{a:.4f}")
            if a > best[0]:
                best = (a, {**cfg, "score_mode": mode, "score_weight": w})
        print(f"{cfg}: {cells} ({time.perf_counter() - t:.0f}s)", flush=True)
        lines.append(f"| {json.dumps(cfg)} | " + " | ".join(cells) + " |")
    lines.append(f"\nBest on validation: {json.dumps(best[1])} (validation AUROC {best[0]:.4f}).")
    return "\n".join(lines)


def selection_markdown(table: str) -> str:
    return f"""### Cloudera protocol: BiGAN hyper-parameter selection (validation split only)

AUROC on the protocol's validation split (62,206 rows of `corrected`, disjoint from the test
split) for each training configuration (seed 0) and each score (CR = cross-entropy L_D,
FE = feature-matching L_D; w = weight of L_D in A = (1−w)·L1 + w·L_D). The test split was not
used. Command: `OMP_NUM_THREADS=1 python benchmarks/cloudera.py --select`.

{table}
"""


def verdict(ours: float, theirs: float, tol: float = 0.005) -> str:
    if ours >= theirs + tol:
        return "beaten"
    return "reproduced" if ours >= theirs - tol else "shortfall"


def legacy_rows(model_root: Path, legacy) -> list[dict]:
    """Score the saved models on the upstream-labelled split; thresholds from its validation."""
    from nadkit import artifact

    rows = []
    for name in default_models():
        pipe = artifact.load(model_root / name / "model")
        val, test = pipe.score(legacy.validation), pipe.score(legacy.test)
        for method, cls in THRESHOLDS.items():
            thr = cls().fit(val, legacy.validation.y)
            m = threshold_metrics(legacy.test.y, thr.predict(test))
            rows.append({"model": name, "threshold": method, "auroc": auroc(legacy.test.y, test),
                         **{k: m[k] for k in ("accuracy", "precision", "recall", "f1", "f2")}})
    return rows


def run(seeds: list[int], out: Path, reuse: bool = False) -> tuple[str, dict]:
    split, legacy = cloudera_split(), cloudera_split(legacy_labels=True)
    per_seed, per_seed_legacy = [], []
    for seed in seeds:
        t = time.perf_counter()
        board = out / f"seed{seed}" / "leaderboard.json"
        if reuse and board.is_file():  # a finished run of this seed (e.g. run in parallel)
            rows = json.loads(board.read_text())["rows"]
        else:
            rows = run_cloudera(default_models(), out / f"seed{seed}", seed=seed, split=split,
                                save_models=True, on_progress=lambda m: print(m, flush=True))
        print(f"seed {seed} done in {time.perf_counter() - t:.0f}s", flush=True)
        per_seed.append(rows)
        per_seed_legacy.append(legacy_rows(out / f"seed{seed}", legacy))
    table = ["| model | labels | threshold | " + " | ".join(METRICS) + " | vs Cloudera (F1 / AUROC) |",
             "|---|---|---|" + "---|" * len(METRICS) + "---|"]
    summary: dict[str, dict] = {}
    for name in default_models():
        ref = REPORTED[name]
        table.append(f"| **{name}** | Cloudera (upstream) | best accuracy on TEST (optimistic) | "
                     + " | ".join(f"{ref[m]:.3f}" for m in METRICS) + " | |")
        for labels, runs in (("fixed", per_seed), ("upstream (parity)", per_seed_legacy)):
            for method in ("best-f1", "best-accuracy"):
                vals = {m: np.array([next(r[m] for r in rows if r["model"] == name and r["threshold"] == method)
                                     for rows in runs]) for m in METRICS}
                cells = [f"{v.mean():.3f}" + (f" ± {v.std():.3f}" if len(seeds) > 1 else "")
                         for v in vals.values()]
                v = (f"F1 {verdict(vals['f1'].mean(), ref['f1'])} / "
                     f"AUROC {verdict(vals['auroc'].mean(), ref['auroc'])}")
                table.append(f"| {name} | nadkit, {labels} | {method} on validation | "
                             + " | ".join(cells) + f" | {v} |")
                summary.setdefault(name, {}).setdefault(labels, {})[method] = {
                    m: float(x.mean()) for m, x in vals.items()}
    return "\n".join(table), summary


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--select", action="store_true", help="run the validation-only BiGAN grid first")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--out", type=Path, default=Path("bench-results/cloudera"))
    ap.add_argument("--reuse", action="store_true", help="reuse finished seeds found under --out")
    ap.add_argument("--no-docs", action="store_true", help="do not write docs/benchmarks.md")
    args = ap.parse_args()
    if args.select:
        update_section("cloudera-selection", selection_markdown(select()))
        return
    table, summary = run(args.seeds, args.out, args.reuse)
    params = {m: PARAMS.get(m, {}) for m in default_models()}
    notes = "\n".join(f"- **{m}**: {n}" for m, n in NOTES.items() if n)
    md = f"""## Cloudera protocol (KDD Cup 99, partition 8020) — issue 3

`nadkit bench --protocol cloudera` (`nadkit.experiments.cloudera`): the Cloudera prototype's
split row for row (18 numeric features; train = the 97,278 normal rows of the 10% file; from
`corrected`, 20% of the normals and of the attacks, seed 200, form the validation split; the
rest is subsampled to 8,000 normals + 2,000 attacks, seed 250; min-max scaling fitted on the
training normals), with two fixes: the 17 attack types that only occur in `corrected`
(snmpgetattack, mailbomb, apache2, …) are attacks, and thresholds come from the validation
split — by best F1 and, as upstream did on the test set, by best accuracy. The Cloudera numbers
used a threshold tuned for accuracy **on the test set itself** (optimistic) and labelled the
test-only attack types normal, so their accuracy/precision/recall/F1/F2 are not an honest
estimate; their ROC-AUC is threshold-free. Note also that KDD'99 is heavily duplicated: the
validation and test rows are disjoint but share many identical feature vectors.

Hyper-parameters: the protocol's (`cloudera.PARAMS`: {json.dumps(params)}); everything else
is the detector's default. They were chosen on the validation split only (below); the test
split was scored once per seed with the final settings.

Seeds: {", ".join(map(str, args.seeds))} (mean ± std over seeds where more than one). Machine:
{machine()}; shared with other jobs (timings not comparable).

Command: `OMP_NUM_THREADS=1 python benchmarks/cloudera.py --seeds {" ".join(map(str, args.seeds))}`
(or `nadkit bench --protocol cloudera -o DIR` for one seed).

Labels "fixed": the protocol as nadkit runs it. Labels "upstream (parity)": the same fitted
models (the training normals are identical under both labellings) scored on the split built
with upstream's labels (`legacy_labels=True`), thresholds again from its validation split — the
like-for-like comparison with Cloudera's numbers.

{table}

Verdicts compare means with a ±0.005 band ("reproduced" inside it).
{notes}
"""
    if not args.no_docs:
        update_section("cloudera", md)
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(md)


if __name__ == "__main__":
    main()
