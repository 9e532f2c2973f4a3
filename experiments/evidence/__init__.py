"""The evidence: what running the model and fitting it both read, kept apart from the fitting code.

* :mod:`.facts` and :mod:`.observed`: the report's observed facts (Tables 2-5, consistency, which
  elements changed, element-level facts, Table 1), each with its source lines, read and validated
  from ``data/observed.toml``;
* :mod:`.capacities`: every starting-capacity assignment of the four districts consistent with
  those facts (the case runs over all of them);
* :mod:`.calibrated`: the one source of parameter defaults (:func:`model_defaults`: the calibrated
  values of ``data/calibrated.toml`` when it fits the model's parameter set, else the prior centre,
  and a label saying which) and the posterior draws (``data/posterior_samples.csv``) that
  ``coherence-sim calibrate`` publishes and every command reads.

``experiments`` and ``calibration`` import from here; nothing here imports ``calibration``.
"""

from .calibrated import (
    DefaultsWarning,
    ModelDefaults,
    apply_calibrated_defaults,
    calibrated_parameters,
    case_provenance,
    default_parameters,
    defaults_provenance,
    model_defaults,
    load_calibrated,
    load_posterior_samples,
)
from .capacities import capacity_cell_summary, consistent_capacity_assignments
from .facts import Alternative, LineRange, ObservedTargets, Provenance
from .observed import load_observed, parse_lines

__all__ = [
    "Alternative",
    "DefaultsWarning",
    "ModelDefaults",
    "default_parameters",
    "defaults_provenance",
    "model_defaults",
    "LineRange",
    "ObservedTargets",
    "Provenance",
    "apply_calibrated_defaults",
    "calibrated_parameters",
    "capacity_cell_summary",
    "case_provenance",
    "consistent_capacity_assignments",
    "load_calibrated",
    "load_observed",
    "load_posterior_samples",
    "parse_lines",
]
