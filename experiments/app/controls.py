"""The app's controls: the scenario, district, leadership and capacity choices, how they read on the
page (words, not codes), and how they become the model's conditions (through the experiments layer:
``default_scenario``, the what-if library).

``model_params`` is in Mesa's format (type, value, values, label) with the values the model takes
(``CoherenceApp(**settings)``); ``choice_label`` / ``choice_value`` translate a value to the words a
select shows and back (the scenario's name to a short title, "all" to "All four districts")."""

from __future__ import annotations

import dataclasses
from functools import lru_cache
from sim.conditions import Conditions
from sim.parameters import Parameters
from sim.vocab import CASE_DISTRICTS, Capacity, Element
from experiments.narrative import element_name
from experiments.execution.runner import assignment_order
from experiments.scenario import apply_overrides, default_scenario, scenario_dict, validate_scenario
from experiments.whatif import load_whatif_library, resolve_override



DEFAULT_SCENARIO = "four_districts"


ALL = "all"


AS_IN_SCENARIO = "as in the scenario"


AUTHORITY_CHOICES = (AS_IN_SCENARIO, "with authority", "without authority")


BUY_IN_CHOICES = (AS_IN_SCENARIO,) + tuple(f"{v / 10:.1f}" for v in range(11))


HOLDER_NONE, HOLDER_FLUENCY = "none", "fluency agenda"


HOLDER_CHOICES = (AS_IN_SCENARIO, HOLDER_NONE, HOLDER_FLUENCY)


CAPACITY_CHOICES = (AS_IN_SCENARIO,) + tuple(c.label for c in Capacity)


DISTRICT_CHOICES = (ALL,) + CASE_DISTRICTS


# A competing authority holder added by the app: a leader with Diamond's fluency agenda, who owns no
# element (the district's own owners stay), so the agenda lands where owners accept it.
COMPETING_HOLDER = {
    "role": "District leader with a fluency agenda",
    "positional_authority": True,
    "buy_in": 0.15,
    "on_team": False,
    "early_childhood": False,
    "superintendent": False,
    "agenda": "fluency",
    "owns": [],
}


@lru_cache(maxsize=1)
def scenario_choices() -> tuple[str, ...]:
    """The default case and the named what-ifs, in library order."""
    return (DEFAULT_SCENARIO,) + tuple(load_whatif_library())


def _choice(field: str, value, allowed) -> str:
    if value not in allowed:
        raise ValueError(f"{field}: {value!r} is not one of: {', '.join(map(str, allowed))}")
    return value


@lru_cache(maxsize=64)
def _base_scenario(name: str):
    s = default_scenario()
    if name != DEFAULT_SCENARIO:
        spec = load_whatif_library()[name]
        s = apply_overrides(s, [resolve_override(o) for o in spec.set])
    return s


def build_conditions(
    scenario: str = DEFAULT_SCENARIO,
    district: str = ALL,
    lead_authority: str = AS_IN_SCENARIO,
    lead_buy_in: str = AS_IN_SCENARIO,
    competing_holder: str = AS_IN_SCENARIO,
    capacity: dict[str, str] | None = None,
    seed: int = 42,
) -> tuple[Conditions, Parameters, list[str]]:
    """The conditions and parameters of one app run, and notes on what was applied.

    ``district`` = "all" runs the scenario's four districts as they are (leadership and capacity
    controls then apply to none: the notes say so); a named district runs alone with the
    controls applied to it. Starting capacities the scenario leaves to the report's enumeration
    come from assignment ``assignment_order(seed, K)[0]``. Bad values raise ``ValueError`` naming
    the field and the allowed values."""
    _choice("scenario", scenario, scenario_choices())
    _choice("district", district, DISTRICT_CHOICES)
    _choice("lead_authority", lead_authority, AUTHORITY_CHOICES)
    _choice("lead_buy_in", lead_buy_in, BUY_IN_CHOICES)
    _choice("competing_holder", competing_holder, HOLDER_CHOICES)
    capacity = dict(capacity or {})
    for key, value in capacity.items():
        Element.from_key(key, field="capacity element")
        _choice(f"capacity_{key}", value, CAPACITY_CHOICES)
    s = _base_scenario(scenario)
    notes = []
    controls = (lead_authority, lead_buy_in, competing_holder, *capacity.values())
    if district == ALL:
        if any(v != AS_IN_SCENARIO for v in controls):
            notes.append("Leadership and capacity controls apply to one district: choose a district to use them.")
    else:
        data = scenario_dict(s)
        data["districts"] = {district: data["districts"][district]}
        d = data["districts"][district]
        if lead_authority != AS_IN_SCENARIO:
            d["lead"]["positional_authority"] = lead_authority == "with authority"
            notes.append(f"{district}'s lead ({d['lead']['role']}) {lead_authority}.")
        if lead_buy_in != AS_IN_SCENARIO:
            d["lead"]["buy_in"] = float(lead_buy_in)
            notes.append(f"{district}'s lead buy-in {lead_buy_in}.")
        if competing_holder == HOLDER_NONE:
            for leader in d.get("leaders", {}).values():
                if leader.get("agenda"):
                    leader["agenda"] = None
            notes.append(f"No competing agenda in {district}.")
        elif competing_holder == HOLDER_FLUENCY:
            if not any(l.get("agenda") and l.get("positional_authority") for l in d.get("leaders", {}).values()):
                d.setdefault("leaders", {})["competing_holder"] = dict(COMPETING_HOLDER)
            notes.append(f"{district} has an authority holder pushing a fluency agenda.")
        s = validate_scenario(data)
    conds = s.conditions()
    k = int(assignment_order(seed, len(conds))[0])
    cond = conds[k]
    if district != ALL and any(v != AS_IN_SCENARIO for v in capacity.values()):
        by_label = {c.label: c for c in Capacity}
        dc = cond.districts[0]
        caps = list(dc.capacity)
        for key, value in capacity.items():
            if value != AS_IN_SCENARIO:
                caps[Element.from_key(key)] = by_label[value]
                notes.append(f"{element_name(Element.from_key(key)).capitalize()} starts {value.lower()}.")
        cond = dataclasses.replace(cond, districts=(dataclasses.replace(dc, capacity=tuple(caps)),))
    return cond, s.parameters_(), notes


_ACRONYMS = {"prek": "pre-K", "pl": "PL", "tk": "TK"}


def scenario_title(name: str) -> str:
    """A short title for a scenario of ``scenario_choices()``: "Diamond keeps pre-K" for
    ``diamond_keeps_prek``; the case is "The four districts, as in the report"."""
    if name == DEFAULT_SCENARIO:
        return "Four districts, as in the report"
    districts = {d.lower(): d for d in CASE_DISTRICTS}
    words = [districts.get(w, _ACRONYMS.get(w, w)) for w in name.split("_")]
    words[0] = words[0][0].upper() + words[0][1:]
    return " ".join(words)


def scenario_question(name: str) -> str:
    """The plain-language question a scenario asks (the what-if library's ``question``)."""
    if name == DEFAULT_SCENARIO:
        return "The four districts as the report describes them (the calibrated defaults)."
    return load_whatif_library()[name].question


DISTRICT_ALL_LABEL = "All four districts"


def choice_label(key: str, value) -> str:
    """How the value of setting ``key`` reads in its select."""
    if key == "whatif":
        return scenario_title(value)
    if key == "district" and value == ALL:
        return DISTRICT_ALL_LABEL
    return str(value)


def choice_value(key: str, label: str):
    """The model's value of setting ``key`` shown as ``label`` (the inverse of ``choice_label``)."""
    if key == "seed":
        return label
    for value in model_params[key]["values"]:
        if choice_label(key, value) == label:
            return value
    raise ValueError(f"{key}: {label!r} is not one of: {', '.join(choice_label(key, v) for v in model_params[key]['values'])}")


model_params = {
    "whatif": {"type": "Select", "value": DEFAULT_SCENARIO, "values": list(scenario_choices()), "label": "Scenario (what-if)"},
    "district": {"type": "Select", "value": ALL, "values": list(DISTRICT_CHOICES), "label": "District"},
    "lead_authority": {"type": "Select", "value": AS_IN_SCENARIO, "values": list(AUTHORITY_CHOICES),
                       "label": "Lead's positional authority"},
    "lead_buy_in": {"type": "Select", "value": AS_IN_SCENARIO, "values": list(BUY_IN_CHOICES), "label": "Lead's buy-in"},
    "competing_holder": {"type": "Select", "value": AS_IN_SCENARIO, "values": list(HOLDER_CHOICES),
                         "label": "Competing authority holder"},
    **{
        f"capacity_{e.key}": {"type": "Select", "value": AS_IN_SCENARIO, "values": list(CAPACITY_CHOICES),
                              "label": f"Starting capacity: {element_name(e)}"}
        for e in Element
    },
    "seed": {"type": "InputText", "value": "42", "label": "Random seed (a whole number)"},
}


DEFAULT_SETTINGS = {key: spec["value"] for key, spec in model_params.items()}
"""The settings a new session starts with (the keyword arguments of ``CoherenceApp``)."""

LEADERSHIP_KEYS = ("lead_authority", "lead_buy_in", "competing_holder")
CAPACITY_KEYS = tuple(f"capacity_{e.key}" for e in Element)
