"""Case files: a case (TOML) of district conditions with its sources, as the model's typed
``Conditions`` and as a scenario (:func:`scenario_from_case`, :func:`default_scenario`).

Each fact in the file is ``{ value = ..., lines = [...], inferred/assumed = true, note = "..." }``
(or a bare value). This module unwraps the facts, derives teacher numbers from enrolment with the
file's stated ratios, and refuses bad input with an error that names the key and what is allowed.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sim.conditions import Conditions, DistrictConditions, LeaderSpec, ShockSpec
from sim.vocab import Capacity, Element

if TYPE_CHECKING:
    from .model import Scenario

CASE_FILE = "four_districts.toml"

_FACT_KEYS = {"value", "lines", "inferred", "assumed", "note"}


class CaseFileError(ValueError):
    """A case file that cannot be used; the message names the key."""


@dataclass(frozen=True)
class Fact:
    value: Any
    lines: tuple[int, ...] = ()
    inferred: bool = False
    assumed: bool = False
    note: str = ""


def fact(raw: Any, key: str) -> Fact:
    if isinstance(raw, dict) and "value" in raw:
        extra = set(raw) - _FACT_KEYS
        if extra:
            raise CaseFileError(f"{key}.{sorted(extra)[0]}: unknown key; allowed: {', '.join(sorted(_FACT_KEYS))}")
        return Fact(
            raw["value"],
            tuple(raw.get("lines", ())),
            bool(raw.get("inferred", False)),
            bool(raw.get("assumed", False)),
            str(raw.get("note", "")),
        )
    return Fact(raw)


def _get(table: dict, name: str, key: str, kind: type | tuple, default: Any = ...) -> Any:
    if name not in table:
        if default is ...:
            raise CaseFileError(f"{key}.{name}: missing")
        return default
    v = fact(table[name], f"{key}.{name}").value
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if float in kinds and isinstance(v, int) and not isinstance(v, bool):
        v = float(v)
    if isinstance(v, bool) and bool not in kinds:
        raise CaseFileError(f"{key}.{name}: {v!r} has the wrong type; allowed: {' or '.join(k.__name__ for k in kinds)}")
    if not isinstance(v, kinds):
        raise CaseFileError(f"{key}.{name}: {v!r} has the wrong type; allowed: {' or '.join(k.__name__ for k in kinds)}")
    if isinstance(v, float) and not math.isfinite(v):
        raise CaseFileError(f"{key}.{name}: {v!r} is not a finite number")
    return v


@dataclass(frozen=True)
class CaseDefinition:
    """A parsed case file: everything but the (possibly uncertain) starting capacities."""

    name: str
    raw: dict
    horizon_months: int
    turbulence_by_year: tuple[float, ...]
    turbulence_after: float
    district_names: tuple[str, ...]
    capacity_mode: str  # "enumerated" or "given"

    def conditions(self, capacities: dict[str, dict[str, str]], **overrides: Any) -> Conditions:
        """Conditions for one capacity assignment (district -> element key -> capacity key)."""
        districts = tuple(
            _district(self.raw, name, capacities.get(name)) for name in self.district_names
        )
        kw = dict(
            districts=districts,
            horizon_months=self.horizon_months,
            turbulence_by_year=self.turbulence_by_year,
            turbulence_after=self.turbulence_after,
        )
        kw.update(overrides)
        return Conditions(**kw)


def load_case(path: str | Path | None = None) -> CaseDefinition:
    """Parse a case file (default: the packaged four-district case)."""
    if path is None:
        text = resources.files("experiments").joinpath("data", CASE_FILE).read_text(encoding="utf-8")
        origin = CASE_FILE
    else:
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except OSError as exc:
            raise CaseFileError(f"case file {p}: cannot be read ({exc.strerror})") from None
        origin = str(p)
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CaseFileError(f"case file {origin}: not valid TOML ({exc})") from None
    unknown = set(raw) - {"case", "derivation", "districts"}
    if unknown:
        raise CaseFileError(f"{sorted(unknown)[0]}: unknown top-level key; allowed: case, derivation, districts")
    case = raw.get("case")
    if not isinstance(case, dict):
        raise CaseFileError("case: missing table [case]")
    districts = raw.get("districts")
    if not isinstance(districts, dict) or not districts:
        raise CaseFileError("districts: missing; define at least one [districts.NAME] table")
    horizon = _get(case, "horizon_months", "case", int)
    turb = tuple(float(x) for x in _get(case, "turbulence_by_year", "case", list))
    mode = _get(case, "capacity", "case", str, "given")
    if mode not in ("enumerated", "given"):
        raise CaseFileError(f"case.capacity: {mode!r} is not one of: enumerated, given")
    definition = CaseDefinition(
        name=_get(case, "name", "case", str),
        raw=raw,
        horizon_months=horizon,
        turbulence_by_year=turb,
        turbulence_after=_get(case, "turbulence_after", "case", float, 0.05),
        district_names=tuple(districts),
        capacity_mode=mode,
    )
    # Validate every district now (with a placeholder capacity) so errors surface at load time.
    placeholder = {n: {e.key: Capacity.ESTABLISHED.key for e in Element} for n in districts}
    try:
        definition.conditions(placeholder if mode == "enumerated" else {})
    except CaseFileError:
        raise
    except ValueError as exc:
        raise CaseFileError(str(exc)) from None
    return definition


def _derivation(raw: dict, name: str) -> float:
    table = raw.get("derivation", {})
    return float(_get(table, name, "derivation", (int, float)))


def _district(raw: dict, name: str, capacity: dict[str, str] | None) -> DistrictConditions:
    key = f"districts.{name}"
    t = raw["districts"][name]
    if not isinstance(t, dict):
        raise CaseFileError(f"{key}: must be a table")
    allowed = {
        "students", "n_elementary_schools", "n_school_leaders", "prek3_share_of_enrolment",
        "team_teachers_share", "team_teachers", "prior_provider", "prior_experience", "has_prek",
        "shocks", "leaders", "capacity",
    }
    extra = set(t) - allowed
    if extra:
        raise CaseFileError(f"{key}.{sorted(extra)[0]}: unknown key; allowed: {', '.join(sorted(allowed))}")
    students = _get(t, "students", key, int)
    if students < 1:
        raise CaseFileError(f"{key}.students: {students!r} must be >= 1")
    # Size: schools, school leaders and teachers derived from enrolment (stated ratios).
    if "n_elementary_schools" in t:
        schools = _get(t, "n_elementary_schools", key, int)
    else:
        schools = max(1, round(students * _derivation(raw, "elementary_students_share") / _derivation(raw, "students_per_elementary_school")))
    if "n_school_leaders" in t:
        leaders_n = _get(t, "n_school_leaders", key, int)
    else:
        leaders_n = int(schools * _derivation(raw, "school_leaders_per_school"))
    has_prek = _get(t, "has_prek", key, bool, True)
    share = _get(t, "prek3_share_of_enrolment", key, float, None) or _derivation(raw, "prek3_share_of_prek12")
    n_teachers = max(1, math.ceil(students * share / _derivation(raw, "students_per_teacher")))
    bands = list(_get(raw.get("derivation", {}), "band_shares", "derivation", list))
    if not has_prek:
        bands[0] = 0.0
    total = sum(bands)
    counts = [int(round(n_teachers * b / total)) for b in bands]
    counts[2] = max(0, n_teachers - counts[0] - counts[1])
    if "team_teachers" in t:
        team = _get(t, "team_teachers", key, int)
    elif "team_teachers_share" in t:
        team = int(round(n_teachers * _get(t, "team_teachers_share", key, float)))
    else:
        team = min(n_teachers, int(_derivation(raw, "team_teachers_midsize")))
    # Capacity: given in the file, or supplied from the enumeration of consistent assignments.
    if capacity is None:
        if "capacity" not in t:
            raise CaseFileError(f"{key}.capacity: missing (the case says capacity is given per district)")
        capacity = {k: fact(v, f"{key}.capacity.{k}").value for k, v in t["capacity"].items()}
    cap_unknown = set(capacity) - set(Element.keys())
    if cap_unknown:
        raise CaseFileError(f"{key}.capacity.{sorted(cap_unknown)[0]}: unknown element; allowed: {', '.join(Element.keys())}")
    caps = []
    for e in Element:
        if e.key not in capacity:
            raise CaseFileError(f"{key}.capacity.{e.key}: missing; allowed: {', '.join(Capacity.keys())}")
        try:
            caps.append(Capacity.from_key(capacity[e.key], field=f"{key}.capacity.{e.key}"))
        except ValueError as exc:
            raise CaseFileError(str(exc)) from None
    shocks = []
    for i, s in enumerate(_get(t, "shocks", key, list, [])):
        if not isinstance(s, dict) or set(s) != {"kind", "month"}:
            raise CaseFileError(f"{key}.shocks[{i}]: needs exactly the keys kind, month")
        try:
            shocks.append(ShockSpec(kind=s["kind"], month=s["month"]))
        except ValueError as exc:
            raise CaseFileError(f"{key}.{exc}") from None
    leaders = []
    raw_leaders = t.get("leaders")
    if not isinstance(raw_leaders, list) or not raw_leaders:
        raise CaseFileError(f"{key}.leaders: missing; define [[{key}.leaders]] tables")
    for i, lt in enumerate(raw_leaders):
        lk = f"{key}.leaders[{i}]"
        allowed_l = {"role", "positional_authority", "buy_in", "leads_initiative", "on_team", "early_childhood", "superintendent", "agenda", "owns"}
        extra = set(lt) - allowed_l
        if extra:
            raise CaseFileError(f"{lk}.{sorted(extra)[0]}: unknown key; allowed: {', '.join(sorted(allowed_l))}")
        owns = []
        for j, ek in enumerate(_get(lt, "owns", lk, list, [])):
            try:
                owns.append(Element.from_key(ek, field=f"{lk}.owns[{j}]"))
            except ValueError as exc:
                raise CaseFileError(str(exc)) from None
        buy_in = _get(lt, "buy_in", lk, float)
        if not 0.0 <= buy_in <= 1.0:
            raise CaseFileError(f"{lk}.buy_in: {buy_in!r} is out of range; allowed: [0, 1]")
        try:
            leaders.append(
                LeaderSpec(
                    role=_get(lt, "role", lk, str),
                    positional_authority=_get(lt, "positional_authority", lk, bool),
                    buy_in=buy_in,
                    leads_initiative=_get(lt, "leads_initiative", lk, bool, False),
                    on_team=_get(lt, "on_team", lk, bool, True),
                    early_childhood=_get(lt, "early_childhood", lk, bool, False),
                    superintendent=_get(lt, "superintendent", lk, bool, False),
                    agenda=_get(lt, "agenda", lk, str, None),
                    owns=tuple(owns),
                )
            )
        except ValueError as exc:
            raise CaseFileError(f"{lk}: {exc}") from None
    try:
        return DistrictConditions(
            name=name,
            students=students,
            n_elementary_schools=schools,
            n_school_leaders=leaders_n,
            teachers=tuple(counts),
            team_teachers=team,
            prior_experience=_get(t, "prior_experience", key, bool),
            prior_provider=_get(t, "prior_provider", key, bool),
            capacity=tuple(caps),
            leaders=tuple(leaders),
            has_prek=has_prek,
            shocks=tuple(shocks),
        )
    except CaseFileError:
        raise
    except ValueError as exc:
        raise CaseFileError(str(exc)) from None


# --- the case as a scenario --------------------------------------------------------------------
def scenario_from_case(definition=None, name: str | None = None) -> "Scenario":
    """The resolved scenario of a case file (default: the packaged four-district case)."""
    from .model import Scenario

    definition = definition or load_case()
    districts = {}
    for cond in (definition.conditions({n: {e.key: "established" for e in Element} for n in definition.district_names}),):
        for dc in cond.districts:
            lead = dc.lead
            others, used = {}, set()
            for l in dc.leaders:
                if l is lead:
                    continue
                key = _slug(l.role, used)
                others[key] = _leader_dict(l)
            districts[dc.name] = {
                "students": dc.students,
                "n_elementary_schools": dc.n_elementary_schools,
                "n_school_leaders": dc.n_school_leaders,
                "teachers": dict(zip(("prek", "tk", "k3"), dc.teachers)),
                "team_teachers": dc.team_teachers,
                "prior_experience": dc.prior_experience,
                "prior_provider": dc.prior_provider,
                "has_prek": dc.has_prek,
                "lead": _leader_dict(lead),
                "leaders": others,
                "shocks": [{"kind": s.kind, "month": s.month} for s in dc.shocks],
            }
    if definition.capacity_mode == "given":
        given = definition.conditions({})
        for dc in given.districts:
            districts[dc.name]["capacity"] = {e.key: Capacity(c).key for e, c in zip(Element, dc.capacity)}
    return Scenario(
        name=name or definition.name,
        description=str(definition.raw.get("case", {}).get("description", "")),
        horizon_months=definition.horizon_months,
        turbulence_by_year=list(definition.turbulence_by_year),
        turbulence_after=definition.turbulence_after,
        districts=districts,
    )


def _leader_dict(l: LeaderSpec) -> dict:
    return {
        "role": l.role,
        "positional_authority": l.positional_authority,
        "buy_in": l.buy_in,
        "on_team": l.on_team,
        "early_childhood": l.early_childhood,
        "superintendent": l.superintendent,
        "agenda": l.agenda,
        "owns": [e.key for e in l.owns],
    }


def _slug(role: str, used: set) -> str:
    base = "".join(ch if ch.isalnum() else "_" for ch in role.lower()).strip("_") or "leader"
    while "__" in base:
        base = base.replace("__", "_")
    key, i = base, 2
    while key in used:
        key, i = f"{base}_{i}", i + 1
    used.add(key)
    return key


def default_scenario(definition: "CaseDefinition | None" = None) -> "Scenario":
    """The four-district case (or another case file's ``definition``) as a scenario, capacities
    enumerated from the report, with the parameter defaults every entry point starts from
    (:func:`experiments.evidence.model_defaults`: the calibrated values of
    ``experiments/evidence/data/calibrated.toml`` when that file fits the model's parameters, else
    the documented prior centre, ``sim.Parameters()``)."""
    from experiments.evidence import apply_calibrated_defaults

    return apply_calibrated_defaults(scenario_from_case(definition))
