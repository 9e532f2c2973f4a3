"""The four-district case: run it over the uncertain starting capacities and summarise it like the
report (Tables 2-5, consistency, Figures 1-4), beside the observed values.

Replicate ``r`` uses capacity assignment ``order[r mod K]`` of the K assignments consistent with
the report (experiments/evidence/capacities.py), where ``order`` is a random permutation fixed by
the root seed: every assignment is used equally often (to within one) when R >= K, and a uniform
random subset without replacement when R < K. The uncertainty about the unreported cells is spread
over the replicates rather than resolved by picking one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sim import Parameters, RunResult
from sim.conditions import Conditions
from sim.results import OUTCOME_NAMES
from sim.vocab import Alignment, Capacity, Consistency, Continuity, Substantiveness

from .scenario import CaseDefinition
from .execution.provenance import content_hash, provenance
from .execution.runner import run_replicates
from .scenario import Scenario, default_scenario, scenario_dict, scenario_from_case

DEFAULT_REPLICATES = 200
DEFAULT_SEED = 20201
_POSTERIOR_KEY = 2**31 - 16  # spawn_key of the permutation of posterior draws

# Row and column keys of each summary table, from the one vocabulary.
_TABLE_AXES = {
    "table2": ("district", Substantiveness),
    "table3": ("capacity", Substantiveness),
    "table4": ("capacity", Alignment),
    "table5": ("capacity", Continuity),
    "table5_end": ("capacity", Continuity),
    "consistency": ("district", Consistency),
}
REPORT_TABLES = ("table2", "table3", "table4", "table5", "consistency")


@dataclass
class CaseRun:
    """Replicates of a scenario and everything needed to reproduce them."""

    scenario: Scenario
    parameters: Parameters
    seed: int
    results: list[RunResult]
    assignment_index: list[int]
    n_assignments: int
    overrides: tuple[str, ...] = ()

    @property
    def districts(self) -> tuple[str, ...]:
        return self.results[0].districts

    def stack(self, name: str) -> np.ndarray:
        """Stack one RunResult array over replicates: shape (replicates, ...)."""
        return np.stack([getattr(r, name) for r in self.results])

    def table_samples(self, name: str) -> np.ndarray:
        """(replicates, rows, columns) counts of one table."""
        return np.stack([r.tables()[name] for r in self.results])

    def outcome_samples(self) -> dict[str, np.ndarray]:
        """name -> (replicates, D + 1) outcome values; the last column is the pooled 'overall'."""
        per = [r.outcomes() for r in self.results]
        overall = [r.overall_outcomes() for r in self.results]
        return {
            k: np.column_stack([np.stack([p[k] for p in per]), np.array([o[k] for o in overall])])
            for k in OUTCOME_NAMES
        }


def case_conditions(definition: CaseDefinition | None = None) -> tuple[tuple[Conditions, ...], int]:
    """The case's ``Conditions``, one per starting-capacity assignment, and their number."""
    conds = scenario_from_case(definition).conditions()
    return conds, len(conds)


def run_scenario(
    scenario: Scenario,
    replicates: int = DEFAULT_REPLICATES,
    seed: int = DEFAULT_SEED,
    progress: Callable[[int, int], None] | None = None,
    overrides: tuple[str, ...] = (),
) -> CaseRun:
    """Run a scenario ``replicates`` times (replicate r: ``run_seed(seed, 0, r)``)."""
    if replicates < 1:
        raise ValueError(f"replicates: {replicates!r} must be >= 1")
    parameters = scenario.parameters_()
    conditions = scenario.conditions()
    results, index = [], []
    for r in range(replicates):
        (_, k, res), = run_replicates(conditions, parameters, seed, [r])
        results.append(res)
        index.append(k)
        if progress is not None:
            progress(r + 1, replicates)
    return CaseRun(scenario, parameters, seed, results, index, len(conditions), tuple(overrides))


def run_case(
    replicates: int = DEFAULT_REPLICATES,
    seed: int = DEFAULT_SEED,
    definition: CaseDefinition | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> CaseRun:
    """Run the four-district case (or another case file's definition) from the defaults every entry
    point starts from (:func:`experiments.scenario.default_scenario`; ``coherence-sim case`` runs
    the same scenario, so the same seed and replicates give the same numbers)."""
    return run_scenario(default_scenario(definition), replicates, seed, progress)


def _table_dict(name: str, arr: np.ndarray, districts: tuple[str, ...]) -> dict:
    rows_kind, cols = _TABLE_AXES[name]
    rows = districts if rows_kind == "district" else Capacity.keys()
    return {
        row: {col: float(arr[i, j]) for j, col in enumerate(cols.keys())}
        for i, row in enumerate(rows)
    }


def summarise(run: CaseRun, observed=None) -> dict:
    """The case's summary: observed vs simulated (mean, p05, p95) tables, outcomes, provenance."""
    if observed is None:
        from .evidence import load_observed

        observed = load_observed()
    districts = run.districts
    names = REPORT_TABLES + ("table5_end",)
    samples = {n: run.table_samples(n) for n in names}
    sim_mean = {n: _table_dict(n, samples[n].mean(axis=0), districts) for n in names}
    sim_p05 = {n: _table_dict(n, np.percentile(samples[n], 5, axis=0), districts) for n in names}
    sim_p95 = {n: _table_dict(n, np.percentile(samples[n], 95, axis=0), districts) for n in names}
    outcomes = run.outcome_samples()
    cols = list(districts) + ["overall"]

    def outcome_stat(fn):
        return {
            k: {c: _clean(fn(v[:, i])) for i, c in enumerate(cols)} for k, v in outcomes.items()
        }

    return {
        "observed": {n: observed.tables[n] for n in REPORT_TABLES},
        "observed_alternatives": {
            name: {
                "tables": alt.tables,
                "lines": [str(l) for l in alt.lines],
                "inferred": alt.inferred,
                "note": alt.note,
            }
            for name, alt in observed.alternatives.items()
        },
        "simulated": {n: sim_mean[n] for n in REPORT_TABLES},
        "simulated_p05": {n: sim_p05[n] for n in REPORT_TABLES},
        "simulated_p95": {n: sim_p95[n] for n in REPORT_TABLES},
        "simulated_end_of_run": {
            "table5_end": {"mean": sim_mean["table5_end"], "p05": sim_p05["table5_end"], "p95": sim_p95["table5_end"]}
        },
        "outcomes": {
            "mean": outcome_stat(lambda x: np.nanmean(x) if np.isfinite(x).any() else np.nan),
            "p05": outcome_stat(lambda x: np.nanpercentile(x, 5) if np.isfinite(x).any() else np.nan),
            "p95": outcome_stat(lambda x: np.nanpercentile(x, 95) if np.isfinite(x).any() else np.nan),
        },
        "provenance": provenance(
            case=run.scenario.name,
            scenario=run.scenario.name,
            scenario_hash=content_hash(scenario_dict(run.scenario)),
            seed=run.seed,
            replicates=len(run.results),
            parameters=run.parameters.to_dict(),
            overrides=list(run.overrides),
            capacity_assignments=run.n_assignments,
            seeding="numpy SeedSequence(entropy=seed, spawn_key=(design_point=0, replicate)); "
            "capacity assignment order[replicate % K], order a permutation keyed by the seed",
        ),
    }


def _clean(x) -> float | None:
    x = float(x)
    return None if not np.isfinite(x) else round(x, 6)


def element_shares(run: CaseRun) -> dict[str, np.ndarray]:
    """Per district x element shares over replicates, for Figures 1-4.

    changed (D, E); consistency (D, E, 4); alignment (D, E, 3); continuity (D, E, 3);
    continuity_end (D, E, 3); principles (D, E); links (D, E, E); inconsistent_links (D, E, E).
    """
    def dist(name: str, k: int) -> np.ndarray:
        codes = run.stack(name)
        return np.stack([(codes == c).mean(axis=0) for c in range(k)], axis=-1)

    links = run.stack("links")
    return {
        "changed": (run.stack("n_changes") > 0).mean(axis=0),
        "substantiveness": dist("substantiveness", len(Substantiveness)),
        "consistency": dist("consistency", len(Consistency)),
        "alignment": dist("alignment", len(Alignment)),
        "continuity": dist("continuity", len(Continuity)),
        "continuity_end": dist("continuity_end", len(Continuity)),
        "principles": run.stack("principles").mean(axis=0),
        "links": links.mean(axis=0),
        "inconsistent_links": (links & ~run.stack("link_consistent")).mean(axis=0),
    }


# --- case --posterior: parameters drawn from the calibrated posterior, one draw per replicate ---
def posterior_draw_order(seed: int, n_draws: int) -> np.ndarray:
    """Replicate r uses posterior draw ``order[r % n_draws]``: a permutation fixed by the seed."""
    rng = np.random.default_rng(np.random.SeedSequence(entropy=int(seed), spawn_key=(_POSTERIOR_KEY,)))
    return rng.permutation(n_draws)


def run_scenario_posterior(
    scenario,
    replicates: int,
    seed: int,
    progress: Callable[[int, int], None] | None = None,
    overrides: tuple[str, ...] = (),
    samples: pd.DataFrame | None = None,
):
    """Run a scenario with parameters drawn from the stored posterior, one draw per replicate.

    Replicate r runs exactly like replicate r of ``run_scenario`` (seed ``run_seed(seed, 0, r)``,
    capacity assignment ``order[r % K]``) except that the calibrated parameters take the values of
    posterior draw ``order'[r % N]`` (``posterior_draw_order``); the scenario's other parameters
    are kept. Returns a ``CaseRun`` whose ``parameters`` are the scenario's (the point estimate when
    the scenario is the default one) and whose ``posterior_draws`` attribute lists each replicate's
    draw index.
    """
    from .evidence.calibrated import load_posterior_samples

    if replicates < 1:
        raise ValueError(f"replicates: {replicates!r} must be >= 1")
    draws = samples if samples is not None else load_posterior_samples()
    sampled = list(draws.columns)
    overridden = [o.split("=", 1)[0].strip() for o in overrides]
    clash = [k for k in overridden if k.startswith("parameters.") and k.split(".", 1)[1] in sampled]
    if clash:
        raise ValueError(f"--set {clash[0]}: this parameter is drawn from the posterior with --posterior; drop one of the two")
    base = scenario.parameters_()
    conditions = scenario.conditions()
    order = posterior_draw_order(seed, len(draws))
    values = draws.to_numpy(dtype=float)
    results, index, used = [], [], []
    for r in range(replicates):
        j = int(order[r % len(draws)])
        params = base.replace(**{c: float(values[j, i]) for i, c in enumerate(sampled)})
        ((_, k, res),) = run_replicates(conditions, params, seed, [r])
        results.append(res)
        index.append(k)
        used.append(j)
        if progress is not None:
            progress(r + 1, replicates)
    run = CaseRun(scenario, base, seed, results, index, len(conditions), tuple(overrides))
    run.posterior_draws = used  # type: ignore[attr-defined]
    return run
