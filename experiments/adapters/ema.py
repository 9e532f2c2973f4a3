"""An EMA Workbench ``Model`` of the base scenario: uncertainties are factor keys of
``experiments.api.FACTORS``, outcomes are names of ``experiments.api.OUTCOMES``, and each experiment
is one :func:`experiments.api.evaluate` call (replicates pooled, common random numbers by default)::

    from ema_workbench import perform_experiments
    from experiments.adapters import ema_model

    model = ema_model({"districts.Diamond.lead.buy_in": (0.3, 1.0)}, ["Diamond.share_consistent"], replicates=2, seed=1)
    experiments, outcomes = perform_experiments(model, scenarios=6)

EMA Workbench wants Python identifiers as names: a key's name is :func:`identifier` of it (dots
become double underscores, ``districts__Diamond__lead__buy_in``), and the key itself is the parameter's or
outcome's ``variable_name``. The model function is a picklable object, so EMA's
``MultiprocessingEvaluator`` can run it too (each worker process runs whole experiments).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from experiments.api import FactorError, evaluate, factors
from experiments.api import outcomes as _outcomes
from experiments.scenario import Scenario, default_scenario, scenario_dict, validate_scenario

from .checks import check_outcomes, chosen_factors


def identifier(key: str) -> str:
    """A dotted key as a Python identifier (EMA Workbench's names must be): ``a.b`` -> ``a__b``."""
    name = re.sub(r"\W", "_", key.replace(".", "__"))
    return name if name and not name[0].isdigit() else f"k_{name}"


class EmaFunction:
    """The model function EMA calls with one keyword argument per uncertainty (its dotted key)."""

    def __init__(self, keys: Sequence[str], outputs: Sequence[str], replicates: int, seed: int,
                 common_random_numbers: bool, base: dict | None) -> None:
        self.keys, self.outputs = list(keys), list(outputs)
        self.replicates, self.seed, self.crn = int(replicates), int(seed), bool(common_random_numbers)
        self.base = base
        self._scenario: Scenario | None = None

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "_scenario"} | {"_scenario": None}

    def scenario(self) -> Scenario:
        if self._scenario is None:
            self._scenario = validate_scenario(self.base) if self.base is not None else default_scenario()
        return self._scenario

    def __call__(self, **kwargs: Any) -> dict[str, float]:
        settings = {k: kwargs[k] for k in self.keys if k in kwargs}
        res = evaluate(settings, self.replicates, self.seed, self.crn, scenario=self.scenario())
        return {o: res[o] for o in self.outputs}


def ema_model(uncertainties: Sequence[str] | Mapping[str, Any], outcomes: Sequence[str], *, replicates: int = 4, seed: int = 20201,
              common_random_numbers: bool = True, scenario: Scenario | None = None, name: str = "coherence_sim"):
    """An ``ema_workbench.Model`` over ``uncertainties`` (factor keys: a list uses each factor's full
    range; a dict gives per key a tuple ``(low, high)``, a list of values, or None for the full range)
    and ``outcomes`` (outcome names). Each experiment runs ``replicates`` replicates from root seed
    ``seed`` and returns the pooled outcomes (:func:`experiments.api.evaluate`)."""
    with _quiet():
        from ema_workbench import BooleanParameter, CategoricalParameter, IntegerParameter, Model, RealParameter, ScalarOutcome
    base = scenario if scenario is not None else default_scenario()
    known, outs = factors(base), _outcomes(base)
    chosen = chosen_factors("uncertainties", uncertainties, known)
    params = []
    for key, rng, f in chosen:
        ident = identifier(key)
        if isinstance(rng, list):
            params.append(CategoricalParameter(ident, list(rng), variable_name=key))
        elif f.type == "bool" and rng is None:
            params.append(BooleanParameter(ident, variable_name=key))
        elif f.type == "choice" and rng is None:
            params.append(CategoricalParameter(ident, list(f.choices), variable_name=key))
        else:
            lo, hi = (f.low, f.high) if rng is None else rng
            if lo is None or hi is None:
                raise FactorError(f"uncertainties.{key}: the factor has no full range; give (low, high)")
            if f.type == "int":
                params.append(IntegerParameter(ident, int(lo), int(hi), variable_name=key))
            else:
                params.append(RealParameter(ident, float(lo), float(hi), variable_name=key))
    check_outcomes("outcomes", outcomes, outs)
    fn = EmaFunction([key for key, _, _ in chosen], list(outcomes), replicates, seed, common_random_numbers,
                     scenario_dict(scenario) if scenario is not None else None)
    with _quiet():
        model = Model(name, function=fn)
        model.uncertainties = params
        model.outcomes = [ScalarOutcome(identifier(o), variable_name=o) for o in outcomes]
    return model


def _quiet():
    from experiments.discovery.core import _quiet as q

    return q()
