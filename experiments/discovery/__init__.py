"""Scenario discovery: which conditions give an outcome above (or below) a threshold, over any sweep or
sensitivity store.

::

    from experiments.discovery import discover

    res = discover("results/sweeps/lhs", "Diamond.share_consistent", above=0.3, out="results/discovery/diamond")
    print(res.text)          # the plain-language answer
    res.chosen.limits        # {factor: {"min": ..., "max": ...} or {"in": [...]}}
    res.trajectory           # PRIM's peeling trajectory: coverage, density, mass, restricted factors per box
    res.stability            # bootstrap: reproduced, share, unstable
    res.feature_scores       # extra-trees scores per factor

**Design points.** The runs of the store (a sweep's folder; a sensitivity study's folder, whose stores
under ``runs/`` are pooled, or those of one ``stage``; one such store; or a runs DataFrame) are grouped
by design point. Factors are the design columns (a sensitivity store's natural values ``x.NAME``);
those that do not vary are reported as fixed; a store where none varies is refused. The outcome is a
runs column, overall (``share_consistent``) or per district (``Diamond.share_consistent``).

**Replicates.** ``aggregate="mean"`` (default): a design point's value is the outcome pooled over its
replicates the project's way (``experiments.api.pool_replicates``: shares as ratios of sums, each
replicate weighted by its elements changed; counts as plain means), and it is a case of interest when
that value is above (``>``) or below (``<``) the threshold. ``aggregate="share"``: the value is the
share of its replicates beyond the threshold (among the replicates that define the outcome), and it
is a case when that share is at least ``share_min`` (0.5).

**NaN.** A per-district share is NaN in a run where the district changed nothing; such replicates
carry no weight. A design point where no replicate defines the outcome is left out (``nan="exclude"``,
counted in the answer and the JSON) or counted as not of interest (``nan="not_of_interest"``). Failed
runs (status not ok) are left out and counted.

**PRIM** is EMA Workbench's (``ema_workbench.analysis.prim.Prim``; lenient objective, peel_alpha =
paste_alpha = mass_min = 0.05), on the design points with integers as floats and booleans and text as
categories. It finds one box; its peeling trajectory (every candidate box with its coverage -- the
share of all cases inside the box -- and density -- the share of the box's points that are cases) is
the coverage/density trade-off. **The box rule** (:func:`choose_box`): among the boxes with coverage
>= ``min_coverage`` (0.5), keep those whose density is within ``density_tolerance`` (0.02) of the
highest; of these take the one restricting the fewest factors, then the highest coverage. Then every
limit whose quasi-p value (EMA's one-sided binomial test of the restriction, Bryant & Lempert 2010)
exceeds ``significance`` (0.1, the threshold of EMA's own ``prim_util.determine_dimres``) is released,
least significant first, so that factors that do not matter stay unrestricted.

**Stability** (:func:`stability`): ``bootstrap`` (50) resamples of the design points with replacement,
each searched the same way; a resampled box reproduces the chosen one when it holds nearly the same
design points: Cohen's kappa of the two in-box indicators over every design point (agreement beyond
chance, so two large unrelated boxes do not count) >= ``match`` (0.5). A box reproduced in fewer than ``stable_share``
(half) of the resamples is flagged unstable. How often each factor is restricted across the resamples
is reported too.

**Feature scores**: EMA Workbench's extra-trees scores (``get_ex_feature_scores``) of the factors for
the cases of interest.

**Output** (``out=DIR``; nothing is written elsewhere, each file through a temporary file and
``os.replace``): ``answer.txt``, ``boxes.json`` (every box of the trajectory, the chosen box with its
quasi-p values, stability, feature scores, settings), ``trajectory.csv``, ``points.csv`` (each design
point's value, case flag and whether the box holds it), ``feature_scores.csv``,
``peeling_trajectory.png`` and ``box.png``.
"""

from .core import (
    AGGREGATES,
    NAN_RULES,
    DiscoveryError,
    Points,
    Settings,
    choose_box,
    factor_columns,
    feature_scores,
    inside,
    load_points,
    read_runs,
    stability,
)
from .report import BOX_RULE, FILES, Box, Discovery, answer_text, default_out, describe_limit, discover, write_outputs

__all__ = [
    "AGGREGATES",
    "BOX_RULE",
    "Box",
    "Discovery",
    "DiscoveryError",
    "FILES",
    "NAN_RULES",
    "Points",
    "Settings",
    "answer_text",
    "choose_box",
    "default_out",
    "describe_limit",
    "discover",
    "factor_columns",
    "feature_scores",
    "inside",
    "load_points",
    "read_runs",
    "stability",
    "write_outputs",
]
