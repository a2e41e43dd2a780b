"""The grid search behind :class:`~nadkit.thresholds.channel.ChannelAlpha`'s labelled mode: the
point-wise or range-based F1 of every (α_up, α_down) pair of a grid, for every channel, from
2-D cumulative counts over each step's grid position, and the best pair per channel."""

from __future__ import annotations

from typing import Any

import numpy as np


def grid_text(grid: np.ndarray) -> str:
    steps = np.unique(np.round(np.diff(grid), 10))
    if len(grid) > 2 and len(steps) == 1:
        return f"{grid[0]:g}…{grid[-1]:g} step {steps[0]:g}"
    return "{" + ", ".join(f"{g:g}" for g in grid) + "}"


def grid_positions(z: np.ndarray, grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each step, how many grid α lie below z (up side) and below −z (down side): the step
    is flagged at pair (i, j) iff i < iu or j < idn. NaN steps are never flagged (0, 0)."""
    nan = np.isnan(z)
    zz = np.where(nan, 0.0, z)
    iu = np.where(nan, 0, np.searchsorted(grid, zz, side="left"))
    idn = np.where(nan, 0, np.searchsorted(grid, -zz, side="left"))
    return iu, idn


def quadrant_sum(iu: np.ndarray, idn: np.ndarray, weight, g: int) -> np.ndarray:
    """S[..., i, j] = Σ weight over steps with iu ≤ i and idn ≤ j (for i, j < g), i.e. the
    weighted count of steps NOT flagged at pair (i, j); leading axes of ``iu`` after the first
    are batched (one histogram per channel)."""
    lead = iu.shape[1:]
    nb = int(np.prod(lead, dtype=int))
    batch = np.broadcast_to(np.arange(nb).reshape(lead), iu.shape)
    code = (batch * (g + 1) + iu) * (g + 1) + idn
    h = np.bincount(code.ravel(), weights=np.broadcast_to(weight, iu.shape).ravel(),
                    minlength=nb * (g + 1) ** 2).reshape(*lead, g + 1, g + 1)
    return h.cumsum(axis=-2).cumsum(axis=-1)[..., :g, :g]


def point_f1_grid(iu: np.ndarray, idn: np.ndarray, y: np.ndarray, g: int) -> np.ndarray:
    """Point-wise F1 of every (α_up, α_down) grid pair for every channel: (c, g, g)."""
    n_pos = y.sum(axis=0).astype(float)[:, None, None]
    tp = n_pos - quadrant_sum(iu, idn, y.astype(float), g)
    flagged = iu.shape[0] - quadrant_sum(iu, idn, 1.0, g)
    denom = flagged + n_pos
    return np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)


def range_f1_grid(iu: np.ndarray, idn: np.ndarray, y: np.ndarray, g: int,
                   range_params: dict[str, Any], legacy: bool, chunk: int = 1 << 22) -> np.ndarray:
    """Range-based F1 of every (α_up, α_down) grid pair for one channel: (g, g).

    Precision = Σ over predicted ranges of their score / number of predicted ranges. The number
    of predicted ranges comes from 2-D counts of range starts (a step starts a range iff it is
    flagged and its predecessor is not) over the whole series. A predicted range that touches no
    event scores 0, and one that does lies inside its event's *stretch* (the run of steps that
    are labelled or flaggable by some pair), so both sums are totals over stretches of what
    happens inside each. Inside a stretch the flags depend on a pair only through how many of
    the stretch's own distinct z levels it clears on each side, so each stretch is evaluated once
    per distinct pattern (usually far fewer than the g² pairs), all of them laid end to end and
    scored in one vectorised pass per chunk.
    """
    from nadkit.metrics import _range_sums_flat, _runs

    prev_u, prev_d = np.r_[0, iu[:-1]], np.r_[0, idn[:-1]]
    n_pred = (quadrant_sum(prev_u[:, None], prev_d[:, None], 1.0, g)[0]
              - quadrant_sum(np.maximum(prev_u, iu)[:, None], np.maximum(prev_d, idn)[:, None],
                              1.0, g)[0])
    n_real = len(_runs(y)[0])

    starts, ends = _runs((iu > 0) | (idn > 0) | y)
    has_event = np.add.reduceat(y.astype(np.int64), starts) > 0
    starts, ends = starts[has_event], ends[has_event]
    lengths = ends - starts
    offset = np.cumsum(lengths) - lengths  # where each stretch begins in the packed arrays
    sid = np.repeat(np.arange(len(starts)), lengths)
    pos = starts[sid] + np.arange(lengths.sum()) - offset[sid]
    stretch_y = y[pos]

    def levels(level):
        """rank of each step among its stretch's distinct levels (−1: never flagged on this
        side), the pattern key of every grid index per stretch, and the number of patterns."""
        present = np.zeros((len(starts), g + 1), dtype=bool)
        present[sid, level] = True
        present[:, 0] = False
        cum = present.cumsum(axis=1)
        return cum[sid, level] - 1, cum[:, :g], cum[:, g - 1] + 1

    rank_u, key_u, n_u = levels(iu[pos])
    rank_d, key_d, n_d = levels(idn[pos])

    # one row per (stretch, up pattern, down pattern), each followed by a separator step
    n_rows = n_u * n_d
    base = np.cumsum(n_rows) - n_rows
    row_sid = np.repeat(np.arange(len(starts)), n_rows)
    row_ku, row_kd = np.divmod(np.arange(n_rows.sum()) - base[row_sid], n_d[row_sid])
    row_len = lengths[row_sid] + 1
    p_row = np.empty(len(row_sid))
    r_row = np.empty(len(row_sid))
    ends_cum = np.cumsum(row_len)
    cut = np.searchsorted(ends_cum, np.arange(chunk, ends_cum[-1], chunk), side="right")
    for lo, hi in zip(np.r_[0, cut], np.r_[cut, len(row_sid)], strict=True):
        if hi <= lo:
            continue
        length = row_len[lo:hi]
        row_starts = np.cumsum(length) - length
        row = np.repeat(np.arange(hi - lo), length)
        within = np.arange(length.sum()) - row_starts[row]
        stretch = row_sid[lo:hi][row]
        inside = within < lengths[stretch]
        src = np.where(inside, offset[stretch] + within, 0)
        flags = inside & ((rank_u[src] >= row_ku[lo:hi][row]) | (rank_d[src] >= row_kd[lo:hi][row]))
        p_row[lo:hi], _, r_row[lo:hi], _ = _range_sums_flat(
            inside & stretch_y[src], flags, row_starts, range_params["alpha"],
            range_params["alpha"], range_params["cardinality"], range_params["bias"])

    p_num = np.zeros((g, g))
    r_num = np.zeros((g, g))
    for lo in range(0, len(starts), 256):  # blocks of stretches bound the (S, g, g) index memory
        b = slice(lo, lo + 256)
        idx = base[b, None, None] + key_u[b, :, None] * n_d[b, None, None] + key_d[b, None, :]
        p_num += p_row[idx].sum(axis=0)
        r_num += r_row[idx].sum(axis=0)
    precision = np.divide(p_num, n_pred, out=np.zeros((g, g)), where=n_pred > 0)
    recall = r_num / n_real
    denom = precision + recall + (1e-6 if legacy else 0.0)
    return np.divide(2 * precision * recall, denom, out=np.zeros((g, g)), where=denom > 0)


def best_pairs(f1: np.ndarray, grid: np.ndarray, labelled: np.ndarray, legacy: bool):
    """Per channel the (α_up, α_down) of the best F1 in ``f1`` (c, g, g). Ties: legacy → the
    smaller α (upstream's last pair of a descending scan); else the middle of the tied α_up
    values, then the middle of the tied α_down values at that α_up (the widest margin to the
    pairs that do worse on either side)."""
    c = f1.shape[0]
    best = f1.reshape(c, -1).max(axis=1)
    up = np.full(c, grid[-1])
    down = np.full(c, grid[-1])
    for k in np.flatnonzero(labelled):  # one small (g, g) table per channel
        tied = f1[k] == best[k]
        rows = np.flatnonzero(tied.any(axis=1))
        i = rows[0] if legacy else rows[(len(rows) - 1) // 2]
        cols = np.flatnonzero(tied[i])
        j = cols[0] if legacy else cols[(len(cols) - 1) // 2]
        up[k], down[k] = grid[i], grid[j]
    return up, down, np.where(labelled, best, np.nan)


