"""Net-GAN on real SKAB data: training in the shared trainer (per-epoch MMD²), the batched
gradient inverse search (improves, exits early), the learned inverse, score averaging over
covering windows against a naive reference, quality well above chance, save → load identical,
seeded determinism, bad input; and flows → series binning on a CIC-IDS2017-layout file."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import load_file
from sklearn.base import clone

from nadkit import artifact
from nadkit.data import TableData, load_dataset
from nadkit.data.loaders import read_cic_ids2017
from nadkit.data.series import SeriesPreprocessor, flows_to_series
from nadkit.errors import ArtifactError, DataError
from nadkit.metrics import auroc
from nadkit.models import NetGAN, make_detector
from nadkit.models.netgan import (
    LEGACY_PARAMS,
    PRE_CYCLE,
    PRE_MAX,
    PRE_SMOOTHED,
    PRE_STABILISED,
    cover_counts,
    covering_average,
    gradient_inverse,
    mmd2,
)
from nadkit.models.series_base import causal_max
from nadkit.pipeline import SeriesPipeline

from ..inprocess import run_nadkit
from ..tampering import rewrite

SMALL = {"window": 30, "latent": 8, "hidden": 32, "disc_hidden": 32, "inverse_hidden": 32,
         "step_budget": 150, "inverse_steps": 150}
TEST_FILES = ["valve1/0", "valve1/5", "valve2/1", "other/3", "other/10"]


@pytest.fixture(scope="module")
def skab(data_root):
    train = load_dataset("skab", "anomaly-free")
    pre = SeriesPreprocessor(scaling="minmax")
    X = pre.fit_transform(train, window=30)
    tests = {f: load_dataset("skab", f) for f in TEST_FILES}
    return {"train": train, "X": X, "pre": pre, "tests": tests}


@pytest.fixture(scope="module")
def fitted(skab):
    return NetGAN(**SMALL, random_state=0).fit(skab["X"])


def test_minmax_scaling_is_persisted(skab):
    X, pre = skab["X"], skab["pre"]
    assert X.min() == pytest.approx(-1) and X.max() == pytest.approx(1)
    again = SeriesPreprocessor.from_dict(pre.to_dict())
    np.testing.assert_array_equal(again.transform(skab["train"]), X)
    assert SeriesPipeline(NetGAN()).preprocessor.scaling == "minmax"


def test_training_in_the_shared_trainer(fitted):
    hist = fitted.history_
    assert len(hist) == fitted.epochs_run_ >= 1
    for key in ("train_d_loss", "train_g_loss", "train_mmd2", "val_loss"):
        assert all(np.isfinite(h[key]) for h in hist), key
    assert fitted.inverse_history_ and "val_loss" in fitted.inverse_history_[-1]
    assert fitted.inverse_history_[-1]["val_loss"] < fitted.inverse_history_[0]["val_loss"]
    x = torch.zeros(8, 5, 3)
    assert float(mmd2(x, x, 1.0)) == 0.0 and float(mmd2(x, x + 0.5, 1.0)) > 0


def test_generated_vs_real_plot(fitted, skab, tmp_path):
    from nadkit import plots

    real = np.lib.stride_tricks.sliding_window_view(skab["X"][-300:], 30, axis=0)[::100].transpose(0, 2, 1)
    with torch.no_grad():
        fake = fitted.net_.generator(torch.randn(3, 30, fitted.latent)).numpy()
    plots.save(plots.generated_windows(real, fake, skab["pre"].channels_), tmp_path / "w.png")
    plots.save(plots.training_curves(fitted.history_), tmp_path / "t.png")
    assert (tmp_path / "w.png").stat().st_size > 5000 and (tmp_path / "t.png").stat().st_size > 5000
    with pytest.raises(DataError):
        plots.generated_windows(real, fake[:, :, :3])


def test_quality_on_skab(fitted, skab):
    """Residual (λ = 1), combined (λ = 0.5) scores per file well above chance."""
    for lam in (1.0, 0.5):
        fitted.set_params(score_weight=lam)
        aucs = []
        for te in skab["tests"].values():
            s = fitted.score(skab["pre"].transform(te))
            ok = np.isfinite(s)
            aucs.append(auroc(te.y[ok], s[ok]))
        assert np.mean(aucs) > 0.7, (lam, aucs)
    fitted.set_params(score_weight=0.5)


def test_gradient_search_improves_and_exits_early(fitted, skab):
    X = torch.from_numpy(skab["X"][-1000:])                               # held-out normal tail
    windows = X.unfold(0, 30, 1).transpose(1, 2)[::3][:300].contiguous()  # (300, 30, 8)
    gen = fitted.net_.generator.requires_grad_(False)
    z0 = torch.randn(300, 30, fitted.latent, generator=torch.Generator().manual_seed(0))
    start = (gen(z0) - windows).square().flatten(1).mean(1)
    z, loss, iters = gradient_inverse(gen, windows, fitted.latent, max_iter=40, restarts=2, seed=0)
    assert z.shape == (300, 30, fitted.latent) and loss.shape == (300,)
    np.testing.assert_allclose(loss, (gen(z) - windows).square().flatten(1).mean(1), rtol=1e-4)
    assert loss.mean() < 0.8 * start.mean() and (loss <= start).float().mean() > 0.95
    # early exit: with a loose tolerance every window leaves after the first iteration
    _, _, iters = gradient_inverse(gen, windows, fitted.latent, max_iter=40, tol=10.0)
    assert iters == 1
    # the learned inverse as a start can only help (its z is one of the candidates)
    init = fitted.net_.inverse(windows)
    learned = (gen(init) - windows).square().flatten(1).mean(1)
    _, refined, _ = gradient_inverse(gen, windows, fitted.latent, max_iter=10, init=init)
    assert (refined <= learned + 1e-6).all()


def test_learned_inverse_beats_random_latents(fitted, skab):
    X = skab["X"][-600:]
    windows = torch.from_numpy(X).unfold(0, 30, 1).transpose(1, 2).contiguous()
    with torch.no_grad():
        z = fitted.invert(windows)
        rand = torch.randn_like(z)
        g = fitted.net_.generator
        learned, random = (g(z) - windows).abs().mean(), (g(rand) - windows).abs().mean()
        assert learned < 0.8 * random, (float(learned), float(random))


def test_covering_average_equals_naive_reference(fitted, skab):
    n, T = 11, 4
    values = torch.randn(n - T + 1, T, 2, dtype=torch.float64)
    out = torch.zeros(n, 2, dtype=torch.float64)
    covering_average(values, torch.arange(n - T + 1), out)
    naive = np.zeros((n, 2))
    counts = np.zeros(n)
    for i in range(n - T + 1):
        for j in range(T):
            naive[i + j] += values[i, j].numpy()
            counts[i + j] += 1
    np.testing.assert_allclose(out.numpy(), naive)
    np.testing.assert_array_equal(cover_counts(n, T), counts)
    # the detector's per-step score is the naive average of the per-window scores
    det = clone(fitted).set_params(window=T, term_scaling="none", d_score="logit",   # the raw sum
                                     **PRE_SMOOTHED, **PRE_MAX)
    det.net_, det.n_features_in_, det.data_std_ = fitted.net_, fitted.n_features_in_, fitted.data_std_
    det.residual_scale_ = fitted.residual_scale_
    X = skab["pre"].transform(skab["tests"]["other/3"])[:n]
    w = torch.from_numpy(X).unfold(0, T, 1).transpose(1, 2)
    with torch.no_grad():
        g = fitted.net_.generator(fitted.net_.inverse(w))
        a = 0.5 * (w - g).abs() + 0.5 * torch.nn.functional.softplus(-fitted.net_.d_logits(w)).unsqueeze(-1)
    ref = np.zeros((n, X.shape[1]))
    for i in range(n - T + 1):
        ref[i:i + T] += a[i].numpy()
    ref /= counts[:, None]
    np.testing.assert_allclose(det.score_features(X)[T - 1:], ref[T - 1:], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(det.score(X)[T - 1:], ref[T - 1:].mean(1), rtol=1e-5, atol=1e-6)
    det.set_params(average="last")
    np.testing.assert_allclose(det.score_features(X)[T - 1:], a[:, -1].numpy(), rtol=1e-5, atol=1e-6)


def test_save_load_identical_and_one_weights_file(skab, tmp_path):
    tiny = {**SMALL, "epochs": 1, "inverse_epochs": 1}
    pipe = SeriesPipeline(NetGAN(**tiny)).fit(skab["train"].slice(0, 3000))
    test = skab["tests"]["valve2/1"]
    artifact.save(pipe, tmp_path / "m")
    keys = load_file(str(tmp_path / "m" / "weights.safetensors")).keys()
    assert {k.split(".")[0] for k in keys} == {"generator", "discriminator", "inverse"}
    loaded = artifact.load(tmp_path / "m")
    np.testing.assert_array_equal(loaded.score(test), pipe.score(test))
    assert loaded.preprocessor.scaling == "minmax"
    # seeded: the same fit gives the same scores, for the gradient search too
    again = SeriesPipeline(NetGAN(**tiny)).fit(skab["train"].slice(0, 3000))
    np.testing.assert_array_equal(again.score(test), pipe.score(test))
    for p in (again, loaded):
        p.detector.set_params(inverse="hybrid", max_iter=5, restarts=2)
    np.testing.assert_array_equal(again.score(test), loaded.score(test))


@pytest.mark.parametrize("loss", ["hinge", "wgan-gp", "bce"])
def test_stabilised_training_bakes_spectral_norm(skab, loss):
    """Hinge / WGAN-GP / BCE with spectral norm, feature matching and instance noise train; D's
    spectral norm is baked into plain weights (the tensor names of every Net-GAN model)."""
    det = NetGAN(**{**SMALL, "step_budget": 4, "inverse_steps": 3}, gan_loss=loss, spectral_norm=True,
                 feature_matching=1.0, instance_noise=0.05, random_state=0).fit(skab["X"][:2000])
    assert all(np.isfinite(h["train_d_loss"]) and np.isfinite(h["train_g_loss"]) for h in det.history_)
    keys = set(det.net_.state_dict())
    assert keys == set(NetGAN(**SMALL).fit(skab["X"][:400]).net_.state_dict()) and not any("parametriz" in k for k in keys)
    head = det.net_.discriminator.head.weight.detach()
    assert torch.linalg.matrix_norm(head, ord=2) <= 1.01
    assert len(det.term_scales_) == 3 and min(det.term_scales_) > 0
    s = det.score(skab["X"][-300:])
    assert np.isfinite(s[29:]).all()


def test_legacy_params_reproduce_the_seed_spec_scores():
    """``NetGAN(**LEGACY_PARAMS)`` is the Net-GAN from before the stabilised training: on the
    golden-score test's data and settings it gives that file's netgan arrays as they were on main
    at e370020 (kept in ``golden_netgan_legacy.npz``)."""
    golden = np.load(Path(__file__).with_name("golden_netgan_legacy.npz"))
    rng = np.random.default_rng(0)
    rng.normal(size=(600, 5))                                 # the golden test's table data comes first
    S = (np.cumsum(rng.normal(size=(400, 3)), axis=0) / 10).astype("float32")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        det = NetGAN(epochs=1, device="cpu", random_state=0, verbose=False, window=16, max_iter=3, restarts=1,
                     inverse_steps=5, **LEGACY_PARAMS).fit(S)
        mu, sigma = det.gaussian(S)
        now = {"netgan": det.score(S), "netgan:features": det.score_features(S), "netgan:mu": mu,
               "netgan:sigma": sigma, "netgan:threshold": np.array([det.threshold_.value_])}
    finally:
        torch.set_num_threads(threads)
    assert sorted(now) == sorted(golden.files)
    for key in golden.files:
        np.testing.assert_allclose(now[key], golden[key], rtol=1e-5, atol=1e-6, err_msg=key)
    assert not np.allclose(NetGAN(epochs=1, window=16, max_iter=3, inverse_steps=5, random_state=0).fit(S).score(S)[15:],
                           golden["netgan"][15:])                 # the defaults are another model


def test_model_saved_before_stabilised_training_loads_and_scores_the_same(skab, tmp_path):
    """A model directory without the new parameters and term scales (saved by an older nadkit)
    loads with the old training/score settings and gives the old scores; bad scales are refused."""
    tiny = {**SMALL, "epochs": 1, "inverse_epochs": 1}
    pipe = SeriesPipeline(NetGAN(**tiny, **LEGACY_PARAMS)).fit(skab["train"].slice(0, 2000))
    test = skab["tests"]["valve2/1"]
    artifact.save(pipe, tmp_path / "m")
    cfg = json.loads((tmp_path / "m" / "config.json").read_text())
    for k in (*PRE_STABILISED, "gp_weight"):
        del cfg["params"][k]
    del cfg["state"]["term_scales"]
    rewrite(tmp_path / "m", "config.json", cfg)
    old = artifact.load(tmp_path / "m")
    assert {k: old.detector.get_params()[k] for k in PRE_STABILISED} == PRE_STABILISED
    np.testing.assert_array_equal(old.score(test), pipe.score(test))
    cfg["state"]["term_scales"] = [0.0, 1.0, 1.0]
    rewrite(tmp_path / "m", "config.json", cfg)
    with pytest.raises(ArtifactError, match="term_scales"):
        artifact.load(tmp_path / "m")


def test_score_is_the_largest_residual_held_at_its_32_step_max(fitted, skab):
    """The default score (``benchmarks/netgan_defaults.py``'s choice, amendment 2): each
    channel's residual in units of its RMS residual on the held-out tail, the largest of them
    and D's term on their held-out scales (s_r from the same max over channels), then the
    causal moving max over 32 steps of the step score."""
    X = skab["pre"].transform(skab["tests"]["valve1/0"])
    assert (fitted.channel_units, fitted.aggregate, fitted.smooth, fitted.smooth_stat) == ("residual", "max", 32, "max")
    assert fitted.cycle_weight == 0.0
    _, r, _, lf = fitted._averaged(X)
    s_r, _, s_d = fitted.term_scales_
    step = 0.5 * (r / fitted.residual_scale_).max(axis=1) / s_r + 0.5 * lf[:, 0] / s_d
    got = fitted.score(X)
    assert np.isnan(got[:29]).all()
    np.testing.assert_allclose(got[29:], causal_max(step, 32), rtol=1e-9)
    assert fitted.context_ == 30 + 31
    from nadkit.data.series import blocked_split

    split = blocked_split(len(skab["X"]), 30, fitted.validation_fraction, 1, fitted.train_stride)
    held = np.concatenate([fitted._averaged(p)[1] for p in fitted._held_out_parts(skab["X"], split)[0]])
    assert s_r == pytest.approx(float((held / fitted.residual_scale_).max(axis=1).std()), rel=1e-9)


def test_cycle_weight_trains_the_inverse_with_the_generator(skab):
    """``cycle_weight`` > 0 adds TadGAN's cycle loss ‖x − G(E(x))‖² to G's loss and E's
    parameters to G's optimiser; 0 leaves E untouched until its own fit."""
    net = NetGAN(**SMALL, cycle_weight=10.0)._build_net(skab["X"].shape[1])
    opt_g = net.configure_optimizers(1e-4, 0.0, 0, None)[1]
    params = {id(p) for g in opt_g.param_groups for p in g["params"]}
    assert all(id(p) in params for p in net.inverse.parameters())
    plain = NetGAN(**SMALL, **PRE_CYCLE)._build_net(skab["X"].shape[1]).configure_optimizers(1e-4, 0.0, 0, None)[1]
    assert sum(len(g["params"]) for g in plain.param_groups) == len(list(net.generator.parameters()))
    x = torch.from_numpy(skab["X"][:64 * 30].reshape(64, 30, -1).transpose(0, 2, 1).copy())
    before = [p.detach().clone() for p in net.inverse.parameters()]
    opts = net.configure_optimizers(1e-3, 0.0, 0, None)
    net.manual_step(x, opts, lambda loss: loss.backward())
    assert any(not torch.equal(a, b) for a, b in zip(before, net.inverse.parameters(), strict=True))


def test_model_saved_before_the_smoothed_score_loads_with_its_old_score(skab, tmp_path):
    """A file without ``channel_units`` / ``smooth`` / ``smooth_stat`` / ``cycle_weight`` was
    trained and scored with ``PRE_SMOOTHED`` and ``PRE_CYCLE``: it loads with those and scores as
    it did; ``unit`` without the training scale it needs is refused."""
    tiny = {**SMALL, "epochs": 1, "inverse_epochs": 1}
    old_params = {**PRE_SMOOTHED, **PRE_CYCLE}
    pipe = SeriesPipeline(NetGAN(**tiny, **old_params)).fit(skab["train"].slice(0, 2000))
    test = skab["tests"]["valve2/1"]
    artifact.save(pipe, tmp_path / "m")
    cfg = json.loads((tmp_path / "m" / "config.json").read_text())
    for k in old_params:
        del cfg["params"][k]
    rewrite(tmp_path / "m", "config.json", cfg)
    old = artifact.load(tmp_path / "m")
    assert {k: old.detector.get_params()[k] for k in old_params} == old_params
    np.testing.assert_array_equal(old.score(test), pipe.score(test))
    cfg["params"]["channel_units"] = "unit"
    del cfg["state"]["train_scale"]
    rewrite(tmp_path / "m", "config.json", cfg)
    with pytest.raises(ArtifactError, match="train_scale"):
        artifact.load(tmp_path / "m")


def test_bad_input(fitted, skab):
    X = skab["pre"].transform(skab["tests"]["valve1/0"])
    with pytest.raises(DataError, match="window length 30"):
        fitted.score(X[:20])
    with pytest.raises(DataError, match=r"features|channels"):
        fitted.score(X[:, :5])
    bad = X[:100].copy()
    bad[3, 2] = np.nan
    with pytest.raises(DataError, match="NaN"):
        fitted.score(bad)
    for params in ({"inverse": "exact"}, {"score_weight": 1.5}, {"window": 1}, {"residual": "l3"},
                   {"gan_loss": "lsgan"}, {"d_score": "prob"}, {"term_scaling": "rank"}, {"instance_noise": -1.0},
                   {"cycle_weight": -1.0}, {"channel_units": "minmax"}, {"smooth": 0}, {"smooth_stat": "median"}):
        with pytest.raises(DataError):
            make_detector("netgan", **params).fit(skab["X"][:200])


def _cic_file(path):
    """A small flow file in the CIC-IDS2017 MachineLearningCSV layout (with timestamps)."""
    t = pd.date_range("2017-07-07 09:00", periods=12, freq="20s")
    df = pd.DataFrame({
        " Flow ID": [f"f{i}" for i in range(12)], " Source IP": ["10.0.0.1"] * 12, " Source Port": [5000] * 12,
        " Destination IP": ["10.0.0.2"] * 12, " Destination Port": [80] * 12,
        " Protocol": [6, 6, 17, 6, 6, 6, 17, 17, 6, 6, 6, 0],
        " Timestamp": t.strftime("%d/%m/%Y %H:%M:%S"),
        " Flow Duration": np.arange(12) * 10.0, "Total Length of Fwd Packets": np.arange(12) * 100.0,
        " Label": ["BENIGN", "BENIGN", "BENIGN", "DDoS", "DDoS", "BENIGN", "PortScan", "PortScan",
                   "PortScan", "BENIGN", "BENIGN", "BENIGN"],
    })
    df.to_csv(path, index=False)


def test_flows_to_series_binning(tmp_path):
    _cic_file(tmp_path / "flows.csv")
    flows = read_cic_ids2017([tmp_path / "flows.csv"])
    s = flows_to_series(flows, "1min", sum_cols=["Total Length of Fwd Packets"], mean_cols=["Flow Duration"])
    # 12 flows every 20 s from 09:00:00 → 4 one-minute bins of 3 flows
    assert len(s) == 4 and s.meta["step"] == str(pd.Timedelta("1min"))
    assert s.X["flows"].tolist() == [3, 3, 3, 3]
    assert s.X["sum_Total Length of Fwd Packets"].tolist() == [300, 1200, 2100, 3000]
    assert s.X["mean_Flow Duration"].tolist() == [10, 40, 70, 100]
    assert s.X["proto_6"].tolist() == [2, 3, 1, 2] and s.X["proto_17"].tolist() == [1, 0, 2, 0]
    assert s.y.tolist() == [0, 1, 1, 0]                       # majority: 0/3, 2/3, 3/3, 0/3
    assert s.meta["attacks"] == ["", "DDoS", "PortScan", ""]
    assert s.meta["attack_counts"]["PortScan"].tolist() == [0, 0, 3, 0]
    anyrule = flows_to_series(flows, "2min", mean_cols=[], label_rule="any")
    assert anyrule.X["flows"].tolist() == [6, 6] and anyrule.y.tolist() == [1, 1]
    assert anyrule.meta["attacks"] == ["DDoS", "PortScan"]
    # empty bins are kept (a regular series) and count zero flows
    gap = flows.subset(np.r_[0:3, 9:12])
    assert flows_to_series(gap, "1min", mean_cols=[]).X["flows"].tolist() == [3, 0, 0, 3]
    with pytest.raises(DataError, match="timestamps"):
        flows_to_series(TableData(flows.X), "1min")
    with pytest.raises(DataError, match="label_rule"):
        flows_to_series(flows, "1min", label_rule="half")


def _cli(*args):
    res = run_nadkit(*args)
    return res.returncode, res.stdout + res.stderr


def test_cli_train_detect_evaluate(skab, tmp_path):
    """A user's SKAB time tables through the CLI: train netgan → detect → evaluate."""
    train = skab["train"].slice(0, 2500)
    train.X.assign(datetime=train.time).to_csv(tmp_path / "train.csv", index=False)
    test = skab["tests"]["valve1/0"]
    test.X.assign(datetime=test.time).to_csv(tmp_path / "test.csv", index=False)
    pd.DataFrame({"datetime": test.time, "anomaly": test.y}).to_csv(tmp_path / "labels.csv", index=False)
    code, text = _cli("train", tmp_path / "train.csv", "--model", "netgan", "-o", tmp_path / "m", "--no-progress",
                      "-p", "hidden=16", "-p", "disc_hidden=16", "-p", "inverse_hidden=16", "-p", "epochs=1",
                      "-p", "inverse_epochs=1", "--fill-gaps", "5")
    assert code == 0, text
    code, text = _cli("detect", tmp_path / "m", tmp_path / "test.csv", "-o", tmp_path / "out.parquet", "--fill-gaps", "5")
    assert code == 0, text
    out = pd.read_parquet(tmp_path / "out.parquet")
    assert (~out["scored"]).sum() == 29 * 8 and out.loc[out["scored"], "step_score"].notna().all()
    code, text = _cli("evaluate", tmp_path / "m", tmp_path / "test.csv", "--labels", tmp_path / "labels.csv",
                      "-o", tmp_path / "report", "--fill-gaps", "5")
    assert code == 0, text
    assert 0 <= json.loads((tmp_path / "report" / "metrics.json").read_text())["auroc"] <= 1
    pd.read_csv(tmp_path / "test.csv").head(20).to_csv(tmp_path / "short.csv", index=False)
    code, text = _cli("detect", tmp_path / "m", tmp_path / "short.csv", "-o", tmp_path / "x.csv", "--fill-gaps", "5")
    assert code == 2 and "window length 30" in text and "Traceback" not in text
    assert not (tmp_path / "x.csv").exists()


def test_bin_flows_cli_writes_a_series_and_its_labels(tmp_path):
    from nadkit.experiments.protocols import resolve_series

    t = pd.date_range("2024-03-01 10:00", periods=12, freq="20s")
    pd.DataFrame({"time": t.astype(str), "Protocol": ["tcp", "tcp", "udp"] * 4, "bytes": np.arange(12) * 10.0,
                  "label": ["normal"] * 3 + ["dos"] * 3 + ["normal"] * 6}).to_csv(tmp_path / "flows.csv", index=False)
    code, text = _cli("bin-flows", tmp_path / "flows.csv", tmp_path / "series.csv", "--freq", "1min",
                      "--label-col", "label", "--sum-cols", "bytes")
    assert code == 0, text
    text = " ".join(text.split())  # the console wraps long lines
    assert "12 flows → 4 bins of 1min, 5 channels" in text and "(1 attack bins by the majority rule)" in text
    series = resolve_series(str(tmp_path / "series.csv"), labels=str(tmp_path / "series.labels.csv"))
    assert series.X["flows"].tolist() == [3, 3, 3, 3] and series.X["sum_bytes"].tolist() == [30, 120, 210, 300]
    assert series.X["proto_tcp"].tolist() == [2, 2, 2, 2] and series.y.tolist() == [0, 1, 0, 0]
    assert str(pd.Timestamp(series.time[1])) == "2024-03-01 10:01:00"
    # a file without a time column: one line, exit 2, nothing written
    pd.DataFrame({"bytes": [1.0, 2.0]}).to_csv(tmp_path / "notime.csv", index=False)
    code, text = _cli("bin-flows", tmp_path / "notime.csv", tmp_path / "bad.csv")
    assert code == 2 and "no time column" in text and not (tmp_path / "bad.csv").exists()


def test_step_budget_below_one_epoch_bounds_the_cost(skab):
    """step_budget / inverse_steps smaller than an epoch run that many batches, not an epoch."""
    det = NetGAN(**{**SMALL, "step_budget": 5, "inverse_steps": 7}, random_state=0).fit(skab["X"])
    assert det.epochs_run_ == 1 and det.train_result_.batches_per_epoch == 5
    assert len(det.inverse_history_) == 1
    assert np.isfinite(det.score(skab["X"][:500])[29:]).all()
