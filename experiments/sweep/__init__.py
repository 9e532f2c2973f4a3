"""Sweeps: many runs of a scenario over a design (grid, Latin hypercube or a supplied table) x
replicates, on local processes or a Dask cluster, streamed to a resumable Parquet store.

The package, one job a module: :mod:`.spec` (the spec file), :mod:`.design` (grid, Latin
hypercube and file designs), :mod:`.plan` (the validated plan and its chunks), :mod:`.worker` (a
chunk's runs, on a worker) and :mod:`.run` (the session and its result).

Python API (the CLI's ``coherence-sim sweep SPEC`` calls exactly these)::

    from experiments.sweep import load_sweep_spec, plan_sweep, run_sweep, run_design, load_results

    spec = load_sweep_spec("experiments/data/sweeps/example_grid.toml")
    plan = plan_sweep(spec)                 # validates every design point before any run
    result = run_sweep(plan, "results/sweeps/example-grid", workers=2)   # or scheduler="tcp://host:8786"
    runs, elements = result.load()          # == load_results("results/sweeps/example-grid")

    # a design made elsewhere (e.g. SALib), columns named by dotted scenario keys:
    result = run_design(default_scenario(), design_df, replicates=4, seed=1, out_dir="results/sobol")

A script that runs a sweep on local worker processes needs the usual
``if __name__ == "__main__":`` guard (workers started by forkserver re-import the main module);
the CLI and notebooks need nothing.

Seeds: run (design point ``i``, replicate ``r``) goes through ``experiments.execution.runner.run_replicates``,
the one place mapping (root seed, design point, replicate) to a seed
(``SeedSequence(seed, spawn_key=(i, r))``) and a starting-capacity assignment. Numbers therefore do
not depend on the worker count, the executor, the chunk size or the order of completion.

Work: the plan's runs, in plan order (design point major, replicate minor), are cut into chunks of
``chunk_size`` runs (chunk ``c`` holds runs ``c*chunk_size ..``). A chunk is one task: a top-level
function (:func:`.worker.run_chunk`) receiving plain data (the base scenario as a dict, each design point's
overrides) and returning plain columns. Chunks are written as they finish (see
``experiments.execution.store``) by the one session loop (``experiments.execution.session``);
``resume=True`` skips the finished ones.

Failures: a run that raises becomes a runs row with ``status="error"``, its error and traceback,
and no element rows; the sweep goes on. A task that fails as a whole (a worker died) is resubmitted
up to ``MAX_ATTEMPTS`` times; a chunk still failing then is left undone and reported
(``SweepResult.failed_chunks``), to be retried with ``resume=True``.

Tables (see :func:`load_results`):

* runs: ``design_point, replicate, seed`` (the root seed; the spawn key is (design_point,
  replicate)), ``assignment`` (index of the starting-capacity assignment), one column per factor
  (its dotted key), the pooled outcomes of ``sim.results.OUTCOME_NAMES``, per-district outcomes as
  ``<District>.<outcome>``, ``status`` (ok | error), ``error``, ``traceback``, ``scenario_hash``
  (of the design point's scenario), ``version`` and ``git_commit`` (of the code that ran it).
* elements: ``design_point, replicate, district, element`` (key), the codes ``capacity0,
  capacity_end, substantiveness, consistency, alignment, continuity, continuity_end`` as small ints
  (``sim.vocab`` IntEnum values; ``load_results(codes="keys")`` gives the keys), ``principles``,
  ``first_month`` (-1: no change) and ``n_changes``.
"""

from .design import grid_design, lhs_design, read_design_file
from .plan import SweepPlan, make_plan, plan_sweep
from .run import SweepResult, load_results, run_design, run_sweep, runs_schema
from .spec import DEFAULT_CHUNK_SIZE, DEFAULT_REPLICATES, DEFAULT_SEED, SweepSpec, load_sweep_spec, validate_sweep_spec
from .worker import LazyConditions, run_chunk

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "DEFAULT_REPLICATES",
    "DEFAULT_SEED",
    "LazyConditions",
    "SweepPlan",
    "SweepResult",
    "SweepSpec",
    "grid_design",
    "lhs_design",
    "load_results",
    "load_sweep_spec",
    "make_plan",
    "plan_sweep",
    "read_design_file",
    "run_chunk",
    "run_design",
    "run_sweep",
    "runs_schema",
    "validate_sweep_spec",
]
