"""Training cost of DC-VAE next to TSB-AD's CNN on one SMD series, in the same run.

Both train on the z-scored train file of ``--series`` (SMD machine-1-2: 23,693 steps × 38
channels) with their defaults (TSB-AD CNN: ``Optimal_Multi_algo_HP_dict``, batch 128,
lr 8e-4, early stopping); both run under the same torch thread count (``--threads``; nadkit
fixes its own count, see the README). Prints fit seconds, optimiser steps and steps/s, and
writes the ``series-train-speed`` section of docs/benchmarks.md.

    OMP_NUM_THREADS=1 python benchmarks/series_train_speed.py [--series machine-1-2]
"""

from __future__ import annotations

import argparse
import time

import torch
from _common import machine, update_section

from nadkit.data import load_dataset
from nadkit.data.series import SeriesPreprocessor
from nadkit.experiments.peers import has_tsb, make_peer
from nadkit.models import DCVAE
from nadkit.models.train import trainer_options


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--series", default="machine-1-2")
    ap.add_argument("--threads", type=int, default=1, help="torch threads for both")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    train = load_dataset("smd", args.series)
    X = SeriesPreprocessor().fit_transform(train, window=128)
    rows = []
    with trainer_options(threads=args.threads):
        det = DCVAE()
        t = time.perf_counter()
        det.fit(X)
        dt = time.perf_counter() - t
    steps = det.epochs_run_ * det.train_result_.batches_per_epoch
    rows.append(("dcvae (defaults)", dt, steps, f"{det.epochs_run_} epochs, batch {det.batch_size}"))
    if has_tsb():
        peer = make_peer("tsb-cnn")
        t = time.perf_counter()
        peer.fit(X)
        dt = time.perf_counter() - t
        rows.append(("tsb-cnn", dt, None, str(peer.params)))
    lines = [f"SMD {args.series}: {len(X):,} steps × {X.shape[1]} channels, {args.threads} torch "
             f"thread(s), {machine()}; `OMP_NUM_THREADS={args.threads} python "
             f"benchmarks/series_train_speed.py --series {args.series} --threads {args.threads}`", "",
             "| model | fit s | optimiser steps | steps/s | notes |", "|---|---:|---:|---:|---|"]
    for name, dt, steps, note in rows:
        sps = f"{steps / dt:.1f}" if steps else "–"
        lines.append(f"| {name} | {dt:.1f} | {steps or '–'} | {sps} | {note} |")
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        update_section("series-train-speed", "## Series training cost: DC-VAE vs TSB-AD CNN (same run)\n\n" + text)


if __name__ == "__main__":
    main()
