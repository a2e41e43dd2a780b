"""``nadkit detect --incidents`` on real SKAB series: a small DC-VAE (series path, long and wide
layouts) and a PCA table model on the same rows (consecutive flagged rows); the file is JSON or
CSV by extension, written atomically, and guarded like the other outputs."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from nadkit import artifact
from nadkit import incidents as inc

from .inprocess import run_nadkit


def nadkit(*args):
    """The console entry point in this process: (exit code, stdout + stderr)."""
    res = run_nadkit(*args)
    return res.returncode, res.stdout + res.stderr


def skab_csv(path, split, stop=None):
    from nadkit.data import load_dataset

    s = load_dataset("skab", split)
    s = s.slice(0, stop) if stop else s
    s.X.assign(datetime=s.time)[["datetime", *s.channels]].to_csv(path, index=False)
    return s


@pytest.fixture(scope="module")
def models(tmp_path_factory, data_root):
    from nadkit.data.series import SeriesData
    from nadkit.models import DCVAE
    from nadkit.pipeline import SeriesPipeline

    tmp = tmp_path_factory.mktemp("incidents-cli")
    train = skab_csv(tmp / "train.csv", "valve1/1", 560)  # its normal leading part
    test = skab_csv(tmp / "test.csv", "valve1/0")
    det = DCVAE(window=16, cnn_units=(8, 8, 8), dilations=(1, 2, 4, 8), step_budget=30, batch_size=32,
                train_stride=4, device="cpu", random_state=0)
    artifact.save(SeriesPipeline(det).fit(SeriesData(train.X)), tmp / "dcvae")
    code, out = nadkit("train", tmp / "train.csv", "--model", "pca", "-o", tmp / "pca", "--drop-cols", "datetime")
    assert code == 0, out
    return tmp, test


def test_series_model_writes_incidents_json(models):
    tmp, test = models
    code, out = nadkit("detect", tmp / "dcvae", tmp / "test.csv", "-o", tmp / "s.csv", "--fill-gaps", 1,
                       "--incidents", tmp / "i.json")
    assert code == 0, out
    doc = json.loads((tmp / "i.json").read_text())
    assert doc["kind"] == "incidents" and doc["severity_basis"] == "calibration"
    found = pd.DataFrame(doc["incidents"])
    assert f"{len(found):,} incidents" in out and len(found) >= 1
    scores = pd.read_csv(tmp / "s.csv")
    steps = scores.drop_duplicates("step")
    flagged = np.flatnonzero(steps["step_flag"].to_numpy())
    # every flagged step lies in at most one incident (isolated ones in none: fewer than
    # DEFAULT_MIN_FLAGGED), and each incident starts and ends flagged
    inside = ((flagged[:, None] >= found["start"].to_numpy()) & (flagged[:, None] <= found["end"].to_numpy())).sum(axis=1)
    assert (inside <= 1).all()
    assert steps["step_flag"].to_numpy()[found["start"]].all() and steps["step_flag"].to_numpy()[found["end"]].all()
    assert found["n_flagged"].sum() == inside.sum()
    assert (found["n_flagged"] >= inc.DEFAULT_MIN_FLAGGED).all()
    assert ((found["severity"] >= 0) & (found["severity"] <= 100)).all()
    lib = artifact.load(tmp / "dcvae")
    assert {c for top in found["top"] for c in top} <= set(lib.preprocessor.channels_)
    assert found["start_time"].iloc[0].startswith(str(test.time[found["start"].iloc[0]])[:19])
    # the wide layout gives the same incidents, as CSV
    code, out = nadkit("detect", tmp / "dcvae", tmp / "test.csv", "-o", tmp / "w.csv", "--layout", "wide", "--fill-gaps", 1,
                       "--incidents", tmp / "i.csv")
    assert code == 0, out
    wide = pd.read_csv(tmp / "i.csv")
    assert wide[["start", "end", "n_flagged"]].equals(found[["start", "end", "n_flagged"]])


def test_table_model_writes_incidents_of_consecutive_rows(models):
    tmp, _ = models
    code, out = nadkit("detect", tmp / "pca", tmp / "test.csv", "-o", tmp / "p.csv", "--incidents", tmp / "p-inc.csv",
                       "--contributions")  # top features come from the contributions
    assert code == 0, out
    found = pd.read_csv(tmp / "p-inc.csv")
    scores = pd.read_csv(tmp / "p.csv")
    want = inc.flow_incidents(scores["score"], scores["anomaly"], gap=inc.DEFAULT_GAP)
    assert found[["start", "end", "n_flagged"]].equals(want[["start", "end", "n_flagged"]])
    assert found["top"].notna().all()  # PCA has per-feature contributions


def test_incidents_output_is_guarded(models, tmp_path):
    tmp, _ = models
    mine = tmp_path / "notes.json"
    mine.write_text('{"mine": true}')
    code, out = nadkit("detect", tmp / "dcvae", tmp / "test.csv", "-o", tmp_path / "s.csv", "--fill-gaps", 1,
                       "--incidents", mine)
    assert code == 2 and "refusing to replace" in out and not (tmp_path / "s.csv").exists()
    assert mine.read_text() == '{"mine": true}'
    code, out = nadkit("detect", tmp / "pca", tmp / "test.csv", "-o", tmp_path / "s.csv", "--incidents", tmp_path / "s.csv")
    assert code == 2 and "also an input or the scores output" in out
    code, out = nadkit("detect", tmp / "pca", tmp / "test.csv", "-o", tmp_path / "s.csv", "--incidents", tmp_path / "i.txt")
    assert code == 2 and ".csv or .json" in out
    assert not list(tmp_path.glob("*.tmp")) and not (tmp_path / "s.csv").exists()
