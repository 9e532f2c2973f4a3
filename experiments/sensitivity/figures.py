"""The sensitivity report's figures (index bars, second-order heat map, convergence, Morris, types)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
import numpy as np
import pandas as pd



_LABELS = {
    "share_transformed": "share transformed (substantiveness)",
    "share_continuity_changes": "share fostering continuity (changes)",
    "share_continuity_end": "share with continuity at the end",
    "share_consistent": "share consistent",
    "share_aligned": "share aligned",
    "elements_changed": "elements changed",
    "share_beyond_signature_practice": "share beyond the signature practice",
    "mean_month_of_change": "mean month of first change",
}


def _pretty(o: str) -> str:
    d, _, name = o.rpartition(".")
    return (f"{d}: " if d else "") + _LABELS.get(name, name)


def _fig(nrows: int, ncols: int, w: float, h: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(w * ncols, h * nrows), dpi=110, layout="constrained")


def _save(fig, path: Path) -> Path:
    from ..execution.files import write_file

    path = Path(path)
    write_file(path, lambda fh: fig.savefig(fh, format=path.suffix.lower().lstrip(".") or "png"))
    return path


def figure_sobol_bars(indices: pd.DataFrame, outputs: Sequence[str], path: Path) -> Path:
    """S1 and ST with confidence intervals, one panel per output."""
    n = len(outputs)
    cols = 2 if n > 1 else 1
    rows = math.ceil(n / cols)
    groups = list(dict.fromkeys(indices["group"]))
    fig = _fig(rows, cols, 5.2, 0.32 * len(groups) + 1.3)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    y = np.arange(len(groups))
    for ax, o in zip(axes, outputs):
        sub = indices[indices["output"] == o].set_index("group").reindex(groups)
        ax.barh(y - 0.2, sub["S1"], 0.4, xerr=sub["S1_conf"], color="#4C72B0", label="first order S1", error_kw={"lw": 0.8, "capsize": 2})
        ax.barh(y + 0.2, sub["ST"], 0.4, xerr=sub["ST_conf"], color="#DD8452", label="total order ST", error_kw={"lw": 0.8, "capsize": 2})
        ax.set_yticks(y, groups, fontsize=8)
        ax.invert_yaxis()
        ax.axvline(0, color="k", lw=0.6)
        ax.set_xlim(min(-0.05, float(np.nanmin((sub["S1"] - sub["S1_conf"]).to_numpy(float))) - 0.02), max(0.3, float(np.nanmax((sub["ST"] + sub["ST_conf"]).to_numpy(float))) + 0.05))
        ax.set_title(_pretty(o), fontsize=10)
        ax.grid(axis="x", lw=0.3)
    for ax in axes[n:]:
        ax.set_visible(False)
    axes[0].legend(fontsize=8, loc="lower right")
    fig.suptitle("Sobol' indices with 95% confidence intervals (bars: S1 and ST per group)", fontsize=11)
    return _save(fig, path)


def figure_s2_heatmap(second: pd.DataFrame, outputs: Sequence[str], groups: Sequence[str], path: Path) -> Path:
    """Second-order indices S2, one heatmap per output (upper triangle)."""
    n = len(outputs)
    cols = 2 if n > 1 else 1
    rows = math.ceil(n / cols)
    G = len(groups)
    fig = _fig(rows, cols, 0.42 * G + 2.4, 0.42 * G + 1.2)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    vmax = max(0.05, float(np.nanmax(np.abs(second["S2"].to_numpy(float))))) if len(second) else 0.05
    im = None
    for ax, o in zip(axes, outputs):
        M = np.full((G, G), np.nan)
        sub = second[second["output"] == o]
        pos = {g: i for i, g in enumerate(groups)}
        for r in sub.itertuples():
            M[pos[r.group_a], pos[r.group_b]] = r.S2
        im = ax.imshow(M, cmap="RdBu_r", vmin=-vmax, vmax=vmax)
        for i in range(G):
            for j in range(G):
                if np.isfinite(M[i, j]) and abs(M[i, j]) >= 0.01:
                    ax.text(j, i, f"{M[i, j]:.2f}", ha="center", va="center", fontsize=6, color="w" if abs(M[i, j]) > 0.6 * vmax else "k")
        ax.set_xticks(range(G), groups, rotation=70, fontsize=7)
        ax.set_yticks(range(G), groups, fontsize=7)
        ax.set_title(_pretty(o), fontsize=9)
    for ax in axes[n:]:
        ax.set_visible(False)
    if im is not None:
        fig.colorbar(im, ax=list(axes[:n]), shrink=0.6, label="S2")
    fig.suptitle("Second-order Sobol' indices S2 (interaction of two groups)", fontsize=11)
    return _save(fig, path)


def figure_convergence(history: pd.DataFrame, outputs: Sequence[str], path: Path) -> Path:
    """ST with its interval at every N of the doubling, one panel per output."""
    n = len(outputs)
    cols = 2 if n > 1 else 1
    rows = math.ceil(n / cols)
    fig = _fig(rows, cols, 5.0, 3.0)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax, o in zip(axes, outputs):
        sub = history[history["output"] == o]
        for g, s in sub.groupby("group", sort=False):
            ax.errorbar(s["N"], s["ST"], yerr=s["ST_conf"], marker="o", ms=3, lw=1, capsize=2, label=g)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("N (base points)")
        ax.set_ylabel("ST")
        ax.set_title(_pretty(o), fontsize=10)
        ax.grid(lw=0.3)
    for ax in axes[n:]:
        ax.set_visible(False)
    axes[0].legend(fontsize=6, ncol=2)
    fig.suptitle("Total-order indices as N doubles (the N design is a prefix of the 2N design)", fontsize=11)
    return _save(fig, path)


def figure_morris(indices: pd.DataFrame, selected_factors: set, path: Path) -> Path:
    """Normalised mu* (mu*/max mu* per output) of every factor and output; selected factors starred."""
    piv = indices.pivot_table(index="factor", columns="output", values="mu_star_norm", sort=False)
    order = piv.max(axis=1).sort_values(ascending=False).index
    piv = piv.loc[order]
    fig = _fig(1, 1, 0.9 * piv.shape[1] + 3.2, 0.22 * piv.shape[0] + 1.6)
    ax = fig.subplots()
    im = ax.imshow(piv.to_numpy(float), cmap="viridis", vmin=0, vmax=1, aspect="auto")
    for i in range(piv.shape[0]):
        for j in range(piv.shape[1]):
            v = piv.iat[i, j]
            if np.isfinite(v) and v >= 0.05:
                ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=6, color="w" if v < 0.6 else "k")
    ax.set_yticks(range(piv.shape[0]), [f"{'* ' if f in selected_factors else ''}{f}" for f in piv.index], fontsize=7)
    ax.set_xticks(range(piv.shape[1]), [_pretty(c) for c in piv.columns], rotation=30, ha="right", fontsize=7)
    fig.colorbar(im, ax=ax, shrink=0.5, label="mu* / max mu*")
    ax.set_title("Morris screening (* = varied in the Sobol' study)", fontsize=10)
    return _save(fig, path)


def figure_types(types: pd.DataFrame, outputs: Sequence[str], path: Path) -> Path:
    """Within-type total-order indices (types x groups), one panel per output."""
    n = len(outputs)
    cols = 2 if n > 1 else 1
    rows = math.ceil(n / cols)
    tnames = list(dict.fromkeys(types["type"]))
    gnames = list(dict.fromkeys(types["group"]))
    fig = _fig(rows, cols, 0.45 * len(gnames) + 3.0, 0.35 * len(tnames) + 1.6)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax, o in zip(axes, outputs):
        piv = types[types["output"] == o].pivot_table(index="type", columns="group", values="ST", sort=False).reindex(index=tnames, columns=gnames)
        ax.imshow(piv.to_numpy(float), cmap="magma_r", vmin=0, vmax=1, aspect="auto")
        for i in range(piv.shape[0]):
            for j in range(piv.shape[1]):
                v = piv.iat[i, j]
                if np.isfinite(v) and v >= 0.05:
                    ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=6, color="w" if v > 0.5 else "k")
        ax.set_yticks(range(len(tnames)), tnames, fontsize=7)
        ax.set_xticks(range(len(gnames)), gnames, rotation=70, fontsize=7)
        ax.set_title(_pretty(o), fontsize=9)
    for ax in axes[n:]:
        ax.set_visible(False)
    fig.suptitle("Total-order indices within district types (blank: the type's defining group)", fontsize=11)
    return _save(fig, path)
