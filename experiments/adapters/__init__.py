"""Thin adapters from other tools to :mod:`experiments.api`: an EMA Workbench ``Model``
(:func:`ema_model`, needs the ``discovery`` extra) and a SALib ``ProblemSpec`` with a model function
that runs through the project's runner (:func:`problem_spec`, :func:`salib_model`). See docs/api.md."""

from .ema import ema_model, identifier
from .salib import problem_spec, salib_model

__all__ = ["ema_model", "identifier", "problem_spec", "salib_model"]
