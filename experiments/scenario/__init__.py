"""Scenarios: everything a study needs besides the seed and the number of replicates -- every model
parameter and the district definitions -- as typed, validated data.

* :mod:`.model`: the pydantic models (:class:`Scenario` and its parts) and their translation into
  the model's ``Conditions`` and ``Parameters``;
* :mod:`.casefile`: case files (the four-district case with its sources) and the case as a
  scenario (:func:`scenario_from_case`; :func:`default_scenario` adds the calibrated defaults);
* :mod:`.io`: reading and writing scenario files (TOML/YAML) safely, with limits;
* :mod:`.overrides`: dotted ``--set key=value`` overrides with the files' keys;
* :mod:`.errors`: the one way bad input is reported (:class:`ScenarioError`, one paragraph naming
  the key, the value and what is allowed) -- for scenarios, specs and overrides alike.

A scenario can always be written back out (:func:`dump_scenario`) and re-run.
"""

from .casefile import CaseDefinition, CaseFileError, default_scenario, load_case, scenario_from_case
from .errors import ScenarioError, format_validation_errors, one_line, short_key, show_value
from .io import (
    MAX_DEPTH,
    MAX_FILE_BYTES,
    MAX_SCENARIO_BYTES,
    check_depth,
    dump_scenario,
    load_scenario,
    parse_scenario_text,
    parse_toml,
    parse_yaml,
    read_input_file,
)
from .model import (
    DistrictModel,
    LeaderModel,
    ParametersModel,
    ProgramModel,
    ProviderModel,
    Scenario,
    scenario_dict,
    validate_scenario,
)
from .overrides import apply_overrides, parse_override

__all__ = [
    "MAX_DEPTH",
    "MAX_FILE_BYTES",
    "MAX_SCENARIO_BYTES",
    "CaseDefinition",
    "CaseFileError",
    "DistrictModel",
    "LeaderModel",
    "ParametersModel",
    "ProgramModel",
    "ProviderModel",
    "Scenario",
    "ScenarioError",
    "apply_overrides",
    "check_depth",
    "default_scenario",
    "dump_scenario",
    "format_validation_errors",
    "load_case",
    "load_scenario",
    "one_line",
    "parse_override",
    "parse_scenario_text",
    "parse_toml",
    "parse_yaml",
    "read_input_file",
    "scenario_dict",
    "scenario_from_case",
    "short_key",
    "show_value",
    "validate_scenario",
]
