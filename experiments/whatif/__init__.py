"""What-ifs: a counterfactual scenario run beside its baseline with common random numbers.

The package: :mod:`.library` (the named what-ifs and their overrides), :mod:`.compare` (running
both arms and the paired statistics: :func:`run_whatif`, :class:`WhatIf`) and :mod:`.render` (the
text report and the forest plot).

A what-if is a set of dotted overrides (the same ``KEY=VALUE`` keys as scenario files and
``--set``) applied to a base scenario (default: the four-district case). Both arms run the same
replicates with the same seeds: replicate ``r`` of either arm uses ``run_seed(seed, 0, r)`` and
capacity assignment ``order[r % K]`` (experiments/execution/runner.py), and the model gives each district
its own random stream (docs/ODD.md section 4.9). A replicate's difference
``counterfactual - baseline`` is therefore paired: what the change did to the same district
history, not the gap between two unrelated samples. A what-if that changes nothing gives
differences of exactly zero, and a what-if that changes one district leaves the others' runs
exactly as they were (their differences are exactly zero). A change to the number of capacity
assignments (giving every capacity) unpairs the assignments; the provenance says so
(``assignments_paired``).

Statistics, per outcome and district (and per cell of Tables 2-5):

- ``baseline`` / ``counterfactual``: mean over the replicates where the outcome is defined (a share
  of changed elements is undefined in a replicate where the district changed nothing);
- ``difference``: mean of the paired differences over the replicates where both arms are defined
  (``n``), with ``p05`` / ``p95``, the 5th and 95th percentiles of those differences: a 90% range
  for the effect in a single replicate (one possible history of the districts);
- ``mean_p05`` / ``mean_p95``: a 90% confidence interval for the *mean* difference,
  ``mean +- t(0.95, n - 1) * sd / sqrt(n)`` (Student t; the replicates are independent, so the
  paired differences are too). It shrinks with more replicates; ``p05``/``p95`` do not.

Because of the NaN rule the difference need not equal counterfactual minus baseline exactly when
some replicates are undefined (``n`` < replicates); the text table marks those rows with ``*``.

The library of named what-ifs (``experiments/data/whatifs.toml``) is drawn from the report's own
explanations; each entry has a one-line question, its overrides, the report lines it probes, and
optionally its ``baseline``: another what-if's name (that what-if's scenario is the baseline arm, e.g.
``bundle_with_small_district_subsidy`` is compared with ``bundle_at_market_price``, so the difference
is the subsidy's effect) or a scenario file. Without one the baseline is the base scenario.

Provider what-ifs (either arm works with another provider than the default, or the arms' providers
differ) also report take-up (``joined``), the price the districts paid, the subsidy spend and the cost
per element changed, per district and overall, in both arms with paired differences
(:attr:`WhatIf.provider_metrics`, ``whatif.json``'s ``provider``).
In what-if overrides an element key may stand for a column of the provider's emphasis table:
``program.emphasis.0.school_leader_learning=1.0`` is year 1's school-leader-learning weight.
"""

from .compare import FILENAMES, LEVEL, OVERALL, PROVIDER_METRICS, TABLES, WhatIf, paired_difference, run_whatif
from .library import (
    LIBRARY_PATH,
    WhatIfLibraryError,
    WhatIfSpec,
    format_whatif_list,
    get_whatif,
    list_whatifs,
    load_whatif_library,
    resolve_override,
)
from .render import (
    OUTCOME_LABELS,
    SHARE_OUTCOMES,
    build_comparison_figure,
    comparison_figure,
    forest_plot,
    format_provider_metrics,
    format_table_differences,
    format_whatif,
)

__all__ = [
    "FILENAMES",
    "LEVEL",
    "LIBRARY_PATH",
    "OUTCOME_LABELS",
    "OVERALL",
    "PROVIDER_METRICS",
    "SHARE_OUTCOMES",
    "TABLES",
    "build_comparison_figure",
    "comparison_figure",
    "forest_plot",
    "format_provider_metrics",
    "format_table_differences",
    "format_whatif",
    "format_whatif_list",
    "get_whatif",
    "list_whatifs",
    "load_whatif_library",
    "paired_difference",
    "resolve_override",
    "run_whatif",
    "WhatIf",
    "WhatIfLibraryError",
    "WhatIfSpec",
]
