"""Incidents against labelled events: does ``nadkit detect --incidents`` give about as many
incidents as there are labelled events, and does every event overlap an incident? (issue 16)

Protocol (no test label is used for any choice):

* SKAB (valve1, valve2, other; every file): a PCA table model (``nadkit train --model pca``,
  defaults: default threshold at 1 % FPR on its training scores) trained on the first 400 steps
  of the file (SKAB's customary anomaly-free lead-in), then ``nadkit detect --incidents`` on the
  rest of the file.
* SMD (every machine in NADKIT_DATA): PCA trained on the machine's train file, detect on its
  test file. Optionally (``--dcvae``) a small DC-VAE on machine-1-2 (series path).
* NAB (realKnownCause, realAWSCloudwatch; univariate, where PCA's one component leaves no
  residual): an Isolation Forest (``--model iforest``) trained on the first 15 % of each file
  (NAB's probationary period), detect on the rest; events are NAB's label windows.
* Optionally (``--series-default``, stop 25) the default series model, ``nadkit train --model
  dcvae`` with its registered defaults, on every SMD machine and NAB file with the same splits:
  extra rows, excluded from the choice of the merging defaults like ``--dcvae``.
* Events = runs of labelled anomalous steps in the scored part. Reported per series: events,
  incidents, whether the count is within 2× of the events (events/2 ≤ incidents ≤ 2·events),
  events overlapped by an incident, incidents on no event.
* The merging defaults (``nadkit.incidents.DEFAULT_GAP``, ``DEFAULT_MIN_FLAGGED``) are the
  library's. They were chosen by leave-one-group-out over the groups (skab/valve1, skab/valve2,
  skab/other, smd, nab/realKnownCause, nab/realAWSCloudwatch; extra models such as ``--dcvae``
  excluded), on the grid :data:`GRID_GAPS` × :data:`GRID_MIN` recomputed from the saved flags:
  each fold picks the setting with the highest mean over the *other* groups of the share of
  series meeting both rules (each group weighs the same, however many series it has; ties: more
  events overlapped, then fewer steps inside incidents, then the smaller gap) and is scored on
  the held-out group, whose labels took no part in its choice. The default is the same choice
  made on all groups; the held-out scores are the estimate of how it does on a new group.
* *Amendment (2026-12-03, stop 27; written after the ``--series-default`` rerun with DC-VAE's
  new rolling default threshold had been read, before these numbers were computed).* Series
  models now flag with ``RollingFPR`` (250 steps), which marks where a shift begins; the
  merging defaults above were chosen on the fixed-threshold flags of table models. Series
  models may therefore get their own merging default: the same grid, the same rule
  (:func:`choose`) and the same leave-one-group-out, on the ``dcvae`` rows of
  ``--series-default`` (groups smd, nab/realKnownCause, nab/realAWSCloudwatch). It becomes the
  series models' default (``detect --incidents``, the service's streams) only if its mean
  held-out share of series meeting both rules is above that of the current default (240, 1)
  on the same rows; table models keep theirs either way.
* *Amendment 2 (2026-12-03, stop 28; written after every number above had been read, before
  these were computed).* A severity floor for series models' incidents: with the merging
  default (240, 1), keep only the incidents whose peak severity (the library's 0–100, from
  the model's normal calibration scores) is at least S, S ∈ :data:`SEVERITY_FLOORS` (0 = the
  current library). Rows, rule and leave-one-group-out as in the first amendment (the
  ``dcvae`` rows of ``--series-default``; groups smd, nab/realKnownCause,
  nab/realAWSCloudwatch; per fold the floor with the highest mean share of series meeting
  both rules on the other groups; ties: more events overlapped, then the lower floor). A
  floor becomes the series models' default only if its mean held-out share is above that of
  S = 0 on the same rows. Stop 25 tried such a floor on PCA's fixed-threshold flags, where it
  did not help; this is the rolling threshold's flags.

* *Amendment 3 (2026-12-03, stop 29; written after amendment 2's numbers had been read,
  before these were computed).* A floor on how far an incident rises above the threshold the
  series model flagged it with. ``RollingFPR`` flags about 1 % of every 250-step window, so
  quiet stretches give flags barely above their own threshold at a steady rate (the DC-VAE
  rows have 41–48 incidents on every SMD machine, whatever its 7–30 events), while a real
  shift should pass its threshold by more. Each incident's peak ratio is the largest
  ``step_score / step_threshold`` over its steps (the ECS alert's ``ratio``); with the merging
  default (240, 1), keep the incidents whose peak ratio is at least R, R ∈
  :data:`RATIO_FLOORS` (1 = the current library). Rows, rule and leave-one-group-out as in
  amendment 2 (ties: more events overlapped, then the lower floor). A floor becomes the
  series models' default only if its mean held-out share of series meeting both rules is
  above that of R = 1 on the same rows.

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/incidents_bench.py [--dcvae] [--out results/incidents]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from _common import update_section

from nadkit import incidents as inc
from nadkit.data import load_dataset
from nadkit.data.series.loaders import NAB_FILES, SKAB_FILES

TRAIN_STEPS = 400
#: NAB: the share of each file a model trains on (NAB's probationary period)
NAB_TRAIN = 0.15
GAPS = (0, 5, 10, 30, 60)
#: the grid the merging defaults were chosen on (leave-one-group-out, extra models excluded)
GRID_GAPS = (5, 10, 20, 30, 60, 120, 240)
GRID_MIN = (1, 2, 3, 5, 10)
#: the merging defaults before this protocol (gap, min flagged), shown next to the new choice
PREVIOUS = (120, 2)


def nadkit(*args) -> str:
    """The console entry point in this process (the same code ``nadkit`` runs)."""
    from nadkit import cli

    buf, argv = io.StringIO(), sys.argv
    sys.argv = ["nadkit", *map(str, args)]
    try:
        with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
            cli.main()
    except SystemExit as exc:
        if exc.code:
            raise RuntimeError(f"nadkit {' '.join(map(str, args))} failed:\n{buf.getvalue()}") from None
    finally:
        sys.argv = argv
    return buf.getvalue()


def write_csv(series, path: Path) -> None:
    series.X.to_csv(path, index=False)


def one(name: str, group: str, train, test, work: Path, model: str = "pca", params=()) -> dict:
    work.mkdir(parents=True, exist_ok=True)
    write_csv(train, work / "train.csv")
    write_csv(test, work / "test.csv")
    t0 = time.time()
    nadkit("train", work / "train.csv", "--model", model, "-o", work / "model", "--force", *params)
    nadkit("detect", work / "model", work / "test.csv", "-o", work / "scores.csv", "--incidents", work / "incidents.csv")
    seconds = time.time() - t0
    found = pd.read_csv(work / "incidents.csv")
    y = np.asarray(test.y).astype(bool)
    cov = inc.event_coverage(found, y)
    scores = pd.read_csv(work / "scores.csv")
    if "step_flag" in scores:
        steps = scores.drop_duplicates("step")
        flags = steps["step_flag"].to_numpy()
    else:
        flags = scores["anomaly"].to_numpy()
    by_gap = {g: len(inc.runs(flags, g)[0]) for g in GAPS}
    e = cov["events"]
    return {"series": name, "group": group, "model": model, "dir": str(work), "steps": len(test), "flagged": int(flags.sum()),
            "events": e, "incidents": cov["incidents"], "within_2x": bool(e and e / 2 <= cov["incidents"] <= 2 * e),
            "overlapped": cov["events_overlapped"], "all_overlapped": cov["events_overlapped"] == e,
            "false_incidents": cov["false_incidents"], "by_gap": by_gap, "seconds": round(seconds, 1)}


def _smd_cases(machines: str) -> list[tuple]:
    """(series, group, train, test, folder) of every listed SMD machine in NADKIT_DATA."""
    out = []
    for m in machines.split(","):
        try:
            train, test = load_dataset("smd", m), load_dataset("smd", f"{m}:test")
        except Exception as exc:  # a machine not in NADKIT_DATA
            print(f"skip {m}: {exc}", flush=True)
            continue
        out.append((f"smd:{m}", "smd", train, test, m))
    return out


def _nab_cases() -> list[tuple]:
    """(series, group, train, test, folder) of every NAB file in NADKIT_DATA: the first
    :data:`NAB_TRAIN` of each file trains, the rest is scored."""
    out = []
    for split in NAB_FILES:
        try:
            s = load_dataset("nab", split)
        except Exception as exc:  # a file not in NADKIT_DATA
            print(f"skip nab:{split}: {exc}", flush=True)
            continue
        n0 = int(NAB_TRAIN * len(s))
        out.append((f"nab:{split}", f"nab/{split.split('/')[0]}", s.slice(0, n0), s.slice(n0, len(s)),
                    split.replace("/", "-")))
    return out


def run(args) -> list[dict]:
    out = Path(args.out)
    rows = []
    for split in SKAB_FILES:
        if split == "anomaly-free":
            continue
        s = load_dataset("skab", split)
        group = split.split("/")[0]
        train, test = s.slice(0, TRAIN_STEPS), s.slice(TRAIN_STEPS, len(s))
        rows.append(one(f"skab:{split}", f"skab/{group}", train, test, out / "skab" / split.replace("/", "-")))
        print(json.dumps(rows[-1]), flush=True)
    smd, nab = _smd_cases(args.machines), [] if args.no_nab else _nab_cases()
    for name, group, train, test, sub in smd:
        rows.append(one(name, group, train, test, out / "smd" / sub))
        print(json.dumps(rows[-1]), flush=True)
    for name, group, train, test, sub in nab:
        rows.append(one(name, group, train, test, out / "nab" / sub, "iforest"))
        print(json.dumps(rows[-1]), flush=True)
    if args.series_default:
        for name, group, train, test, sub in [*smd, *nab]:
            rows.append({**one(name, group, train, test, out / "dcvae-default" / sub, "dcvae", ("--no-progress",)),
                         "extra": True})
            print(json.dumps(rows[-1]), flush=True)
    if args.dcvae:
        train, test = load_dataset("smd", "machine-1-2"), load_dataset("smd", "machine-1-2:test")
        params = ("--no-progress", "-p", "window=32", "-p", "cnn_units=[16,16,16]", "-p", "dilations=[1,2,4,8]",
                  "-p", f"step_budget={args.dcvae_budget}", "-p", "train_stride=8")
        rows.append({**one("smd:machine-1-2", "smd", train, test, out / "dcvae" / "machine-1-2", "dcvae", params),
                     "extra": True})
        print(json.dumps(rows[-1]), flush=True)
    (out / "results.json").write_text(json.dumps(rows, indent=1))
    return rows


def _work_dir(out: Path, r: dict) -> Path:
    if "dir" in r:
        return Path(r["dir"])
    name = r["series"].split(":", 1)[1]
    if r["model"] != "pca":
        return out / r["model"] / name
    return out / ("skab" if r["series"].startswith("skab") else "smd") / name.replace("/", "-")


def _labels(series: str):
    if series.startswith("skab:"):
        return load_dataset("skab", series[5:]).y[TRAIN_STEPS:]
    if series.startswith("nab:"):
        y = load_dataset("nab", series[4:]).y
        return y[int(NAB_TRAIN * len(y)):]
    return load_dataset("smd", f"{series[4:]}:test").y


def _extra(r: dict) -> bool:
    return bool(r.get("extra")) or r["model"] == "dcvae"


def _flags(path: Path) -> pd.DataFrame:
    """``score`` and ``anomaly`` per row of a saved ``scores.csv`` (a series model's long
    output: one row per step, its step score and step flag)."""
    sc = pd.read_csv(path)
    if "step_score" in sc:
        sc = sc.drop_duplicates("step").sort_values("step")
        sc = pd.DataFrame({"score": sc["step_score"].to_numpy(), "anomaly": sc["step_flag"].to_numpy(),
                           **({"threshold": sc["step_threshold"].to_numpy()} if "step_threshold" in sc else {})})
    return sc


def grid(rows: list[dict], out: Path, series_default: bool = False) -> pd.DataFrame:
    """Per series (extra models excluded; with ``series_default`` only the ``dcvae`` rows of
    ``--series-default``) and (gap, min flagged) on :data:`GRID_GAPS` × :data:`GRID_MIN`:
    whether the count is within 2×, every event is overlapped, the share of events overlapped
    and of the scored steps inside incidents, from the saved flags."""
    recs = []
    for r in rows:
        keep = (r["model"] == "dcvae" and "dcvae-default" in str(r.get("dir", ""))) if series_default else not _extra(r)
        if not keep or not r["events"]:  # no labelled event in the scored part: nothing to match
            continue
        sc = _flags(_work_dir(out, r) / "scores.csv")
        y = _labels(r["series"])
        for gap in GRID_GAPS:
            for k in GRID_MIN:
                found = inc.series_incidents(sc["score"], sc["anomaly"], gap=gap, min_flagged=k)
                cov, ok2, allov, e = _rules(found, y)
                inside = float((found["end"] - found["start"] + 1).sum() / len(sc))
                ok_time = inside <= 2 * y.mean()  # reported only: incidents not much longer than the events
                recs.append({"series": r["series"], "group": r["group"], "gap": gap, "k": k, "ok2": ok2,
                             "allov": allov, "both": ok2 and allov, "ok_time": ok_time,
                             "frac_ov": cov["events_overlapped"] / e,
                             "inside": inside, "false": cov["false_incidents"] / max(len(found), 1)})
    return pd.DataFrame(recs)


def _rules(found: pd.DataFrame, y) -> tuple[dict, bool, bool, int]:
    """The incidents' coverage of the labelled events and the two acceptance rules: the count
    within 2× of the events, every event overlapped (and the number of events)."""
    cov = inc.event_coverage(found, y)
    e = cov["events"]
    return cov, e / 2 <= len(found) <= 2 * e, cov["events_overlapped"] == e, e


CRITERIA = ["both", "ok2", "frac_ov", "ok_time", "inside", "false"]
#: amendment 2: the peak severities an incident of a series model must reach to be kept
SEVERITY_FLOORS = (0, 20, 40, 60, 80, 90, 95)
#: amendment 3: the peak step_score / step_threshold an incident of a series model must reach
RATIO_FLOORS = (1.0, 1.1, 1.25, 1.5, 2.0, 3.0, 5.0)


def peak_ratios(found: pd.DataFrame, sc: pd.DataFrame) -> np.ndarray:
    """Amendment 3: each incident's largest ``score / threshold`` over its steps."""
    ratio = (sc["score"] / sc["threshold"]).to_numpy(dtype=np.float64)
    return np.array([np.nanmax(ratio[int(a):int(b) + 1]) for a, b in zip(found["start"], found["end"], strict=True)])


def severity_grid(rows: list[dict], out: Path, by: str = "severity") -> pd.DataFrame:
    """Amendment 2 (``by="severity"``) or 3 (``by="ratio"``): per ``dcvae`` series of
    ``--series-default`` and floor, the rules for the incidents at the merging default whose
    peak severity (or peak ratio to the step threshold) reaches the floor."""
    from nadkit import artifact

    recs = []
    for r in rows:
        if not (r["model"] == "dcvae" and r["events"]):
            continue
        work = _work_dir(out, r)
        if "dcvae-default" not in str(work):
            continue
        sc = _flags(work / "scores.csv")
        y = _labels(r["series"])
        tail = inc.stream_tail(artifact.load(work / "model"))
        found = inc.series_incidents(sc["score"], sc["anomaly"], gap=inc.DEFAULT_GAP,
                                     min_flagged=inc.DEFAULT_MIN_FLAGGED, tail=tail)
        peak = found["severity"].fillna(0).to_numpy() if by == "severity" else peak_ratios(found, sc)
        for floor in (SEVERITY_FLOORS if by == "severity" else RATIO_FLOORS):
            kept = found[peak >= floor].reset_index(drop=True)
            cov, ok2, allov, e = _rules(kept, y)
            recs.append({"series": r["series"], "group": r["group"], "floor": floor, "n": len(kept), "ok2": ok2,
                         "allov": allov, "both": ok2 and allov, "frac_ov": cov["events_overlapped"] / e})
    return pd.DataFrame(recs)


def severity_folds(g: pd.DataFrame) -> list[str]:
    """Amendment 2's (and 3's) leave-one-group-out over the floors, and every floor on all
    groups; the lowest floor is the current library."""
    def by(d):
        return d.groupby(["group", "floor"])[["both", "ok2", "frac_ov"]].mean().groupby("floor").mean()

    def pick(d):
        t = by(d).reset_index()
        return float(t.sort_values(["both", "frac_ov", "floor"], ascending=[False, False, True]).iloc[0]["floor"])

    low = g["floor"].min()
    lines = [f"| held-out group | floor chosen on the others | held out: both rules | floor {low:g} there |",
             "|---|---:|---:|---:|"]
    held_best, held_zero = [], []
    for group in g["group"].unique():
        rest, held = g[g["group"] != group], g[g["group"] == group]
        f = pick(rest)
        a = held[held["floor"] == f]["both"].mean()
        z = held[held["floor"] == low]["both"].mean()
        held_best.append(a)
        held_zero.append(z)
        lines.append(f"| {group} ({held['series'].nunique()} series) | {f:g} | {a:.2f} | {z:.2f} |")
    lines.append(f"| mean held out | | **{np.mean(held_best):.2f}** | **{np.mean(held_zero):.2f}** |")
    t = by(g)
    lines += ["", "| floor | both rules | count within 2× | events overlapped | incidents (mean per series) |",
              "|---:|---:|---:|---:|---:|"]
    n = g.groupby("floor")["n"].mean()
    lines += [f"| {f:g} | {r['both']:.2f} | {r['ok2']:.2f} | {r['frac_ov']:.2f} | {n[f]:.1f} |" for f, r in t.iterrows()]
    return lines


def _by_setting(g: pd.DataFrame) -> pd.DataFrame:
    """Per (gap, k): the mean over groups of each group's mean (every group weighs the same)."""
    return g.groupby(["group", "gap", "k"])[CRITERIA].mean().groupby(["gap", "k"]).mean()


def choose(g: pd.DataFrame) -> tuple[int, int]:
    """The (gap, k) with the most series meeting both rules (group mean); ties: more events
    overlapped, fewer steps inside incidents, the smaller gap."""
    t = _by_setting(g).reset_index()
    t["neg_ov"], t["neg_both"] = -t["frac_ov"], -t["both"]
    best = t.sort_values(["neg_both", "neg_ov", "inside", "gap", "k"]).iloc[0]
    return int(best["gap"]), int(best["k"])


def leave_one_group_out(g: pd.DataFrame) -> list[str]:
    """For each group held out: the (gap, k) :func:`choose` picks on the other groups, and how it
    does on the held-out group; last, the choice on all groups (the library default)."""
    lines = ["| held-out group | chosen on the others (gap, min flagged) | both rules there | held out: both rules | "
             "count within 2× | events overlapped | incident time ≤ 2× labelled time | steps inside incidents | "
             "incidents on no event |", "|---|---|---|---|---|---|---|---|---|"]
    folds = []
    for group in g["group"].unique():
        rest, held = g[g["group"] != group], g[g["group"] == group]
        best = choose(rest)
        there = _by_setting(rest).loc[best]
        test = held.groupby(["gap", "k"])[CRITERIA].mean().loc[best]
        folds.append(test)
        lines.append(f"| {group} ({held['series'].nunique()} series) | {best[0]}, {best[1]} | {there['both']:.2f} | "
                     f"{test['both']:.2f} | {test['ok2']:.2f} | {test['frac_ov']:.2f} | {test['ok_time']:.2f} | "
                     f"{test['inside']:.1%} | {test['false']:.0%} |")
    mean = pd.DataFrame(folds).mean()
    lines.append(f"| mean of the held-out groups | | | {mean['both']:.2f} | {mean['ok2']:.2f} | {mean['frac_ov']:.2f} | "
                 f"{mean['ok_time']:.2f} | {mean['inside']:.1%} | {mean['false']:.0%} |")
    by = _by_setting(g)
    for label, key in (("none (all groups): the default", choose(g)), ("the previous default", PREVIOUS)):
        if key in by.index:
            a = by.loc[key]
            lines.append(f"| {label} | **{key[0]}, {key[1]}** | {a['both']:.2f} | | {a['ok2']:.2f} | {a['frac_ov']:.2f} | "
                         f"{a['ok_time']:.2f} | {a['inside']:.1%} | {a['false']:.0%} |")
    return lines


def refresh(rows: list[dict], out: Path) -> list[dict]:
    """The per-series incident numbers recomputed from the saved scores with the library's
    current merging defaults (what ``detect --incidents`` now writes for a table model's
    scores: runs of flagged rows), so ``--report`` follows a changed default without rerunning."""
    fresh = []
    for r in rows:
        if _extra(r):
            fresh.append(r)
            continue
        sc = pd.read_csv(_work_dir(out, r) / "scores.csv")
        found = inc.series_incidents(sc["score"], sc["anomaly"], gap=inc.DEFAULT_GAP, min_flagged=inc.DEFAULT_MIN_FLAGGED)
        cov = inc.event_coverage(found, _labels(r["series"]))
        e = cov["events"]
        fresh.append({**r, "incidents": cov["incidents"], "within_2x": bool(e and e / 2 <= cov["incidents"] <= 2 * e),
                      "overlapped": cov["events_overlapped"], "all_overlapped": cov["events_overlapped"] == e,
                      "false_incidents": cov["false_incidents"]})
    return fresh


def report(rows: list[dict], args) -> str:
    lines = ["<!-- written by benchmarks/incidents_bench.py -->",
             "## Incidents vs labelled events (issue 16)", "",
             "Protocol: see the docstring of `benchmarks/incidents_bench.py`. SKAB: PCA trained on each file's first "
             f"{TRAIN_STEPS} steps, `detect --incidents` on the rest; SMD: PCA on the train file, the test file scored. "
             f"Merging default: gap {inc.DEFAULT_GAP} unflagged steps. \"2×\": events/2 ≤ incidents ≤ 2·events. "
             f"Command: `OMP_NUM_THREADS=1 nice -n 10 python benchmarks/incidents_bench.py{' --dcvae' if args.dcvae else ''}"
             f"{' --series-default' if args.series_default else ''}` "
             "on a 2-core machine shared with other jobs.", "",
             "| series | model | steps | flagged | events | incidents | within 2× | events overlapped | incidents on no event |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['series']} | {r['model']} | {r['steps']:,} | {r['flagged']:,} | {r['events']} | {r['incidents']} | "
                     f"{'yes' if r['within_2x'] else 'no'} | {r['overlapped']}/{r['events']} | {r['false_incidents']} |")
    df = pd.DataFrame(rows)
    lines += ["", "Summary by group (series with no labelled event in the scored part left out):", "", "| group | model | series | count within 2× | every event overlapped |", "|---|---|---|---|---|"]
    for (g, m), d in df[df["events"] > 0].groupby(["group", "model"], sort=False):
        lines.append(f"| {g} | {m} | {len(d)} | {int(d['within_2x'].sum())}/{len(d)} | {int(d['all_overlapped'].sum())}/{len(d)} |")
    lines += ["", "Incident counts with other gaps, from the same flags (for the record; not used to choose):", "",
              "| series | model | events | " + " | ".join(f"gap {g}" for g in GAPS) + " |",
              "|---|---|---|" + "---|" * len(GAPS)]
    for r in rows:
        lines.append(f"| {r['series']} | {r['model']} | {r['events']} | " + " | ".join(str(r["by_gap"][str(g)] if str(g) in r["by_gap"]
                                                                              else r["by_gap"][g]) for g in GAPS) + " |")
    g = grid(rows, Path(args.out))
    if len(g):
        lines += ["", "How the merging defaults were chosen (protocol in the script's docstring): leave-one-group-out "
                  f"over the six groups above (extra models excluded), on gaps {GRID_GAPS} × min flagged steps "
                  f"{GRID_MIN}; each group weighs the same. The grid stops at 240 steps: an open stream incident waits "
                  "`gap` steps before it closes, and longer gaps merge most of each series (at 480, 75 % of all scored "
                  "steps lie inside incidents; set after seeing that, so this cap is a choice made with the labels in "
                  "view). \"Incident time ≤ 2× labelled time\" is reported, not used to choose. Shares of series:", ""]
        lines += leave_one_group_out(g)
        lines += ["", "Reading (by hand, 2026-12-02): every fold chose gap 240 and four of six min 1, so the default "
                  "became (240, 1) from (120, 2). Held out, both acceptance rules hold on SKAB (34 files, one event "
                  "each) and on 38–43 % of the SMD machines and NAB files; the mean over held-out groups is 0.69. "
                  "Why SMD and NAB still fail: (1) events the model never flags — on SMD three of seven machines "
                  "have an event with no flagged step, which only a merge across it can overlap; (2) many small "
                  "false incidents from the 1 % threshold over long test files (SMD machine-1-2: 77 incidents at "
                  "(120, 1) for 10 events) — their peak severities (33–100) overlap the true events' (34–100), so a "
                  "severity floor (hysteresis: keep an incident only if its peak severity ≥ 35…60, or keep short ones "
                  "only if severe), tried on SKAB + SMD, never raised the share meeting both rules and is not in the "
                  "library; (3) drift: SMD machine-1-6 flags 86 % of its test steps (3 incidents for 30 events at any "
                  "gap ≥ 60). The gain has a cost: longer incidents (steps inside incidents 59.5 % → 69.2 % averaged "
                  "over groups; SMD 37 % → 50 %) and incident time within 2× of the labelled time on only 14–29 % of "
                  "SMD/NAB series. The acceptance item is met on SKAB, not on SMD or NAB with these cheap models."]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="results/incidents")
    ap.add_argument("--machines", default=",".join(f"machine-1-{i}" for i in range(2, 9)))
    ap.add_argument("--dcvae", action="store_true", help="also a small DC-VAE on SMD machine-1-2")
    ap.add_argument("--no-nab", action="store_true", help="leave NAB out")
    ap.add_argument("--dcvae-budget", type=int, default=300)
    ap.add_argument("--series-default", action="store_true",
                    help="also the default series model (dcvae, registered defaults) on SMD and NAB")
    ap.add_argument("--report", action="store_true", help="only rewrite the docs section from results.json")
    ap.add_argument("--no-docs", action="store_true")
    args = ap.parse_args()
    rows = refresh(json.loads((Path(args.out) / "results.json").read_text()), Path(args.out)) if args.report \
        else run(args)
    text = report(rows, args)
    print(text)
    if args.series_default:
        print("\n".join(["", "Amendment 2: severity floors on the series model's incidents", "",
                         *severity_folds(severity_grid(rows, Path(args.out))),
                         "", "Amendment 3: floors on the peak ratio of step score to step threshold", "",
                         *severity_folds(severity_grid(rows, Path(args.out), by="ratio"))]))
    if not args.no_docs:
        update_section("incidents", text)


if __name__ == "__main__":
    main()
