"""A stream keeps its rolling threshold's window: chunks streamed to the service's store are
flagged as ``detect`` on the whole series flags them (the small DC-VAE of the service tests,
recalibrated with ``--method rolling`` on a normal SKAB run, fed 700 steps of SKAB valve1/0)."""

from __future__ import annotations

import shutil
import warnings

import numpy as np
import pytest

from nadkit import artifact
from nadkit.data import load_dataset
from nadkit.data.series import SeriesData
from nadkit.service.models import load_models
from nadkit.service.streams import StreamStore
from nadkit.thresholds import CalibrationWarning, RollingFPR

from .conftest import skab_normal_part

CHUNKS = (10, 40, 1, 200, 77, 150, 222)  # the first one shorter than the window


@pytest.fixture(scope="module")
def served(series_model, tmp_path_factory):
    """The service tests' DC-VAE, recalibrated with a rolling threshold and loaded as served."""
    model_dir = tmp_path_factory.mktemp("rolling") / "dcvae"
    shutil.copytree(series_model, model_dir)
    pipe = artifact.load(model_dir)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CalibrationWarning)
        pipe.calibrate(SeriesData(skab_normal_part(5)), method="rolling", fpr=0.05, window=100)
    artifact.update_threshold(model_dir, pipe)
    return load_models({"dcvae": model_dir})["dcvae"]


def test_streamed_chunks_are_flagged_as_the_whole_series(served):
    assert isinstance(served.pipeline.threshold, RollingFPR)

    series = load_dataset("skab", "valve1/0").slice(0, sum(CHUNKS))
    X = series.X[served.pipeline.preprocessor.channels_]
    whole = served.pipeline.bands(X)
    store, got, start = StreamStore(), [], 0
    for k in CHUNKS:
        out = store.append(served, "valve", X.iloc[start:start + k], bands=True)
        got.extend(v if v is not None else 0 for v in out["labels"])
        start += k
    got, want = np.array(got), whole["step_flag"]
    scored = np.isfinite(whole["step_score"])
    limit = served.pipeline.threshold.step_thresholds(whole["step_score"])
    # float32 convolutions over different buffer lengths: equal except within noise of a threshold
    # (a moving max repeats a past score, so many steps sit exactly at their threshold)
    edge = np.abs(whole["step_score"] - limit) < 1e-4 * np.maximum(np.abs(limit), 1.0)
    assert np.array_equal(got[scored & ~edge], want[scored & ~edge])
    assert 5 <= want[scored].sum() <= 0.5 * scored.sum() and (~edge[scored]).mean() > 0.8


def test_the_series_page_gets_the_moving_threshold(served):
    """The dashboard's series payload carries each step's threshold (drawn as a line), and
    its scored steps are flagged exactly where their score is above it."""
    import orjson

    from nadkit.service.series import view_series
    from nadkit.service.state import dumps

    view = view_series(served, load_dataset("skab", "valve1/0"), max_steps=400)
    payload = orjson.loads(dumps(view.payload(channels=view.channels[:1])))
    limit = np.array([np.nan if v is None else v for v in payload["step_threshold"]], dtype=float)
    score = np.array([np.nan if v is None else v for v in payload["step_score"]], dtype=float)
    scored = np.isfinite(score)
    assert len(limit) == 400 and np.isfinite(limit[scored]).all()
    np.testing.assert_array_equal(np.array(payload["step_flag"])[scored], (score > limit)[scored])


def test_bands_flags_and_alerts_follow_each_steps_threshold(served, tmp_path):
    """With a rolling threshold the band limits move with it, so a channel is flagged exactly
    where its value leaves the band; a stream answer says each step's threshold, and its ECS
    alerts carry that threshold (a flagged step's score is above it: ratio > 1)."""
    import json

    from nadkit.alerts import ServiceAlerts

    series = load_dataset("skab", "valve1/0").slice(0, 700)
    X = series.X[served.pipeline.preprocessor.channels_]
    b = served.pipeline.bands(X)
    scored = np.isfinite(b["step_score"])
    limit = b["step_threshold"]
    assert np.isfinite(limit[scored]).all() and np.unique(limit[scored]).size > 5   # it moves
    np.testing.assert_array_equal(b["step_flag"][scored], (b["step_score"] > limit)[scored])
    # predict, the cheap path without bands, flags the same steps
    np.testing.assert_array_equal(served.pipeline.predict(X), b["step_flag"])
    value = b["value"]
    outside = (value < b["lower"]) | (value > b["upper"])
    on_edge = np.minimum(np.abs(value - b["lower"]), np.abs(value - b["upper"])) <= 1e-9 * (1 + np.abs(value))
    assert b["flag"][scored].any() and ((outside == b["flag"].astype(bool)) | on_edge)[scored].all()

    path = tmp_path / "alerts.jsonl"
    store, thresholds, flagged, start = StreamStore(alerts=ServiceAlerts(path=path)), [], [], 0
    for k in CHUNKS:
        out = store.append(served, "valve", X.iloc[start:start + k])
        thresholds.extend(np.nan if v is None else v for v in np.asarray(out["thresholds"], dtype=object))
        flagged.extend(int(s) for s, f in zip(out["steps"], out["labels"], strict=True) if f)
        start += k
    thresholds = np.asarray(thresholds, dtype=float)
    np.testing.assert_allclose(thresholds[scored], limit[scored], rtol=1e-4)
    store.alerts.close()
    docs = [json.loads(line) for line in path.read_text().splitlines()]
    assert [d["nadkit"]["step"] for d in docs] == flagged and docs
    for d in docs:
        assert d["nadkit"]["threshold"] == pytest.approx(thresholds[d["nadkit"]["step"]])
        assert d["nadkit"]["ratio"] > 1
