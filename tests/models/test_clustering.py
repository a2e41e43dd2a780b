"""Clustering autoencoders: CAE's centring gradient and Lloyd step, per-cluster thresholds,
one-class heads saved with skops, BIRCH/K-means routing with empty clusters, composite artifacts."""

import json

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from nadkit import artifact
from nadkit.errors import ArtifactError, DataError
from nadkit.metrics import auroc
from nadkit.models import BAE, CAE, KSAE, SAE
from nadkit.models.cae import CAENet
from nadkit.models.clustered import trimmed_sample
from nadkit.pipeline import Pipeline

TINY = {"hidden": (32,), "latent": 4, "epochs": 3, "batch_size": 512, "lr": 3e-3}


def _net(legacy: bool) -> CAENet:
    torch.manual_seed(0)
    net = CAENet(6, [8], 2, 0.0, n_clusters=2, clustering_force=1.0, centering_force=1.0, legacy=legacy)
    net.centres.copy_(torch.tensor([[1.0, 0.0], [-1.0, 0.0]]))
    return net.train()


def test_cae_centring_term_has_a_gradient_and_legacy_has_none():
    x = torch.randn(64, 6, generator=torch.Generator().manual_seed(1))
    net = _net(legacy=False)
    centring = net.training_loss(x)["centring"]
    (grad,) = torch.autograd.grad(centring, net.encoder[0].weight)
    assert centring.requires_grad and grad.abs().sum() > 0
    legacy = _net(legacy=True).training_loss(x)["centring"]
    assert not legacy.requires_grad                       # the upstream term: a constant
    assert float(legacy) == pytest.approx(1.0)            # mean ‖c_k‖² of the two unit centres


def test_lloyd_step_moves_centres_to_cluster_means():
    net = _net(legacy=False)
    batches = [torch.randn(50, 6, generator=torch.Generator().manual_seed(s)) for s in (2, 3)]
    latents = []
    for xb in batches:
        net.training_loss(xb)
        with torch.no_grad():
            latents.append(net.encode(xb))               # same batch statistics → same latents
    z = torch.cat(latents)
    k = net.squared_distances(z).argmin(dim=1)
    expected = torch.stack([z[k == c].mean(dim=0) for c in range(2)])
    net.on_epoch_end(0)
    torch.testing.assert_close(net.centres, expected, rtol=1e-5, atol=1e-6)
    assert float(net.epoch_counts.sum()) == 0            # sums reset for the next epoch
    net.eval().training_loss(batches[0])                  # validation passes do not accumulate
    assert float(net.epoch_counts.sum()) == 0


def test_cae_per_cluster_thresholds_drive_predict(nsl_small):
    det = CAE(n_clusters=3, **TINY).fit(nsl_small["X_train"])
    X = nsl_small["X_test"]
    k = det.assign_clusters(X)
    assert len(det.cluster_thresholds_) == 3 and sum(det.cluster_sizes_) > 0
    expected = (det.score(X) > np.asarray(det.cluster_thresholds_)[k]).astype(np.int8)
    np.testing.assert_array_equal(det.predict(X), expected)
    # thresholds are quantiles of the eval-mode training distances within each cluster
    train_k = det.assign_clusters(nsl_small["X_train"])
    busiest = int(np.bincount(train_k).argmax())
    assert np.mean(det.score(nsl_small["X_train"])[train_k == busiest] > det.cluster_thresholds_[busiest]) < 0.03


@pytest.mark.parametrize("head", ["lof", "ocsvm"])
def test_sae_sklearn_heads_save_with_skops(head, nsl_small, tmp_path):
    det = SAE(head=head, head_fit_size=2000, n_neighbors=50, **TINY).fit(nsl_small["X_train"])
    X, y = nsl_small["X_test"], nsl_small["y_test"]
    assert auroc(y, det.score(X)) > 0.85
    artifact.save(Pipeline(det, nsl_small["pre"]), tmp_path / head)
    assert (tmp_path / head / "head.skops").is_file()
    again = artifact.load(tmp_path / head).detector
    np.testing.assert_array_equal(again.score(X), det.score(X))


def test_trimmed_sample_drops_high_norm_rows():
    X = np.vstack([np.zeros((90, 3)), np.full((10, 3), 50.0)]).astype("float32")
    sample = trimmed_sample(X, 0.9, 1000, seed=0)
    assert len(sample) == 90 and np.abs(sample).max() == 0
    assert len(trimmed_sample(X, 0.9, 20, seed=0)) == 20


def _blobs_with_stragglers():
    rng = np.random.default_rng(0)
    return np.vstack([rng.normal(0, 0.3, (600, 4)), rng.normal(5, 0.3, (600, 4)),
                      rng.normal(40, 0.3, (3, 4))]).astype("float32")


def test_bae_drops_an_empty_or_tiny_birch_cluster(tmp_path):
    X = _blobs_with_stragglers()
    det = BAE(n_clusters=3, birch_threshold=0.5, cluster_fit_quantile=1.0, min_cluster_size=50,
              **TINY).fit(X)
    assert det.dropped_clusters_ == 1 and len(det.models_) == 2
    assert sorted(det.cluster_sizes_) == [600, 603]      # the 3 stragglers joined a neighbour
    s = det.score(X)
    assert np.isfinite(s).all() and s[-3:].min() > np.quantile(s[:-3], 0.99)
    assert np.isfinite(det.score(X[:10])).all()           # a cluster with no rows to score
    pre = _identity_preprocessor(X)
    artifact.save(Pipeline(det, pre), tmp_path / "bae")
    again = artifact.load(tmp_path / "bae").detector
    np.testing.assert_array_equal(again.score(X), s)


def test_ksae_composite_artifact_is_one_safetensors_file(tmp_path):
    X = _blobs_with_stragglers()[:1200]
    det = KSAE(n_clusters=2, head="lof", n_neighbors=20, **TINY).fit(X)
    np.testing.assert_array_equal(np.sort(np.bincount(det.assign_clusters(X))), [600, 600])
    artifact.save(Pipeline(det, _identity_preprocessor(X)), tmp_path / "ksae")
    files = sorted(p.name for p in (tmp_path / "ksae").iterdir())
    assert files == ["config.json", "heads.skops", "manifest.json", "preprocessor.json",
                     "threshold.json", "weights.safetensors"]
    with safe_open(str(tmp_path / "ksae" / "weights.safetensors"), "pt") as f:
        keys = set(f.keys())
    assert {"route.centres", "route.cluster", "scales"} <= keys
    assert any(k.startswith("cluster0.encoder") for k in keys) and any(k.startswith("cluster1.") for k in keys)
    state = json.loads((tmp_path / "ksae" / "config.json").read_text())["state"]
    assert [s["params"]["random_state"] for s in state["submodels"]] == [0, 1]
    again = artifact.load(tmp_path / "ksae").detector
    np.testing.assert_array_equal(again.score(X), det.score(X))


def test_ksae_normalised_scores_put_cluster_thresholds_at_one():
    X = _blobs_with_stragglers()[:1200]
    det = KSAE(n_clusters=2, threshold_quantile=0.9, **TINY).fit(X)
    raw = KSAE(n_clusters=2, threshold_quantile=0.9, normalize=False, **TINY).fit(X)
    k = det.assign_clusters(X)
    ratio = raw.score(X) / det.score(X)
    for c in range(2):
        np.testing.assert_allclose(ratio[k == c], det.scales_[c], rtol=1e-6)
    assert np.all(raw.scales_ == 1.0)


def _identity_preprocessor(X):
    import pandas as pd

    from nadkit.data.preprocess import Preprocessor

    return Preprocessor(log_transform=False, scaling=None).fit(
        pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])]))


def test_standard_bench_reports_cluster_weighted_next_to_global_auroc(tmp_path, data_root):
    from nadkit.experiments.bench import run_bench

    run_bench("nsl-kdd", ["cae"], tmp_path, params={"cae": {"hidden": (32,), "latent": 4, "epochs": 2}},
              throughput_rows=0)
    m = json.loads((tmp_path / "cae" / "metrics.json").read_text())
    assert m["auroc"] > 0.8 and 0.5 < m["cluster_weighted_auroc"] <= 1.0


def test_tracked_composite_fit_logs_one_nested_run_per_cluster(tmp_path, monkeypatch):
    """Against the real local MLflow store (SQLite file in tmp_path): each cluster sub-model of
    a KSAE (BAE shares the code: ``ClusteredAE._fit``) is a child run of the active run, with
    its parameters, its per-epoch losses and its scale."""
    mlflow = pytest.importorskip("mlflow")
    from nadkit.experiments import tracking

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.chdir(tmp_path)  # the artifact store (./mlruns) stays in tmp_path
    cls = KSAE
    X = _blobs_with_stragglers()[:1200]
    with tracking.run(f"train {cls.__name__}", {"model": cls.__name__}, experiment="t-composite") as parent_id:
        det = cls(n_clusters=2, **TINY).fit(X)
    client = mlflow.MlflowClient(tracking.tracking_uri())
    exp = client.get_experiment_by_name("t-composite")
    children = client.search_runs([exp.experiment_id], f"tags.mlflow.parentRunId = '{parent_id}'")
    by_name = {r.info.run_name: r for r in children}
    assert set(by_name) == {"cluster_0", "cluster_1"}
    for k in range(2):
        child = by_name[f"cluster_{k}"]
        assert child.info.status == "FINISHED"
        assert child.data.params["cluster"] == str(k) and child.data.params["random_state"] == str(k)
        assert int(child.data.params["rows"]) == det.cluster_sizes_[k]
        assert child.data.metrics["scale"] == pytest.approx(det.scales_[k])
        epochs = [m.step for m in client.get_metric_history(child.info.run_id, "train_loss")]
        assert epochs == list(range(len(det.models_[k].history_))) and epochs
    assert not client.get_metric_history(parent_id, "train_loss")  # losses went to the children
    # tracking off: the same fit, no store touched and the same scores
    again = cls(n_clusters=2, **TINY).fit(X)
    np.testing.assert_array_equal(again.score(X), det.score(X))


def test_bad_hyper_parameters_and_tampered_composite_artifacts(tmp_path):
    X = _blobs_with_stragglers()[:1200]
    with pytest.raises(DataError, match="head must be one of"):
        SAE(head="knn", **TINY).fit(X)
    with pytest.raises(DataError, match="no cluster has 5000 training rows"):
        KSAE(n_clusters=2, min_cluster_size=5000, **TINY).fit(X)
    det = KSAE(n_clusters=2, **TINY).fit(X)
    artifact.save(Pipeline(det, _identity_preprocessor(X)), tmp_path / "ksae")
    weights = tmp_path / "ksae" / "weights.safetensors"
    with safe_open(str(weights), "pt") as f:
        kept = {k: f.get_tensor(k) for k in f.keys() if not k.startswith("cluster1.")}  # noqa: SIM118
    save_file(kept, str(weights))  # a sub-model's weights missing
    with pytest.raises(ArtifactError):
        artifact.load(tmp_path / "ksae")
    weights.write_bytes(b"not safetensors")
    with pytest.raises(ArtifactError):
        artifact.load(tmp_path / "ksae")
