"""Run the model once: a pure function of (conditions, parameters, seed)."""

from __future__ import annotations

from .conditions import Conditions
from .model import CoherenceModel
from .parameters import Parameters
from .results import RunResult


def simulate(conditions: Conditions, parameters: Parameters | None = None, seed=None) -> RunResult:
    """Run one replicate and return its coded, plain-data result.

    ``seed`` is anything ``numpy.random.default_rng`` accepts (an int, a SeedSequence, ...).
    """
    model = CoherenceModel(conditions, parameters, rng=seed)
    model.run()
    return RunResult.from_model(model, seed=seed)
