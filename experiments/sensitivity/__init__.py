"""Global sensitivity analysis with SALib: Morris screening of every factor, then Sobol' indices
(first, total, second order) of the factors that matter, on a stochastic model.

The package, one job a module: :mod:`.spec` (the spec file), :mod:`.factors` (unit cube ->
scenarios), :mod:`.engine` (running designs, with common random numbers, into resumable stores),
:mod:`.outputs` (runs -> arrays, replicate noise), :mod:`.morris`, :mod:`.sobol`, :mod:`.types`
(district types), :mod:`.study` (Morris -> selection -> Sobol' -> answer), :mod:`.figures` and
:mod:`.report`.

Python API (the CLI's ``coherence-sim sensitivity SPEC`` calls exactly these)::

    from experiments.sensitivity import load_sensitivity_spec, run_study, run_morris, run_sobol

    spec = load_sensitivity_spec("experiments/data/sensitivity/default.toml")
    study = run_study(spec, "results/sensitivity/default", workers=2)   # Morris, selection, Sobol, report
    study.morris.indices        # DataFrame: output, factor, group, mu, mu_star, sigma, mu_star_conf, mu_star_norm, ...
    study.morris.selection      # DataFrame: group, score, selected, why
    study.sobol.indices         # DataFrame: output, group, S1, S1_conf, ST, ST_conf, N
    study.sobol.second_order    # DataFrame: output, group_a, group_b, S2, S2_conf
    study.sobol.history         # the indices at every N of the doubling, with the CI movement
    study.sobol.noise           # share of output variance that is replicate noise
    study.sobol.types           # within-type total-order indices and means per district type
    study.sobol.salib[output]   # SALib's own ResultDict

    # Morris or Sobol alone (e.g. Sobol on chosen groups):
    m = run_morris(spec, out_dir)
    s = run_sobol(spec, out_dir, groups=["capacity", "lead_authority", "lead_buy_in"])

    # any function of the unit cube (tests use Ishigami): the same doubling and analysis
    res = sobol_doubling(problem, evaluate, outputs=["y"], n_start=64, n_max=4096, ...)

**Factors** live in a spec file (``experiments/data/sensitivity/default.toml``, see its header): each
factor maps ``u`` in [0, 1] to dotted scenario keys (model parameters, booleans by threshold,
capacities by bins, a size that sets schools/leaders/teachers, a shock). SALib only ever sees the unit
cube; :class:`FactorSpace` turns its samples into scenarios.

**Runs** go through the sweep engine: each task is ``experiments.sweep.run_chunk`` (the same worker
code, outcome definitions and per-run error capture), on ``experiments.execution.executor`` (local processes or
a Dask cluster), stored as chunks of ``experiments.execution.store.SweepStore`` folders readable with
``experiments.sweep.load_results``. One difference, on purpose: **common random numbers**. The sweep
seeds run (design point i, replicate r) with ``SeedSequence(seed, spawn_key=(i, r))``, so replicates at
different design points share nothing. Here every design point's replicate r uses
``spawn_key=(0, r)`` (the worker runs the chunk as design point 0 and relabels its rows): the same
random numbers at every design point, so differences between design points are differences of the
factors, not of the draws (documented in each store's manifest under ``seeding``).

**Stochastic model**: ``replicates`` runs per design point; indices are computed on the replicate means
(shares pooled over replicates: elements transformed / elements changed, summed over replicates), and
the share of variance that is replicate noise is reported (:func:`noise_table`).

**Sobol doubling**: ``SALib.sample.sobol.sample(..., scramble=True, seed=s)`` draws the first N points of
one scrambled Sobol' sequence, so the N design is a prefix of the 2N design (checked at every step and
by the tests); a study at 2N reuses every run of N (the store's chunks are base points of the
sequence). N doubles from ``n_start`` until no S1/ST confidence-interval endpoint moves by more than
``tolerance`` between N/2 and N, or N reaches ``n_max``.

**Resume**: a study's stores are keyed by a hash of everything that fixes their runs (base scenario,
factor mapping, varied groups, seeds, replicates, chunking); running the same spec into the same
folder again computes only the chunks not yet stored.
"""

from .engine import SEEDING, _Engine, run_crn_chunk
from .factors import Factor, FactorSpace
from .figures import figure_convergence, figure_morris, figure_s2_heatmap, figure_sobol_bars, figure_types
from .morris import MorrisResult, morris_design, morris_indices, run_morris, select_groups
from .outputs import RATIO_OUTPUTS, noise_table, output_columns, replicate_means, runs_to_arrays
from .report import unconverged_notice, write_report
from .sobol import SobolResult, SobolRun, ci_movement, rows_per_base, run_sobol, sobol_design, sobol_doubling, sobol_indices
from .spec import (
    DEFAULT_OUTPUTS,
    DEFAULT_SPEC,
    FACTOR_KINDS,
    FactorSpec,
    SensitivityError,
    SensitivitySpec,
    load_sensitivity_spec,
    validate_sensitivity_spec,
)
from .study import StudyResult, answer_question, load_study, run_study, study_contrasts
from .types import type_indices
from ..numerics import capacity_cuts

__all__ = [
    "DEFAULT_OUTPUTS",
    "DEFAULT_SPEC",
    "FACTOR_KINDS",
    "RATIO_OUTPUTS",
    "SEEDING",
    "answer_question",
    "capacity_cuts",
    "ci_movement",
    "Factor",
    "FactorSpace",
    "FactorSpec",
    "figure_convergence",
    "figure_morris",
    "figure_s2_heatmap",
    "figure_sobol_bars",
    "figure_types",
    "load_sensitivity_spec",
    "load_study",
    "morris_design",
    "morris_indices",
    "MorrisResult",
    "noise_table",
    "output_columns",
    "replicate_means",
    "rows_per_base",
    "run_crn_chunk",
    "run_morris",
    "run_sobol",
    "run_study",
    "runs_to_arrays",
    "select_groups",
    "SensitivityError",
    "SensitivitySpec",
    "sobol_design",
    "sobol_doubling",
    "sobol_indices",
    "SobolResult",
    "SobolRun",
    "study_contrasts",
    "StudyResult",
    "type_indices",
    "unconverged_notice",
    "validate_sensitivity_spec",
    "write_report",
    "_Engine",
]
