"""Populations of districts and rollouts: which districts join an offer, what changes, at what cost.

The package: :mod:`.files` (population files, validated), :mod:`.districts` (drawing synthetic
districts and their conditions), :mod:`.rollout` (the plan, a chunk's runs, the session) and
:mod:`.summary` (reading a rollout back and aggregating it by district type).

A population file (``experiments/data/populations/<STATE>.toml``) holds *distributions* of district
conditions for one state -- enrolment, rurality, per-element starting capacity, prior experience,
pre-K, leadership configuration -- each an assumption stated in the file (docs/ODD.md section 6.6).
:func:`generate_population` draws synthetic districts from it: district ``i`` comes from
``SeedSequence(seed, spawn_key=(i,))``, so it does not depend on how many are drawn.

A rollout (:func:`run_rollout`) runs every district alone under one provider type with simulated
recruitment (``provider.recruit = true``; sim/providers.py) for R replicates. Run (district ``i``,
replicate ``r``) is seeded with ``SeedSequence(seed, spawn_key=(i, r))``: the numbers do not depend
on the number of workers, the chunking, or local processes vs Dask. Chunks of runs are tasks for
the sweep engine's executor (``experiments.execution.executor.make_executor``: this process, local
processes, or a Dask cluster) through the one session loop and are written as they finish to a
sweep store (``experiments.execution.store``:
``runs/`` one row per run, ``elements/`` one row per district-element of a run), so memory stays
flat; ``resume=True`` continues an interrupted rollout. :func:`summarise_rollout` aggregates by
district type (size class, capacity class, leadership configuration) with 90% intervals over
replicates.

Python::

    from experiments.population import load_population, generate_population, run_rollout
    pop = load_population("CA")
    districts = generate_population(pop, n=200)
    result = run_rollout(pop, "results/rollout/CA", provider="bundle", n=200, replicates=10)
    result.summary  # pandas DataFrame by district type
"""

from .districts import capacity_class, district_conditions, draw_district, generate_population
from .files import (
    DEFAULT_DISTRICTS,
    DEFAULT_SEED,
    POPULATION_DIR,
    STATES,
    PopulationError,
    PopulationSpec,
    load_population,
    validate_population,
)
from .rollout import (
    DEFAULT_CHUNK_SIZE,
    DEFAULT_REPLICATES,
    RolloutPlan,
    RolloutResult,
    make_rollout_plan,
    rollout_task_runs,
    run_rollout,
    run_rollout_chunk,
    split_overrides,
)
from .summary import SUMMARY_OUTCOMES, format_summary, load_rollout, summarise_rollout

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "DEFAULT_DISTRICTS",
    "DEFAULT_REPLICATES",
    "DEFAULT_SEED",
    "POPULATION_DIR",
    "STATES",
    "SUMMARY_OUTCOMES",
    "capacity_class",
    "district_conditions",
    "draw_district",
    "format_summary",
    "generate_population",
    "load_population",
    "load_rollout",
    "make_rollout_plan",
    "PopulationError",
    "PopulationSpec",
    "rollout_task_runs",
    "RolloutPlan",
    "RolloutResult",
    "run_rollout",
    "run_rollout_chunk",
    "split_overrides",
    "summarise_rollout",
    "validate_population",
]
