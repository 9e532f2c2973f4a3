"""The sensitivity report: ``report.md`` with the answer, the indices and how they were computed,
beside CSV/Parquet tables of every index."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING
import numpy as np
import pandas as pd
from ..execution.provenance import provenance
from .engine import SEEDING
from .figures import _pretty, figure_convergence, figure_morris, figure_s2_heatmap, figure_sobol_bars, figure_types

if TYPE_CHECKING:
    from .study import StudyResult


def _pm(v, c, d=3) -> str:
    return f"{v:.{d}f} ± {c:.{d}f}"


def _md_table(df: pd.DataFrame, floatfmt: str = ".3f") -> str:
    cols = list(df.columns)
    out = ["| " + " | ".join(str(c) for c in cols) + " |", "|" + "---|" * len(cols)]
    for r in df.itertuples(index=False):
        cells = []
        for v in r:
            if isinstance(v, (float, np.floating)):
                cells.append("" if not np.isfinite(v) else format(float(v), floatfmt))
            else:
                cells.append(str(v).replace("|", "\\|"))
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


def _answer_text(res: StudyResult) -> list[str]:
    spec, sob, a = res.spec, res.sobol, res.spec.answer
    idx = sob.indices.set_index(["output", "group"])
    imp = a.important
    paragraphs: list[str] = []

    def iv(o, g):
        if (o, g) not in idx.index:
            return None
        r = idx.loc[(o, g)]
        return float(r["S1"]), float(r["S1_conf"]), float(r["ST"]), float(r["ST_conf"])

    def rank(o, g):
        sub = sob.indices[sob.indices["output"] == o].sort_values("ST", ascending=False).reset_index(drop=True)
        hit = sub.index[sub["group"] == g]
        return int(hit[0]) + 1 if len(hit) else None

    def top_others(o, exclude, k=2):
        sub = sob.indices[(sob.indices["output"] == o) & (~sob.indices["group"].isin(exclude))].sort_values("ST", ascending=False).head(k)
        return ", ".join(f"`{r.group}` (ST {_pm(r.ST, r.ST_conf, 2)})" for r in sub.itertuples())

    def partner(o, g):
        """The group g interacts with most for output o (largest S2), as text."""
        so = sob.second_order
        if so.empty:
            return ""
        m = so[(so["output"] == o) & ((so["group_a"] == g) | (so["group_b"] == g))].sort_values("S2", ascending=False)
        if not len(m):
            return ""
        r = m.iloc[0]
        other = r["group_b"] if r["group_a"] == g else r["group_a"]
        return f"; its largest interaction is with `{other}` (S2 = {_pm(float(r['S2']), float(r['S2_conf']))})"

    def kind_of_effect(o, g):
        v = iv(o, g)
        if not v or v[2] - v[3] <= imp:
            return ""
        if v[0] - v[1] <= 0.0:
            return (f" Its effect is interaction, not main effect: S1 is indistinguishable from zero while ST is not, so `{g}` changes "
                    f"{_pretty(o)} only together with other factors{partner(o, g)}.")
        return f" A share {v[0] / v[2]:.0%} of its total effect is main effect (S1/ST){partner(o, g)}."

    n_groups = len(sob.groups)
    bc = res.contrasts.get("by_capacity")
    cap = a.capacity
    paragraphs.append("### Substantiveness and pre-existing capacity\n")
    v = iv("share_transformed", cap)
    if v:
        paragraphs.append(
            f"Starting capacity (group `{cap}`: the district-wide level and the six elements) accounts for S1 = {_pm(v[0], v[1])} "
            f"of the variance of the share of changed elements that transform, and ST = {_pm(v[2], v[3])} with its interactions "
            f"(rank {rank('share_transformed', cap)} of {n_groups} groups). The other main drivers: {top_others('share_transformed', [cap])}."
            + kind_of_effect("share_transformed", cap)
        )
    if bc is not None and len(bc):
        parts = [f"{k.replace('_', ' ')} {100 * bc.loc[k, 'transform']:.0f}%" for k in bc.index if k in bc.index]
        paragraphs.append(f"Direction: of the changed elements in all Sobol' runs, those that started {', '.join(parts)} transformed "
                 f"(the report's Table 3: 1 of 3, 1 of 3, 12 of 14). No parameter maps a capacity level to a code: capacity acts "
                 f"through the element's structure -- a running routine can be redesigned with what the team understands, while "
                 f"building one where none runs costs `build_cost` times more, and a team weighs that work when it takes elements up "
                 f"(docs/ODD.md 7.3, 7.5).")
        if "build_cost" in sob.groups or any(g == "capacity_mechanism" for g in sob.groups):
            g = "capacity_mechanism" if "capacity_mechanism" in sob.groups else "build_cost"
            vb = iv("share_transformed", g)
            if vb:
                paragraphs.append(f"The mechanism's own parameter (group `{g}`) has S1 = {_pm(vb[0], vb[1])}, ST = {_pm(vb[2], vb[3])} "
                         f"for the share transformed{partner('share_transformed', g)}.")
    paragraphs.append("")
    paragraphs.append("### Continuity and pre-existing capacity\n")
    for o in ("share_continuity_changes", "share_continuity_end"):
        v = iv(o, cap)
        if v:
            paragraphs.append(f"- {_pretty(o)}: capacity S1 = {_pm(v[0], v[1])}, ST = {_pm(v[2], v[3])} (rank {rank(o, cap)} of {n_groups}); "
                     f"the variance comes instead from {top_others(o, [cap])}." + kind_of_effect(o, cap))
    if bc is not None and len(bc):
        parts = [f"{k.replace('_', ' ')} {100 * bc.loc[k, 'continuity']:.0f}%" for k in bc.index]
        parts_end = [f"{k.replace('_', ' ')} {100 * bc.loc[k, 'continuity_end']:.0f}%" for k in bc.index]
        paragraphs.append(f"- Direction: changed elements fostered continuity (included pre-K) in {', '.join(parts)} of cases by starting capacity; "
                 f"continuity at the end: {', '.join(parts_end)} (the report: every changed element, whatever its capacity, Table 5).")
    paragraphs.append("")
    paragraphs.append("### Consistency and leadership\n")
    va, vb = iv("share_consistent", a.authority), iv("share_consistent", a.buy_in)
    vh = iv("share_consistent", a.holder)
    if va and vb:
        paragraphs.append(f"For the share of changed elements that are consistent with the provider's vision: the lead's positional authority has "
                 f"S1 = {_pm(va[0], va[1])}, ST = {_pm(va[2], va[3])}; the lead's buy-in S1 = {_pm(vb[0], vb[1])}, ST = {_pm(vb[2], vb[3])}"
                 + (f"; a competing authority holder S1 = {_pm(vh[0], vh[1])}, ST = {_pm(vh[2], vh[3])}" if vh else "") + ".")
        s2 = next((c.get("s2") for c in res.answer["claims"] if "consistency" in c["claim"]), None)
        if s2:
            paragraphs.append(f"Their interaction S2(authority, buy-in) = {_pm(s2['S2'], s2['S2_conf'])}; ST - S1 of authority = {va[2] - va[0]:.3f}.")
        for g in (a.authority, a.buy_in, a.holder):
            note = kind_of_effect("share_consistent", g)
            if note:
                paragraphs.append(f"`{g}`:{note}")
        paragraphs.append(f"Other drivers of consistency: {top_others('share_consistent', [a.authority, a.buy_in, a.holder])}. "
                 f"In the model the lead's authority acts through contested decisions (docs/ODD.md 7.4): a lead who owns an element "
                 f"or outranks its owner has its proposals adopted as designed, and one with positional authority can take an owner's "
                 f"refusal to the superintendent; a competing holder pushes his agenda into what he owns or can get others to accept (7.5).")
    bl = res.contrasts.get("by_leadership")
    if bl is not None and len(bl) and "share_consistent" in bl:
        lines = []
        for (au, ho, bu), r in bl.iterrows():
            lines.append(f"| {au} | {ho} | {bu} | {r['share_consistent']:.3f} | {int(r['points'])} |")
        paragraphs.append("\nMean share consistent (replicate means over every Sobol' design point):\n")
        paragraphs.append("| lead | other leader | lead's buy-in | share consistent | design points |\n|---|---|---|---|---|\n" + "\n".join(lines))
    paragraphs.append("")
    return paragraphs


def unconverged_notice(sobol, spec) -> str | None:
    """One paragraph for the top of the terminal output and of report.md when Sobol' did not converge
    (None when it did): the verdicts are provisional."""
    if sobol.converged:
        return None
    moves = sobol.history.groupby("N", sort=True)["movement"].first() if "movement" in sobol.history else None
    last = float(moves.iloc[-1]) if moves is not None and len(moves) and np.isfinite(moves.iloc[-1]) else float("nan")
    moved = (f"interval endpoints still moved by up to {last:.3f} at the last doubling (tolerance {spec.sobol.tolerance})"
             if np.isfinite(last) else "too few doublings to check that the intervals stopped moving")
    return (f"NOT CONVERGED -- provisional: Sobol' stopped at n_max (N = {sobol.N}, {sobol.n_runs} runs); {moved}. "
            f"The verdicts below may change with more runs: raise [sobol] n_max and run the same spec into the same "
            f"folder again (stored runs are reused).")


def write_report(res: StudyResult) -> list[Path]:
    """``report.md``, PNG figures, and the tables as CSV and Parquet, into the study's folder."""
    out = res.out_dir
    out.mkdir(parents=True, exist_ok=True)
    sob, mor = res.sobol, res.morris
    written: list[Path] = []
    tables = {
        "morris": mor.indices, "selection": mor.selection, "morris_noise": mor.noise, "sobol": sob.indices, "sobol_s2": sob.second_order,
        "sobol_history": sob.history, "noise": sob.noise, "types": sob.types, "type_means": sob.type_means, "factors": res.factors,
    }
    for k in ("by_capacity", "by_leadership"):
        if k in res.contrasts:
            tables[k] = res.contrasts[k].reset_index().rename(columns={"index": "capacity0"})
    for name, df in tables.items():
        df = df.copy()
        for c in df.columns:
            if df[c].dtype == object:
                df[c] = df[c].map(lambda v: v if isinstance(v, str) or v is None else json.dumps(v, default=str))
            elif isinstance(df[c].dtype, pd.CategoricalDtype):
                df[c] = df[c].astype(str)
        df.to_csv(out / f"{name}.csv", index=False)
        df.to_parquet(out / f"{name}.parquet", index=False)
        written += [out / f"{name}.csv", out / f"{name}.parquet"]
    pooled = [o for o in sob.labels if "." not in o]
    sel_factors = set(sob.factors)
    figs = [
        figure_morris(mor.indices, sel_factors, out / "morris_mu_star.png"),
        figure_sobol_bars(sob.indices, pooled, out / "sobol_indices.png"),
        figure_convergence(sob.history, pooled, out / "sobol_convergence.png"),
    ]
    if not sob.second_order.empty:
        figs.append(figure_s2_heatmap(sob.second_order, pooled, sob.groups, out / "sobol_s2_heatmap.png"))
    if not sob.types.empty:
        figs.append(figure_types(sob.types, pooled, out / "types_st.png"))
    written += figs
    spec = res.spec
    prov = provenance()
    study_json = {
        "name": spec.name, "spec_file": spec._source, "spec": spec.model_dump(mode="json"), "provenance": prov,
        "seeding": SEEDING, "morris_runs": mor.n_runs, "sobol_runs": sob.n_runs, "sobol_N": sob.N, "converged": sob.converged,
        "selected_groups": sob.groups, "runs_total": res.runs_total, "runs_this_session": res.runs_this_session,
        "run_seconds": res.run_seconds, "seconds": res.seconds, "executor": res.executor, "answer": res.answer,
        "stores": {"morris": str(mor.store), "sobol": str(sob.store)},
    }
    (out / "study.json").write_text(json.dumps(study_json, indent=1, default=str), encoding="utf-8")
    written.append(out / "study.json")

    n_replicates = spec.study.replicates
    hist = sob.history.groupby("N", sort=True)["movement"].first()
    lines = [f"# Sensitivity study `{spec.name}`: capacity, leadership, substantiveness and continuity", ""]
    notice = unconverged_notice(sob, spec)
    if notice:
        lines += [f"> **{notice}**", ""]
    lines.append(f"Model `coherence-sim` {prov['version']} (git {prov['git_commit'] or 'unknown'}{', uncommitted changes' if prov['git_dirty'] else ''}); "
             f"spec `{spec._source}`; created {prov['created']}. Scenario: `{res.factors.shape[0]}` factors on the "
             f"{'generic district' if len(sob.labels) == len(spec.study.outputs) else 'scenario'}'s conditions and the model's parameters "
             f"(see *Factors*). All numbers below are from this study's runs; nothing was tuned to agree with the report.")
    lines.append("")
    lines.append("## The answer\n")
    lines.append("| claim of the report | the model | evidence (pooled outputs, 95% intervals) |\n|---|---|---|")
    for c in res.answer["claims"]:
        lines.append(f"| {c['claim']} | **{c['verdict']}** | {c['evidence']} |")
    lines.append(f"\nRule: a group *matters* for an output when its total-order interval lies above {res.answer['important']}, *does not matter* "
             f"when it lies below, else the result is *inconclusive*. \"Agrees\" means the model reproduces the claim, \"disagrees\" that it "
             f"contradicts it; either way it is what the model's mechanisms (docs/ODD.md) imply over these ranges, not a test of the report.\n")
    lines += _answer_text(res)
    lines.append("### What drives each output\n")
    rows = []
    for o in pooled:
        t = res.answer["top"].get(o, [])
        rows.append({"output": _pretty(o), **{f"#{i + 1}": f"{g} (S1 {s1:.2f}, ST {st:.2f} ± {stc:.2f})" for i, (g, s1, s1c, st, stc) in enumerate(t)}})
    lines.append(_md_table(pd.DataFrame(rows)))
    lines.append("\n![Sobol' indices](sobol_indices.png)\n")
    if not sob.second_order.empty:
        big = sob.second_order[sob.second_order["output"].isin(pooled)].assign(lo=lambda d: d["S2"] - d["S2_conf"]).sort_values("S2", ascending=False).head(8)
        lines.append("Largest second-order indices (interactions):\n")
        lines.append(_md_table(big[["output", "group_a", "group_b", "S2", "S2_conf"]]))
        lines.append("\n![Second-order indices](sobol_s2_heatmap.png)\n")
    lines.append("## District types\n")
    lines.append("Types are regions of the factor space (spec `[types]`). Means are over the type's A and B design points (replicate means); "
             "ST within a type uses the base points whose A row is of the type (Jansen's estimator normalised by the type's variance).\n")
    if not sob.type_means.empty:
        tm = sob.type_means[sob.type_means["output"].isin(pooled)].pivot_table(index="type", columns="output", values="mean", sort=False)
        tm.columns = [_pretty(c) for c in tm.columns]
        pts = sob.type_means.groupby("type", sort=False)["points"].first()
        tm.insert(0, "design points", pts.reindex(tm.index).astype(int))
        lines.append(_md_table(tm.reset_index()))
    if not sob.types.empty:
        lines.append("\nLargest within-type total-order indices:\n")
        rows = []
        for (ty, o), s in sob.types[sob.types["output"].isin(pooled)].groupby(["type", "output"], sort=False):
            s = s.sort_values("ST", ascending=False).head(3)
            rows.append({"type": ty, "output": _pretty(o), "top groups (ST ± CI)": "; ".join(f"{r.group} {_pm(r.ST, r.ST_conf, 2)}" for r in s.itertuples())})
        lines.append(_md_table(pd.DataFrame(rows)))
        lines.append("\n![Within-type indices](types_st.png)\n")
    lines.append("## Noise: how much of the variance is replicate noise\n")
    nz = sob.noise.copy()
    nz["output"] = nz["output"].map(_pretty)
    lines.append(f"Each design point runs {n_replicates} replicates with the same seeds at every point (common random numbers); indices are computed on the "
             f"replicate means. `noise_share_runs` = mean within-point variance / variance of single runs; `noise_share_means` = the part of the "
             f"analysed (mean) variance that is noise. `points_imputed`: design points without any changed element in any replicate (shares "
             f"undefined; set to the output's mean).\n")
    lines.append(_md_table(nz[["output", "design_points", "points_imputed", "noise_share_runs", "noise_share_means"]]))
    lines.append("")
    lines.append("## Method\n")
    m = spec.morris
    lines.append(f"1. **Morris screening** of all {len(res.factors)} factors: {m.trajectories} trajectories, {m.levels} levels, {n_replicates} replicates "
             f"({mor.n_runs} runs); mu* with {int(m.conf_level * 100)}% bootstrap intervals (SALib). Selection rule: a group's score is the largest "
             f"mu*/max(mu*) of its factors over every output; keep {', '.join(f'`{g}`' for g in m.always) or 'no group'} always, then every group "
             f"with score >= {m.threshold}, at most {m.max_groups} groups.")
    s = spec.sobol
    lines.append(f"2. **Sobol'** on the {len(sob.groups)} selected groups ({len(sob.factors)} factors; the rest at their nominal values): "
             f"scrambled Sobol' sequence (SALib `sample.sobol`, seed {s.seed}), Saltelli design {'with' if s.second_order else 'without'} second order, "
             f"N doubling from {s.n_start} to at most {s.n_max}; the N design is a prefix of the 2N design, so every run is reused. Stop when no "
             f"S1/ST interval endpoint moves by more than {s.tolerance} between N/2 and N. Final N = {sob.N} ({sob.n_runs} runs): "
             f"{'**converged**' if sob.converged else '**not converged** (n_max reached)'}.")
    mv = ", ".join(f"N={int(k)}: {v:.3f}" for k, v in hist.items() if np.isfinite(v))
    if mv:
        lines.append(f"   Largest interval-endpoint move at each doubling: {mv}.")
    lines.append(f"3. **Runs** go through the sweep engine (`experiments.sweep.run_chunk` on `experiments.execution.executor`, stored as `experiments.execution.store` "
             f"chunks under `runs/`); seeding: {SEEDING}. Resume: the same spec into the same folder computes only missing chunks.")
    lines.append(f"4. **Cost**: {res.runs_total} runs in the study; {res.runs_this_session} computed in this session in {res.run_seconds:.0f} s"
             + (f" ({res.runs_per_second:.1f} runs/s)" if res.runs_this_session else "") + f" on {res.executor}; {res.seconds:.0f} s in all.")
    for label, root in (("Morris", mor.store), ("Sobol'", sob.store)):
        st = _store_sessions(root)
        if st["runs"]:
            lines.append(f"   {label} runs in `{root}`: {st['runs']} computed in {st['sessions']} session(s), {st['seconds']:.0f} s of running "
                     f"({st['runs'] / st['seconds']:.1f} runs/s) on {', '.join(st['executors']) or 'unknown'}.")
    lines.append("\n![Convergence](sobol_convergence.png)\n")
    lines.append("## Morris screening\n")
    lines.append(_md_table(mor.selection[["group", "score", "selected", "why", "factors"]], ".2f"))
    lines.append("\n![Morris](morris_mu_star.png)\n")
    lines.append("## Factors\n")
    ft = res.factors.assign(nominal=res.factors["nominal"].map(lambda v: f"{v:g}" if isinstance(v, float) else str(v)))
    lines.append(_md_table(ft[["factor", "group", "mapping", "nominal", "range_source", "reason"]]))
    lines.append("\n## Files\n")
    lines.append("Tables (CSV and Parquet): " + ", ".join(f"`{n}`" for n in tables) + ". Runs: `" + str(sob.store) + "`, `" + str(mor.store)
             + "` (load with `experiments.sweep.load_results`). `study.json`: spec, answer, provenance.")
    (out / "report.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    written.append(out / "report.md")
    return written


def _store_sessions(root: Path | None) -> dict:
    """Runs computed, and running time, over every session recorded in a store's manifest."""
    import datetime as _dt

    from ..execution.store import read_manifest

    out = {"runs": 0, "seconds": 0.0, "sessions": 0, "executors": []}
    if root is None or not (Path(root) / "manifest.json").is_file():
        return out
    for s in read_manifest(root).get("sessions", []):
        if not s.get("runs"):
            continue
        try:
            dt = (_dt.datetime.fromisoformat(s["finished"]) - _dt.datetime.fromisoformat(s["started"])).total_seconds()
        except (KeyError, ValueError):
            continue
        out["runs"] += int(s["runs"])
        out["seconds"] += max(dt, 1.0)
        out["sessions"] += 1
        if s.get("executor") and s["executor"] not in out["executors"]:
            out["executors"].append(s["executor"])
    return out
