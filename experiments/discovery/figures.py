"""The two figures of a discovery: PRIM's peeling trajectory (coverage against density) and the
chosen box (its limits, the cases in the two leading restricted factors, the feature scores).
Drawn on matplotlib's object API (no pyplot state), saved as PNG."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import BoundaryNorm
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from .core import inside

if TYPE_CHECKING:
    from .report import Discovery

CASE, OTHER, BOX = "#d95f02", "#9e9e9e", "#1b5e9e"


def _short(name: str, width: int = 38) -> str:
    return name if len(name) <= width else "…" + name[-(width - 1):]


def _title(res: "Discovery") -> str:
    return f"{res.outcome} {res.direction} {res.threshold:g}"


def _save(fig: Figure, path: Path) -> None:
    FigureCanvasAgg(fig)
    fig.savefig(path, format="png", dpi=110)


def trajectory_figure(res: "Discovery", path: Path) -> None:
    """Coverage against density of every box on PRIM's peeling trajectory, coloured by the number
    of restricted factors; the chosen box starred; the share of cases among all points dashed."""
    t = res.trajectory
    peel = t[t["phase"] == "peel"]
    rel = t[t["phase"] == "release"]
    fig = Figure(figsize=(7.6, 6.0))
    ax = fig.add_subplot(111)
    top = int(max(t["res_dim"].max(), 1))
    norm = BoundaryNorm(np.arange(-0.5, top + 1.5), 256)
    ax.plot(peel["coverage"], peel["density"], color="#cccccc", lw=1, zorder=1)
    sc = ax.scatter(peel["coverage"], peel["density"], c=peel["res_dim"], cmap="viridis", norm=norm, s=28, zorder=2,
                    edgecolors="white", linewidths=0.4, label="boxes on the peeling trajectory")
    if len(rel):
        start = t.iloc[res.chosen_from]
        xs = [start["coverage"], *rel["coverage"]]
        ys = [start["density"], *rel["density"]]
        ax.plot(xs, ys, ls="--", color="#555555", lw=1, zorder=1)
        ax.scatter(rel["coverage"], rel["density"], c=rel["res_dim"], cmap="viridis", norm=norm, marker="D", s=34, zorder=3,
                   edgecolors="black", linewidths=0.5, label="non-significant limits released")
    c = res.chosen
    ax.scatter([c.coverage], [c.density], marker="*", s=320, color="#e31a1c", edgecolors="black", linewidths=0.6, zorder=4,
               label=f"chosen box: coverage {c.coverage:.2f}, density {c.density:.2f}, {c.res_dim} factor{'s' if c.res_dim != 1 else ''}")
    base = res.points.case.mean()
    ax.axhline(base, color="#444444", ls=":", lw=1)
    ax.text(0.72, base + 0.012, f"all design points: {base:.0%} are cases", fontsize=8, color="#444444", va="bottom", ha="center")
    ax.set_xlim(-0.02, 1.04)
    ax.set_ylim(-0.02, 1.06)
    ax.set_xlabel("coverage (share of all cases of interest inside the box)")
    ax.set_ylabel("density (share of the box's points that are cases)")
    ax.set_title(f"PRIM peeling trajectory: {_title(res)}\n{len(res.points.x)} design points, {int(res.points.case.sum())} cases of interest",
                 fontsize=10)
    ax.grid(True, alpha=0.3)
    cb = fig.colorbar(sc, ax=ax, ticks=np.arange(0, top + 1), fraction=0.046, pad=0.03)
    cb.set_label("restricted factors")
    ax.legend(loc="lower left", fontsize=8, framealpha=0.9)
    fig.tight_layout()
    _save(fig, path)


def box_figure(res: "Discovery", path: Path) -> None:
    """The chosen box: each restricted factor's range and the box's part of it (with quasi-p values),
    the most important unrestricted factors for contrast; the design points in the two leading
    restricted factors; the feature scores."""
    p, c = res.points, res.chosen
    scores = res.feature_scores
    restricted = sorted(c.limits, key=lambda f: -scores.get(f, 0.0))
    free = [f for f in scores.index if f not in c.limits][:3]
    rows = restricted + free
    numeric_r = [f for f in restricted if "in" not in c.limits[f]]
    n_rows = max(len(rows), 1)
    # heights in inches: title, limits panel (one row per factor), gap, the two lower panels, margin
    title_h, top_h, gap_h, low_h, foot_h = 1.0, 0.4 + 0.62 * n_rows, 1.0, 3.8, 0.6
    height = title_h + top_h + gap_h + low_h + foot_h
    fig = Figure(figsize=(12.5, height))

    def rect(left, right, bottom_in, h_in):
        return [left, bottom_in / height, right - left, h_in / height]

    ax = fig.add_axes(rect(0.30, 0.95, foot_h + low_h + gap_h, top_h))
    _limits_panel(ax, res, rows, restricted)
    ax2 = fig.add_axes(rect(0.08, 0.46, foot_h, low_h))
    _points_panel(ax2, res, numeric_r)
    ax3 = fig.add_axes(rect(0.70, 0.97, foot_h, low_h))
    _scores_panel(ax3, res)
    st = res.stability
    stab = ""
    if st.get("bootstrap"):
        stab = f"; bootstrap: reproduced in {st['reproduced']} of {st['bootstrap']} ({'UNSTABLE' if st['unstable'] else 'stable'})"
    fig.suptitle(f"Chosen box: {_title(res)}\ncoverage {c.coverage:.2f}, density {c.density:.2f}, {c.n} of {len(p.x)} design points{stab}",
                 fontsize=11, y=1 - 0.15 / height)
    _save(fig, path)


def _limits_panel(ax, res: "Discovery", rows: list[str], restricted: list[str]) -> None:
    x = res.points.x
    c = res.chosen
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(-0.6, max(len(rows), 1) - 0.4)
    ax.invert_yaxis()
    ax.set_xticks([])
    for side in ("top", "right", "bottom"):
        ax.spines[side].set_visible(False)
    labels = []
    for i, f in enumerate(rows):
        lim = c.limits.get(f)
        col = x[f]
        ax.add_patch(Rectangle((0, i - 0.18), 1, 0.36, color="#eeeeee", zorder=1))
        if lim is None:
            labels.append(f"{_short(f, 48)}\n(not restricted)")
            ax.text(0.5, i, "not restricted by the box", ha="center", va="center", fontsize=8, color="#777777", zorder=3)
            continue
        qp = [q for q in lim.get("qp", []) if q is not None]
        labels.append(f"{_short(f, 48)}\n(qp {', '.join(f'{q:.2g}' for q in qp) or '-'})")
        if "in" in lim:
            cats = sorted({str(v) for v in col.map(lambda v: v.item() if hasattr(v, "item") else v)}, key=str)
            inside_set = {str(v) for v in lim["in"]}
            for j, cat in enumerate(cats):
                xpos = (j + 0.5) / len(cats)
                yes = cat in inside_set
                ax.add_patch(Rectangle((j / len(cats) + 0.01, i - 0.18), 1 / len(cats) - 0.02, 0.36,
                                       color=BOX if yes else "#eeeeee", alpha=0.85 if yes else 1, zorder=2))
                ax.text(xpos, i, textwrap.shorten(cat, 28), ha="center", va="center", fontsize=8,
                        color="white" if yes else "#666666", zorder=3)
            continue
        v = col.to_numpy(float)
        lo, hi = float(np.min(v)), float(np.max(v))
        span = hi - lo if hi > lo else 1.0
        a = 0.0 if lim.get("min") is None else (lim["min"] - lo) / span
        b = 1.0 if lim.get("max") is None else (lim["max"] - lo) / span
        ax.add_patch(Rectangle((a, i - 0.18), b - a, 0.36, color=BOX, alpha=0.85, zorder=2))
        ax.text(0.0, i + 0.22, _fmt(lo), ha="left", va="top", fontsize=7, color="#777777")
        ax.text(1.0, i + 0.22, _fmt(hi), ha="right", va="top", fontsize=7, color="#777777")
        if lim.get("min") is not None:
            ax.text(a, i - 0.22, f"≥ {_fmt(lim['min'])}", ha="center", va="bottom", fontsize=8, color=BOX, fontweight="bold")
        if lim.get("max") is not None:
            ax.text(b, i - 0.22, f"≤ {_fmt(lim['max'])}", ha="center", va="bottom", fontsize=8, color=BOX, fontweight="bold")
    if not rows:
        ax.text(0.5, 0, "the chosen box restricts no factor", ha="center", va="center")
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels(labels, fontsize=8)
    ax.set_title("box limits (blue) within each factor's range in the store (grey); qp: quasi-p value of each limit",
                 fontsize=9, loc="left")


def _points_panel(ax, res: "Discovery", numeric_r: list[str]) -> None:
    x, case, c = res.points.x, res.points.case, res.chosen
    inbox = inside(x, c.limits)
    if len(numeric_r) >= 2:
        fx, fy = numeric_r[0], numeric_r[1]
        xv, yv = x[fx].to_numpy(float), x[fy].to_numpy(float)
        ax.scatter(xv[~case], yv[~case], s=12, color=OTHER, alpha=0.6, label="not of interest", edgecolors="none")
        ax.scatter(xv[case], yv[case], s=14, color=CASE, alpha=0.85, label="case of interest", edgecolors="none")
        x0 = c.limits[fx].get("min"); x1 = c.limits[fx].get("max")
        y0 = c.limits[fy].get("min"); y1 = c.limits[fy].get("max")
        x0 = np.min(xv) if x0 is None else x0; x1 = np.max(xv) if x1 is None else x1
        y0 = np.min(yv) if y0 is None else y0; y1 = np.max(yv) if y1 is None else y1
        ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, lw=1.8, ec=BOX, zorder=3, label="box (these two limits)"))
        ax.set_xlabel(_short(fx, 50), fontsize=9)
        ax.set_ylabel(_short(fy, 50), fontsize=9)
        ax.set_title(f"design points in the two leading restricted factors\n(other restrictions not shown)", fontsize=9)
        ax.legend(fontsize=7, loc="best", framealpha=0.9)
    elif len(numeric_r) == 1:
        f = numeric_r[0]
        xv = x[f].to_numpy(float)
        yv = res.points.value.to_numpy(float)
        ax.scatter(xv[~case], yv[~case], s=12, color=OTHER, alpha=0.6, label="not of interest", edgecolors="none")
        ax.scatter(xv[case], yv[case], s=14, color=CASE, alpha=0.85, label="case of interest", edgecolors="none")
        line = res.threshold if res.settings.aggregate == "mean" else res.settings.share_min
        ax.axhline(line, color="#444444", ls=":", lw=1, label=f"threshold {line:g}")
        lo, hi = c.limits[f].get("min"), c.limits[f].get("max")
        ax.axvspan(np.min(xv) if lo is None else lo, np.max(xv) if hi is None else hi, color=BOX, alpha=0.12, label="box")
        ax.set_xlabel(_short(f, 50), fontsize=9)
        ax.set_ylabel(_short(f"{res.outcome} (pooled)" if res.settings.aggregate == "mean"
                             else f"share of replicates {res.direction} {res.threshold:g}", 50), fontsize=9)
        ax.set_title("design points in the restricted factor", fontsize=9)
        ax.legend(fontsize=7, loc="best", framealpha=0.9)
    else:
        counts = [[int((case & inbox).sum()), int((~case & inbox).sum())], [int((case & ~inbox).sum()), int((~case & ~inbox).sum())]]
        ax.axis("off")
        tbl = ax.table(cellText=counts, rowLabels=["in the box", "outside"], colLabels=["cases", "not of interest"], loc="center")
        tbl.scale(1, 1.6)
        ax.set_title("design points in and out of the box", fontsize=9)
    ax.tick_params(labelsize=8)
    ax.grid(True, alpha=0.25)


def _scores_panel(ax, res: "Discovery") -> None:
    s = res.feature_scores.head(12)[::-1]
    colors = [BOX if f in res.chosen.limits else OTHER for f in s.index]
    ax.barh(range(len(s)), s.to_numpy(), color=colors)
    ax.set_yticks(range(len(s)))
    ax.set_yticklabels([_short(f, 34) for f in s.index], fontsize=8)
    ax.set_xlabel("feature score (extra trees; blue: restricted by the box)", fontsize=9)
    ax.set_title("which factors separate the cases", fontsize=9)
    ax.tick_params(axis="x", labelsize=8)
    ax.grid(True, axis="x", alpha=0.3)


def _fmt(v: float) -> str:
    a = abs(v)
    if a >= 1000:
        return f"{v:,.0f}"
    return f"{v:.3g}"
