"""Hostile and damaged model directories (issue 14): only plain files inside the directory are
opened, sizes are checked before hashing, every JSON field is validated before anything is
built, non-finite values and weights are refused, and calibrate's update is one atomic swap."""

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import load_file, save_file

from nadkit import artifact
from nadkit.data import Preprocessor
from nadkit.errors import ArtifactError
from nadkit.models import AE, PCA, IForest
from nadkit.pipeline import Pipeline
from nadkit.thresholds import TargetFPR

from .tampering import manifest, rewrite


def _table(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"duration": rng.exponential(2.0, n), "bytes": rng.lognormal(6, 1, n).round(),
                         "rate": rng.uniform(0, 1, n), "proto": rng.choice(["tcp", "udp", "icmp"], n)})


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    """PCA, IForest and a tiny AE fitted on 400 rows, each saved once (copied per test)."""
    root = tmp_path_factory.mktemp("models")
    df = _table(400, 0)
    pre = Preprocessor().fit(df)
    X = pre.transform(df)
    for name, det in (("pca", PCA()), ("iforest", IForest(n_estimators=10, max_samples=256)),
                      ("ae", AE(hidden=(8,), latent=2, epochs=2, batch_size=64))):
        det.fit(X)
        artifact.save(Pipeline(det, pre), root / name)
    return root, df


@pytest.fixture
def model(pristine, tmp_path, request):
    root, _ = pristine
    name = getattr(request, "param", "pca")
    path = tmp_path / name
    shutil.copytree(root / name, path)
    return path


def edit_json(path, name, change):
    obj = json.loads((path / name).read_text())
    change(obj)
    rewrite(path, name, obj)


def refused(path, *fragments):
    with pytest.raises(ArtifactError) as info:
        artifact.load(path)
    message = str(info.value)
    for f in fragments:
        assert f in message, message
    assert "\n" not in message
    return message


# ----------------------------------------------------------------- files outside the directory
@pytest.mark.parametrize("target", ["../../../../etc/passwd", "/etc/hostname", "sub/config.json"])
def test_manifest_entry_outside_the_directory_is_never_opened(model, target):
    outside = target if target.startswith("/") else os.path.normpath(model / target)
    if not os.path.isfile(outside):
        os.makedirs(os.path.dirname(outside), exist_ok=True)
        shutil.copy(model / "config.json", outside)
    data = Path(outside).read_bytes()
    m = manifest(model)
    m["files"][target] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    (model / "manifest.json").write_text(json.dumps(m))
    refused(model, repr(target), "not a plain file name")


def test_symlinked_weights_are_refused(model, tmp_path):
    elsewhere = tmp_path / "elsewhere.safetensors"
    shutil.move(model / "weights.safetensors", elsewhere)
    os.symlink(elsewhere, model / "weights.safetensors")  # same bytes, same hash
    refused(model, "weights.safetensors is a symbolic link")


def test_a_fifo_is_refused_without_blocking(model):
    (model / "threshold.json").unlink()
    os.mkfifo(model / "threshold.json")
    start = time.monotonic()
    refused(model, "threshold.json is not a plain file")
    assert time.monotonic() - start < 5


@pytest.mark.parametrize("name, size", [("weights.safetensors", 5 << 30), ("config.json", 200 << 20)])
def test_oversized_files_are_refused_before_hashing(model, name, size):
    with open(model / name, "r+b") as f:
        f.truncate(size)  # sparse: no disk used, but hashing it would read every byte
    m = manifest(model)
    m["files"][name] = {"sha256": "0" * 64, "bytes": size}
    (model / "manifest.json").write_text(json.dumps(m))
    start = time.monotonic()
    refused(model, name, "allowed")
    assert time.monotonic() - start < 2


def test_files_a_model_does_not_have_are_refused(model):
    rewrite(model, "notes.txt", "hello")
    refused(model, "does not have", "notes.txt")


def test_unlisted_required_file_is_refused(model):
    m = manifest(model)
    del m["files"]["weights.safetensors"]
    (model / "manifest.json").write_text(json.dumps(m))
    refused(model, "does not list", "weights.safetensors")


# --------------------------------------------------------------------------------- JSON fields
@pytest.mark.parametrize("change, fragment", [
    (lambda m: m.update(files=[]), "field files"),
    (lambda m: m["files"].update({"config.json": "abc"}), "field files.config.json"),
    (lambda m: m.update(versions="1.0"), "field versions"),
    (lambda m: m.update(training={"training_rows": [1, 2]}), "field training.training_rows"),
    (lambda m: m.update(input_kind="graph"), "field input_kind"),
    (lambda m: m.update(format_version="1"), "field format_version"),
    (lambda m: m.update(schema={"columns": ["x"]}), "schema does not match preprocessor.json"),
])
def test_wrong_manifest_fields_are_refused(model, change, fragment):
    m = manifest(model)
    change(m)
    (model / "manifest.json").write_text(json.dumps(m))
    refused(model, "manifest.json", fragment)


@pytest.mark.parametrize("name", ["manifest.json", "config.json"])
def test_deep_nesting_is_refused(model, name):
    text = (model / name).read_text().rstrip().rstrip("}")
    deep = text + ', "deep": ' + "[" * 100_000 + "]" * 100_000 + "}"  # RecursionError in json
    rewrite(model, name, deep) if name == "config.json" else (model / name).write_text(deep)
    refused(model, name, "nested too deeply")
    nested = text + ', "deep": ' + "[" * 40 + "]" * 40 + "}"
    rewrite(model, name, nested) if name == "config.json" else (model / name).write_text(nested)
    refused(model, name, "nested more than 32 levels")


@pytest.mark.parametrize("model, change, fragment", [
    ("pca", lambda c: c.update(state=[]), "field state"),
    ("pca", lambda c: c["state"].update(n_features_in="6"), "field state.n_features_in"),
    ("pca", lambda c: c["state"].update(n_features_in=9), "n_features_in 9, but preprocessor.json makes 7"),
    ("ae", lambda c: c["state"].update(n_features_in=10**12), "less than or equal to 1000000"),
    ("ae", lambda c: c["params"].update(latent="2"), "parameter latent"),
    ("ae", lambda c: c["params"].update(hidden=[10**9]), "does not fit the configured network"),
    ("ae", lambda c: c["params"].update(colour="red"), "unknown parameter 'colour'"),
    ("ae", lambda c: c["state"].update(epochs_run=True), "field state.epochs_run"),
    ("iforest", lambda c: c["params"].update(n_estimators=2.5), "parameter n_estimators"),
    ("iforest", lambda c: c["state"].update(n_features_in=3), "n_features_in 3"),
], indirect=["model"])
def test_wrong_config_fields_are_refused(model, change, fragment):
    edit_json(model, "config.json", change)
    start = time.monotonic()
    refused(model, "config.json" if "network" not in fragment else "weights.safetensors", fragment)
    assert time.monotonic() - start < 10  # nothing huge was allocated


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_non_finite_threshold_is_refused(model, value):
    text = (model / "threshold.json").read_text()
    old = json.loads(text)["value"]
    rewrite(model, "threshold.json", text.replace(repr(old), value))
    refused(model, "threshold.json", "corrupt")


@pytest.mark.parametrize("change, fragment", [
    (lambda t: t.update(value="0.5"), "field value"),
    (lambda t: t.update(method="quantile", params={"q": "high"}), "params of a 'quantile' threshold: field q"),
    (lambda t: t.update(method="pot", params={"risk": 1e-3, "level": 0.98}), "gpd_shape"),
    (lambda t: t.update(n_calibration=-1), "field n_calibration"),
    (lambda t: t.update(method="alpha", params={}, value=None, alpha_up=[1.0], alpha_down=[1.0]),
     "α for 1 channels"),
])
def test_wrong_threshold_fields_are_refused(model, change, fragment):
    edit_json(model, "threshold.json", change)
    refused(model, "threshold.json", fragment)


@pytest.mark.parametrize("change, fragment", [
    (lambda p: p["state"].update(offset_=["a"] * 6), "field state.offset_.0"),
    (lambda p: p["state"]["scale_"].__setitem__(0, 0.0), "field state.scale_.0"),
    (lambda p: p["state"].update(keep_=[True]), "keep_ has 1 entries"),
    (lambda p: p["state"]["feature_names_out_"].__setitem__(0, "other"), "feature_names_out_ does not match"),
    (lambda p: p["state"]["categories_"].update(proto=["tcp"]), "keep_ has 7 entries for 5"),
    (lambda p: p["params"].update(scaling="log"), "field params.scaling"),
    (lambda p: p.update(kind="graph"), "unknown preprocessor kind 'graph'"),
])
def test_wrong_preprocessor_fields_are_refused(model, change, fragment):
    edit_json(model, "preprocessor.json", change)
    refused(model, "preprocessor.json", fragment)


# --------------------------------------------------------------------------------- weights
@pytest.mark.parametrize("model", ["pca", "ae"], indirect=True)
def test_nan_weights_are_refused(model):
    tensors = load_file(model / "weights.safetensors")
    first = next(k for k, v in tensors.items() if v.is_floating_point())
    tensors[first] = torch.full_like(tensors[first], float("nan"))
    save_file(tensors, str(model / "weights.safetensors"))
    rewrite(model, "weights.safetensors", (model / "weights.safetensors").read_bytes())
    refused(model, "weights.safetensors", repr(first), "NaN or infinite")


@pytest.mark.parametrize("model", ["pca", "ae"], indirect=True)
def test_a_non_safetensors_weights_file_is_refused(model):
    rewrite(model, "weights.safetensors", b"PK\x03\x04 this is a zip, not safetensors" * 10)
    refused(model, "weights.safetensors", "not a valid safetensors file")


@pytest.mark.parametrize("model", ["iforest"], indirect=True)
def test_a_non_skops_model_file_is_refused(model):
    rewrite(model, "model.skops", b"\x80\x04pickle? no." * 10)
    refused(model, "model.skops")


# ---------------------------------------------------------------------- the CLI and saved models
def test_cli_prints_one_error_line(model):
    edit_json(model, "config.json", lambda c: c["state"].update(n_features_in=10**12))
    res = subprocess.run([sys.executable, "-m", "nadkit", "info", str(model)], capture_output=True,
                         text=True, timeout=300, env={**os.environ, "COLUMNS": "200"})
    assert res.returncode == 2, res.stdout + res.stderr
    assert res.stderr.strip().splitlines()[-1].startswith("error:") and "n_features_in" in res.stderr
    assert "Traceback" not in res.stderr + res.stdout


@pytest.mark.parametrize("model", ["pca", "iforest", "ae"], indirect=True)
def test_intact_models_still_load_and_score(model, pristine):
    _, df = pristine
    pipe = artifact.load(model)
    scores = pipe.score(df)
    assert np.isfinite(scores).all() and len(scores) == len(df)


# ------------------------------------------------------------------------- atomic calibrate
class Crash(BaseException):
    """A simulated kill: not an Exception, so no ``except`` clause handles it."""


def _instrument(monkeypatch, crash_at: int) -> list[str]:
    """Make the ``crash_at``-th file-system step of an update raise :class:`Crash`."""
    calls: list[str] = []

    def wrap(owner, attr):
        real = getattr(owner, attr)

        def step(*args, **kwargs):
            calls.append(attr)
            if len(calls) == crash_at:
                raise Crash(attr)
            return real(*args, **kwargs)
        monkeypatch.setattr(owner, attr, step)

    for owner, attr in ((os, "replace"), (os, "rename"), (os, "write"), (os, "fsync"),
                        (shutil, "rmtree"), (artifact, "_exchange")):
        if hasattr(owner, attr):
            wrap(owner, attr)
    return calls


@pytest.mark.parametrize("exchange", [True, False], ids=["renameat2", "rename-fallback"])
def test_update_threshold_crash_at_any_step_leaves_a_loadable_model(model, pristine, tmp_path,
                                                                    monkeypatch, exchange):
    _, df = pristine
    pipe = artifact.load(model)
    old = pipe.threshold.value_
    pipe.detector.threshold_ = TargetFPR(0.2).fit(pipe.score(df))
    new = pipe.threshold.value_
    assert new != old
    if not exchange:
        monkeypatch.setattr(artifact, "_exchange", lambda a, b: False, raising=False)
    seen = set()
    for k in range(1, 100):
        work = tmp_path / f"try{k}"
        work.mkdir()
        shutil.copytree(model, work / "model")
        with monkeypatch.context() as mp:
            calls = _instrument(mp, k)
            try:
                artifact.update_threshold(work / "model", pipe)
                finished = True
            except Crash:
                finished = False
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            got = artifact.load(work / "model").threshold.value_  # never broken
        assert got in (old, new), (k, calls)
        seen.add(got)
        if finished:
            assert got == new and len(calls) < k
            break
    assert seen == {old, new}


def test_interrupted_fallback_swap_loads_the_backup_and_next_update_recovers(model, pristine, monkeypatch):
    """Without renameat2, a crash between "old → backup" and "new → path" leaves no path: load
    reads the backup (with a warning) and the next calibrate puts a model back at the path."""
    _, df = pristine
    pipe = artifact.load(model)
    old = pipe.threshold.value_
    monkeypatch.setattr(artifact, "_exchange", lambda a, b: False)
    real = artifact._rename

    def rename_then_crash(a, b):
        real(a, b)
        if ".old-" in str(b):
            raise Crash("killed after moving the old directory aside")
    monkeypatch.setattr(artifact, "_rename", rename_then_crash)
    with pytest.raises(Crash):
        artifact.update_threshold(model, pipe)
    assert not model.exists()
    with pytest.warns(UserWarning, match="interrupted update"):
        again = artifact.load(model)
    assert again.threshold.value_ == old
    monkeypatch.setattr(artifact, "_rename", real)
    again.detector.threshold_ = TargetFPR(0.2).fit(again.score(df))
    with pytest.warns(UserWarning, match="interrupted update"):
        artifact.update_threshold(model, again)
    assert artifact.load(model).threshold.value_ == again.threshold.value_
    assert not list(model.parent.glob(f".{model.name}.*"))  # backup and temporaries gone


def test_update_threshold_through_a_symlinked_model_dir_keeps_the_link(model, pristine, tmp_path):
    link = tmp_path / "current"
    os.symlink(model, link)
    pipe = artifact.load(link)
    pipe.detector.threshold_ = TargetFPR(0.3).fit(pipe.score(pristine[1]))
    artifact.update_threshold(link, pipe)
    assert link.is_symlink() and artifact.load(model).threshold.value_ == pipe.threshold.value_
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_update_threshold_killed_mid_swap_in_a_real_process(model, pristine):
    """SIGKILL (no cleanup at all) right after the old directory was moved aside."""
    code = f"""
import os, signal
from nadkit import artifact
from nadkit.thresholds import Fixed
pipe = artifact.load({str(model)!r})
pipe.detector.threshold_ = Fixed(123.0).fit([0.0])
artifact._exchange = lambda a, b: False
real = artifact._rename
def rename(a, b):
    real(a, b)
    if ".old-" in str(b):
        os.kill(os.getpid(), signal.SIGKILL)
artifact._rename = rename
artifact.update_threshold({str(model)!r}, pipe)
"""
    old = artifact.load(model).threshold.value_
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert res.returncode == -signal.SIGKILL, res.stderr
    with pytest.warns(UserWarning, match="interrupted update"):
        assert artifact.load(model).threshold.value_ == old


# ------------------------------------------------------------------------------ series models
@pytest.fixture(scope="module")
def series_pristine(tmp_path_factory):
    """A tiny Seq2Seq on a 3-channel series, saved with a per-channel α threshold."""
    from nadkit.data.series import SeriesPreprocessor
    from nadkit.models import Seq2Seq
    from nadkit.pipeline import SeriesPipeline
    from nadkit.thresholds import ChannelAlpha

    t = np.arange(900)
    df = pd.DataFrame({"cpu": np.sin(t / 20), "mem": np.cos(t / 15), "net": np.sin(t / 7)})
    df += np.random.default_rng(0).normal(0, 0.05, df.shape)
    pre = SeriesPreprocessor()
    det = Seq2Seq(window=8, hidden=4, epochs=1, batch_size=32)
    det.fit(pre.fit_transform(df, window=8))
    pipe = SeriesPipeline(det, pre)
    Z = pre.transform(df)
    mu, sigma = det.gaussian(Z)
    det.threshold_ = ChannelAlpha(target_fpr=0.02).fit_channels(Z, mu, sigma)
    path = tmp_path_factory.mktemp("series") / "seq2seq"
    artifact.save(pipe, path)
    return path, df


@pytest.fixture
def series_model(series_pristine, tmp_path):
    path = tmp_path / "seq2seq"
    shutil.copytree(series_pristine[0], path)
    return path


def test_series_model_with_alpha_threshold_loads(series_model, series_pristine):
    pipe = artifact.load(series_model)
    assert pipe.threshold.method == "alpha" and pipe.threshold.n_channels_ == 3
    assert np.isfinite(pipe.detector.score(pipe.preprocessor.transform(series_pristine[1]))[7:]).all()


@pytest.mark.parametrize("name, change, fragment", [
    ("threshold.json", lambda t: t.update(alpha_up=t["alpha_up"][:2]), "one length"),
    ("threshold.json", lambda t: t.update(alpha_up=t["alpha_up"][:2], alpha_down=t["alpha_down"][:2],
                                          best_f1=None, fpr=None, sigma_min=None, flat_value=None),
     "α for 2 channels, the model has 3"),
    ("config.json", lambda c: c["state"]["residual_scale"].__setitem__(0, -1.0), "field state.residual_scale.0"),
    ("config.json", lambda c: c["state"].update(residual_scale=[1.0]), "residual_scale has 1 values for 3"),
    ("preprocessor.json", lambda p: p["state"].update(step_="every tuesday"), "is not a time step"),
    ("preprocessor.json", lambda p: p["state"].update(channels_=["cpu", "cpu", "net"]), "duplicate"),
    ("preprocessor.json", lambda p: p.update(kind="table"), "preprocessor.json"),
])
def test_wrong_series_fields_are_refused(series_model, name, change, fragment):
    edit_json(series_model, name, change)
    refused(series_model, name, fragment)


def test_series_manifest_section_must_match_the_model(series_model):
    m = manifest(series_model)
    m["series"]["context"] = 99
    (series_model / "manifest.json").write_text(json.dumps(m))
    refused(series_model, "series section does not match")


def test_a_dcvae_file_from_before_smooth_keeps_its_per_step_score(series_pristine, tmp_path):
    """DC-VAE's ``smooth`` (default 8) did not exist in older model files: such a file loads
    with ``smooth=1``, the score it was saved with, not the new default's."""
    from nadkit.data.series import SeriesPreprocessor
    from nadkit.models import DCVAE
    from nadkit.pipeline import SeriesPipeline

    df = series_pristine[1]
    pre = SeriesPreprocessor()
    Z = pre.fit_transform(df, window=16)
    det = DCVAE(window=16, cnn_units=(8, 8), dilations=(1, 2, 4), step_budget=5, smooth=1).fit(Z)
    artifact.save(SeriesPipeline(det, pre), tmp_path / "old")
    edit_json(tmp_path / "old", "config.json", lambda c: c["params"].pop("smooth"))
    assert "smooth" not in json.loads((tmp_path / "old" / "config.json").read_text())["params"]
    again = artifact.load(tmp_path / "old").detector
    assert again.smooth == 1 and DCVAE().smooth == 32
    np.testing.assert_array_equal(again.score(Z), det.score(Z))
    # saved with smooth=8 before smooth_stat existed: the moving mean it was saved with
    det = DCVAE(window=16, cnn_units=(8, 8), dilations=(1, 2, 4), step_budget=5, smooth_stat="mean").fit(Z)
    artifact.save(SeriesPipeline(det, pre), tmp_path / "mean")
    edit_json(tmp_path / "mean", "config.json", lambda c: c["params"].pop("smooth_stat"))
    again = artifact.load(tmp_path / "mean").detector
    assert again.smooth_stat == "mean" and DCVAE().smooth_stat == "max"
    np.testing.assert_array_equal(again.score(Z), det.score(Z))


def test_a_series_file_from_before_train_scale_loads_unless_it_needs_it(series_pristine, tmp_path):
    """``train_scale`` (the training std per channel, for ``channel_score="unit"``) is absent
    from older series model files: a residual-score model loads and scores as before; a
    unit-score file without it is refused, naming the field."""
    from nadkit.data.series import SeriesPreprocessor
    from nadkit.models import DCVAE
    from nadkit.pipeline import SeriesPipeline

    df = series_pristine[1]
    pre = SeriesPreprocessor()
    Z = pre.fit_transform(df, window=16)
    dets = {}
    for score in ("residual", "unit"):
        dets[score] = DCVAE(window=16, cnn_units=(8, 8), dilations=(1, 2, 4), step_budget=5,
                            channel_score=score).fit(Z)
        artifact.save(SeriesPipeline(dets[score], pre), tmp_path / score)
        edit_json(tmp_path / score, "config.json", lambda c: c["state"].pop("train_scale"))
    again = artifact.load(tmp_path / "residual").detector
    assert again.train_scale_ is None
    np.testing.assert_array_equal(again.score(Z), dets["residual"].score(Z))
    refused(tmp_path / "unit", "train_scale")
