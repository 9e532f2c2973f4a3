"""Figures of the four-district case: the report's Figures 1-4 as simulated shares, and the
observed-vs-simulated comparison of Tables 2-5 and consistency.

The report's Figures 1-4 survive only as captions and prose (003_5ef94897120ea9a2.txt lines
720-975): Figure 1, which elements each district changed; Figure 2, the consistency of each change
(green consistent, yellow somewhat, red not consistent, grey no change); Figure 3, each district's
alignment network across elements, inconsistent links in red; Figure 4, whether the changes
fostered continuity (included pre-K). Here each is drawn from ``experiments.case.element_shares``
(shares of replicates), so a cell reads "in this share of simulated replicates ...".

Figures are built as :class:`matplotlib.figure.Figure` objects and saved directly (Agg renders the
PNG); this module never calls pyplot, so the backend a notebook or GUI session chose is neither used
nor changed, and no figure is registered with pyplot (no memory growth in loops). Seaborn styling is
applied in a context that restores rcParams. Labels come from :mod:`sim.vocab`.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from contextlib import contextmanager
from enum import IntEnum
from pathlib import Path

import matplotlib as mpl
import networkx as nx
import numpy as np
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle

from sim.vocab import (
    ELEMENTS,
    TABLE_COLUMNS,
    Alignment,
    Capacity,
    Consistency,
    Continuity,
    Element,
    Substantiveness,
)

__all__ = [
    "figure1_changes",
    "figure2_consistency",
    "figure3_alignment",
    "figure4_continuity",
    "figure_tables",
    "write_case_figures",
    "CONSISTENCY_COLOURS",
    "FILENAMES",
]

DPI = 120

#: File names written by :func:`write_case_figures`, in order.
FILENAMES = (
    "figure1_changes.png",
    "figure2_consistency.png",
    "figure3_alignment.png",
    "figure4_continuity.png",
    "tables_observed_vs_simulated.png",
)

#: The report's colour code for Figure 2 (lines 830-831, 867-868, 874-882).
CONSISTENCY_COLOURS: dict[Consistency, str] = {
    Consistency.NO_CHANGE: "#bdbdbd",  # grey
    Consistency.CONSISTENT: "#1a9850",  # green
    Consistency.SOMEWHAT: "#fdd835",  # yellow
    Consistency.NOT_CONSISTENT: "#d73027",  # red
}
_LINK_CONSISTENT = "#1b5e20"  # dark green
_LINK_INCONSISTENT = "#d73027"  # red, as in CONSISTENCY_COLOURS
_MIN_LINK_SHARE = 0.05
_NO_CHANGE_GREY = CONSISTENCY_COLOURS[Consistency.NO_CHANGE]

# The code vocabularies a summary table's columns may come from.
_COLUMN_VOCABS: tuple[type[IntEnum], ...] = (Substantiveness, Alignment, Continuity, Consistency)


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


@contextmanager
def _style():
    """Seaborn styling for the figures only: rcParams are restored on exit."""
    with sns.axes_style("white"), sns.plotting_context("notebook", font_scale=0.85):
        yield


def _wrap(text: str, width: int = 14) -> str:
    return "\n".join(textwrap.wrap(str(text), width, break_long_words=False)) or str(text)


def _element_labels(width: int = 14) -> list[str]:
    return [_wrap(e.label, width) for e in ELEMENTS]


def _caption(replicates: int | None, extra: str = "") -> str:
    if replicates:
        sim = f"Simulation of the four-district case: {int(replicates)} replicates."
    else:
        sim = "Simulation of the four-district case."
    return f"{sim} {extra}".strip()


def _finish(fig: Figure, title: str, caption: str, path: str | Path) -> Path:
    """Title on top, caption-like subtitle at the bottom (both inside the constrained layout),
    save, release the figure."""
    fig.suptitle(title, fontsize=13, fontweight="bold")
    fig.supxlabel(_wrap(caption, 160), fontsize=9, style="italic", color="#333333")
    from .execution.files import write_file

    path = Path(path)
    write_file(path, lambda fh: fig.savefig(fh, format=_format(path), dpi=DPI, facecolor="white"))
    fig.clear()
    return path


def _format(path: Path) -> str:
    """The image format of a file name (matplotlib's name for it); PNG when the name has none."""
    return path.suffix.lower().lstrip(".") or "png"


def _array(shares: Mapping[str, np.ndarray], key: str, districts: Sequence[str], tail: tuple[int, ...]) -> np.ndarray:
    if key not in shares:
        raise ValueError(f"shares: missing {key!r} (have: {', '.join(sorted(shares))})")
    arr = np.asarray(shares[key], dtype=float)
    expected = (len(districts), *tail)
    if arr.shape != expected:
        raise ValueError(f"shares[{key!r}]: shape {arr.shape}, expected {expected} (districts x ...)")
    return arr


def _grid(n: int) -> tuple[int, int]:
    ncols = min(2, max(n, 1))
    return math.ceil(max(n, 1) / ncols), ncols


def _as_element(e) -> Element:
    if isinstance(e, Element):
        return e
    if isinstance(e, str):
        return Element.from_key(e, field="observed_changed")
    return Element(int(e))


# --------------------------------------------------------------------------------------------
# Figure 1: which elements changed
# --------------------------------------------------------------------------------------------


def figure1_changes(
    shares: Mapping[str, np.ndarray],
    districts: Sequence[str],
    path: str | Path,
    observed_changed: Mapping[str, Iterable] | None = None,
    *,
    replicates: int | None = None,
) -> Path:
    """Heatmap districts x elements of the share of replicates in which the element changed.

    ``observed_changed`` (district -> elements that changed in the report) outlines the observed
    changes, so a dark cell without an outline (or a pale one with) is a mismatch at a glance.
    """
    n_el = len(ELEMENTS)
    changed = _array(shares, "changed", districts, (n_el,))
    with _style():
        fig = Figure(figsize=(10, 2.4 + 0.75 * len(districts)), layout="constrained")
        ax = fig.add_subplot()
        sns.heatmap(
            changed,
            ax=ax,
            vmin=0,
            vmax=1,
            cmap="Blues",
            annot=True,
            fmt=".2f",
            linewidths=1.5,
            linecolor="white",
            xticklabels=_element_labels(),
            yticklabels=list(districts),
            cbar_kws={"label": "Share of replicates\nin which the element changed", "shrink": 0.9},
        )
        ax.set_xlabel("Infrastructure element")
        ax.set_ylabel("District")
        ax.tick_params(axis="x", rotation=0)
        ax.tick_params(axis="y", rotation=0)
        extra = "Cell value: share of replicates in which the district changed the element."
        if observed_changed is not None:
            for i, d in enumerate(districts):
                for e in observed_changed.get(d, ()):
                    j = int(_as_element(e))
                    ax.add_patch(Rectangle((j + 0.05, i + 0.05), 0.9, 0.9, fill=False, edgecolor="black", lw=2.2))
            ax.legend(
                handles=[
                    Patch(facecolor="none", edgecolor="black", lw=2.2, label="Changed in the report"),
                    Patch(facecolor="none", edgecolor="none", label="No outline: not changed in the report"),
                ],
                loc="upper center",
                bbox_to_anchor=(0.5, -0.2),
                ncol=2,
                frameon=False,
            )
            extra += " Outlined cells: elements the report says changed (Figure 1)."
    return _finish(fig, "Figure 1. Districts' changes in mathematics infrastructure", _caption(replicates, extra), path)


# --------------------------------------------------------------------------------------------
# Figure 2: consistency of each change
# --------------------------------------------------------------------------------------------


def figure2_consistency(
    shares: Mapping[str, np.ndarray],
    districts: Sequence[str],
    path: str | Path,
    *,
    replicates: int | None = None,
) -> Path:
    """Per district a panel of stacked horizontal bars, one per element: the distribution over
    consistency codes, in the report's colours (grey / green / yellow / red)."""
    n_el = len(ELEMENTS)
    codes = tuple(Consistency)
    cons = _array(shares, "consistency", districts, (n_el, len(codes)))
    nrows, ncols = _grid(len(districts))
    with _style():
        fig = Figure(figsize=(6.0 * ncols + 2.0, 0.9 + 2.9 * nrows), layout="constrained")
        axes = np.atleast_1d(fig.subplots(nrows, ncols, sharex=True, sharey=True, squeeze=False)).ravel()
        y = np.arange(n_el)
        for k, ax in enumerate(axes):
            if k >= len(districts):
                ax.set_axis_off()
                continue
            left = np.zeros(n_el)
            for c in codes:
                vals = cons[k, :, int(c)]
                ax.barh(y, vals, left=left, color=CONSISTENCY_COLOURS[c], edgecolor="white", height=0.75, label=c.label)
                for yi, (v, l0) in enumerate(zip(vals, left)):
                    if v >= 0.12:
                        dark = c in (Consistency.CONSISTENT, Consistency.NOT_CONSISTENT)
                        ax.text(l0 + v / 2, yi, f"{v:.0%}", ha="center", va="center", fontsize=7.5,
                                color="white" if dark else "black")
                left = left + vals
            ax.set_title(districts[k], fontweight="bold")
            ax.set_xlim(0, 1)
            ax.set_yticks(y, _element_labels(26))
            ax.xaxis.set_major_formatter(mpl.ticker.PercentFormatter(1.0))
            if k % ncols == 0:
                ax.set_ylabel("Infrastructure element")
            if k // ncols == nrows - 1 or k + ncols >= len(districts):
                ax.set_xlabel("Share of replicates")
            sns.despine(ax=ax, left=True)
        axes[0].invert_yaxis()  # shared: elements top to bottom in vocabulary order
        fig.legend(
            handles=[Patch(facecolor=CONSISTENCY_COLOURS[c], label=c.label) for c in codes],
            title="Consistency with\nthe initiative's vision",
            loc="outside right center",
            frameon=False,
        )
    extra = "Each bar: how the change to that element was coded across replicates (no change / consistent / somewhat / not consistent)."
    return _finish(fig, "Figure 2. Districts' consistency across infrastructure changes", _caption(replicates, extra), path)


# --------------------------------------------------------------------------------------------
# Figure 3: alignment networks
# --------------------------------------------------------------------------------------------


def _circle_positions() -> dict[Element, np.ndarray]:
    n = len(ELEMENTS)
    return {
        e: np.array([math.cos(math.pi / 2 - 2 * math.pi * i / n), math.sin(math.pi / 2 - 2 * math.pi * i / n)])
        for i, e in enumerate(ELEMENTS)
    }


def figure3_alignment(
    shares: Mapping[str, np.ndarray],
    districts: Sequence[str],
    path: str | Path,
    *,
    replicates: int | None = None,
) -> Path:
    """One network per district: nodes are the six elements on a fixed circle, edge width is the
    share of replicates with that link; edges at least half of whose replicates had an inconsistent
    link are red, the others dark green; edges with share < 0.05 are hidden. Node fill: share of
    replicates in which the element changed (when ``shares`` has ``changed``)."""
    n_el = len(ELEMENTS)
    links = _array(shares, "links", districts, (n_el, n_el))
    bad = _array(shares, "inconsistent_links", districts, (n_el, n_el))
    links = np.maximum(links, np.swapaxes(links, 1, 2))  # undirected
    bad = np.maximum(bad, np.swapaxes(bad, 1, 2))
    changed = _array(shares, "changed", districts, (n_el,)) if "changed" in shares else None
    pos = _circle_positions()
    width_per_share = 12.0
    cmap = mpl.colormaps["Blues"]
    norm = mpl.colors.Normalize(0, 1)
    nrows, ncols = _grid(len(districts))
    with _style():
        fig = Figure(figsize=(4.6 * ncols + 2.4, 1.4 + 4.2 * nrows), layout="constrained")
        axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
        for k, ax in enumerate(axes):
            ax.set_axis_off()
            if k >= len(districts):
                continue
            g = nx.Graph()
            g.add_nodes_from(ELEMENTS)
            for a in range(n_el):
                for b in range(a + 1, n_el):
                    w = float(links[k, a, b])
                    if w >= _MIN_LINK_SHARE:
                        red = float(bad[k, a, b]) >= 0.5 * w
                        g.add_edge(ELEMENTS[a], ELEMENTS[b], weight=w, red=red)
            edges = sorted(g.edges(data=True), key=lambda t: t[2]["weight"])
            if edges:
                nx.draw_networkx_edges(
                    g,
                    pos,
                    edgelist=[(u, v) for u, v, _ in edges],
                    width=[width_per_share * d["weight"] for _, _, d in edges],
                    edge_color=[_LINK_INCONSISTENT if d["red"] else _LINK_CONSISTENT for _, _, d in edges],
                    alpha=0.85,
                    ax=ax,
                )
            node_colour = [cmap(norm(changed[k, int(e)])) if changed is not None else "#deebf7" for e in ELEMENTS]
            nx.draw_networkx_nodes(g, pos, node_color=node_colour, edgecolors="black", linewidths=1.0, node_size=420, ax=ax)
            for e in ELEMENTS:
                x, y = pos[e]
                ha = "center" if abs(x) < 0.2 else ("left" if x > 0 else "right")
                va = "bottom" if y > 0.5 else ("top" if y < -0.5 else "center")
                ax.text(1.2 * x, 1.2 * y, _wrap(e.label, 13), ha=ha, va=va, fontsize=8.5)
            ax.set_xlim(-2.0, 2.0)
            ax.set_ylim(-1.75, 1.75)
            ax.set_aspect("equal")
            ax.set_title(districts[k], fontweight="bold")
        handles = [
            Line2D([], [], color=_LINK_CONSISTENT, lw=3, label="Consistent link"),
            Line2D([], [], color=_LINK_INCONSISTENT, lw=3, label="Inconsistent in ≥ half\nof the replicates\nwith the link"),
            *(
                Line2D([], [], color="#555555", lw=width_per_share * w, label=f"Linked in {w:.0%}")
                for w in (0.1, 0.25, 0.5, 1.0)
            ),
        ]
        fig.legend(
            handles=handles,
            loc="outside right upper",
            frameon=False,
            title="Edges (width ∝ share\nof replicates with the link)",
            handlelength=3,
            labelspacing=1.0,
        )
        if changed is not None:
            sm = mpl.cm.ScalarMappable(norm=norm, cmap=cmap)
            fig.colorbar(
                sm, ax=axes.tolist(), location="bottom", shrink=0.45, aspect=30,
                label="Node fill: share of replicates in which the element changed",
            )
    extra = (
        f"Edges: new alignment between two elements; hidden when linked in fewer than {_MIN_LINK_SHARE:.0%} of replicates. "
        "Red: the link was inconsistent with the initiative's vision in at least half of the replicates that had it."
    )
    return _finish(fig, "Figure 3. Districts' alignment across infrastructure changes", _caption(replicates, extra), path)


# --------------------------------------------------------------------------------------------
# Figure 4: continuity
# --------------------------------------------------------------------------------------------


def figure4_continuity(
    shares: Mapping[str, np.ndarray],
    districts: Sequence[str],
    path: str | Path,
    *,
    replicates: int | None = None,
) -> Path:
    """Two heatmaps side by side (districts x elements): share of replicates in which the change
    fostered continuity (included pre-K) during the initiative, and at its end."""
    n_el = len(ELEMENTS)
    k = len(Continuity)
    during = _array(shares, "continuity", districts, (n_el, k))[..., int(Continuity.CONTINUITY)]
    end = _array(shares, "continuity_end", districts, (n_el, k))[..., int(Continuity.CONTINUITY)]
    with _style():
        fig = Figure(figsize=(15, 2.2 + 0.75 * len(districts)), layout="constrained")
        axes = fig.subplots(1, 2, sharey=True)
        for i, (ax, data, sub) in enumerate(
            zip(axes, (during, end), ("During the initiative", "At the end of the initiative"))
        ):
            sns.heatmap(
                data,
                ax=ax,
                vmin=0,
                vmax=1,
                cmap="Greens",
                annot=True,
                fmt=".2f",
                linewidths=1.5,
                linecolor="white",
                xticklabels=_element_labels(12),
                yticklabels=list(districts),
                cbar=i == 1,
                cbar_kws={"label": f"Share of replicates:\n{Continuity.CONTINUITY.label.lower()}"},
            )
            ax.set_title(sub, fontweight="bold")
            ax.set_xlabel("Infrastructure element")
            ax.set_ylabel("District" if i == 0 else "")
            ax.tick_params(axis="x", rotation=0, labelsize=8)
            ax.tick_params(axis="y", rotation=0)
    extra = (
        f"Cell value: share of replicates in which the change to the element was coded "
        f"'{Continuity.CONTINUITY.label.lower()}' (extended to pre-K); right panel after end-of-run events such as eliminating pre-K."
    )
    return _finish(fig, "Figure 4. Continuity of infrastructure changes (pre-K to grade 3)", _caption(replicates, extra), path)


# --------------------------------------------------------------------------------------------
# Tables 2-5 and consistency: observed vs simulated
# --------------------------------------------------------------------------------------------


def _column_vocab(name: str, cols: Sequence[str]) -> type[IntEnum] | None:
    keys = tuple(TABLE_COLUMNS.get(name, cols))
    for vocab in _COLUMN_VOCABS:
        if vocab.keys() == keys:
            return vocab
    return None


def _column_style(vocab: type[IntEnum] | None, cols: Sequence[str]) -> tuple[list[str], list[str]]:
    """Labels and colours of a table's columns."""
    if vocab is Consistency:
        members = [Consistency.from_key(c) for c in cols]
        return [m.label for m in members], [CONSISTENCY_COLOURS[m] for m in members]
    palette = sns.color_palette("colorblind", 8).as_hex()
    labels, colours = [], []
    n = 0
    for c in cols:
        member = vocab.from_key(c) if vocab is not None and c in vocab.keys() else None
        labels.append(member.label if member is not None else c.replace("_", " "))
        if member is not None and int(member) == 0:  # every code vocabulary starts with "no change"
            colours.append("#8c8c8c")
        else:
            colours.append(palette[[0, 2, 4, 1, 3][n % 5]])
            n += 1
    return labels, colours


def _row_label(row: str) -> str:
    return Capacity.from_key(row).label if row in Capacity.keys() else row


def _table_title(name: str, vocab: type[IntEnum] | None, rows: Sequence[str]) -> str:
    by = "pre-existing capacity" if all(r in Capacity.keys() for r in rows) else "district"
    what = vocab.__name__.lower() if vocab is not None else "codes"
    if name.startswith("table") and name[5:].isdigit():
        return f"Table {name[5:]}: {what} by {by}"
    return f"{what.capitalize()} by {by}"


def _cell(table: Mapping | None, row: str, col: str) -> float:
    try:
        v = table[row][col]
    except (KeyError, TypeError):
        return float("nan")
    return float("nan") if v is None else float(v)


def figure_tables(summary: Mapping, path: str | Path) -> Path:
    """Observed vs simulated Tables 2-5 and consistency: per table a panel of point-ranges
    (simulated mean, p05-p95 bar) per row and code, with the observed count as a hollow diamond."""
    simulated = summary["simulated"]
    observed = summary.get("observed", {})
    p05 = summary.get("simulated_p05", {})
    p95 = summary.get("simulated_p95", {})
    names = [n for n in simulated if n in TABLE_COLUMNS] or list(simulated)
    replicates = (summary.get("provenance") or {}).get("replicates")
    n_panels = len(names) + 1  # + a key panel
    ncols = 3
    nrows = math.ceil(n_panels / ncols)
    with _style():
        fig = Figure(figsize=(16, 0.9 + 4.4 * nrows), layout="constrained")
        axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
        for ax, name in zip(axes, names):
            sim = simulated[name]
            rows = list(sim)
            cols = list(next(iter(sim.values()))) if rows else []
            vocab = _column_vocab(name, cols)
            labels, colours = _column_style(vocab, cols)
            width = 0.7
            offsets = (np.arange(len(cols)) - (len(cols) - 1) / 2) * (width / max(len(cols), 1))
            handles = []
            for j, col in enumerate(cols):
                x = np.arange(len(rows)) + offsets[j]
                mean = np.array([_cell(sim, r, col) for r in rows])
                lo = np.array([_cell(p05.get(name), r, col) for r in rows])
                hi = np.array([_cell(p95.get(name), r, col) for r in rows])
                obs = np.array([_cell(observed.get(name), r, col) for r in rows])
                ax.vlines(x, lo, hi, color=colours[j], lw=2.2, alpha=0.9)
                ax.plot(x, mean, "o", color=colours[j], ms=6.5, mec="white", mew=0.6, zorder=3)
                ax.plot(x, obs, "D", mfc="none", mec="black", ms=9, mew=1.4, zorder=4)
                handles.append(Patch(facecolor=colours[j], label=labels[j]))
            ax.set_xticks(np.arange(len(rows)), [_wrap(_row_label(r), 14) for r in rows])
            ax.set_xlim(-0.6, len(rows) - 0.4)
            top = np.nanmax([np.nanmax([_cell(t, r, c) for r in rows for c in cols] or [0]) for t in
                             (sim, p95.get(name), observed.get(name)) if t is not None] + [1.0])
            legend_rows = 1 if len(cols) <= 3 else 2
            ax.set_ylim(-0.5, top * (1.12 + 0.1 * legend_rows) + 0.5)  # headroom for the legend
            ax.yaxis.set_major_locator(mpl.ticker.MaxNLocator(integer=True))
            ax.grid(axis="y", color="#e0e0e0", lw=0.8)
            for b in np.arange(len(rows) - 1) + 0.5:
                ax.axvline(b, color="#d0d0d0", lw=0.8)
            ax.set_ylabel("Number of elements")
            ax.set_xlabel("District" if "district" in _table_title(name, vocab, rows) else "Pre-existing capacity")
            ax.set_title(_table_title(name, vocab, rows), fontweight="bold")
            ax.legend(handles=handles, loc="upper center", fontsize=7.5, ncol=len(cols) if legend_rows == 1 else 2,
                      handlelength=1.2, columnspacing=1.0, frameon=True, facecolor="white", edgecolor="none", framealpha=1)
            sns.despine(ax=ax)
        key = axes[len(names)]
        key.set_axis_off()
        key.legend(
            handles=[
                Line2D([], [], color="#555555", marker="o", ms=6.5, lw=2.2, label="Simulated mean, with 5th-95th percentile bar"),
                Line2D([], [], color="black", marker="D", mfc="none", ms=9, mew=1.4, lw=0, label="Observed count (report)"),
            ],
            loc="center",
            frameon=False,
            title="Key",
            fontsize=10,
        )
        for ax in axes[len(names) + 1:]:
            ax.set_axis_off()
    extra = "Counts of district-elements per row and code; the observed value is the report's primary reading."
    return _finish(fig, "Observed vs simulated: Tables 2-5 and consistency", _caption(replicates, extra), path)


# --------------------------------------------------------------------------------------------
# All of them
# --------------------------------------------------------------------------------------------


def write_case_figures(
    shares: Mapping[str, np.ndarray],
    summary: Mapping,
    districts: Sequence[str],
    outdir: str | Path,
    observed_changed: Mapping[str, Iterable] | None = None,
) -> list[Path]:
    """Write the five case figures into ``outdir`` (created if missing); returns their paths."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    districts = tuple(districts)
    n = (summary.get("provenance") or {}).get("replicates")
    f1, f2, f3, f4, ft = (outdir / name for name in FILENAMES)
    return [
        figure1_changes(shares, districts, f1, observed_changed, replicates=n),
        figure2_consistency(shares, districts, f2, replicates=n),
        figure3_alignment(shares, districts, f3, replicates=n),
        figure4_continuity(shares, districts, f4, replicates=n),
        figure_tables(summary, ft),
    ]
