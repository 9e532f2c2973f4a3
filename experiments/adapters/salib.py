"""A SALib ``ProblemSpec`` over factor keys, and a model function for its serial ``evaluate`` that
runs every sample through the project's runner (:func:`experiments.api.evaluate_design`; SALib's own
parallel evaluation is experimental and knows nothing of replicates)::

    from experiments.adapters import problem_spec, salib_model

    sp = problem_spec(["districts.Diamond.lead.buy_in", "districts.Diamond.lead.positional_authority"], outputs=["Diamond.share_consistent"])
    sp.sample_sobol(8, calc_second_order=False, seed=1)
    sp.evaluate(salib_model(sp, replicates=2, seed=1))
    sp.analyze_sobol(calc_second_order=False, seed=1)

Bounds are the factors' ranges (``experiments.api.FACTORS``) unless given; SALib samples reals, so an
integer factor gets bounds ``[low, high + 1]`` and its sample is floored, a boolean ``[0, 1]`` (true at
0.5 and above), a choice ``[0, n]`` (the floored index). Each sample row is a design point, with
common random numbers by default (replicate r of every row shares its seed). Outputs are pooled over
replicates (``experiments.api.OUTCOMES[...].pooling``); a row no replicate defines (a district that
changed nothing) gets the output's mean over the rows, as the sensitivity study does, with a warning.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from experiments.api import FactorError, evaluate_design, factors, outcomes, pool_replicates
from experiments.scenario import Scenario, default_scenario

from .checks import check_outcomes, chosen_factors


def problem_spec(names: Sequence[str] | Mapping[str, Any], outputs: Sequence[str], *, scenario: Scenario | None = None):
    """A ``SALib.ProblemSpec`` with ``names`` (factor keys; a dict gives ``(low, high)`` per key) and ``outputs``."""
    from SALib import ProblemSpec

    base = scenario if scenario is not None else default_scenario()
    known, outs = factors(base), outcomes(base)
    chosen = chosen_factors("names", names, known)
    bounds = []
    for key, rng, f in chosen:
        if rng is not None:
            lo, hi = rng
        elif f.type == "bool":
            lo, hi = 0.0, 1.0
        elif f.type == "choice":
            lo, hi = 0.0, float(len(f.choices))
        elif f.type == "int":
            lo, hi = f.low, None if f.high is None else f.high + 1
        else:
            lo, hi = f.low, f.high
        if lo is None or hi is None:
            raise FactorError(f"names.{key}: the factor has no full range; give (low, high)")
        bounds.append([float(lo), float(hi)])
    check_outcomes("outputs", outputs, outs)
    return ProblemSpec({"names": [key for key, _, _ in chosen], "bounds": bounds, "outputs": list(outputs)})


def salib_model(sp, replicates: int, seed: int, *, common_random_numbers: bool = True, scenario: Scenario | None = None):
    """A function ``X -> Y`` for ``sp.evaluate``: row i of X is design point i, run ``replicates``
    times (seed ``seed``) by :func:`experiments.api.evaluate_design`; Y has one column per output."""
    base = scenario if scenario is not None else default_scenario()
    known = factors(base)
    names, outs = list(sp["names"]), list(sp["outputs"])

    def model(X: np.ndarray) -> np.ndarray:
        X = np.atleast_2d(np.asarray(X, float))
        design = pd.DataFrame({k: [known[k].coerce(v) for v in X[:, j]] for j, k in enumerate(names)})
        runs = evaluate_design(design, replicates, seed, common_random_numbers, scenario=base, runs=True)
        plain = pool_replicates(runs, outs)
        n_imputed = int(plain[outs].isna().to_numpy().sum())
        Y = pool_replicates(runs, outs, impute=True)[outs] if n_imputed else plain[outs]
        if n_imputed:
            warnings.warn(f"{n_imputed} output value(s) undefined in every replicate (nothing changed) were set to the "
                          f"output's mean over the samples, as the sensitivity study does", RuntimeWarning, stacklevel=2)
        Y = Y.to_numpy(float)
        return Y[:, 0] if Y.shape[1] == 1 else Y  # SALib's analyzers want one output as a 1-d array

    return model
