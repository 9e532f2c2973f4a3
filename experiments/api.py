"""A public API for other tools: what can be varied (``FACTORS``), what comes out (``OUTCOMES``), and
``evaluate`` -- one call from a dict of dotted keys to pooled outcomes.

::

    from experiments.api import FACTORS, OUTCOMES, evaluate, evaluate_replicates, evaluate_design

    FACTORS["districts.Diamond.lead.buy_in"]     # Factor(type='float', low=0.0, high=1.0, unit='fraction', ...)
    OUTCOMES["Diamond.share_consistent"].pooling # how replicates (and districts that changed nothing) are pooled
    evaluate({"program.years": 4, "districts.Diamond.lead.buy_in": 0.6}, replicates=8, seed=1)
    # -> {"elements_changed": ..., "share_consistent": ..., "Diamond.share_consistent": ..., ...}

**Factors** are the dotted keys of :func:`experiments.scenario.apply_overrides` (the keys sweeps and
``--set`` accept), read off the scenario schema and ``sim.parameters.PARAMETER_SPECS`` for the base
scenario (default: :func:`experiments.scenario.default_scenario`, the four-district case with the
calibrated defaults), so the list follows the model when it changes. Every model parameter is one
(``parameters.NAME``, range and unit from its spec); so is every scalar of the scenario (a district's
size, its leaders' authority and buy-in, the provider's terms, the programme's emphasis...). Free
text (names, roles) and list-valued keys (``shocks``, a leader's ``owns``) are not factors. Derived
factors translate into those keys:

* ``capacity_assignment`` -- which of the K starting-capacity assignments consistent with the report
  every district with unreported capacities starts from (by default replicates spread over all K);
* ``districts.D.capacity_profile`` -- one district's starting capacities, an index into the distinct
  profiles that district has among those assignments (:func:`capacity_profiles`);
* ``districts.D.<shock kind>`` (e.g. ``districts.Diamond.prek_eliminated``) -- the shock on or off:
  ``False`` removes it, ``True`` schedules it at the month the base scenario uses for that shock
  (in that district, or else in another), an int schedules it at that month.

**Outcomes** are those of ``sim.results.OUTCOME_NAMES``, pooled over every district-element of a run
(``share_consistent``) and per district (``Diamond.share_consistent``), with the same names as the
columns of a sweep's runs table. A per-district share is undefined (NaN) in a run where that district
changed nothing. Over replicates the project pools them as the sensitivity study does
(:func:`experiments.sensitivity.replicate_means`): a share is the ratio of sums, i.e. each replicate's
share weighted by its elements changed (elements coded X / elements changed, summed over replicates),
so replicates that changed nothing carry no weight; it is NaN only when no replicate changed anything.
Counts (``elements_changed``) are plain means over replicates. (The case summary,
``experiments.case.summarise``, reports the unweighted mean of the defined replicates instead.)

**A Mesa model**: :class:`CaseModel` (also ``case_model``) is the case as a ``sim.CoherenceModel``
subclass with its DataCollector on, for ``mesa.batch_run`` with named parameters.

**Seeds**: replicate r of a factor setting runs through ``experiments.execution.run_replicates``, the one
place mapping (root seed, design point, replicate) to a run. With ``common_random_numbers=True``
every setting is design point 0, so two settings share replicate seeds (and starting-capacity
assignments), as in the sensitivity study; without it, :func:`evaluate` uses a design point fixed by
a hash of the setting, and :func:`evaluate_design` row ``i`` uses design point ``i``, exactly the
numbers a sweep of that design (``experiments.sweep.run_design``) stores. Same inputs, same outputs.
"""

from __future__ import annotations

import hashlib
import json
import math
import types
import typing
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from sim import Capacity, Element, RunResult
from sim import CoherenceModel as _CoherenceModel
from sim.parameters import PARAMETER_SPECS
from sim.results import OUTCOME_NAMES

from experiments.execution import run_replicates
from experiments.scenario import Scenario, ScenarioError, apply_overrides, default_scenario, scenario_dict
from experiments.sensitivity import RATIO_OUTPUTS, replicate_means
from experiments.sweep import LazyConditions

_ELEMENT_KEYS = frozenset(e.key for e in Element)

#: The outcome every ratio outcome is pooled with (its weight): the one outcome that is not a ratio.
_COUNTS = tuple(o for o in OUTCOME_NAMES if o not in RATIO_OUTPUTS)
WEIGHT_OUTCOME = _COUNTS[0] if len(_COUNTS) == 1 else None
#: Keys in a derived factor's name (``districts.D.<this>``, or top level).
CAPACITY_PROFILE = "capacity_profile"
CAPACITY_ASSIGNMENT = "capacity_assignment"
_RESERVED_DESIGN_POINT = 2**31 - 1  # experiments.execution.runner reserves this spawn key


class FactorError(ValueError):
    """A factor setting that cannot be used; the message names the key."""


# === factors ==================================================================================
@dataclass(frozen=True)
class Factor:
    """One thing a user can vary: a dotted scenario key (or a derived factor) with its type, range
    and unit. ``default`` is its value in the base scenario (None: not set there, e.g. enumerated
    capacities); ``choices`` lists the values of a ``choice`` factor."""

    key: str
    type: str  # "float" | "int" | "bool" | "choice"
    low: float | None = None
    high: float | None = None
    unit: str = ""
    default: Any = None
    choices: tuple = ()
    kind: str = "scenario"  # "parameter" | "scenario" | "derived"
    description: str = ""
    nullable: bool = False

    def from_unit(self, u: float) -> Any:
        """The factor's value at ``u`` in [0, 1] (uniform over its range; for samplers of the unit cube)."""
        u = min(max(float(u), 0.0), 1.0)
        if self.type == "float":
            return float(self.low + u * (self.high - self.low))
        if self.type == "int":
            lo, hi = int(self.low), int(self.high)
            return int(min(hi, math.floor(lo + u * (hi - lo + 1))))
        if self.type == "bool":
            return bool(u >= 0.5)
        return self.choices[min(len(self.choices) - 1, int(math.floor(u * len(self.choices))))]

    def coerce(self, x: Any) -> Any:
        """A sampler's number as this factor's value: ints floored into range, bools by x >= 0.5,
        choices by index (floored); floats unchanged. Plain Python types out."""
        if isinstance(x, np.generic):
            x = x.item()
        if self.type == "int" and isinstance(x, float):
            return int(min(max(math.floor(x), self.low), self.high))
        if self.type == "bool" and isinstance(x, (int, float)) and not isinstance(x, bool):
            return bool(x >= 0.5)
        if self.type == "choice" and isinstance(x, (int, float)) and not isinstance(x, bool) and x not in self.choices:
            return self.choices[int(min(max(math.floor(x), 0), len(self.choices) - 1))]
        return x

    def describe(self) -> dict:
        return {k: getattr(self, k) for k in ("key", "type", "low", "high", "unit", "default", "choices", "kind", "description", "nullable")}


def factors(scenario: Scenario | None = None) -> dict[str, Factor]:
    """Every factor of ``scenario`` (default: the default scenario), by dotted key.

    A factor's range is that of its own key; some keys constrain each other and are checked when the
    scenario is built (a district's ``team_teachers`` at most its teachers; ``has_prek = false`` needs
    ``teachers.prek = 0``), with an error naming the district."""
    base = scenario if scenario is not None else default_scenario()
    out: dict[str, Factor] = {}
    _walk(type(base), base, "", out)
    for name, spec in PARAMETER_SPECS.items():
        key = f"parameters.{name}"
        out[key] = Factor(key, "float", float(spec.low), float(spec.high), spec.unit, getattr(base.parameters, name),
                          kind="parameter", description=spec.description)
    _derived(base, out)
    return dict(sorted(out.items(), key=lambda kv: _order(kv[0])))


def _order(key: str) -> tuple:
    head = key.split(".", 1)[0]
    rank = {"parameters": 0, "districts": 2}.get(head, 1)
    return (rank, tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in key.split(".")))


def _walk(model: type, value: Any, prefix: str, out: dict[str, Factor]) -> None:
    """The scalar leaves of a pydantic model instance, with types and bounds from its fields."""
    for name, info in model.model_fields.items():
        key = f"{prefix}{name}"
        if key == "parameters":
            continue  # from PARAMETER_SPECS (units, descriptions)
        _leaf(key, info.annotation, list(info.metadata), getattr(value, name), out)


def _leaf(key: str, ann: Any, metadata: list, value: Any, out: dict[str, Factor]) -> None:
    ann, metadata, nullable = _unwrap(ann, metadata)
    origin = typing.get_origin(ann)
    name = key.rsplit(".", 1)[-1]
    if isinstance(ann, type) and issubclass(ann, _pyd_base()):
        if value is not None:
            _walk(ann, value, key + ".", out)
        return
    if origin in (list, tuple):
        (item,) = typing.get_args(ann)[:1] or (Any,)
        item_ann, item_meta, _ = _unwrap(item, [])
        if isinstance(item_ann, type) and issubclass(item_ann, _pyd_base()):
            return  # lists of tables (shocks): derived factors instead
        if typing.get_origin(item_ann) is typing.Literal and set(typing.get_args(item_ann)) <= _ELEMENT_KEYS:
            return  # a set of elements (a leader's `owns`): set whole, not a factor
        for i, v in enumerate(value or []):
            _leaf(f"{key}.{i}", item, [], v, out)
        return
    if origin is dict:
        kt, vt = typing.get_args(ann)
        if typing.get_origin(kt) is typing.Literal and typing.get_origin(vt) is typing.Literal:  # capacity
            if value is None:
                return  # enumerated from the report: see the derived capacity factors
            for k in typing.get_args(kt):
                out[f"{key}.{k}"] = Factor(f"{key}.{k}", "choice", unit="", default=value.get(k),
                                           choices=tuple(typing.get_args(vt)), description=f"starting {name} of element {k}")
            return
        if isinstance(value, dict):
            for k, v in value.items():
                _leaf(f"{key}.{k}", vt, [], v, out)
        return
    if origin is typing.Literal:
        out[key] = Factor(key, "choice", default=value, choices=tuple(typing.get_args(ann)), nullable=nullable)
        return
    if ann is bool:
        out[key] = Factor(key, "bool", default=value, nullable=nullable)
        return
    if ann in (int, float):
        lo, hi = _bounds(metadata)
        t = "int" if ann is int else "float"
        out[key] = Factor(key, t, lo, hi, _unit(name, t, lo, hi), value, nullable=nullable)
        return
    # free text (names, roles, agendas) and anything else: not a factor


def _pyd_base():
    from pydantic import BaseModel

    return BaseModel


def _unwrap(ann: Any, metadata: list) -> tuple[Any, list, bool]:
    """Strip Annotated (collecting its constraints) and Optional."""
    metadata = list(metadata)
    nullable = False
    while True:
        if typing.get_origin(ann) is typing.Annotated:
            args = typing.get_args(ann)
            ann = args[0]
            for m in args[1:]:
                metadata.extend(getattr(m, "metadata", []) or [m])
            continue
        if typing.get_origin(ann) in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(ann) if a is not type(None)]
            nullable = nullable or len(args) < len(typing.get_args(ann))
            if len(args) == 1:
                ann = args[0]
                continue
        return ann, metadata, nullable


def _bounds(metadata: list) -> tuple[float | None, float | None]:
    lo = hi = None
    for m in metadata:
        for attr, which in (("ge", "lo"), ("gt", "lo"), ("le", "hi"), ("lt", "hi")):
            v = getattr(m, attr, None)
            if v is not None:
                if which == "lo":
                    lo = v
                else:
                    hi = v
    return (None if lo is None else float(lo)), (None if hi is None else float(hi))


def _unit(name: str, t: str, lo: float | None, hi: float | None) -> str:
    """A unit read off the field: the schema states ranges, not units."""
    if name.endswith("_per_month"):
        return "per month"
    if name.isdigit():  # a list item: the list's own name decides
        return ""
    if "month" in name:
        return "months"
    if t == "int":
        return "count"
    if lo == 0.0 and hi == 1.0:
        return "fraction"
    return ""


def _derived(base: Scenario, out: dict[str, Factor]) -> None:
    # list items take their unit from the list's name
    for key, f in list(out.items()):
        parent, _, last = key.rpartition(".")
        if last.isdigit() and not f.unit:
            pname = parent.rsplit(".", 2)
            pname = next((p for p in reversed(pname) if not p.isdigit()), "")
            out[key] = _replace(f, unit=_unit(pname, f.type, f.low, f.high))
    # capacity: the joint assignment and each enumerated district's profile
    enum = [n for n, d in base.districts.items() if d.capacity is None]
    if enum:
        assignments = _assignments(base)
        out[CAPACITY_ASSIGNMENT] = Factor(
            CAPACITY_ASSIGNMENT, "int", 0.0, float(len(assignments) - 1), "index", None, kind="derived", nullable=True,
            description=f"which of the {len(assignments)} starting-capacity assignments consistent with the report "
                        f"districts {', '.join(enum)} start from (None: replicates spread over all of them)")
        for d in enum:
            profiles = capacity_profiles(d, base)
            key = f"districts.{d}.{CAPACITY_PROFILE}"
            out[key] = Factor(key, "int", 0.0, float(len(profiles) - 1), "index", None, kind="derived", nullable=True,
                              description=f"{d}'s starting capacities: one of its {len(profiles)} profiles consistent with "
                                          f"the report (experiments.api.capacity_profiles({d!r}))")
    # shocks on/off
    kinds = _shock_kinds()
    for d in base.districts:
        for kind in kinds:
            month = _shock_month(base, d, kind)
            has = any(s.kind == kind for s in base.districts[d].shocks)
            key = f"districts.{d}.{kind}"
            when = f"at month {month}" if month is not None else "(give the month as an int: the base scenario has no such shock)"
            out[key] = Factor(key, "bool", unit="", default=has, kind="derived",
                              description=f"shock {kind} in {d}: False none, True {when}, an int at that month")


def _replace(f: Factor, **kw) -> Factor:
    d = f.describe()
    d.update(kw)
    return Factor(**d)


def _shock_kinds() -> tuple[str, ...]:
    """The shock kinds of the scenario schema (DistrictModel.shocks[].kind)."""
    from experiments.scenario import DistrictModel

    ann, _, _ = _unwrap(DistrictModel.model_fields["shocks"].annotation, [])
    item, _, _ = _unwrap(typing.get_args(ann)[0], [])
    kind, _, _ = _unwrap(item.model_fields["kind"].annotation, [])
    return tuple(typing.get_args(kind))


def _shock_month(base: Scenario, district: str, kind: str) -> int | None:
    for s in base.districts[district].shocks:
        if s.kind == kind:
            return int(s.month)
    for d in base.districts.values():
        for s in d.shocks:
            if s.kind == kind:
                return int(s.month)
    return None


def _assignments(base: Scenario) -> list[dict[str, dict[str, str]]]:
    """The joint starting-capacity assignments of the districts whose capacities the base leaves to
    the enumeration (one dict district -> {element: capacity} per assignment, in the scenario's order)."""
    enum = [n for n, d in base.districts.items() if d.capacity is None]
    out = []
    for cond in base.conditions():
        caps = {dc.name: {e.key: Capacity(c).key for e, c in zip(Element, dc.capacity)} for dc in cond.districts}
        out.append({n: caps[n] for n in enum})
    return out


def capacity_profiles(district: str, scenario: Scenario | None = None) -> list[dict[str, str]]:
    """The distinct starting-capacity profiles ({element: capacity}) ``district`` has among the
    assignments consistent with the report, in order of first appearance."""
    base = scenario if scenario is not None else default_scenario()
    if district not in base.districts:
        raise FactorError(f"districts.{district}: not a district of the scenario; allowed: {', '.join(base.districts)}")
    if base.districts[district].capacity is not None:
        return [dict(base.districts[district].capacity)]
    seen: dict[str, dict] = {}
    for a in _assignments(base):
        seen.setdefault(json.dumps(a[district], sort_keys=True), a[district])
    return list(seen.values())


def to_overrides(settings: Mapping[str, Any], scenario: Scenario | None = None) -> dict[str, Any]:
    """Factor settings (dotted keys, derived factors included) as overrides for
    :func:`experiments.scenario.apply_overrides`. Scenario keys pass through unchanged (and are
    validated when applied); derived ones are translated and checked here."""
    if not isinstance(settings, Mapping):
        raise FactorError(f"factors: expected a dict of dotted keys, got {type(settings).__name__}")
    base = scenario if scenario is not None else default_scenario()
    kinds = _shock_kinds()
    out: dict[str, Any] = {}
    capacity: dict[str, dict] = {}
    shocks: dict[str, dict[str, Any]] = {}
    for key, value in settings.items():
        if not isinstance(key, str):
            raise FactorError(f"factors: key {key!r} is not a dotted key like districts.Diamond.lead.buy_in")
        if isinstance(value, np.generic):
            value = value.item()
        parts = key.split(".")
        if key == CAPACITY_ASSIGNMENT:
            if value is None:
                continue
            a = _assignments(base)
            i = _index(key, value, len(a))
            for d, prof in a[i].items():
                capacity.setdefault(d, prof)
        elif len(parts) == 3 and parts[0] == "districts" and parts[2] == CAPACITY_PROFILE:
            if value is None:
                continue
            profiles = capacity_profiles(parts[1], base)
            capacity[parts[1]] = profiles[_index(key, value, len(profiles))]
        elif len(parts) == 3 and parts[0] == "districts" and parts[2] in kinds:
            d, kind = parts[1], parts[2]
            if d not in base.districts:
                raise FactorError(f"{key}: {d!r} is not a district of the scenario; allowed: {', '.join(base.districts)}")
            shocks.setdefault(d, {})[kind] = value
        else:
            out[key] = value
    for k in out:
        if any(k == f"districts.{d}.capacity" or k.startswith(f"districts.{d}.capacity.") for d in capacity):
            raise FactorError(f"{k}: set together with a derived capacity factor ({CAPACITY_ASSIGNMENT} or "
                              f"districts.D.{CAPACITY_PROFILE}) of the same district; give one of them")
    for d, prof in capacity.items():  # a district's own profile wins over the joint assignment's
        out[f"districts.{d}.capacity"] = dict(prof)
    for d, on in shocks.items():
        if f"districts.{d}.shocks" in out:
            raise FactorError(f"districts.{d}.shocks: set together with a derived shock factor ({', '.join(f'districts.{d}.{k}' for k in on)}); give one of them")
        current = [s.model_dump() for s in base.districts[d].shocks if s.kind not in on]
        for kind, v in on.items():
            if isinstance(v, bool):
                if v:
                    month = _shock_month(base, d, kind)
                    if month is None:
                        raise FactorError(f"districts.{d}.{kind}: true, but the base scenario schedules no {kind} shock to take the month from; give the month as an int")
                    current.append({"kind": kind, "month": month})
            elif isinstance(v, int) and not isinstance(v, bool):
                current.append({"kind": kind, "month": int(v)})
            else:
                raise FactorError(f"districts.{d}.{kind}: {v!r} is not allowed; allowed: false, true, or a month (int)")
        out[f"districts.{d}.shocks"] = sorted(current, key=lambda s: (s["month"], s["kind"]))
    return out


def _index(key: str, value: Any, n: int) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < n:
        raise FactorError(f"{key}: {value!r} is not allowed; allowed: a whole number in [0, {n - 1}]")
    return value


def scenario_for(settings: Mapping[str, Any], scenario: Scenario | None = None) -> Scenario:
    """The base scenario with the factor settings applied (errors name the key)."""
    base = scenario if scenario is not None else default_scenario()
    ov = to_overrides(settings, base)
    try:
        return apply_overrides(base, ov) if ov else base
    except ScenarioError as exc:
        raise FactorError(str(exc)) from None


# === outcomes =================================================================================
@dataclass(frozen=True)
class Outcome:
    """One outcome: its column name, the model outcome, the district (None: pooled over every
    district-element of the run), what it is, and how replicates are pooled."""

    name: str
    outcome: str
    district: str | None
    kind: str  # "per changed element" (a share or mean over changed elements) | "count"
    per_run: str
    pooling: str
    weight: str | None = None  # the column a ratio outcome is weighted by over replicates


def outcomes(scenario: Scenario | None = None) -> dict[str, Outcome]:
    """Every outcome of ``scenario`` (default: the default scenario): overall, then per district."""
    base = scenario if scenario is not None else default_scenario()
    out: dict[str, Outcome] = {}
    for d in (None, *base.districts):
        for o in OUTCOME_NAMES:
            name = o if d is None else f"{d}.{o}"
            where = "every district-element of the run" if d is None else f"{d}'s elements"
            if o in RATIO_OUTPUTS:
                weight = _weight_column(name)
                out[name] = Outcome(
                    name, o, d, "per changed element",
                    per_run=f"{o} over the changed elements among {where}; NaN in a run where none changed",
                    pooling=f"ratio of sums over replicates: sum({o} x {weight}) / sum({weight}) over the replicates "
                            f"where something changed (replicates that changed nothing carry no weight); NaN only if "
                            f"no replicate changed anything (experiments.sensitivity.replicate_means)",
                    weight=weight)
            else:
                out[name] = Outcome(name, o, d, "count", per_run=f"{o} among {where}", pooling="mean over replicates")
    return out


def _weight_column(name: str) -> str | None:
    if WEIGHT_OUTCOME is None:
        return None
    scope, _, base = name.rpartition(".")
    return f"{scope}.{WEIGHT_OUTCOME}" if scope else WEIGHT_OUTCOME


def outcome_columns(columns: Iterable[str]) -> list[str]:
    """The outcome columns among ``columns``: the overall ones (``o``), then each district's (``D.o``,
    districts in order of first appearance), each in ``OUTCOME_NAMES`` order."""
    names = {o: i for i, o in enumerate(OUTCOME_NAMES)}
    found = [c for c in columns if c in names or (("." in c) and c.rpartition(".")[2] in names and not c.startswith(("u.", "x.")))]
    scopes = list(dict.fromkeys(c.rpartition(".")[0] for c in found))
    order = {sc: (0 if sc == "" else 1, i) for i, sc in enumerate(scopes)}
    return sorted(found, key=lambda c: (order[c.rpartition(".")[0]], names[c.rpartition(".")[2]]))


def pool_replicates(runs: pd.DataFrame, columns: Sequence[str] | None = None, by: str | Sequence[str] = "design_point",
                    *, impute: bool = False) -> pd.DataFrame:
    """Pool the replicates of each group (default: each design point) of a runs table -- a sweep's
    (``experiments.sweep.load_results``), a sensitivity store's or :func:`evaluate_replicates`' --
    the project's way (see the module docstring and ``OUTCOMES[name].pooling``).

    Returns one row per group (index: the group keys) and one column per outcome, plus ``replicates``
    (runs pooled). A ratio outcome no replicate of a group defines is NaN; with ``impute=True`` it
    gets the outcome's mean over the groups instead, as the sensitivity study does before Sobol'."""
    by = [by] if isinstance(by, str) else list(by)
    cols = outcome_columns(runs.columns) if columns is None else list(columns)
    missing = [c for c in [*by, *cols] if c not in runs.columns]
    if missing:
        raise FactorError(f"runs: no column {missing[0]!r}; outcome columns: {', '.join(outcome_columns(runs.columns))}")
    groups = runs.groupby(by, sort=True, dropna=False)
    sizes = groups.size()  # sorted by the group keys, numbered as ngroup() numbers them
    R = int(sizes.max()) if len(sizes) else 0
    n, k = len(sizes), len(cols)
    Yr = np.full((n, R, k), np.nan)
    W = np.zeros((n, R, k))
    pos = groups.cumcount().to_numpy()
    gidx = groups.ngroup().to_numpy()
    for j, c in enumerate(cols):
        Yr[gidx, pos, j] = runs[c].to_numpy(float)
        wcol = _weight_column(c) if c.rpartition(".")[2] in RATIO_OUTPUTS else None
        if wcol is not None and wcol in runs.columns:
            W[gidx, pos, j] = runs[wcol].to_numpy(float)
        else:
            W[gidx, pos, j] = 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an outcome no group defines: nothing to impute from
        Y, imputed = replicate_means(Yr, W)
    if not impute:
        Y = np.where(imputed, np.nan, Y)
    out = pd.DataFrame(Y, index=sizes.index, columns=cols)
    out.insert(0, "replicates", sizes.to_numpy())
    return out


# === evaluation ===============================================================================
def _plain(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


def _setting_design_point(settings: Mapping[str, Any]) -> int:
    text = json.dumps({str(k): _plain(v) for k, v in settings.items()}, sort_keys=True, default=repr)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") % _RESERVED_DESIGN_POINT


def _check_run_args(replicates: Any, seed: Any) -> None:
    if isinstance(replicates, bool) or not isinstance(replicates, (int, np.integer)) or not 1 <= replicates <= 1_000_000:
        raise FactorError(f"replicates: {replicates!r} is not allowed; allowed: a whole number in [1, 1000000]")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed <= 2**63 - 1:
        raise FactorError(f"seed: {seed!r} is not allowed; allowed: a whole number in [0, 2**63 - 1]")


class _Runner:
    """Runs factor settings of one base scenario; shares the conditions of settings that differ
    only in model parameters (Scenario.conditions() does not read them), as the sweep's workers do."""

    def __init__(self, base: Scenario) -> None:
        self.base = base
        self._conditions: dict[str, LazyConditions] = {}

    def rows(self, settings: Mapping[str, Any], replicates: int, seed: int, design_point: int) -> list[dict]:
        ov = to_overrides(settings, self.base)
        try:
            scen = apply_overrides(self.base, ov) if ov else self.base
        except ScenarioError as exc:
            raise FactorError(str(exc)) from None
        key = json.dumps({k: v for k, v in ov.items() if not k.startswith("parameters.")}, sort_keys=True, default=repr)
        conds = self._conditions.get(key)
        if conds is None:
            conds = self._conditions[key] = LazyConditions(scen)
        params = scen.parameters_()
        out = []
        for r, k, res in run_replicates(conds, params, int(seed), range(int(replicates)), design_point=int(design_point)):
            row = {"design_point": int(design_point), "replicate": int(r), "seed": int(seed), "assignment": int(k)}
            row.update({key: _plain(v) for key, v in settings.items()})
            row.update(_outcome_row(res))
            out.append(row)
        return out


def _outcome_row(res: RunResult) -> dict[str, float]:
    """A run's outcomes with the sweep's column names: overall, then ``District.outcome``."""
    overall = res.overall_outcomes()
    per = res.outcomes()
    row = {o: float(overall[o]) for o in OUTCOME_NAMES}
    for i, d in enumerate(res.districts):
        for o in OUTCOME_NAMES:
            row[f"{d}.{o}"] = float(per[o][i])
    return row


def evaluate_replicates(factors: Mapping[str, Any], replicates: int, seed: int, common_random_numbers: bool = True, *,
                        scenario: Scenario | None = None) -> pd.DataFrame:
    """One row per replicate: ``design_point, replicate, seed, assignment``, the factor settings, and
    every outcome (the columns of a sweep's runs table). See :func:`evaluate`."""
    _check_run_args(replicates, seed)
    base = scenario if scenario is not None else default_scenario()
    dp = 0 if common_random_numbers else _setting_design_point(factors)
    return pd.DataFrame(_Runner(base).rows(factors, replicates, seed, dp))


def evaluate(factors: Mapping[str, Any], replicates: int, seed: int, common_random_numbers: bool = True, *,
             scenario: Scenario | None = None) -> dict[str, float]:
    """Run the base scenario (default: :func:`experiments.scenario.default_scenario`) with the factor
    settings ``replicates`` times and return every outcome pooled over the replicates (shares as
    ratios of sums; NaN where no replicate defines one): ``{"share_consistent": ...,
    "Diamond.share_consistent": ..., ...}``. Deterministic in (factors, replicates, seed,
    common_random_numbers); with common random numbers, replicate r of any setting uses the same seed."""
    runs = evaluate_replicates(factors, replicates, seed, common_random_numbers, scenario=scenario)
    pooled = pool_replicates(runs, outcome_columns(runs.columns))
    return {c: float(pooled[c].iat[0]) for c in pooled.columns if c != "replicates"}


def evaluate_design(design: pd.DataFrame | Sequence[Mapping[str, Any]], replicates: int, seed: int,
                    common_random_numbers: bool = True, *, scenario: Scenario | None = None,
                    outputs: Sequence[str] | None = None, impute: bool = False, runs: bool = False) -> pd.DataFrame:
    """Evaluate every row of a design (a DataFrame whose columns are factor keys, or a list of
    dicts) in this process. Returns one row per design row (same index order) with the pooled
    ``outputs`` (default: every outcome); ``runs=True`` returns the per-replicate table instead.
    Row ``i`` is design point ``i`` (without common random numbers: the seeds a sweep of the same
    design uses). ``impute``: see :func:`pool_replicates`. For large designs, on worker processes or a
    Dask cluster, use ``experiments.sweep.run_design`` and pool its runs with :func:`pool_replicates`."""
    _check_run_args(replicates, seed)
    base = scenario if scenario is not None else default_scenario()
    rows = design.to_dict("records") if isinstance(design, pd.DataFrame) else [dict(r) for r in design]
    if not rows:
        raise FactorError("design: has no rows")
    runner = _Runner(base)
    table = []
    for i, settings in enumerate(rows):
        try:
            table.extend(runner.rows(settings, replicates, seed, 0 if common_random_numbers else i))
        except FactorError as exc:
            raise FactorError(f"design row {i}: {exc}") from None
        if common_random_numbers:
            table[-replicates:] = [dict(r, design_point=i) for r in table[-replicates:]]
    df = pd.DataFrame(table)
    if runs:
        return df
    cols = outcome_columns(df.columns) if outputs is None else list(outputs)
    unknown = [c for c in cols if c not in df.columns]
    if unknown:
        raise FactorError(f"outputs: {unknown[0]!r} is not an outcome; allowed: {', '.join(outcome_columns(df.columns))}")
    pooled = pool_replicates(df, cols, impute=impute)
    return pooled.drop(columns="replicates").reset_index(drop=True)


# === a Mesa model of the case, for mesa.batch_run =============================================
_CASE_CACHE: dict[str, tuple[Scenario, tuple]] = {}


def _case_scenario(settings: Mapping[str, Any]) -> tuple[Scenario, tuple]:
    """The default scenario with ``settings`` applied and its conditions (cached by setting)."""
    key = json.dumps({str(k): _plain(v) for k, v in settings.items()}, sort_keys=True, default=repr)
    hit = _CASE_CACHE.get(key)
    if hit is None:
        if len(_CASE_CACHE) > 64:
            _CASE_CACHE.clear()
        scen = scenario_for(settings)
        hit = _CASE_CACHE[key] = (scen, scen.conditions())
    return hit


class CaseModel(_CoherenceModel):
    """The four-district case (:func:`experiments.scenario.default_scenario`, with the defaults every
    entry point starts from) as a Mesa model that ``mesa.batch_run`` can run with named parameters::

        from mesa import batch_run
        from experiments.api import CaseModel
        rows = batch_run(CaseModel, parameters={"districts.Diamond.lead.positional_authority": [False, True]},
                         rng=[1, 2], max_steps=100, display_progress=False)

    Keyword arguments are factors: a model parameter by its bare name (``NAME`` of
    ``sim.parameters.PARAMETER_SPECS``) or any key of :data:`FACTORS` (``districts.D.lead.buy_in``,
    ``program.years``, ``parameters.NAME``, derived factors such as ``capacity_assignment``).
    ``assignment`` picks one of the starting-capacity assignments consistent with the report (0 .. K-1,
    ``FACTORS["capacity_assignment"].high + 1`` of them; vary it with ``"assignment": range(K)``).
    ``collect=True`` (the default here) gives the model its DataCollector (model and agent
    reporters); it stops (``running`` false) at the horizon."""

    def __init__(self, assignment: int = 0, rng=None, *, collect: bool = True, **factors: Any) -> None:
        conditions, parameters = self.inputs(assignment, **factors)
        self.factors = dict(factors)
        self.assignment = int(assignment)
        super().__init__(conditions, parameters, rng=rng, collect=collect)

    @staticmethod
    def inputs(assignment: int = 0, **factors: Any):
        """The ``(Conditions, Parameters)`` a CaseModel with these arguments runs (errors name the key)."""
        bare = {k: v for k, v in factors.items() if k in PARAMETER_SPECS}
        settings = {k: v for k, v in factors.items() if k not in PARAMETER_SPECS}
        scen, conds = _case_scenario(settings)
        k = _index("assignment", assignment, len(conds))
        params = scen.parameters_()
        if bare:
            try:
                params = type(params).from_mapping({**params.to_dict(), **{n: _plain(v) for n, v in bare.items()}})
            except ValueError as exc:
                raise FactorError(str(exc)) from None
        return conds[k], params


#: ``mesa.batch_run(case_model, ...)``: the same class under the name the issue asks for.
case_model = CaseModel


# === lazy module attributes ===================================================================
_CACHE: dict[str, Any] = {}


def __getattr__(name: str) -> Any:
    """``FACTORS`` and ``OUTCOMES`` of the default scenario, built on first use."""
    if name == "FACTORS":
        if name not in _CACHE:
            _CACHE[name] = types.MappingProxyType(factors())
        return _CACHE[name]
    if name == "OUTCOMES":
        if name not in _CACHE:
            _CACHE[name] = types.MappingProxyType(outcomes())
        return _CACHE[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "CAPACITY_ASSIGNMENT",
    "CAPACITY_PROFILE",
    "CaseModel",
    "FACTORS",
    "OUTCOMES",
    "Factor",
    "FactorError",
    "Outcome",
    "capacity_profiles",
    "case_model",
    "evaluate",
    "evaluate_design",
    "evaluate_replicates",
    "factors",
    "outcome_columns",
    "outcomes",
    "pool_replicates",
    "scenario_for",
    "to_overrides",
]
