"""coherence-sim's model: districts changing their infrastructure for early-mathematics instruction.

The package knows nothing of files, plots or the command line (see experiments/ for those).
"""

from .conditions import Conditions, DistrictConditions, LeaderSpec, ProviderProgram, ShockSpec
from .model import CoherenceModel
from .parameters import PARAMETER_SPECS, Parameters, ParameterSpec
from .results import OUTCOME_NAMES, RunResult
from .run import simulate
from .vocab import (
    Alignment,
    Capacity,
    Consistency,
    Content,
    Continuity,
    Element,
    GradeBand,
    Practice,
    Substantiveness,
)

__version__ = "0.1.0"

__all__ = [
    "PARAMETER_SPECS",
    "OUTCOME_NAMES",
    "Alignment",
    "Capacity",
    "CoherenceModel",
    "Conditions",
    "Consistency",
    "Content",
    "Continuity",
    "DistrictConditions",
    "Element",
    "GradeBand",
    "LeaderSpec",
    "ParameterSpec",
    "Parameters",
    "Practice",
    "ProviderProgram",
    "RunResult",
    "ShockSpec",
    "Substantiveness",
    "simulate",
]
