"""Outputs of a calibration: calibration.json, posterior CSVs, PNG figures and a one-page report.md.

The report says, from the numbers alone, what fits and what does not: for every evidence component
the posterior predictive p-value and the cells whose observed count falls outside the 90%
predictive interval, for the fitted part (in-sample) and the held-out part (out-of-sample, from the
split fit); which parameters the data pin down (posterior 90% interval much narrower than the
prior's) and which they do not.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from experiments.execution.files import write_file, write_text

from .distance import TABLE_COLS, TABLE_ROWS

__all__ = ["write_outputs", "verdict"]

_ROW_LABELS, _COL_LABELS = TABLE_ROWS, TABLE_COLS
_TITLES = {
    "table2": "Table 2: district x substantiveness",
    "table3": "Table 3: capacity x substantiveness",
    "consistency": "Consistency: district x consistency",
    "table4": "Table 4: capacity x alignment",
    "table5": "Table 5: capacity x continuity",
    "continuity_by_district": "End-of-run continuity by district",
}
SET_LABELS = {
    "prior": "prior",
    "defaults": "hand-set defaults",
    "fit": "split-fit posterior",
    "final": "final posterior",
    "calibrated": "calibrated point estimate",
}


def verdict(p: float) -> str:
    """Plain words for a posterior predictive p-value."""
    if p >= 0.10:
        return "fits"
    if p >= 0.02:
        return "fits marginally"
    return "does not fit"


MIN_ESS = 100  # below this many effective particles no parameter is called pinned down (or identified)


def provisional_notice(result) -> str | None:
    """One paragraph for the top of the terminal output and of report.md when the result is not one
    to rely on: a quick budget, or a stage with fewer than MIN_ESS effective particles."""
    low = [f"{'split' if k == 'fit' else k} fit ESS {_effective(st):.0f}" for k, st in result.stages.items()
           if _effective(st) < MIN_ESS]
    if result.budget.name != "quick" and not low:
        return None
    why = (["quick budget (a smoke test of the pipeline, for tests and CI)"] if result.budget.name == "quick" else []) + (
        [f"few effective particles ({', '.join(low)}; below {MIN_ESS})"] if low else [])
    return ("PROVISIONAL -- not a calibration to rely on: " + "; ".join(why) + ". No parameter is reported as pinned down"
            + (" or identified" if low else "") + "; run `coherence-sim calibrate --budget full` for the real study.")


def identification(c: float, ess: float | None = None) -> str:
    if ess is not None and ess < MIN_ESS:
        return f"undetermined (ESS < {MIN_ESS})"
    if c >= 0.5:
        return "pinned down"
    if c >= 0.2:
        return "partly"
    return "not identified"


# --------------------------------------------------------------------------------------------


def write_outputs(result, figures: bool = True) -> list[Path]:
    out: Path = result.out_dir
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    rng = np.random.default_rng(np.random.SeedSequence(entropy=result.seed, spawn_key=(2**31 - 15,)))
    for name, st in result.stages.items():
        p = out / f"posterior_{name}.csv"
        write_text(p, st.particles.to_csv(index=False, float_format="%.8g", lineterminator="\n"), root=out)
        written.append(p)
    draws = result.stages["final"].resample(result.budget.stored_draws, rng)
    p = out / "posterior_samples.csv"
    write_text(p, draws.to_csv(index=False, float_format="%.6g", lineterminator="\n"), root=out)
    written.append(p)
    data = calibration_dict(result)
    p = out / "calibration.json"
    write_text(p, json.dumps(data, indent=2, allow_nan=False, default=_json_default), root=out)
    written.append(p)
    figs: dict[str, str] = {}
    if figures:
        figs = write_figures(result, out)
        written += [out / f for f in figs.values()]
    p = out / "report.md"
    write_text(p, report_markdown(result, data, figs), root=out)
    written.append(p)
    for name in result.stages:
        written.append(out / f"history_{name}.db")
    return written


def _save_figure(fig, out: Path, name: str, dpi: int) -> None:
    """A PNG written whole or not at all, never through a link planted in ``out``."""
    write_file(out / name, lambda f: fig.savefig(f, format="png", dpi=dpi), root=out)


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(type(o).__name__)


def calibration_dict(result) -> dict[str, Any]:
    from .predictive import observed_tables

    fin = result.stages["final"]
    return {
        "format_version": 1,
        "provenance": result.provenance,
        "wall_time_s": round(result.wall_time_s, 2),
        "n_simulations": result.n_simulations,
        "n_predictive_runs": result.predictive["n_runs"],
        "priors": result.priors.to_dict(),
        "stages": {k: v.summary() for k, v in result.stages.items()},
        "point_estimate": {
            "method": "weighted marginal posterior median of the final (all-evidence) fit",
            "parameters": result.point_estimate,
            "free": list(fin.names),
        },
        "observed": observed_tables(result.split),
        "predictive": result.predictive,
    }


# --------------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------------


def write_figures(result, out: Path) -> dict[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files = {}
    files["marginals"] = _marginals(result, out, plt)
    files["pairs"] = _pairs(result, out, plt)
    files["tables"] = _tables(result, out, plt)
    files["facts"] = _facts(result, out, plt)
    files["epsilon"] = _epsilon(result, out, plt)
    plt.close("all")
    return files


def _axis_values(prior, x):
    x = np.asarray(x, dtype=float)
    return np.log10(x) if prior.family == "loguniform" else x


def _marginals(result, out: Path, plt) -> str:
    priors = result.priors
    n = len(priors.free)
    cols = 4
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 2.8 * rows))
    axes = np.atleast_1d(axes).ravel()
    fit, fin = result.stages["fit"], result.stages["final"]
    for ax, p in zip(axes, priors.free):
        lo, hi = _axis_values(p, [p.low, p.high])
        bins = np.linspace(lo, hi, 31)
        ax.plot([lo, hi], [1 / (hi - lo)] * 2, color="0.4", lw=1.5, label="prior")
        if p.name in fit.names:
            ax.hist(_axis_values(p, fit.particles[p.name]), bins=bins, weights=fit.weights, density=True,
                    histtype="step", color="tab:blue", lw=1.5, label="split fit")
        ax.hist(_axis_values(p, fin.particles[p.name]), bins=bins, weights=fin.weights, density=True,
                histtype="stepfilled", alpha=0.35, color="tab:orange", label="final")
        ax.axvline(_axis_values(p, p.spec_default), color="k", ls="--", lw=1, label="hand-set default")
        ax.axvline(_axis_values(p, fin.median()[p.name]), color="tab:red", lw=1.2, label="calibrated (median)")
        ax.set_title(("log10 " if p.family == "loguniform" else "") + p.name, fontsize=9)
        ax.tick_params(labelsize=7)
        ax.set_yticks([])
    for ax in axes[n:]:
        ax.axis("off")
    axes[0].legend(fontsize=6, loc="upper right")
    fig.suptitle("Posterior marginals against the priors (density; log-uniform priors on a log10 axis)", fontsize=11)
    fig.tight_layout()
    name = "posterior_marginals.png"
    _save_figure(fig, out, name, dpi=110)
    plt.close(fig)
    return name


def _pairs(result, out: Path, plt) -> str:
    fin = result.stages["final"]
    con = fin.contraction()
    top = sorted(con, key=lambda k: -con[k])[:6]
    rng = np.random.default_rng(0)
    draws = fin.resample(1000, rng)
    k = len(top)
    fig, axes = plt.subplots(k, k, figsize=(2.1 * k, 2.1 * k))
    for i, a in enumerate(top):
        pa = result.priors[a]
        for j, b in enumerate(top):
            ax = axes[i, j]
            pb = result.priors[b]
            if j > i:
                ax.axis("off")
                continue
            if i == j:
                ax.hist(_axis_values(pa, draws[a]), bins=25, color="tab:orange", alpha=0.6)
                ax.set_yticks([])
            else:
                ax.scatter(_axis_values(pb, draws[b]), _axis_values(pa, draws[a]), s=2, alpha=0.25, color="tab:orange")
                ax.set_xlim(*_axis_values(pb, [pb.low, pb.high]))
                ax.set_ylim(*_axis_values(pa, [pa.low, pa.high]))
            if i == k - 1:
                ax.set_xlabel(("log10 " if pb.family == "loguniform" else "") + b, fontsize=7)
            if j == 0 and i > 0:
                ax.set_ylabel(("log10 " if pa.family == "loguniform" else "") + a, fontsize=7)
            ax.tick_params(labelsize=6)
    fig.suptitle("Final posterior, the six best-identified parameters (axes span the prior ranges)", fontsize=10)
    fig.tight_layout()
    name = "posterior_pairs.png"
    _save_figure(fig, out, name, dpi=110)
    plt.close(fig)
    return name


def _tables(result, out: Path, plt) -> str:
    pred = result.predictive["sets"]
    split = result.split
    comps = {c.table: (n, c) for n, c in split.components.items() if c.kind == "table"}
    order = [t for t in ("table2", "table3", "consistency", "table4", "table5", "continuity_by_district") if t in comps]
    fig, axes = plt.subplots(len(order), 1, figsize=(15, 3.0 * len(order)))
    sets = [("defaults", "0.55", -0.22), ("fit", "tab:blue", 0.0), ("final", "tab:orange", 0.22)]
    fitted = set(split.sets["fit"])
    for ax, t in zip(np.atleast_1d(axes), order):
        cname, comp = comps[t]
        rows, cols = _ROW_LABELS[t], _COL_LABELS[t]
        labels = [f"{r[:10]}\n{c}" for r in rows for c in cols]
        x = np.arange(len(labels))
        for s, color, off in sets:
            tab = pred[s]["tables"][t]
            lo, med, hi = (np.asarray(tab[k]).ravel() for k in ("p05", "p50", "p95"))
            ax.errorbar(x + off, med, yerr=[med - lo, hi - med], fmt="o", ms=3, color=color, capsize=2, lw=1.2,
                        label=f"{SET_LABELS[s]} (median, 90%)")
        for i, obs in enumerate(comp.observed):
            o = np.asarray(obs).ravel()
            if i == 0:
                ax.hlines(o, x - 0.42, x + 0.42, colors="k", lw=2.4, alpha=0.75, zorder=1, label="observed")
            else:
                ax.scatter(x + 0.33, o, marker="D", s=18, facecolors="none", edgecolors="k", zorder=6,
                           label="other readings" if i == 1 else None)
        for b in range(1, len(rows)):
            ax.axvline(b * len(cols) - 0.5, color="0.85", lw=0.8)
        part = "FITTED" if cname in fitted else "HELD OUT"
        ax.set_title(f"{_TITLES[t]} - {part}", fontsize=10, loc="left")
        ax.set_xticks(x)
        ax.set_xticklabels(labels, fontsize=6.5)
        ax.set_ylabel("count")
        ax.tick_params(axis="y", labelsize=7)
    np.atleast_1d(axes)[0].legend(fontsize=7, ncol=5, loc="upper right")
    fig.tight_layout()
    name = "predictive_tables.png"
    _save_figure(fig, out, name, dpi=100)
    plt.close(fig)
    return name


def _facts(result, out: Path, plt) -> str:
    pred = result.predictive["sets"]
    labels, values = [], {s: [] for s in ("prior", "defaults", "fit", "final")}
    for n, c in result.split.components.items():
        if c.kind == "table":
            continue
        for lab in c.fact_labels():
            labels.append(lab)
            for s in values:
                values[s].append(pred[s]["components"][n]["facts"][lab])
    y = np.arange(len(labels))
    fig, ax = plt.subplots(figsize=(10, 0.45 * len(labels) + 1.5))
    colors = {"prior": "0.75", "defaults": "0.45", "fit": "tab:blue", "final": "tab:orange"}
    for i, s in enumerate(values):
        ax.barh(y + (i - 1.5) * 0.2, values[s], height=0.2, color=colors[s], label=SET_LABELS[s])
    ax.set_yticks(y)
    ax.set_yticklabels(labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("probability that a run reproduces the fact (held out in the split fit)")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    name = "predictive_facts.png"
    _save_figure(fig, out, name, dpi=110)
    plt.close(fig)
    return name


def _epsilon(result, out: Path, plt) -> str:
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.2))
    for ax, (name, st) in zip(axes, result.stages.items()):
        pops = st.populations[st.populations["t"] >= 0]
        ax.plot(pops["t"], pops["epsilon"], "o-", color="tab:blue")
        ax.set_xlabel("generation")
        ax.set_ylabel("epsilon (elements out of place)", color="tab:blue")
        ax2 = ax.twinx()
        ax2.plot(pops["t"], pops["acceptance_rate"], "s--", color="tab:red", ms=3)
        ax2.set_yscale("log")
        ax2.set_ylabel("acceptance rate", color="tab:red")
        label = {"fit": "split fit", "final": "final fit"}.get(name, name)
        ax.set_title(f"{label}: {st.n_simulations:,} simulations; posterior: generation {int(pops['t'].max())}", fontsize=9)
    fig.tight_layout()
    name = "abc_trajectory.png"
    _save_figure(fig, out, name, dpi=110)
    plt.close(fig)
    return name


# --------------------------------------------------------------------------------------------
# Markdown
# --------------------------------------------------------------------------------------------


def _effective(st) -> float:
    """The effective number of particles a stage's posterior rests on: the importance-sampling ESS,
    or after a resample-move step Kish's ESS with identical particles pooled (calibration/rejuvenate.py
    ``ess_of_counts``; histories from before it was recorded: the number of ancestors)."""
    r = getattr(st, "rejuvenation", None)
    if not r:
        return float(st.effective_sample_size)
    e = r.get("ess_distinct")
    return float(e) if e is not None and e == e else float(r["ancestors"])


def _ess_label(st) -> str:
    """What :func:`_effective` counts for this stage, in a few words."""
    r = getattr(st, "rejuvenation", None)
    if not r:
        return "importance-sampling ESS"
    e = r.get("ess_distinct")
    return "ESS after the resample-move step, identical particles pooled" if e is not None and e == e else "ancestors"


def _particles(st) -> str:
    r = st.rejuvenation
    if not r:
        return f"{st.effective_sample_size:.0f} of {len(st.particles)}"
    pooled, anc = r.get("ess_distinct"), r.get("ess_ancestors")
    pooled = (f"effective sample size {pooled:.0f} with identical particles pooled (optimistic)"
              + (f", {anc:.0f} with each ancestor's descendants pooled (pessimistic)" if anc is not None and anc == anc else "")
              + ", ") if pooled is not None and pooled == pooled else ""
    return (f"{r['distinct']} distinct of {len(st.particles)} after {r['sweeps']} moves (acceptance {r['acceptance_rate']:.2f}, "
            f"{r['moved_share']:.0%} moved), {pooled}from {r['ancestors']} ancestors; importance-sampling ESS before the move {r['ess_before']:.0f}")


def _fmt(v: float) -> str:
    if v == 0:
        return "0"
    a = abs(v)
    if a >= 100:
        return f"{v:.0f}"
    if a >= 10:
        return f"{v:.1f}"
    if a >= 0.01:
        return f"{v:.3g}"
    return f"{v:.2g}"


def cells_outside(result, set_name: str, table: str) -> list[str]:
    """Cells whose observed count (closest reading) lies outside the set's 90% predictive interval."""
    comp = next(c for c in result.split.components.values() if c.kind == "table" and c.table == table)
    tab = result.predictive["sets"][set_name]["tables"][table]
    lo, hi, mean = (np.asarray(tab[k]) for k in ("p05", "p95", "mean"))
    # the reading closest to the predictive mean
    obs = min(comp.observed, key=lambda o: np.abs(o - mean).sum())
    rows, cols = _ROW_LABELS[table], _COL_LABELS[table]
    bad = []
    for i, r in enumerate(rows):
        for j, c in enumerate(cols):
            if not lo[i, j] <= obs[i, j] <= hi[i, j]:
                bad.append(f"{r}/{c}: observed {int(obs[i, j])}, predicted [{lo[i, j]:g}, {hi[i, j]:g}]")
    return bad


def report_markdown(result, data: dict, figs: dict[str, str]) -> str:
    split, priors = result.split, result.priors
    fit, fin = result.stages["fit"], result.stages["final"]
    pred = result.predictive["sets"]
    prov = result.provenance
    L: list[str] = []
    L.append(f"# Calibration of the four-district case ({result.budget.name} budget)\n")
    if provisional_notice(result):
        L.append(f"> **{provisional_notice(result)}**\n")
    L.append(
        f"coherence-sim {prov.get('version')} (git {str(prov.get('git_commit'))[:10]}"
        f"{', uncommitted changes' if prov.get('git_dirty') else ''}), {prov.get('created')}; seed {result.seed}; "
        f"sampler: {fit.sampler}. Wall time {result.wall_time_s:.0f} s; {result.n_simulations:,} ABC simulations "
        f"(split fit {fit.n_simulations:,}, final fit {fin.n_simulations:,}) + {result.predictive['n_runs']:,} predictive runs. "
        + ("Bit-reproducible for this seed (single-core sampler)." if fit.deterministic and fin.deterministic else
           "Not bit-reproducible (parallel sampler: pyabc reseeds workers and accepts in completion order); every simulation is still a deterministic function of seed and parameters.")
        + "\n"
    )
    L.append("## Set-up\n")
    L.append(
        f"- **Split** (`{split.source}`, sha256 {split.sha256()[:12]}): fitted = {', '.join(split.sets['fit'])}; "
        f"held out = {', '.join(split.sets['holdout'])}. The defaults come from a second fit on all evidence "
        f"({', '.join(split.sets['final'])}); the held-out test is of the split fit.\n"
        "- **Method**: ABC-SMC (pyabc), one run of the case per particle (its capacity assignment drawn uniformly from the "
        "assignments consistent with the report), population "
        f"{result.budget.population}, epsilon = median of the previous generation's distances.\n"
        "- **Distance**: per table, the number of district-elements out of place (half the L1 distance of each row); "
        f"per violated fact, the fact's weight ({_fact_weights(split)}: the tables' prior predictive spread over the facts', see the split file); summed. Where the report allows several readings (consistency: 9; Table 4: printed "
        "vs line 1194), the minimum over readings.\n"
        f"- **Free parameters** ({len(priors.free)}; priors in `calibration/data/priors.toml`): "
        + ", ".join(f"`{p.name}` {p.label()}" for p in priors.free)
        + f". Held at their documented defaults ({len(priors.fixed)}): "
        + ", ".join(f"`{k}`" for k in priors.fixed)
        + ".\n"
    )
    L.append(
        f"- **Runs**: split fit {fit.generations} generations, final epsilon {fit.final_epsilon:g} "
        f"(acceptance {fit.populations['acceptance_rate'].iloc[-1]:.3f}, {_ess_label(fit)} {_effective(fit):.0f}); "
        f"stopped: {fit.stop_reason}. Final fit {fin.generations} generations, final epsilon {fin.final_epsilon:g} "
        f"(acceptance {fin.populations['acceptance_rate'].iloc[-1]:.3f}, {_ess_label(fin)} {_effective(fin):.0f}); "
        f"stopped: {fin.stop_reason}.\n"
    )

    low_ess = [f"{'split' if k == 'fit' else k} fit (ESS {_particles(st)})"
               for k, st in result.stages.items() if _effective(st) < 100]
    moved = [f"{'split' if k == 'fit' else k} fit: {_particles(st)}" for k, st in result.stages.items() if st.rejuvenation]
    if moved:
        L.append("Effective particles: " + "; ".join(moved) + ". The importance weights of ABC-SMC degenerate in 15-18 "
                 "dimensions, so the final population is resampled and every particle moved by an ABC-MCMC kernel at the "
                 "final tolerance (a resample-move step, calibration/rejuvenate.py); the count that matters is the "
                 "distinct particles, the effective sample sizes with the copies that never moved pooled (quoted "
                 "above) and with each ancestor's descendants pooled, and the ancestors they descend from.\n")
    if low_ess:
        L.append("> **Caution:** few effective particles in the " + " and ".join(low_ess) + ": medians carry Monte Carlo "
                 "error and the 90% intervals are rough" + (" (the quick budget is for tests, not for inference)."
                 if result.budget.name == "quick" else "; a larger population or more generations would help.") + "\n")

    # --- parameters
    L.append("## Parameters: what the data pin down\n")
    L.append("| Parameter | Prior | Hand-set default | Split fit: median [90%] | Final: median [90%] | Identified (final) |")
    L.append("|---|---|---|---|---|---|")
    fm, fi, fc = fit.median(), fit.interval(), fit.contraction()
    gm, gi, gc = fin.median(), fin.interval(), fin.contraction()
    for p in priors.free:
        s_fit = f"{_fmt(fm[p.name])} [{_fmt(fi[p.name][0])}, {_fmt(fi[p.name][1])}]" if p.name in fm else "prior (held-out only)"
        L.append(
            f"| `{p.name}` | {p.label()} | {_fmt(p.spec_default)} | {s_fit} | "
            f"**{_fmt(gm[p.name])}** [{_fmt(gi[p.name][0])}, {_fmt(gi[p.name][1])}] | {identification(gc[p.name], _effective(fin))} ({gc[p.name]:.2f}) |"
        )
    L.append(
        "\nIdentified = 1 - (posterior 90% width / prior 90% width) on the prior's CDF scale: >= 0.5 pinned down, "
        "0.2-0.5 partly, < 0.2 not identified (the posterior is about the prior).\n"
    )
    groups = {"pinned down": [], "partly": [], "not identified": []}
    for p in priors.free:
        groups.setdefault(identification(gc[p.name], _effective(fin)), []).append(f"`{p.name}`")
    L.append("In the final fit, " + "; ".join(f"{k}: {', '.join(v) if v else 'none'}" for k, v in groups.items()) + ".\n")
    corr = _top_correlations(fin)
    if corr:
        L.append("Strongest posterior correlations (final fit; ridges the data cannot separate): "
                 + "; ".join(f"`{a}` ~ `{b}` {r:+.2f}" for a, b, r in corr) + ".\n")

    # --- predictive
    L.append("## Posterior predictive checks\n")
    L.append("Mean distance to the report (elements out of place; lower is better) and posterior predictive p-value "
             "(P[a run is at least as far from another run as the report is]; small = the report is atypical).\n")
    L.append("| Evidence | Part | Prior | Hand-set defaults | Split fit | Final fit | p (split fit) | p (final) | Verdict (split fit) | Verdict (final) |")
    L.append("|---|---|---|---|---|---|---|---|---|---|")
    fitted = set(split.sets["fit"])
    for n, c in split.components.items():
        e = {s: pred[s]["components"][n] for s in ("prior", "defaults", "fit", "final")}
        part = "fitted" if n in fitted else "held out"
        if c.kind == "table":
            pf, pg = e["fit"]["ppc_p"], e["final"]["ppc_p"]
            L.append(f"| {n} | {part} | {e['prior']['mean']:.2f} | {e['defaults']['mean']:.2f} | {e['fit']['mean']:.2f} | "
                     f"{e['final']['mean']:.2f} | {pf:.2f} | {pg:.2f} | {verdict(pf)} | {verdict(pg)} |")
        else:
            pf, pg = e["fit"]["p_all_hold"], e["final"]["p_all_hold"]
            L.append(f"| {n} ({c.n_facts} facts) | {part} | {e['prior']['mean']:.2f} | {e['defaults']['mean']:.2f} | "
                     f"{e['fit']['mean']:.2f} | {e['final']['mean']:.2f} | all hold: {pf:.2f} | all hold: {pg:.2f} | "
                     f"{_fact_verdict(e['fit'])} | {_fact_verdict(e['final'])} |")
    ho = split.sets["holdout"]
    tot = {s: sum(pred[s]["components"][n]["mean"] for n in ho) for s in ("prior", "defaults", "fit", "final")}
    L.append(
        f"\n**Out-of-sample test.** Held-out distance (sum of the held-out components' means): prior {tot['prior']:.2f}, "
        f"hand-set defaults {tot['defaults']:.2f}, split fit {tot['fit']:.2f} (final fit, in-sample: {tot['final']:.2f}). "
        + ("Fitting Tables 2-3 and consistency improves the prediction of the held-out evidence over the prior."
           if tot["fit"] < tot["prior"] else
           "Fitting Tables 2-3 and consistency does not improve the prediction of the held-out evidence over the prior.")
        + (" The hand-set defaults predict the held-out evidence better than the split fit, but they are not an "
           "out-of-sample benchmark: several were read off Tables 3-5 (their `source` in sim/parameters.py), and they "
           "carry no parameter uncertainty, whereas the split fit draws the held-out-only parameters from their priors."
           if tot["fit"] > tot["defaults"] else "")
        + "\n"
    )
    L.append(
        "Posterior predictive sets include parameter uncertainty (one posterior draw per run); the hand-set defaults "
        "and the calibrated point estimate do not, so their distances are not directly comparable. The calibrated "
        "point estimate (the new defaults) gives a total distance of "
        f"{sum(pred['calibrated']['components'][n]['mean'] for n in split.components):.2f} over all evidence, against "
        f"{sum(pred['defaults']['components'][n]['mean'] for n in split.components):.2f} for the hand-set defaults.\n"
    )

    L.extend(patterns_markdown(split, pred))

    # --- what fits
    L.append("## What fits and what does not\n")
    L.extend(_fits_text(result))
    if figs:
        L.append("\n## Figures\n")
        captions = {
            "tables": "Posterior predictive Tables 2-5, consistency and end-of-run continuity (median and 90% interval) beside the observed counts (bars; diamonds: other readings)",
            "facts": "Probability of each depth and timing fact",
            "marginals": "Posterior marginals against the priors",
            "pairs": "Pairwise final posterior of the best-identified parameters",
            "epsilon": "Epsilon and acceptance rate per generation",
        }
        for k, f in figs.items():
            L.append(f"- {captions[k]}: [{f}]({f})")
    L.append(
        "\nFiles: `calibration.json` (all numbers), `posterior_fit.csv` / `posterior_final.csv` (final populations with "
        "weights), `posterior_samples.csv` (equal-weight draws), `history_fit.db` / `history_final.db` (pyabc SQLite "
        "histories; parameters there are on the sampler scale z = Phi^-1(F(x)), F the prior CDF and Phi the normal CDF).\n"
    )
    return "\n".join(L) + "\n"


def pattern_verdicts(split, pred: dict) -> list[dict[str, Any]]:
    """Pattern by pattern: the model's mean distance to the report (split-fit posterior, out of sample
    for the held-out evidence; final posterior; calibrated point) beside the null model's
    (calibration/null_model.py), and whether the model is closer."""
    rows = []
    fitted = set(split.sets["fit"])
    for n, c in split.components.items():
        e = {k: pred[k]["components"][n] for k in ("fit", "final", "calibrated", "null")}
        rows.append({
            "pattern": n, "part": "fitted" if n in fitted else "held out",
            **{k: e[k]["mean"] for k in e},
            "beats_null": {k: bool(e[k]["mean"] < e["null"]["mean"]) for k in ("fit", "final", "calibrated")},
        })
    for name, key in (("district contrast (share transformed)", "contrast"),):
        rows.append({"pattern": name, "part": "not fitted", **{k: pred[k][key]["p_holds"] for k in ("fit", "final", "calibrated", "null")},
                     "probability": True})
    for n, c in split.components.items():
        if c.kind != "table":
            rows.append({"pattern": f"{n}: all {c.n_facts} facts hold", "part": "fitted" if n in fitted else "held out",
                         **{k: pred[k]["components"][n]["p_all_hold"] for k in ("fit", "final", "calibrated", "null")},
                         "probability": True})
    return rows


def patterns_markdown(split, pred: dict) -> list[str]:
    """The 'Patterns against the null model' section of the report."""
    if "null" not in pred:
        return []
    L = ["## Patterns against the null model\n",
         "The null model keeps each run's starting capacities and the case's conditions but draws every code from the "
         "report's pooled proportions (calibration/null_model.py): it knows every marginal frequency and nothing of "
         "districts, capacities or years. Distances are means over the predictive runs (elements out of place; lower is "
         "better); probabilities are the share of runs in which the pattern holds (higher is better). The split fit's "
         "column is out of sample for the held-out evidence.\n",
         "| Pattern | Part | Split fit | Final fit | Calibrated point | Null | Model beats null (final) |",
         "|---|---|---|---|---|---|---|"]
    for r in pattern_verdicts(split, pred):
        if r.get("probability"):
            better = r["final"] > r["null"]
            L.append(f"| {r['pattern']} | {r['part']} | {r['fit']:.2f} | {r['final']:.2f} | {r['calibrated']:.2f} | "
                     f"{r['null']:.2f} | {'yes' if better else '**no**'} |")
        else:
            L.append(f"| {r['pattern']} | {r['part']} | {r['fit']:.2f} | {r['final']:.2f} | {r['calibrated']:.2f} | "
                     f"{r['null']:.2f} | {'yes' if r['beats_null']['final'] else '**no**'} |")
    cov = pred["final"].get("coverage", {})
    if cov:
        out = {t: c for t, c in cov.items() if c["primary_outside"]}
        L.append("")
        if not out:
            L.append("Every observed cell of Tables 2-5, consistency and end-of-run continuity lies inside the final "
                     "posterior predictive 90% interval (primary readings).\n")
        else:
            parts = []
            for t, c in out.items():
                best = (f"; the best reading the report allows ({c['best_reading']}) leaves {len(c['best_outside'])} outside"
                        if c["best_reading"] else "")
                parts.append(f"{t}: {len(c['primary_outside'])} cell(s) outside{best}")
            L.append("Observed cells outside the final posterior predictive 90% interval (primary readings): "
                     + "; ".join(parts) + ".\n")
    return L


def _fact_weights(split) -> str:
    w = sorted({c.weight for c in split.components.values() if c.kind != "table"})
    return ", ".join(f"{x:g}" for x in w) or "none"


def _fact_verdict(e: dict) -> str:
    """The report has every fact at once: judge P(all hold) like a p-value, and name rare facts."""
    bad = [k for k, v in e["facts"].items() if v < 0.1]
    text = verdict(e["p_all_hold"]) + " jointly"
    return text + (f"; {len(bad)} fact(s) rarely reproduced" if bad else "")


def _top_correlations(stage, k: int = 3) -> list[tuple[str, str, float]]:
    names = list(stage.names)
    if len(names) < 2:
        return []
    X = np.column_stack([stage.priors[n].to_z(stage.particles[n].to_numpy()) for n in names])
    w = stage.weights
    m = (X * w[:, None]).sum(0)
    C = ((X - m) * w[:, None]).T @ (X - m)
    sd = np.sqrt(np.diag(C))
    with np.errstate(invalid="ignore", divide="ignore"):
        R = C / np.outer(sd, sd)
    pairs = [(names[i], names[j], float(R[i, j])) for i in range(len(names)) for j in range(i) if np.isfinite(R[i, j])]
    pairs.sort(key=lambda t: -abs(t[2]))
    return [p for p in pairs[:k] if abs(p[2]) >= 0.3]


def _fits_text(result) -> list[str]:
    split = result.split
    pred = result.predictive["sets"]
    fitted = set(split.sets["fit"])
    out_lines = []
    for n, c in split.components.items():
        part = "fitted" if n in fitted else "held out"
        set_name = "fit" if n in fitted or n in split.sets["holdout"] else "final"
        e = pred["fit"]["components"][n]
        g = pred["final"]["components"][n]
        if c.kind == "table":
            bad_fit = cells_outside(result, "fit", c.table)
            bad_fin = cells_outside(result, "final", c.table)
            where = "in-sample" if part == "fitted" else "out-of-sample"
            s = (f"- **{n}** ({part}, lines {_lines(c.lines)}): split fit {verdict(e['ppc_p'])} {where} (p = {e['ppc_p']:.2f}); "
                 f"final fit {verdict(g['ppc_p'])} (p = {g['ppc_p']:.2f}).")
            if bad_fin:
                s += " Outside the final 90% interval: " + "; ".join(bad_fin) + "."
            elif bad_fit:
                s += " Outside the split fit's 90% interval: " + "; ".join(bad_fit) + "."
            else:
                s += " Every observed cell lies inside the 90% predictive interval."
            if len(c.readings) > 1:
                share = g["reading_share"]
                best = max(share, key=share.get)
                s += f" Reading closest to the final fit's runs most often: {best} ({share[best]:.0%})."
            out_lines.append(s)
        else:
            facts_fit, facts_fin = e["facts"], g["facts"]
            parts = [f"{k}: {facts_fit[k]:.2f} -> {facts_fin[k]:.2f}" for k in facts_fin]
            rare = [k for k, v in facts_fin.items() if v < 0.1]
            s = (f"- **{n}** ({part}, lines {_lines(c.lines)}): probability of each fact, split fit -> final fit: "
                 + "; ".join(parts) + ".")
            if rare:
                s += " The model rarely reproduces: " + "; ".join(rare) + "."
            out_lines.append(s)
    if "timing" in split.components:
        out_lines.append("- Diamond's loss of pre-K in year 3 (lines 941-944) holds in every run: it is imposed by the case "
                 "file (a shock at month 24), not a test of the model.")
    return out_lines


def _lines(lines) -> str:
    return ", ".join(f"{a}-{b}" if a != b else str(a) for a, b in lines)
