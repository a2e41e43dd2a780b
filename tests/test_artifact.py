"""Model directories: complete, verified on load, refused with a clear message when damaged."""

import hashlib
import json

import numpy as np
import pytest

from nadkit import artifact
from nadkit.errors import ArtifactError
from nadkit.models import PCA, IForest
from nadkit.pipeline import Pipeline


@pytest.fixture
def saved(tmp_path, nsl_small):
    pipe = Pipeline(IForest(n_estimators=20), nsl_small["pre"])
    pipe.detector.fit(nsl_small["X_train"])
    path = artifact.save(pipe, tmp_path / "model")
    return path, pipe


def test_layout_and_manifest(saved):
    path, _ = saved
    names = sorted(p.name for p in path.iterdir())
    assert names == ["config.json", "manifest.json", "model.skops", "preprocessor.json", "threshold.json"]
    m = json.loads((path / "manifest.json").read_text())
    assert m["detector"] == "iforest" and m["versions"]["nadkit"]
    assert m["schema"]["columns"][:2] == ["duration", "protocol_type"]
    assert set(m["files"]) == set(names) - {"manifest.json"}
    assert not list(path.parent.glob(".model*"))  # no temporary leftovers


def test_pca_uses_safetensors(tmp_path, nsl_small):
    pipe = Pipeline(PCA(), nsl_small["pre"])
    pipe.detector.fit(nsl_small["X_train"])
    path = artifact.save(pipe, tmp_path / "pca")
    assert (path / "weights.safetensors").is_file()
    np.testing.assert_array_equal(artifact.load(path).score(nsl_small["test"].X),
                                  pipe.score(nsl_small["test"].X))


@pytest.mark.parametrize("damage, message", [
    (lambda p: (p / "model.skops").write_bytes((p / "model.skops").read_bytes()[:100]), "truncated"),
    (lambda p: (p / "threshold.json").write_text('{"method": "quantile", "value": 1.0, "params": {"q": 0.5}}'),
     "truncated or changed|corrupt"),
    (lambda p: (p / "config.json").unlink(), "config.json listed in the manifest is missing"),
    (lambda p: (p / "manifest.json").write_text("{not json"), "manifest.json is corrupt"),
    (lambda p: (p / "manifest.json").unlink(), "manifest.json is missing"),
])
def test_damaged_artifacts_are_refused(saved, damage, message):
    path, _ = saved
    damage(path)
    with pytest.raises(ArtifactError, match=message):
        artifact.load(path)


def test_future_format_and_foreign_detector_are_refused(saved):
    path, _ = saved
    m = json.loads((path / "manifest.json").read_text())
    m["format_version"] = 99
    (path / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(ArtifactError, match="upgrade nadkit"):
        artifact.load(path)


def test_unknown_detector_name_never_imports_anything(saved):
    path, _ = saved
    cfg = json.loads((path / "config.json").read_text())
    cfg["detector"] = "os.system"
    (path / "config.json").write_text(json.dumps(cfg))
    m = json.loads((path / "manifest.json").read_text())
    data = (path / "config.json").read_bytes()  # pretend the manifest agrees
    m["files"]["config.json"] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    (path / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(ArtifactError, match=r"unknown detector 'os\.system'"):
        artifact.load(path)


def test_missing_directory(tmp_path):
    with pytest.raises(ArtifactError, match="not found"):
        artifact.load(tmp_path / "nothing")


def test_update_threshold_keeps_manifest_valid(saved, nsl_small):
    path, _ = saved
    pipe = artifact.load(path)
    pipe.calibrate(nsl_small["train"], method="fpr", fpr=0.05)
    artifact.update_threshold(path, pipe)
    again = artifact.load(path)
    assert again.threshold.method == "fpr" and again.threshold.value_ == pipe.threshold.value_
