"""A what-if as text (outcome differences, then the Tables 2-5 cell differences) and as a forest plot."""

from __future__ import annotations

import math
import textwrap
from contextlib import contextmanager
from pathlib import Path
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
from sim.results import OUTCOME_NAMES
from .compare import OVERALL

if TYPE_CHECKING:
    from .compare import WhatIf


OUTCOME_LABELS = {
    "elements_changed": "Elements changed",
    "share_transformed": "Changes that transformed the element",
    "share_consistent": "Changes consistent with the initiative's vision",
    "share_aligned": "Changes aligned with other elements",
    "share_continuity_changes": "Changes that included pre-K (during)",
    "share_continuity_end": "Changes that included pre-K (at the end)",
    "share_beyond_signature_practice": "Changes beyond the signature practice (HLPPs)",
    "mean_month_of_change": "Month of first change (average)",
}


SHARE_OUTCOMES = tuple(n for n in OUTCOME_NAMES if n.startswith("share_"))


_TABLE_TITLES = {
    "table2": "Table 2. Substantiveness of change, by district",
    "table3": "Table 3. Pre-existing capacity x substantiveness",
    "table4": "Table 4. Pre-existing capacity x alignment",
    "table5": "Table 5. Pre-existing capacity x continuity",
    "table5_end": "Table 5 at the end of the run (after e.g. pre-K is eliminated)",
    "consistency": "Figure 2 as a table. Consistency of change, by district",
}


def format_whatif(whatif: WhatIf) -> str:
    """The text report: outcome differences, then the Tables 2-5 cell differences."""
    from ..execution.provenance import package_version

    head = [
        whatif.question,
        f"coherence-sim {package_version()} | what-if {whatif.name or '(custom)'} | base {whatif.baseline.scenario.name} | "
        f"{whatif.replicates} replicates per arm | seed {whatif.seed} | common random numbers",
    ]
    if whatif.baseline_of is not None:
        what = ("what-if " if whatif.baseline_overrides else "scenario ") + whatif.baseline_of
        head.append(f"baseline: {what}" + (" (" + "  ".join(whatif.baseline_overrides) + ")" if whatif.baseline_overrides else ""))
        if whatif.changes_from_baseline:
            head.append("changes from the baseline: " + "  ".join(whatif.changes_from_baseline))
    elif whatif.overrides:
        head.append("changes: " + "  ".join(whatif.overrides))
    if whatif.lines:
        head.append("report lines: " + ", ".join(whatif.lines))
    if not whatif.assignments_paired:
        head.append(
            "note: the arms have different numbers of capacity assignments "
            f"({whatif.baseline.n_assignments} vs {whatif.counterfactual.n_assignments}); capacities are not paired"
        )
    head.append(
        "difference = counterfactual - baseline, paired by replicate: mean [5th, 95th percentile of the "
        "replicate differences] (90% interval of the mean difference)."
    )
    tab = whatif.table()
    w = max(len(k) for k in OUTCOME_NAMES) + 2
    dw = max(len(c) for c in whatif.columns) + 2
    lines = [
        f"{'outcome':<{w}}{'district':<{dw}}{'baseline':>10}{'counterfactual':>16}   {'difference [p05, p95]':<27}(mean 90%)"
    ]
    prev = None
    for r in tab.itertuples(index=False):
        if prev is not None and r.outcome != prev:
            lines.append("")
        prev = r.outcome
        star = "*" if r.n < whatif.replicates else " "
        diff = f"{_f(r.difference, 7)} [{_f(r.p05, 6)}, {_f(r.p95, 6)}]{star}"
        lines.append(
            f"{r.outcome if r.district == whatif.columns[0] else '':<{w}}{r.district:<{dw}}{_f(r.baseline, 10, False)}"
            f"{_f(r.counterfactual, 16, False)}   {diff:<27}({_f(r.mean_p05, 6)}, {_f(r.mean_p95, 6)})"
        )
    foot = []
    if (tab["n"] < whatif.replicates).any():
        foot.append("* some replicates undefined (no change in the district): difference over the replicates defined in both arms.")
    provider = format_provider_metrics(whatif)
    return ("\n".join(head) + "\n\n" + "\n".join(lines) + ("\n" + "\n".join(foot) if foot else "")
            + (("\n\n" + provider) if provider else "") + "\n\n" + format_table_differences(whatif))


PROVIDER_LABELS = {
    "joined": "take-up (joined)",
    "price": "price paid (USD)",
    "subsidy": "subsidy spend (USD)",
    "cost_per_element_changed": "cost/element changed",
}


def format_provider_metrics(whatif: WhatIf) -> str:
    """A provider what-if's take-up, price, subsidy spend and cost per element changed, per district
    and over all districts, in both arms with the paired difference ('' for other what-ifs)."""
    if not whatif.is_provider_whatif:
        return ""
    tab = whatif.provider_table()
    if tab is None:
        return "Provider: the runs carry no take-up or cost outputs."
    w = max(len(v) for v in PROVIDER_LABELS.values()) + 2
    dw = max(len(c) for c in whatif.columns) + 2
    lines = [
        "Provider: take-up, price, subsidy spend and cost per element changed (USD over the run; overall: share of "
        "districts joined, totals, total spend / total elements changed)",
        f"{'':<{w}}{'district':<{dw}}{'baseline':>12}{'counterfactual':>16}   difference [p05, p95]",
    ]
    prev = None
    for r in tab.itertuples(index=False):
        if prev is not None and r.metric != prev:
            lines.append("")
        prev = r.metric
        money = r.metric != "joined"
        fmt = (lambda x, wd, sign=False: _money(x, wd, sign)) if money else (lambda x, wd, sign=False: _f(x, wd, sign))
        diff = fmt(r.difference, 10, True)
        if math.isfinite(r.p05):
            diff += f" [{fmt(r.p05, 0, True).strip()}, {fmt(r.p95, 0, True).strip()}]"
        label = PROVIDER_LABELS[r.metric] if r.district == whatif.columns[0] else ""
        lines.append(f"{label:<{w}}{r.district:<{dw}}{fmt(r.baseline, 12)}{fmt(r.counterfactual, 16)}   {diff}")
    return "\n".join(lines)


def _money(x, width: int, sign: bool = False) -> str:
    x = float(x)
    if not math.isfinite(x):
        return f"{'-':>{width}}"
    return f"{x:+{width},.0f}" if sign else f"{x:{width},.0f}"


def format_table_differences(whatif: WhatIf) -> str:
    """The Tables 2-5 cell differences as text."""
    blocks = [
        "Tables 2-5: difference in counts of district-elements (counterfactual - baseline), "
        "mean [5th, 95th percentile of the replicate differences]"
    ]
    colw = 22
    for name, t in whatif.table_differences.items():
        d = t["difference"]
        width = max(len(r) for r in t["rows"]) + 2
        lines = [_TABLE_TITLES.get(name, name), " " * width + "".join(f"{c:>{colw}}" for c in t["columns"])]
        for i, r in enumerate(t["rows"]):
            cells = "".join(
                f"{_f(d['mean'][i, j], 6)} [{_f(d['p05'][i, j], 3, prec=0)},{_f(d['p95'][i, j], 3, prec=0)}]".rjust(colw)
                for j in range(len(t["columns"]))
            )
            lines.append(f"{r:<{width}}{cells}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def _f(x, width: int, sign: bool = True, prec: int = 2) -> str:
    x = float(x)
    if not math.isfinite(x):
        return f"{'-':>{width}}"
    if prec == 0:
        return f"{x:+{width}.0f}" if sign else f"{x:{width}.0f}"
    return f"{x:+{width}.{prec}f}" if sign else f"{x:{width}.{prec}f}"


DPI = 120


# (outcomes, scale, x label, smallest half-width of the x axis)
_PANELS = (
    (SHARE_OUTCOMES, 100.0, "Difference in percentage points (share of the changed elements)", 5.0),
    (("elements_changed",), 1.0, "Difference in the number of elements changed (of 6 per district)", 0.5),
    (("mean_month_of_change",), 1.0, "Difference in months (month of each element's first change, averaged)", 1.0),
)


@contextmanager
def _style():
    """Seaborn styling for this figure only (as experiments.figures): rcParams restored on exit."""
    import seaborn as sns

    with sns.axes_style("white"), sns.plotting_context("notebook", font_scale=0.85):
        yield


def _wrap(text: str, width: int) -> str:
    return "\n".join(textwrap.wrap(str(text), width, break_long_words=False)) or str(text)


def forest_plot(w: WhatIf, path: str | Path) -> Path:
    """For each outcome (rows) and district / all districts (colours): the mean difference (dot),
    its 90% confidence interval (thick bar) and the 90% range of single replicates' differences
    (thin bar), against a zero line. Built as a matplotlib Figure (no pyplot)."""
    import seaborn as sns
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    cols = w.columns
    g = len(cols)
    palette = sns.color_palette("colorblind", max(g - 1, 1)).as_hex()
    colours = {c: palette[i % len(palette)] for i, c in enumerate(cols[:-1])}
    colours[OVERALL] = "#222222"
    step = min(0.16, 0.8 / g)
    heights = [0.8] + [len(names) * (0.35 + 0.17 * g) + 0.6 for names, _, _, _ in _PANELS]
    with _style():
        fig = Figure(figsize=(11, sum(heights) + 1.6), layout="constrained")
        # The legend gets a row of its own: a figure legend "outside upper" collides with the title.
        key, *axes = fig.subplots(len(_PANELS) + 1, 1, gridspec_kw={"height_ratios": heights})
        for ax, (names, scale, xlabel, min_half) in zip(axes, _PANELS):
            lo_x, hi_x = -min_half, min_half
            for i, k in enumerate(names):
                st = w.outcome_differences[k]
                for j, c in enumerate(cols):
                    y = i + (j - (g - 1) / 2) * step
                    m = st["mean"][j] * scale
                    if not math.isfinite(m):
                        continue
                    lo, hi = st["p05"][j] * scale, st["p95"][j] * scale
                    mlo, mhi = st["mean_p05"][j] * scale, st["mean_p95"][j] * scale
                    col = colours[c]
                    lo_x, hi_x = np.nanmin([lo_x, lo, mlo]), np.nanmax([hi_x, hi, mhi])
                    ax.hlines(y, lo, hi, color=col, lw=1.2, alpha=0.55)
                    if math.isfinite(mlo):
                        ax.hlines(y, mlo, mhi, color=col, lw=4.5, alpha=0.9)
                    ax.plot(m, y, "D" if c == OVERALL else "o", color=col, ms=6.5 if c == OVERALL else 5.5,
                            mec="white", mew=0.7, zorder=3)
            for b in np.arange(len(names) - 1) + 0.5:
                ax.axhline(b, color="#e3e3e3", lw=0.8)
            ax.axvline(0, color="#555555", lw=1.1, ls="--", zorder=1)
            ax.set_yticks(np.arange(len(names)), [_wrap(OUTCOME_LABELS[k], 30) for k in names])
            ax.set_ylim(len(names) - 0.5, -0.5)
            pad = 0.05 * (hi_x - lo_x)
            ax.set_xlim(lo_x - pad, hi_x + pad)
            ax.set_xlabel(xlabel)
            ax.grid(axis="x", color="#eeeeee", lw=0.8)
            sns.despine(ax=ax, left=True)
        handles = [
            Line2D([], [], color=colours[c], marker="D" if c == OVERALL else "o", lw=4.5,
                   label="All districts" if c == OVERALL else c)
            for c in cols
        ] + [
            Line2D([], [], color="#777777", lw=4.5, label="90% interval of the\naverage difference"),
            Line2D([], [], color="#777777", lw=1.2, alpha=0.6, label="90% range of the difference\nin a single replicate"),
        ]
        key.set_axis_off()
        key.legend(handles=handles, loc="center", ncol=min(len(handles), 4), frameon=False,
                   handlelength=2.6, columnspacing=1.8)
        fig.suptitle(_wrap(w.question, 90), fontsize=13, fontweight="bold")
        changes = w.changes_from_baseline if w.baseline_of is not None else w.overrides
        caption = (
            f"Difference = what-if minus the baseline ({w.baseline_of or w.baseline.scenario.name}), paired replicate by "
            f"replicate: {w.replicates} simulated replicates per arm with the same random numbers (seed {w.seed}). "
            "Right of the dashed line: more under the what-if. "
            + ("Changes: " + "; ".join(changes) + "." if changes else "No changes.")
        )
        fig.supxlabel(_wrap(caption, 150), fontsize=8.5, style="italic", color="#333333")
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=DPI, facecolor="white")
        fig.clear()
    return path


#: Colours of the arms in :func:`comparison_figure` (colour-blind safe, in order).
_ARM_COLOURS = ("#0173b2", "#de8f05", "#d55e00", "#029e73", "#cc78bc", "#949494")


def comparison_figure(runs: "Mapping[str, WhatIf]", path: str | Path, *, outcomes: Sequence[str] | None = None,
                      district: str = OVERALL, title: str | None = None) -> Path:
    """Several what-ifs side by side (:func:`build_comparison_figure`), saved as a PNG; returns the path."""
    with _style():
        fig = build_comparison_figure(runs, outcomes=outcomes, district=district, title=title)
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=DPI, facecolor="white")
        fig.clear()
    return path


def build_comparison_figure(runs: "Mapping[str, WhatIf]", *, outcomes: Sequence[str] | None = None,
                            district: str = OVERALL, title: str | None = None):
    """Several what-ifs side by side: one panel per outcome (its title wrapped on its own lines, so
    long outcome names never run into the next panel), one row per what-if (``runs``: label ->
    WhatIf), the mean difference from each what-if's own baseline (dot) and its 90% confidence
    interval (bar), against a zero line; shares in percentage points, counts in their unit. A
    matplotlib Figure (no pyplot), constrained layout."""
    import seaborn as sns
    from matplotlib.figure import Figure

    labels = list(runs)
    if not labels:
        raise ValueError("runs: give at least one what-if")
    names = list(outcomes) if outcomes is not None else [o for o in OUTCOME_NAMES if o != "mean_month_of_change"]
    unknown = [o for o in names if o not in OUTCOME_NAMES]
    if unknown:
        raise ValueError(f"outcomes: {unknown[0]!r} is not an outcome; allowed: {', '.join(OUTCOME_NAMES)}")
    colours = {a: _ARM_COLOURS[i % len(_ARM_COLOURS)] for i, a in enumerate(labels)}
    n = len(names)
    with _style():
        fig = Figure(figsize=(1.9 + 2.5 * n, 1.6 + 0.42 * len(labels)), layout="constrained")
        axes = fig.subplots(1, n, sharey=True, squeeze=False)[0]
        for ax, o in zip(axes, names):
            scale = 100.0 if o in SHARE_OUTCOMES else 1.0
            for y, a in enumerate(labels):
                w = runs[a]
                j = w.columns.index(district)
                st = w.outcome_differences[o]
                m, lo, hi = (st[k][j] * scale for k in ("mean", "mean_p05", "mean_p95"))
                if not math.isfinite(m):
                    continue
                if math.isfinite(lo) and math.isfinite(hi):
                    ax.hlines(y, lo, hi, color=colours[a], lw=2.2)
                ax.plot(m, y, "o", color=colours[a], ms=6, mec="white", mew=0.7, zorder=3)
            ax.axvline(0, color="#555555", lw=1, ls="--", zorder=1)
            ax.set_title(_wrap(OUTCOME_LABELS.get(o, o), 24), fontsize=9.5, loc="center")
            ax.set_xlabel("percentage points" if scale == 100.0 else "elements" if o == "elements_changed" else "",
                          fontsize=8.5)
            ax.margins(x=0.15)
            ax.grid(axis="x", color="#eeeeee", lw=0.8)
            sns.despine(ax=ax, left=True)
        axes[0].set_yticks(range(len(labels)), [_wrap(a, 22) for a in labels])
        axes[0].set_ylim(len(labels) - 0.5, -0.5)
        for ax in axes[1:]:
            ax.tick_params(axis="y", length=0)
        where = "all districts" if district == OVERALL else district
        fig.suptitle(_wrap(title or f"Difference from each what-if's baseline ({where}): mean and 90% interval", 110),
                     fontsize=11, fontweight="bold")
    return fig
