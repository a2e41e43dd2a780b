"""Training cost of DC-VAE next to TSB-AD's CNN on SMD series, in the same run (issue 12 item 4).

Both train on the z-scored train file of each ``--series`` (SMD machine-1-2: 23,694 steps × 38
channels) with their defaults (TSB-AD CNN: ``Optimal_Multi_algo_HP_dict``, batch 128,
lr 8e-4, early stopping); both run under the same torch thread count (``--threads``; nadkit
fixes its own count, see the README), one after the other on the same machine. Prints fit
seconds, optimiser steps and steps/s, and writes the ``series-train-speed`` section of
docs/benchmarks.md.

    OMP_NUM_THREADS=1 python benchmarks/series_train_speed.py [--series machine-1-2,machine-1-3]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from _common import machine, update_section

from nadkit.data import load_dataset
from nadkit.data.series import SeriesPreprocessor
from nadkit.experiments.peers import has_tsb, make_peer
from nadkit.models import DCVAE
from nadkit.models.train import trainer_options


def fit_seconds(X: np.ndarray, threads: int) -> list[tuple[str, float, int | None, str]]:
    """(model, fit s, optimiser steps, note) for DC-VAE and, when installed, TSB-AD CNN."""
    with trainer_options(threads=threads):
        det = DCVAE()
        t = time.perf_counter()
        det.fit(X)
        rows = [("dcvae (defaults)", time.perf_counter() - t, det.epochs_run_ * det.train_result_.batches_per_epoch,
                 f"{det.epochs_run_} epochs, batch {det.batch_size}")]
    if has_tsb():
        peer = make_peer("tsb-cnn")
        t = time.perf_counter()
        peer.fit(X)
        p = peer.params
        rows.append(("tsb-cnn", time.perf_counter() - t, None,
                     f"TSB-AD defaults: window {p['window_size']}, batch {p['batch_size']}"))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--series", default="machine-1-2,machine-1-3,machine-1-8", help="comma-separated SMD machines")
    ap.add_argument("--threads", type=int, default=1, help="torch threads for both")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    series = args.series.split(",")
    lines = [f"SMD {', '.join(series)}, {args.threads} torch "
             f"thread(s), {machine()}, {time.strftime('%Y-%m-%d')}; `OMP_NUM_THREADS={args.threads} python "
             f"benchmarks/series_train_speed.py --series {args.series} --threads {args.threads}`", "",
             "| series | steps × channels | model | fit s | optimiser steps | steps/s | notes |",
             "|---|---|---|---:|---:|---:|---|"]
    ratios = []
    for s in series:
        X = SeriesPreprocessor().fit_transform(load_dataset("smd", s), window=128)
        rows = fit_seconds(X, args.threads)
        print(f"{s}: " + ", ".join(f"{n} {dt:.1f}s" for n, dt, _, _ in rows), flush=True)
        for name, dt, steps, note in rows:
            sps = f"{steps / dt:.1f}" if steps else "–"
            lines.append(f"| {s} | {len(X):,} × {X.shape[1]} | {name} | {dt:.1f} | {steps or '–'} | {sps} | {note} |")
        if len(rows) == 2:
            ratios.append(rows[0][1] / rows[1][1])
    if ratios:
        lines += ["", "DC-VAE fit time / TSB-AD CNN fit time, same run: "
                  + ", ".join(f"{r:.2f}" for r in ratios) + f" (max {max(ratios):.2f}; ≤ 1 means DC-VAE "
                  "trains at most as long as the CNN)."]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        update_section("series-train-speed", "## Series training cost: DC-VAE vs TSB-AD CNN (same run) — "
                       "issue 12 item 4\n\n" + text)


if __name__ == "__main__":
    main()
