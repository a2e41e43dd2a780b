"""Net-GAN: an LSTM GAN for multivariate series, scored by discrimination and residual loss.

Net-GAN (SIGCOMM'20 poster; MAD-GAN lineage, seeds-spec §3) trains a GAN on windows of normal
data, then scores a window by how fake it looks to the discriminator D and by how well the
generator G can reproduce it (the residual after an inverse search in latent space).

Training (manual optimisation in the shared trainer, stateless LSTMs):

* G: LSTM over a latent sequence z ∈ R^{T×d_z}, z ~ N(0, I) → Linear → tanh per step, so the
  data must be min-max scaled to [−1, 1] (``input_scaling = "minmax"``: the series pipeline
  does it with the training range and saves it).
* D: LSTM over the window → Linear → one realness logit per time step.
* Losses per time step (``gan_loss``): ``"hinge"`` (default; SN-GAN), ``"wgan-gp"`` (critic with
  gradient penalty ``gp_weight``) or ``"bce"`` (the seed spec: one-sided label smoothing
  ℓ ~ U(label_min, label_max) on real targets, fake targets 0, G non-saturating). Stabilisers:
  ``spectral_norm`` on D's LSTM and head weights while training (baked into plain weights
  afterwards, so saved tensors keep their names), ``feature_matching`` × ‖E f_D(x) − E f_D(G(z))‖²
  added to G's loss (Salimans et al.), ``instance_noise`` (σ of Gaussian noise on D's inputs), and
  TTUR (D at ``lr_d`` 4e-4, G at ``lr`` 1e-4). Each batch makes ``d_rounds`` D updates then
  ``g_rounds`` G updates, each with fresh noise. ``NetGAN(**LEGACY_PARAMS)`` is the seed spec's
  BCE training with 3 G updates and its raw score (the model before the stabilisers, bit for bit).
* Each epoch the MMD² (RBF on the mean squared difference of two windows, σ = the training
  data's std) between a fixed sample of real training windows and as many generated windows is
  recorded (``history_`` as ``train_mmd2``; MLflow when tracking is on). The held-out tail of
  the training series is monitored by the same MMD², which picks the epoch whose G and D are
  kept.
* ``cycle_weight`` (TadGAN's cycle consistency, Geiger et al. 2020; default 0, the GAN alone):
  G's loss also gets ``cycle_weight`` × ‖x − G(E(x))‖², and the inverse model E trains with G
  during the GAN, so G learns to reproduce the training windows and not only to fool D. With
  10 (TadGAN's weight) SMD's reconstruction improves, but over all visible series the score
  ranks anomalies better without it (``benchmarks/netgan_defaults.py``, amendment 2).
* After the GAN, the inverse model E: x → z (bidirectional LSTM) is trained (further) in the
  same trainer to minimise ‖G(E(x)) − x‖² with G fixed (Zenati et al.): the fast inverse.

Scoring of every window (stride 1), batched:

* Inverse search for z*: ``inverse="learned"`` (z* = E(x), one pass), ``"gradient"`` (MAD-GAN:
  Adam on a whole batch of z at once, ``restarts`` random starts per window, the best kept; a
  window leaves the batch when its loss is below ``tol`` or stopped improving for ``patience``
  iterations; ``search_loss="mse"`` or ``"rbf"`` = 1 − exp(−mse / 2σ²) as upstream), or
  ``"hybrid"`` (the gradient search started from E(x) and ``restarts − 1`` random points).
* Per step and channel ``A = λ·(r/u)/s_r + (1 − λ)·L_D/s_D`` with residual r = |x − G(z*)|
  (``residual="l1"``) or its square (``"l2"``) in channel units u (``channel_units``:
  ``"residual"``, default, its RMS residual on the held-out tail; ``"unit"``, the channel's
  training std; ``"range"``, 1, its training range) and discrimination loss L_D: ``d_score=
  "features"`` (default; AnoGAN's feature-matching loss mean_k (f_D(x_t) − f_D(G(z*)_t))², D's
  LSTM features) or ``"logit"`` (−log D(x_t), the poster's); averaged over all windows covering
  the step (``average="covering"``, the paper's rule; ``"last"`` uses only the window ending at
  the step, which is causal). λ = ``score_weight`` (0.5); λ = 0 is a discriminator-only
  detector. ``term_scaling="std"`` (label-free λ rule): s_r, s_D are the standard deviations of
  the residual term as the step score aggregates it (``aggregate``) and of L_D on the held-out
  normal tail (``term_scales_``), so the two terms enter on the same scale; ``"none"``: s = 1
  (the spec's raw sum). The step score is the largest A over channels (``aggregate="max"``;
  ``"mean"``, the spec's, or ``"top3"``), then its causal moving max over the last ``smooth`` =
  32 steps (``smooth_stat="max"``; ``smooth=1``: none); ``score_features`` gives the per-channel A.
* ``gaussian`` → μ = G(z*) averaged like the score, σ = the per-channel residual scale on the
  validation tail, so ``calibrate --method alpha`` bands and ``detect`` output work.

With ``average="covering"`` a step's score also depends on the ``window − 1`` steps after it
(``series_info()["lookahead"]``): a stream scorer must wait that long for final scores. As for
every series detector the first ``window − 1`` steps are NaN.

Examples
--------
>>> import numpy as np
>>> t = np.arange(1500, dtype="float32")
>>> X = np.stack([np.sin(t / 8), np.cos(t / 13)], axis=1) * 0.8
>>> det = NetGAN(window=16, hidden=16, latent=4, epochs=2, inverse_epochs=2, random_state=0).fit(X)
>>> det.score(X).shape, round(float(np.isnan(det.score(X)).sum()))
((1500,), 15)
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import spectral_norm

from nadkit.data.series.windows import WindowSplit, n_windows, window_fetch
from nadkit.errors import DataError
from nadkit.models.nn.blocks import TrainableNet
from nadkit.models.series_base import MIN_SCALE, TorchSeriesDetector, aggregate_channels
from nadkit.models.train import (
    BatchDataset,
    TrainConfig,
    fit_network,
    fixed_threads,
    intra_op_threads,
    resolve_device,
)

INVERSES = ("learned", "gradient", "hybrid")
SEARCH_LOSSES = ("mse", "rbf")
RESIDUALS = ("l1", "l2")
AVERAGES = ("covering", "last")
D_OPTIMIZERS = ("adam", "sgd")
GAN_LOSSES = ("bce", "hinge", "wgan-gp")
TERM_SCALINGS = ("none", "std")
#: the units each channel's residual is measured in before the channel mean (``channel_units``)
CHANNEL_UNITS = ("range", "residual", "unit")
D_SCORES = ("logit", "features")
#: what models saved before the stabilised training (issue 12 item 5) were trained and scored
#: with, where the parameter did not exist then; they load with these values.
PRE_STABILISED = {"gan_loss": "bce", "spectral_norm": False, "feature_matching": 0.0, "instance_noise": 0.0,
                  "term_scaling": "none", "d_score": "logit"}
#: what models saved before ``benchmarks/netgan_defaults.py`` chose the score's channel units
#: and moving max (stop 25) were scored with; they load with these values
PRE_SMOOTHED = {"channel_units": "range", "smooth": 1, "smooth_stat": "mean"}
#: and without the cycle loss, chosen in the same run
PRE_CYCLE = {"cycle_weight": 0.0}
#: the channel mean, which the score used before ``netgan_defaults.py`` amendment 2 chose the max
#: (stop 28); ``aggregate`` was always saved, so no file needs it
PRE_MAX = {"aggregate": "mean"}
#: the seed spec's Net-GAN (§3.4, MAD-GAN lineage) for parity runs: ``NetGAN(**LEGACY_PARAMS)``
LEGACY_PARAMS = {**PRE_STABILISED, **PRE_SMOOTHED, **PRE_CYCLE, **PRE_MAX, "g_rounds": 3, "lr_d": 1e-3}


#: parameters that change how the cached terms combine into the score, not the terms
SCORE_ONLY = ("score_weight", "aggregate", "term_scaling", "d_score", "channel_units", "smooth", "smooth_stat")


# ------------------------------------------------------------------------------------ helpers
def mmd2(a: torch.Tensor, b: torch.Tensor, sigma: float) -> torch.Tensor:
    """Biased MMD² between two batches of windows with an RBF kernel on the mean squared
    difference: k(u, v) = exp(−mean((u − v)²) / 2σ²).

    >>> x = torch.zeros(4, 3, 2)
    >>> float(mmd2(x, x, 1.0)), float(mmd2(x, x + 1, 1.0)) > 0
    (0.0, True)
    """
    a, b = a.flatten(1), b.flatten(1)
    d = a.shape[1]
    gamma = 1.0 / (2.0 * sigma * sigma * d)

    def k(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return torch.exp(-gamma * torch.cdist(u, v).square())

    return (k(a, a).mean() + k(b, b).mean() - 2 * k(a, b).mean()).clamp_min(0.0)


def window_loss(fake: torch.Tensor, real: torch.Tensor, kind: str = "mse", sigma: float = 1.0) -> torch.Tensor:
    """Per-window reconstruction loss (b,): mean squared error, or upstream's RBF
    dissimilarity 1 − exp(−mse / 2σ²)."""
    mse = (fake - real).square().flatten(1).mean(dim=1)
    return mse if kind == "mse" else 1.0 - torch.exp(-mse / (2.0 * sigma * sigma))


def gradient_inverse(generator: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, latent: int, *,
                     restarts: int = 1, max_iter: int = 200, lr: float = 0.1, tol: float = 1e-3,
                     patience: int = 10, loss: str = "mse", sigma: float = 1.0, seed: int = 0,
                     init: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Find z* with G(z*) closest to each window of ``x`` (b, T, c), all windows at once.

    One Adam optimisation over a (b·restarts, T, latent) batch of z (per-window moments, so the
    windows do not interact). A window leaves the batch (early exit) when its loss is below
    ``tol`` or has not improved by 0.01 % for ``patience`` iterations; only the remaining
    windows are computed. Each window keeps the best z seen over all its restarts. ``init``
    (b, T, latent), e.g. the learned inverse E(x), replaces the first restart's random start.

    Returns ``(z*, loss at z*, iterations run)``.
    """
    b = x.shape[0]
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(b, restarts, x.shape[1], latent, generator=gen).to(x)
    if init is not None:
        z[:, 0] = init
    z = z.flatten(0, 1)
    target = x.repeat_interleave(restarts, dim=0)
    m, v = torch.zeros_like(z), torch.zeros_like(z)
    best = torch.full((len(z),), math.inf, device=x.device)
    best_z = z.clone()
    stale = torch.zeros(len(z), dtype=torch.long, device=x.device)
    active = torch.arange(len(z), device=x.device)
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    it = 0
    with torch.enable_grad():
        for it in range(1, max_iter + 1):
            za = z[active].requires_grad_(True)
            err = window_loss(generator(za), target[active], loss, sigma)
            (grad,) = torch.autograd.grad(err.sum(), za)
            with torch.no_grad():
                e, za = err.detach(), za.detach()
                better = e < best[active]
                progressed = e < best[active] * (1 - 1e-4)
                best[active[better]] = e[better]
                best_z[active[better]] = za[better]
                stale[active] = torch.where(progressed, 0, stale[active] + 1)
                ma = beta1 * m[active] + (1 - beta1) * grad
                va = beta2 * v[active] + (1 - beta2) * grad.square()
                m[active], v[active] = ma, va
                step = lr * (ma / (1 - beta1 ** it)) / ((va / (1 - beta2 ** it)).sqrt() + eps)
                z[active] = za - step
                done = (e < tol) | (stale[active] >= patience)
                active = active[~done]
            if len(active) == 0:
                break
    best = best.view(b, restarts)
    pick = best.argmin(dim=1)
    rows = torch.arange(b, device=x.device)
    return best_z.view(b, restarts, *z.shape[1:])[rows, pick], best[rows, pick], it


def covering_average(values: torch.Tensor, starts: torch.Tensor, out: torch.Tensor) -> None:
    """Scatter-add window values (b, T, k) onto their steps: ``out[start + j] += values[:, j]``
    (``out`` is (n_steps, k), one ``index_add_``; divide by the cover counts afterwards)."""
    T = values.shape[1]
    pos = (starts[:, None] + torch.arange(T, device=starts.device)).reshape(-1)
    out.index_add_(0, pos, values.reshape(-1, values.shape[2]))


def cover_counts(n_steps: int, window: int) -> np.ndarray:
    """How many full windows cover each step of a series of ``n_steps`` (stride 1).

    >>> cover_counts(5, 3).tolist()
    [1, 2, 3, 2, 1]
    """
    t = np.arange(n_steps)
    nw = n_windows(n_steps, window)
    return np.minimum(t, nw - 1) - np.maximum(0, t - window + 1) + 1


# ----------------------------------------------------------------------------------- networks
class _SeqNet(nn.Module):
    """LSTM → Linear per step (``out_act`` after it); (b, T, d_in) → (b, T, d_out)."""

    def __init__(self, d_in: int, hidden: int, d_out: int, layers: int = 1, bidirectional: bool = False,
                 out_act: nn.Module | None = None) -> None:
        super().__init__()
        self.lstm = nn.LSTM(d_in, hidden, num_layers=layers, batch_first=True, bidirectional=bidirectional)
        self.head = nn.Linear(hidden * (2 if bidirectional else 1), d_out)
        self.out_act = out_act if out_act is not None else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out_act(self.head(self.features(x)))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The LSTM's per-step outputs (b, T, hidden); stateless: a fresh zero state per batch."""
        return self.lstm(x)[0]


class NetGANNet(TrainableNet):
    """Generator, per-step discriminator and inverse model; windows arrive as (b, c, T)."""

    manual_optimization = True

    def __init__(self, n_channels: int, latent: int, hidden: int, disc_hidden: int, inverse_hidden: int,
                 layers: int, d_rounds: int, g_rounds: int, label_min: float, label_max: float,
                 d_optimizer: str, lr_d: float, gan_loss: str = "bce", feature_matching: float = 0.0,
                 gp_weight: float = 10.0, instance_noise: float = 0.0, cycle_weight: float = 0.0) -> None:
        super().__init__()
        self.latent = latent
        self.generator = _SeqNet(latent, hidden, n_channels, layers, out_act=nn.Tanh())
        self.discriminator = _SeqNet(n_channels, disc_hidden, 1, layers)
        self.inverse = _SeqNet(n_channels, inverse_hidden, latent, 1, bidirectional=True)
        self.d_rounds, self.g_rounds = d_rounds, g_rounds
        self.label_min, self.label_max = label_min, label_max
        self.d_optimizer, self.lr_d = d_optimizer, lr_d
        self.gan_loss, self.feature_matching, self.gp_weight = gan_loss, feature_matching, gp_weight
        self.instance_noise = instance_noise
        self.cycle_weight = cycle_weight
        self.sigma = 1.0                                  # data std (set before training)
        self.register_buffer("reference", torch.empty(0), persistent=False)

    # -------------------------------------------------------------------------------- parts
    def noise(self, n: int, T: int, like: torch.Tensor) -> torch.Tensor:
        return torch.randn(n, T, self.latent, device=like.device, dtype=like.dtype)

    def d_logits(self, x: torch.Tensor) -> torch.Tensor:
        """Per-step realness logits (b, T) of windows (b, T, c)."""
        return self.discriminator(x).squeeze(-1)

    # ------------------------------------------------------------------------------ training
    def d_loss(self, x: torch.Tensor, fake: torch.Tensor, smooth: float = 1.0) -> torch.Tensor:
        """D's loss on real windows ``x`` and generated ``fake`` ones (per-step logits); ``smooth``
        is BCE's real target."""
        real_logits, fake_logits = self.d_logits(x), self.d_logits(fake)
        if self.gan_loss == "hinge":                  # SN-GAN / BigGAN hinge loss
            return F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()
        if self.gan_loss == "wgan-gp":                # Gulrajani et al. 2017
            eps = torch.rand(x.shape[0], 1, 1, device=x.device, dtype=x.dtype)
            mix = (eps * x + (1 - eps) * fake).requires_grad_(True)
            (grad,) = torch.autograd.grad(self.d_logits(mix).sum(), mix, create_graph=True)
            gp = (grad.flatten(1).norm(dim=1) - 1).square().mean()
            return fake_logits.mean() - real_logits.mean() + self.gp_weight * gp
        return (F.binary_cross_entropy_with_logits(real_logits, torch.full_like(real_logits, smooth))
                + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))

    def g_loss(self, x: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        """G's loss: non-saturating BCE (or −critic for hinge / WGAN-GP), plus
        ``feature_matching`` × ‖E f_D(x) − E f_D(G(z))‖² on D's LSTM features (Salimans et al.)."""
        if self.feature_matching > 0:
            f_fake = self.discriminator.features(fake)
            logits = self.discriminator.head(f_fake).squeeze(-1)
        else:
            logits = self.d_logits(fake)
        loss = (F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits)) if self.gan_loss == "bce"
                else -logits.mean())
        if self.feature_matching > 0:
            with torch.no_grad():
                f_real = self.discriminator.features(x).mean(dim=0)
            loss = loss + self.feature_matching * (f_fake.mean(dim=0) - f_real).square().mean()
        return loss

    def manual_step(self, batch: torch.Tensor, optimizers: Sequence[torch.optim.Optimizer],
                    backward: Callable[[torch.Tensor], None]) -> dict[str, torch.Tensor]:
        opt_d, opt_g = optimizers
        x = batch.transpose(1, 2)                         # (b, T, c)
        b, T = x.shape[:2]
        sd = self.instance_noise                         # D sees x + N(0, sd²) (Sønderby et al.)

        def noisy(t: torch.Tensor) -> torch.Tensor:
            return t + sd * torch.randn_like(t) if sd > 0 else t

        for _ in range(self.d_rounds):
            # the label is drawn before the noise, as in the seed spec's training (same random stream)
            smooth = torch.empty(1).uniform_(self.label_min, self.label_max).item() if self.gan_loss == "bce" else 1.0
            with torch.no_grad():
                fake = self.generator(self.noise(b, T, x))
            d_loss = self.d_loss(noisy(x), noisy(fake), smooth)
            opt_d.zero_grad()
            backward(d_loss)
            opt_d.step()
        self.discriminator.requires_grad_(False)
        for _ in range(self.g_rounds):
            g_loss = self.g_loss(noisy(x), noisy(self.generator(self.noise(b, T, x))))
            if self.cycle_weight > 0:                     # TadGAN's cycle consistency (Geiger et al. 2020)
                g_loss = g_loss + self.cycle_weight * (self.generator(self.inverse(x)) - x).square().mean()
            opt_g.zero_grad()
            backward(g_loss)
            opt_g.step()
        self.discriminator.requires_grad_(True)
        return {"loss": d_loss.detach() + g_loss.detach(), "d_loss": d_loss.detach(), "g_loss": g_loss.detach()}

    def validation_loss(self, batch: torch.Tensor) -> dict[str, torch.Tensor]:
        """MMD² between held-out real windows and as many generated ones (picks the epoch)."""
        x = batch.transpose(1, 2)
        fake = self.generator(self.noise(*x.shape[:2], x))
        return {"loss": mmd2(x, fake, self.sigma)}

    def on_epoch_end(self, epoch: int) -> dict[str, float] | None:
        if self.reference.numel() == 0:
            return None
        with torch.no_grad():
            x = self.reference
            fake = self.generator(self.noise(*x.shape[:2], x))
            return {"mmd2": float(mmd2(x, fake, self.sigma))}

    def configure_optimizers(self, lr: float, weight_decay: float, total_steps: int,
                             scheduler: str | None) -> Any:
        """D: Adam (β₁ = 0.5) or SGD at ``lr_d``; G (and E with ``cycle_weight``): Adam (β₁ = 0.5)
        at ``lr``; optional cosine."""
        d_params = list(self.discriminator.parameters())
        opt_d = (torch.optim.SGD(d_params, lr=self.lr_d, weight_decay=weight_decay) if self.d_optimizer == "sgd"
                 else torch.optim.Adam(d_params, lr=self.lr_d, betas=(0.5, 0.999), weight_decay=weight_decay))
        g_params = [*self.generator.parameters(), *(self.inverse.parameters() if self.cycle_weight > 0 else ())]
        opt_g = torch.optim.Adam(g_params, lr=lr, betas=(0.5, 0.999), weight_decay=weight_decay)
        opts = [opt_d, opt_g]
        if scheduler in (None, "none") or total_steps <= 0:
            return opts
        if scheduler != "cosine":
            raise ValueError(f"unknown scheduler {scheduler!r}")
        return opts, [{"scheduler": torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=total_steps),
                       "interval": "step"} for o in opts]


class InverseFit(TrainableNet):
    """Trains the inverse model E of a trained :class:`NetGANNet` (G fixed): ‖G(E(x)) − x‖²."""

    def __init__(self, net: NetGANNet) -> None:
        super().__init__()
        self.net = net

    def training_loss(self, batch: torch.Tensor) -> dict[str, torch.Tensor]:
        x = batch.transpose(1, 2)
        return {"loss": (self.net.generator(self.net.inverse(x)) - x).square().mean()}

    def configure_optimizers(self, lr: float, weight_decay: float, total_steps: int,
                             scheduler: str | None) -> Any:
        opt = torch.optim.Adam(self.net.inverse.parameters(), lr=lr, weight_decay=weight_decay)
        if scheduler == "cosine" and total_steps > 0:
            sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total_steps)
            return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
        return opt


# ---------------------------------------------------------------------------------- detector
class NetGAN(TorchSeriesDetector):
    """Net-GAN series detector (see the module docs).

    Hyper-parameters: ``window`` (T), ``latent`` (d_z), ``hidden`` / ``disc_hidden`` /
    ``inverse_hidden`` (LSTM widths of G, D, E), ``layers`` (of G and D), ``d_rounds`` /
    ``g_rounds`` (updates per batch), ``label_min`` / ``label_max`` (one-sided smoothing),
    ``d_optimizer`` ("adam" or "sgd") and ``lr_d``; ``lr`` is G's; ``gan_loss``,
    ``spectral_norm``, ``feature_matching``, ``gp_weight``, ``instance_noise``. The defaults
    (hinge, spectral norm, feature matching 1, one G update per D update, D 4e-4 / G 1e-4) were
    chosen on SKAB's anomaly-free file with synthetic anomalies in its held-out tail
    (``benchmarks/netgan_select.py``; no test label, but two candidates were added after the
    first SKAB test numbers had been read: docs/benchmarks.md). ``epochs`` / ``step_budget``
    (GAN batches), ``inverse_epochs`` / ``inverse_steps`` (E). Scoring: ``inverse``,
    ``restarts``, ``max_iter``, ``search_lr``, ``tol``, ``search_patience``, ``search_loss``,
    ``residual``, ``d_score``, ``term_scaling``, ``score_weight`` (λ), ``average``, ``aggregate``,
    ``channel_units``, ``smooth``, ``smooth_stat``, ``cycle_weight``. The defaults for the last
    five (the largest channel residual, each in units of its held-out RMS residual, then the
    causal moving max over 32 steps, without TadGAN's cycle loss) were chosen by
    ``benchmarks/netgan_defaults.py`` over every visible series group (amendment 2,
    docs/benchmarks.md); files saved before load with ``PRE_SMOOTHED`` and ``PRE_CYCLE``;
    ``LEGACY_PARAMS`` is the seed's model.
    """

    #: the series pipeline scales channels to [−1, 1] with the training range (tanh output)
    input_scaling = "minmax"
    tags = frozenset({"lookahead"})
    params_added: ClassVar[dict[str, Any]] = {**PRE_SMOOTHED, **PRE_CYCLE}
    units_param = "channel_units"
    infer_windows: int = 4096

    def __init__(self, window: int = 30, latent: int = 15, hidden: int = 100, disc_hidden: int = 100,
                 inverse_hidden: int = 100, layers: int = 1, d_rounds: int = 1, g_rounds: int = 1,
                 label_min: float = 0.9, label_max: float = 1.0, d_optimizer: str = "adam",
                 lr_d: float = 4e-4, gan_loss: str = "hinge", spectral_norm: bool = True,
                 feature_matching: float = 1.0, gp_weight: float = 10.0, instance_noise: float = 0.0,
                 cycle_weight: float = 0.0, term_scaling: str = "std", d_score: str = "features",
                 score_weight: float = 0.5, inverse: str = "learned",
                 restarts: int = 1, max_iter: int = 200, search_lr: float = 0.1, tol: float = 1e-3,
                 search_patience: int = 10, search_loss: str = "mse", residual: str = "l1",
                 average: str = "covering", aggregate: str = "max", channel_units: str = "residual",
                 smooth: int = 32, smooth_stat: str = "max", epochs: int | None = None,
                 step_budget: int = 1000, inverse_epochs: int | None = None, inverse_steps: int = 500,
                 batch_size: int = 64, lr: float = 1e-4, weight_decay: float = 0.0,
                 validation_fraction: float = 0.2, train_stride: int = 1, patience: int | None = None,
                 device: str = "auto", random_state: int = 0, verbose: bool = False) -> None:
        self._init_params(locals())

    # ------------------------------------------------------------------------------ building
    def _check_params(self) -> None:
        choices = {"inverse": INVERSES, "search_loss": SEARCH_LOSSES, "residual": RESIDUALS,
                   "average": AVERAGES, "d_optimizer": D_OPTIMIZERS, "gan_loss": GAN_LOSSES,
                   "term_scaling": TERM_SCALINGS, "d_score": D_SCORES, "channel_units": CHANNEL_UNITS}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise DataError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")
        if not 0.0 <= self.score_weight <= 1.0:
            raise DataError(f"score_weight (λ) must be in [0, 1], got {self.score_weight}")
        if self.window < 2:
            raise DataError(f"window must be at least 2 steps, got {self.window}")
        if not 0.0 < self.label_min <= self.label_max <= 1.0:
            raise DataError(f"need 0 < label_min ≤ label_max ≤ 1, got {self.label_min}, {self.label_max}")
        if min(self.restarts, self.max_iter, self.d_rounds, self.g_rounds) < 1:
            raise DataError("restarts, max_iter, d_rounds and g_rounds must be ≥ 1")
        if min(self.feature_matching, self.gp_weight, self.instance_noise, self.cycle_weight) < 0:
            raise DataError("feature_matching, gp_weight, instance_noise and cycle_weight must be ≥ 0")

    def _build_net(self, n_features: int) -> NetGANNet:
        self._check_params()
        return NetGANNet(n_features, self.latent, self.hidden, self.disc_hidden, self.inverse_hidden,
                         self.layers, self.d_rounds, self.g_rounds, self.label_min, self.label_max,
                         self.d_optimizer, self.lr_d, self.gan_loss, self.feature_matching, self.gp_weight,
                         self.instance_noise, self.cycle_weight)

    def _before_training(self, X_train: np.ndarray) -> None:
        if self.spectral_norm:                      # D's weights W / σ(W) while training (Miyato et al.)
            d = self.net_.discriminator
            for name, _ in list(d.lstm.named_parameters()):
                if name.startswith("weight_"):
                    spectral_norm(d.lstm, name)
            spectral_norm(d.head, "weight")
        self.data_std_ = float(max(X_train.std(), MIN_SCALE))
        self.net_.sigma = self.data_std_
        n = n_windows(len(X_train), self.window)
        pick = np.random.default_rng(self.random_state).choice(n, size=min(n, 512), replace=False)
        self.net_.reference = window_fetch(torch.from_numpy(X_train), self.window, np.sort(pick))(
            torch.arange(len(pick))).transpose(1, 2).contiguous()

    def _fit(self, X: np.ndarray) -> np.ndarray | None:
        self._memo = None
        return super()._fit(X)

    def _after_training(self, X: np.ndarray, split: WindowSplit) -> None:
        """Bake D's spectral norm into plain weights (the saved tensors keep their names), train
        the inverse model E (G fixed) in the shared trainer, then the residual and term scales."""
        for module in (self.net_.discriminator.lstm, self.net_.discriminator.head):
            if parametrize.is_parametrized(module):
                for name in list(module.parametrizations):
                    parametrize.remove_parametrizations(module, name, leave_parametrized=True)
        self.net_.reference = torch.empty(0)
        Xt = torch.from_numpy(X)
        train = BatchDataset(len(split.train), window_fetch(Xt, self.window, split.train))
        val = BatchDataset(len(split.val), window_fetch(Xt, self.window, split.val)) if len(split.val) else None
        self.net_.train()
        self.net_.generator.requires_grad_(False)
        self.net_.discriminator.requires_grad_(False)
        try:
            result = fit_network(InverseFit(self.net_), train, val, self._inverse_config(len(split.train)))
        finally:
            self.net_.requires_grad_(True)
        self.inverse_history_ = result.history
        self.net_.eval()
        super()._after_training(X, split)
        terms = [self._averaged(part)[1:] for part in self._held_out_parts(X, split)[0]]
        r, ld, lf = (np.concatenate(v) for v in zip(*terms, strict=True))
        r = aggregate_channels(r / self._channel_units(), self.aggregate)   # the step score's residual term
        self.term_scales_ = tuple(float(max(v.std(), 1e-12)) for v in (r, ld, lf))

    def _channel_units(self) -> np.ndarray | float:
        """What each channel's residual is divided by (``channel_units``): 1 (its training
        range, the [−1, 1] scaling), its RMS residual on the held-out tail, or its training std."""
        return self._units_scale(1.0)

    def _inverse_config(self, n_train: int) -> TrainConfig:
        cfg = self._train_config(n_train)
        steps_per_epoch = max(1, math.ceil(n_train / self.batch_size))
        cfg.epochs = (self.inverse_epochs if self.inverse_epochs is not None
                      else max(1, math.ceil(self.inverse_steps / steps_per_epoch)))
        cfg.max_batches = (max(1, int(self.inverse_steps)) if self.inverse_epochs is None
                           and self.inverse_steps < steps_per_epoch else None)
        cfg.lr, cfg.patience, cfg.description = 1e-3, 5, "NetGAN inverse"
        return cfg

    # -------------------------------------------------------------------------------- scoring
    def series_info(self) -> dict[str, Any]:
        info = super().series_info()
        info["lookahead"] = self.window - 1 if self.average == "covering" else 0
        return info

    def invert(self, windows: torch.Tensor) -> torch.Tensor:
        """z* for a batch of windows (b, T, c) with the configured inverse search."""
        net = self.net_
        if self.inverse == "learned":
            with torch.no_grad():
                return net.inverse(windows)
        init = None
        if self.inverse == "hybrid":
            with torch.no_grad():
                init = net.inverse(windows)
        net.generator.requires_grad_(False)
        z, _, _ = gradient_inverse(net.generator, windows, self.latent, restarts=self.restarts,
                                   max_iter=self.max_iter, lr=self.search_lr, tol=self.tol,
                                   patience=self.search_patience, loss=self.search_loss,
                                   sigma=self.data_std_, seed=self.random_state, init=init)
        return z

    def _terms(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(μ, A) for the scored steps: G(z*) and the per-channel score λ·r + (1 − λ)·L_D,
        each averaged over the windows covering a step (or from the window ending there)."""
        g, r, ld, lf = self._averaged(X)
        w_r, d_term = self._term_weights(ld, lf)
        return g, w_r * (r / self._channel_units()) + d_term

    def _term_weights(self, ld: np.ndarray, lf: np.ndarray) -> tuple[float, np.ndarray]:
        """(λ / s_r, the discriminator's term ((1 − λ) / s_D)·L_D per step, shape (n, 1))."""
        lam = float(self.score_weight)
        scales = getattr(self, "term_scales_", (1.0, 1.0, 1.0)) if self.term_scaling == "std" else (1.0, 1.0, 1.0)
        s_r, s_d = scales[0], scales[1 if self.d_score == "logit" else 2]
        return lam / s_r, ((1 - lam) / s_d) * (ld if self.d_score == "logit" else lf)

    def _averaged(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """G(z*), the residual per channel, −log D(x) and D's feature residual, each averaged per
        step (scored steps only).
        The score is linear in them, so λ can change without a new inverse search (memoised
        for the last series and parameters)."""
        params = {k: v for k, v in self.get_params().items() if k not in SCORE_ONLY}
        key = (hashlib.sha1(np.ascontiguousarray(X).view(np.uint8)).hexdigest(), X.shape, id(self.net_), params)
        memo = getattr(self, "_memo", None)
        if memo is not None and memo[0] == key:
            return memo[1]
        self._check_params()
        device = resolve_device(self.device)
        net = self.net_.to(device).eval()
        n, c = X.shape
        T = self.window
        nw = n_windows(n, T)
        fetch = window_fetch(torch.from_numpy(X), T, np.arange(nw))
        covering = self.average == "covering"
        sums = torch.zeros(n if covering else nw, 2 * c + 2, dtype=torch.float64)
        with intra_op_threads(fixed_threads()):
            try:
                starts = range(0, nw, self.infer_windows)
                if self.verbose and self.inverse != "learned" and len(starts) > 1:
                    from tqdm.auto import tqdm

                    starts = tqdm(starts, desc=f"Net-GAN {self.inverse} inverse search", unit="batch")
                for start in starts:
                    idx = torch.arange(start, min(nw, start + self.infer_windows))
                    x = fetch(idx).transpose(1, 2).to(device)            # (b, T, c)
                    z = self.invert(x)
                    with torch.no_grad():
                        g = net.generator(z)
                        r = (x - g).abs() if self.residual == "l1" else (x - g).square()
                        d = net.discriminator
                        f_x = d.features(x)
                        ld = F.softplus(-d.head(f_x))                     # −log D(x_t)
                        lf = (f_x - d.features(g)).square().mean(dim=2, keepdim=True)  # AnoGAN
                        vals = torch.cat([g, r, ld, lf], dim=2).double().cpu()
                    if covering:
                        covering_average(vals, idx, sums)
                    else:
                        sums[idx] = vals[:, -1]
            finally:
                net.to("cpu")
        out = sums.numpy()
        if covering:
            out = (out / cover_counts(n, T)[:, None])[T - 1:]
        result = (out[:, :c], out[:, c:2 * c], out[:, 2 * c:2 * c + 1], out[:, 2 * c + 1:])
        self._memo = (key, result)
        return result

    def _mu_sigma(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mu = self._averaged(X)[0]
        return mu, np.broadcast_to(getattr(self, "residual_scale_", np.ones(X.shape[1])), mu.shape)

    def _expected(self, X: np.ndarray) -> np.ndarray:
        return self._averaged(X)[0]

    def _scores_from(self, X: np.ndarray, mu: np.ndarray, sigma: np.ndarray) -> np.ndarray:
        return self._terms(X)[1]

    def _half_widths(self, X: np.ndarray, mu: np.ndarray, sigma: np.ndarray, limit: np.ndarray) -> np.ndarray:
        """The residual a channel may have before its score λ·r/(u·s_r) + D's term exceeds the
        step's ``limit`` (0 where D's term alone exceeds it), as a distance from μ: ``r`` for the
        L1 residual, √r for L2. The residual is averaged over the windows covering a step, μ too,
        so the band is close to, not exactly, where the flags change."""
        _, _, ld, lf = self._averaged(X)
        w_r, d_term = self._term_weights(ld, lf)
        room = np.maximum(limit[:, None] - d_term, 0.0) * np.ones_like(X[self.window - 1:])
        if w_r == 0:   # λ = 0: the residual does not count
            return np.where(room > 0, np.inf, 0.0)
        r = room * self._channel_units() / w_r
        return r if self.residual == "l1" else np.sqrt(r)

    # ---------------------------------------------------------------------------- persistence
    def _extra_state(self) -> dict[str, Any]:
        return {**super()._extra_state(), "data_std": self.data_std_,
                "inverse_history": getattr(self, "inverse_history_", []),
                "term_scales": list(getattr(self, "term_scales_", (1.0, 1.0, 1.0)))}

    def _load_extra_state(self, meta: dict[str, Any]) -> None:
        super()._load_extra_state(meta)
        self.data_std_ = float(meta["data_std"])
        self.inverse_history_ = meta.get("inverse_history", [])
        if "term_scales" not in meta:                       # saved before the stabilised training
            self.set_params(**PRE_STABILISED)
        # three finite numbers > 0: artifact_schema.DetectorState checked them before loading
        self.term_scales_ = tuple(float(v) for v in meta.get("term_scales", (1.0, 1.0, 1.0)))

    def load_state(self, directory, meta: dict[str, Any]) -> None:
        super().load_state(directory, meta)
        self.net_.sigma = self.data_std_
        self._memo = None
