"""Prior and posterior predictive checks of the calibration, for the fitted and the held-out evidence.

Parameter sets (N draws each; draw j runs as replicate j of the case - seed ``run_seed(seed, 0, j)``,
capacity assignment ``order[j % K]`` - so every set sees the same random numbers and capacities and
differs only in its parameters):

* ``prior``: every free parameter from its prior;
* ``defaults``: the hand-set defaults of sim/parameters.py (no parameter uncertainty);
* ``fit``: the split fit's posterior for the parameters it fits, the prior for the others - the
  out-of-sample prediction of the held-out evidence;
* ``final``: the all-evidence posterior;
* ``calibrated``: the final posterior's point estimate (the model's new defaults), no parameter
  uncertainty - what ``coherence-sim case`` runs;
* ``null``: no model at all -- codes drawn from the report's pooled proportions on the same
  capacity assignments (calibration/null_model.py), the baseline every pattern is judged against.

For each set and each evidence component: the distribution of the component's distance to the
report; for tables, each cell's 5th/50th/95th percentile and mean; for facts, the probability each
holds. The posterior predictive p-value of a table component is ``P(d(y', y) >= d(y_obs, y))``,
y and y' independent predictive runs: how often a run of the model is at least as far from another
run as the report is. Near 0 means the report is atypical of the model at these parameters.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from sim import Parameters
from sim.vocab import CASE_DISTRICTS

from .distance import Split, stack_summaries, table_distance
from .priors import PriorSet

__all__ = ["PREDICTIVE_SETS", "predictive_parameters", "run_predictive", "summarise_predictive"]

PREDICTIVE_SETS = ("prior", "defaults", "fit", "final", "calibrated", "null")
#: The district contrast of Table 2 (lines 804-811): "Avalon and Cedarville were more likely to make
#: changes that transformed elements than Birchwood and Diamond" -- read as: each of Avalon and
#: Cedarville transformed a larger share of its changed elements than each of Birchwood and Diamond.
CONTRAST = (("Avalon", "Cedarville"), ("Birchwood", "Diamond"))
_PRED_KEY = 2**31 - 14


def predictive_parameters(priors: PriorSet, stages: dict, n: int, seed: int) -> dict[str, list[dict[str, float]]]:
    """Full parameter dicts for each predictive set (see the module docstring)."""
    ss = np.random.SeedSequence(entropy=int(seed), spawn_key=(_PRED_KEY,))
    r_prior, r_fit, r_final = (np.random.default_rng(s) for s in ss.spawn(3))
    base = Parameters().to_dict()
    prior = priors.sample(r_prior, n)
    fit_draws = stages["fit"].resample(n, r_fit)
    final_draws = stages["final"].resample(n, r_final)
    point = {**base, **stages["final"].median()}
    sets: dict[str, list[dict[str, float]]] = {"prior": [], "defaults": [], "fit": [], "final": [], "calibrated": []}
    for j in range(n):
        pj = {**base, **{k: float(v[j]) for k, v in prior.items()}}
        sets["prior"].append(pj)
        sets["defaults"].append(dict(base))
        sets["fit"].append({**pj, **{k: float(fit_draws.at[j, k]) for k in fit_draws.columns}})
        sets["final"].append({**base, **{k: float(final_draws.at[j, k]) for k in final_draws.columns}})
        sets["calibrated"].append(dict(point))
    return sets


def run_predictive(split: Split, priors: PriorSet, stages: dict, *, n: int, seed: int, workers: int | None = 1, progress=None) -> dict[str, Any]:
    """Run every predictive set and summarise it (JSON-ready dict; arrays as nested lists)."""
    from .simulator import run_draws

    from .null_model import case_null_summaries, null_proportions

    sets = predictive_parameters(priors, stages, n, seed)
    out: dict[str, Any] = {"n": n, "seed": seed, "n_runs": n * len(sets), "sets": {}}
    for i, (name, params) in enumerate(sets.items()):
        if progress is not None:
            progress({"stage": "predictive", "set": name, "index": i, "of": len(sets) + 1})
        summaries = run_draws(params, seed, workers=workers)
        out["sets"][name] = summarise_predictive(split, summaries)
    if progress is not None:
        progress({"stage": "predictive", "set": "null", "index": len(sets), "of": len(sets) + 1})
    out["sets"]["null"] = summarise_predictive(split, case_null_summaries(n, seed))
    out["null_proportions"] = null_proportions().to_dict()
    return out


def summarise_predictive(split: Split, summaries: list[dict[str, np.ndarray]]) -> dict[str, Any]:
    """Per component: distances, cell quantiles (tables), fact probabilities, p-value."""
    S = stack_summaries(summaries)
    n = len(summaries)
    shift = np.roll(np.arange(n), 1)
    out: dict[str, Any] = {"components": {}, "tables": {}}
    for name, c in split.components.items():
        d = np.array([c.distance(s) for s in summaries])
        entry: dict[str, Any] = {
            "mean": float(d.mean()),
            "median": float(np.median(d)),
            "p05": float(np.percentile(d, 5)),
            "p95": float(np.percentile(d, 95)),
            "p_zero": float(np.mean(d == 0)),
        }
        if c.kind == "table":
            sims = S[c.table].astype(float)
            d_rep = np.array([table_distance(sims[shift[j]], sims[j]) for j in range(n)])
            entry["ppc_p"] = float(np.mean(d_rep >= d))
            entry["d_replicates_mean"] = float(d_rep.mean())
            best = [c.best_reading(s) for s in summaries]
            entry["reading_share"] = {
                "+".join(r) or "primary": float(np.mean(np.array(best) == i)) for i, r in enumerate(c.readings)
            }
        else:
            holds = np.array([c.fact_holds(s) for s in summaries])
            entry["facts"] = {lab: float(p) for lab, p in zip(c.fact_labels(), holds.mean(axis=0))}
            entry["p_all_hold"] = float(np.mean(holds.all(axis=1)))
        out["components"][name] = entry
    for t in ("table2", "table3", "table4", "table5", "consistency", "continuity_by_district"):
        x = S[t].astype(float)
        out["tables"][t] = {
            "mean": x.mean(axis=0).round(4).tolist(),
            "p05": np.percentile(x, 5, axis=0).tolist(),
            "p50": np.percentile(x, 50, axis=0).tolist(),
            "p95": np.percentile(x, 95, axis=0).tolist(),
        }
    fm = S["first_month"].astype(float)
    changed = fm >= 0
    with np.errstate(invalid="ignore"):
        out["first_change_year_share"] = {
            CASE_DISTRICTS[d]: {
                str(y): np.mean((fm[:, d, :] >= 12 * (y - 1)) & (fm[:, d, :] <= 12 * y - 1), axis=0).round(4).tolist()
                for y in (1, 2, 3)
            }
            for d in range(4)
        }
        out["changed_share"] = changed.mean(axis=0).round(4).tolist()
    out["principles_mean"] = S["principles"].astype(float).mean(axis=0).round(4).tolist()
    t2 = S["table2"].astype(float)
    changed = t2[:, :, 1] + t2[:, :, 2]
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(changed > 0, t2[:, :, 2] / np.maximum(changed, 1), np.nan)
    hi = [CASE_DISTRICTS.index(d) for d in CONTRAST[0]]
    lo = [CASE_DISTRICTS.index(d) for d in CONTRAST[1]]
    with warnings.catch_warnings():  # a group none of whose districts changed anything: NaN, the contrast fails
        warnings.simplefilter("ignore", RuntimeWarning)
        holds = np.nanmin(share[:, hi], axis=1) > np.nanmax(share[:, lo], axis=1)
    out["contrast"] = {"p_holds": float(np.mean(holds)), "definition": "min(share transformed of Avalon, Cedarville) > max(of Birchwood, Diamond)"}
    out["coverage"] = coverage(split, out["tables"])
    out["has_prek_end_share"] = S["has_prek_end"].astype(float).mean(axis=0).round(4).tolist()
    return out


def coverage(split: Split, tables: dict[str, Any]) -> dict[str, Any]:
    """Which observed cells lie outside the predictive 90% interval [p05, p95], per table: for the
    primary reading and for the best of the readings the report allows."""
    out: dict[str, Any] = {}
    for c in split.components.values():
        if c.kind != "table" or c.table not in tables:
            continue
        lo, hi = np.asarray(tables[c.table]["p05"]), np.asarray(tables[c.table]["p95"])
        per_reading = []
        for obs in c.observed:
            o = np.asarray(obs, dtype=float)
            outside = np.argwhere((o < lo) | (o > hi))
            per_reading.append([[int(i) for i in ij] for ij in outside])
        best = min(range(len(per_reading)), key=lambda i: len(per_reading[i]))
        out[c.table] = {"primary_outside": per_reading[0], "best_reading": best, "best_outside": per_reading[best]}
    return out


def observed_tables(split: Split) -> dict[str, list]:
    """Observed arrays of each table component, every reading (for the report)."""
    return {
        c.table: [o.tolist() for o in c.observed] for c in split.components.values() if c.kind == "table"
    }
