"""Speed of the series metrics, the per-channel α calibration and the series plots on real SMD data.

μ and σ come from a causal rolling mean/std (60 steps) of each channel: a stand-in for a model's
Gaussian output with the same shape (n, 38), warm-up NaNs included. Per-channel labels are SMD's
interpretation labels (``start-end`` = rows start … end−1). Writes the ``series-metrics`` section
of docs/benchmarks.md.

    python benchmarks/series_metrics_speed.py [machine-1-2 …]
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from _common import machine, update_section

from nadkit import plots
from nadkit.metrics import per_channel_f1, range_f1, series_report
from nadkit.thresholds import ChannelAlpha

ROOT = Path(os.environ.get("NADKIT_DATA", Path(__file__).resolve().parents[2] / "shared" / "datasets"))


def load(m: str):
    smd = ROOT / "smd"
    x = pd.read_csv(smd / "test" / f"{m}.txt.gz", header=None).to_numpy(float)
    labels = np.zeros_like(x, dtype=np.int8)
    for line in (smd / "interpretation_label" / f"{m}.txt").read_text().split():
        span, dims = line.split(":")
        s, e = map(int, span.split("-"))
        labels[s:e, [int(d) - 1 for d in dims.split(",")]] = 1
    roll = pd.DataFrame(x).shift(1).rolling(60)
    return x, roll.mean().to_numpy(), roll.std().to_numpy() + 0.01, labels


def best_of(fn, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def run(m: str) -> list[tuple[str, str]]:
    x, mu, sigma, labels = load(m)
    n = 20_000
    x, mu, sigma, labels = x[:n], mu[:n], sigma[:n], labels[:n]
    step = labels.any(axis=1).astype(np.int8)
    rows = []
    for metric in ("point", "range"):
        for name, lab in (("per-channel labels", labels), ("step labels on every channel", step)):
            for legacy in (False, True):
                t = ChannelAlpha(metric=metric, legacy_grid=legacy)
                sec = best_of(lambda t=t, lab=lab: t.fit_channels(x, mu, sigma, lab))
                grid = "legacy 2…7" if legacy else "0.5…8 step 0.1"
                rows.append((f"ChannelAlpha fit, {metric} F1, {name}, grid {grid}", f"{sec:.3f} s"))
    sec = best_of(lambda: ChannelAlpha(target_fpr=0.01).fit_channels(x, mu, sigma))
    rows.append(("ChannelAlpha fit, target FPR 0.01", f"{sec:.3f} s"))
    alpha = ChannelAlpha(metric="range").fit_channels(x, mu, sigma, labels)
    flags = alpha.predict_channels(x, mu, sigma)
    sec = best_of(lambda: alpha.predict_channels(x, mu, sigma))
    rows.append(("ChannelAlpha predict_channels", f"{sec * 1e3:.1f} ms"))
    pred = flags.any(axis=1)
    for bias in ("flat", "front"):
        sec = best_of(lambda bias=bias: range_f1(step, pred, bias=bias))
        rows.append((f"range_f1 ({bias} bias), one series", f"{sec * 1e3:.1f} ms"))
    sec = best_of(lambda: per_channel_f1(labels, flags, kind="range"))
    rows.append(("per_channel_f1 range, 38 channels", f"{sec * 1e3:.1f} ms"))
    with np.errstate(invalid="ignore"):
        score = np.fmax.reduce(np.abs(x - mu) / sigma, axis=1)  # NaN in the warm-up
    sec = best_of(lambda: series_report(step, score, pred=pred, channel_labels=labels, channel_pred=flags))
    rows.append(("series_report with per-channel F1", f"{sec * 1e3:.1f} ms"))
    names = [f"m{k + 1}" for k in range(x.shape[1])]
    sec = best_of(lambda: plots.save(plots.series_channels(None, x, mu, sigma, alpha.alpha_up_,
                                                           alpha.alpha_down_, flags, names, labels),
                                     "/tmp/nadkit_series_channels.png"), repeat=1)
    rows.append(("plots.series_channels, 8 panels × 20k steps, to PNG", f"{sec:.2f} s"))
    long_scores = np.tile(score, 5)
    sec = best_of(lambda: plots.save(plots.series_scores(None, long_scores, 10.0, np.tile(step, 5)),
                                     "/tmp/nadkit_series_scores.png"), repeat=1)
    rows.append(("plots.series_scores, 100k steps, to PNG", f"{sec:.2f} s"))
    print(f"{m}: {int(step.sum())} anomalous steps, {int(labels.any(axis=0).sum())} labelled channels")
    return rows


def synthetic_worst_case() -> list[tuple[str, str]]:
    """Range-F1 search where almost every pair gives a different flag pattern: 20k × 38 Gaussian
    z, 25 events (5 % of steps) whose steps sit at ±4σ with random signs on every channel."""
    rng = np.random.default_rng(0)
    n, c = 20_000, 38
    mu = rng.normal(size=(n, c))
    sigma = rng.uniform(0.5, 2, size=(n, c))
    x = mu + sigma * rng.normal(size=(n, c))
    y = np.zeros(n, np.int8)
    for s in rng.choice(n - 100, 25, replace=False):
        y[s:s + rng.integers(5, 80)] = 1
    x[y == 1] += 4 * sigma[y == 1] * rng.choice([-1, 1], size=(int(y.sum()), c))
    rows = []
    for metric in ("point", "range"):
        sec = best_of(lambda metric=metric: ChannelAlpha(metric=metric).fit_channels(x, mu, sigma, y))
        rows.append((f"ChannelAlpha fit, {metric} F1, step labels on every channel, grid 0.5…8 step 0.1",
                     f"{sec:.3f} s"))
    return rows


def main() -> None:
    machines = sys.argv[1:] or ["machine-1-2"]
    out = [f"Machine: {machine()}. Shared machine; best of 3 runs (plots: 1 run).",
           "Command: `python benchmarks/series_metrics_speed.py " + " ".join(machines) + "`.",
           "Data: first 20,000 test rows × 38 channels of SMD; μ/σ = causal rolling mean/std "
           "(60 steps) as a stand-in for a model's output.", ""]
    for m in machines:
        rows = run(m)
        out += [f"**{m}**", "", "| operation | time |", "|---|---|"]
        out += [f"| {a} | {b} |" for a, b in rows] + [""]
        for a, b in rows:
            print(f"  {a:70s} {b}")
    rows = synthetic_worst_case()
    out += ["**synthetic worst case** (Gaussian noise, ±4σ events of random sign on all 38 channels)",
            "", "| operation | time |", "|---|---|"] + [f"| {a} | {b} |" for a, b in rows] + [""]
    for a, b in rows:
        print(f"  {a:70s} {b}")
    update_section("series-metrics", "## Series metrics and per-channel α calibration\n\n" + "\n".join(out))


if __name__ == "__main__":
    main()
