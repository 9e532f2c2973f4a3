"""From stored runs to the arrays SALib analyses: output columns (pooled and per district), per-run
values and weights, replicate means (ratios pooled over replicates) and the share of variance
that is replicate noise."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
import numpy as np
import pandas as pd
from sim.results import OUTCOME_NAMES



#: outputs that are ratios over changed elements: pooled over replicates with elements_changed as weight
RATIO_OUTPUTS = tuple(n for n in OUTCOME_NAMES if n != "elements_changed")


def output_columns(outputs: Sequence[str], districts: Sequence[str]) -> list[tuple[str, str, str]]:
    """(label, value column, weight column) of each analysed output: pooled over the scenario's
    districts, and per district when there are several."""
    cols = [(o, o, "elements_changed") for o in outputs]
    if len(districts) > 1:
        cols += [(f"{d}.{o}", f"{d}.{o}", f"{d}.elements_changed") for d in districts for o in outputs]
    return cols


def runs_to_arrays(runs: pd.DataFrame, n_points: int, replicates: int, columns: Sequence[tuple[str, str, str]]):
    """Per-run values and weights, shaped (design points, replicates, outputs)."""
    k = len(columns)
    Yr = np.empty((n_points, replicates, k))
    W = np.ones((n_points, replicates, k))
    for j, (label, col, wcol) in enumerate(columns):
        Yr[:, :, j] = runs[col].to_numpy(float).reshape(n_points, replicates)
        if label.split(".")[-1] in RATIO_OUTPUTS:
            W[:, :, j] = runs[wcol].to_numpy(float).reshape(n_points, replicates)
    return Yr, W


def replicate_means(Yr: np.ndarray, W: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Weighted replicate means per design point and output (ratios pooled over replicates); points
    with no valid replicate are imputed with the output's mean. Returns (Y, imputed mask)."""
    if W is None:
        W = np.ones_like(Yr)
    valid = np.isfinite(Yr) & (W > 0)
    sw = np.where(valid, W, 0.0).sum(axis=1)
    s = np.where(valid, Yr * W, 0.0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        Y = s / sw
    imputed = ~np.isfinite(Y)
    if imputed.any():
        fill = np.nanmean(np.where(imputed, np.nan, Y), axis=0)
        Y = np.where(imputed, np.nan_to_num(fill, nan=0.0)[None, :], Y)
    return Y, imputed


def noise_table(Yr: np.ndarray, Y: np.ndarray, labels: Sequence[str], imputed: np.ndarray | None = None) -> pd.DataFrame:
    """How much of the output variance is replicate noise.

    ``noise_share_runs`` = mean over design points of the within-point variance of single runs /
    variance of all runs (law of total variance: the rest is the factors' part);
    ``noise_share_means`` = mean of (within-point variance / valid replicates) / variance of the
    analysed replicate means: the part of the variance Sobol' sees that is noise."""
    rows = []
    for j, lab in enumerate(labels):
        y = Yr[:, :, j]
        ok = np.isfinite(y)
        nv = ok.sum(axis=1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            wv = np.nanvar(np.where(ok, y, np.nan), axis=1, ddof=1)
        use = nv >= 2
        within = float(np.mean(wv[use])) if use.any() else float("nan")
        total = float(np.nanvar(y[ok], ddof=1)) if ok.sum() > 1 else float("nan")
        mean_noise = float(np.mean(wv[use] / nv[use])) if use.any() else float("nan")
        vmeans = float(np.var(Y[:, j], ddof=1)) if len(Y) > 1 else float("nan")
        rows.append({
            "output": lab,
            "design_points": int(len(y)),
            "runs_valid": int(ok.sum()),
            "points_imputed": int(imputed[:, j].sum()) if imputed is not None else 0,
            "var_runs": total,
            "var_within": within,
            "noise_share_runs": within / total if total > 0 else float("nan"),
            "var_means": vmeans,
            "noise_share_means": mean_noise / vmeans if vmeans > 0 else float("nan"),
        })
    return pd.DataFrame(rows)
