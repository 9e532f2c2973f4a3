"""Synthetic districts drawn from a population: district ``i`` comes from ``SeedSequence(seed,
spawn_key=(i,))`` (it does not depend on how many are drawn), with its size, capacity and
leadership classes and its model conditions."""

from __future__ import annotations

import math
from typing import Any
import numpy as np
from sim.conditions import DEPARTMENT_ELEMENTS, DistrictConditions, LeaderSpec, ShockSpec
from sim.vocab import Capacity, Element
from ..numerics import capacity_cuts
from .files import PopulationError, PopulationSpec, _range, _val


# A competing holder heads curriculum and instruction, as Diamond's (report lines 1017-1020, 1274-1276).
_COMPETING_OWNS = DEPARTMENT_ELEMENTS


def _derivation() -> dict[str, Any]:
    from ..scenario import load_case

    raw = load_case().raw.get("derivation", {})
    return {k: (v["value"] if isinstance(v, dict) else v) for k, v in raw.items()}


def _size_class(students: int, spec: PopulationSpec) -> str:
    if students <= _val(spec.size, "small_max"):
        return "small"
    if students <= _val(spec.size, "medium_max"):
        return "medium"
    return "large"


def capacity_class(codes: list[int] | tuple[int, ...]) -> str:
    """low: mean code below 0.75 (mostly missing); high: at least 1.5 (mostly established); else mid."""
    mean = float(np.mean(codes))
    return "low" if mean < 0.75 else "high" if mean >= 1.5 else "mid"


def draw_district(spec: PopulationSpec, i: int, seed: int | None = None) -> dict:
    """District ``i`` of the population (plain data), from ``SeedSequence(seed, spawn_key=(i,))``."""
    rng = np.random.default_rng(np.random.SeedSequence(spec.seed if seed is None else seed, spawn_key=(int(i),)))
    u = rng.random(24)  # a fixed number of draws per district, whatever is used
    size_spec = spec.size
    mu = math.log(_val(size_spec, "median_students"))
    z = math.sqrt(2.0) * _erfinv(2.0 * u[0] - 1.0)
    students = int(round(min(max(math.exp(mu + _val(size_spec, "sigma_log") * z), _val(size_spec, "min_students")), _val(size_spec, "max_students"))))
    size_class = _size_class(students, spec)
    rural = bool(u[1] < _val(spec.rural, size_class))
    w = float(_val(spec.capacity, "level_weight"))
    t1, t2 = capacity_cuts(tuple(_val(spec.capacity, "marginal")), w)
    level = u[2]
    codes = []
    for k in range(len(Element)):
        zc = (1.0 - w) * u[3 + k] + w * level
        codes.append(0 if zc < t1 else 1 if zc < t2 else 2)
    E, L, R = spec.experience, spec.leadership, spec.run

    def between(key: str, x: float) -> float:
        lo, hi = _range(L, key, "leadership")
        return float(round(lo + (hi - lo) * float(x), 6))

    has_prek = bool(u[11] < _val(E, "has_prek"))
    competing = bool(u[15] < _val(L, "competing_holder"))
    authority = bool(u[12] < _val(L, "lead_authority"))
    return {
        "id": int(i),
        "name": f"{spec.state}-{i:05d}",
        "students": students,
        "size_class": size_class,
        "rural": rural,
        "capacity": [Capacity(c).key for c in codes],
        "capacity_class": capacity_class(codes),
        "prior_experience": bool(u[9] < _val(E, "prior_experience")),
        "prior_provider": bool(u[10] < _val(E, "prior_provider")),
        "has_prek": has_prek,
        "lead_authority": authority,
        "lead_buy_in": between("lead_buy_in", u[13]),
        "superintendent_buy_in": between("superintendent_buy_in", u[14]),
        "competing_holder": competing,
        "holder_buy_in": between("holder_buy_in", u[16]),
        "ec_lead": bool(u[17] < _val(L, "ec_lead_on_team")),
        "leadership": f"{'authority' if authority else 'no authority'}, {'competing holder' if competing else 'no competing holder'}",
        "prek_eliminated": bool(has_prek and u[18] < _val(R, "prek_eliminated")),
    }


def _erfinv(y: float) -> float:
    """Inverse error function (for the normal quantile), via scipy if present."""
    from scipy.special import erfinv

    return float(erfinv(max(min(y, 1 - 1e-16), -1 + 1e-16)))


def generate_population(spec: PopulationSpec, n: int | None = None, seed: int | None = None) -> list[dict]:
    """``n`` synthetic districts (default: the state's number of districts)."""
    n = spec.n_districts if n is None else int(n)
    if n < 1:
        raise PopulationError(f"districts: {n!r} is not allowed; allowed: a whole number >= 1")
    return [draw_district(spec, i, seed) for i in range(n)]


def district_conditions(d: dict, derivation: dict | None = None, prek_month: int = 24) -> DistrictConditions:
    """The model's conditions of one synthetic district (sizes from the case file's ratios, 6.2)."""
    r = derivation or _derivation()
    students = int(d["students"])
    schools = max(1, round(students * r["elementary_students_share"] / r["students_per_elementary_school"]))
    n_teachers = max(1, math.ceil(students * r["prek3_share_of_prek12"] / r["students_per_teacher"]))
    bands = list(r["band_shares"])
    if not d["has_prek"]:
        bands[0] = 0.0
    counts = [int(round(n_teachers * b / sum(bands))) for b in bands]
    counts[2] = max(0, n_teachers - counts[0] - counts[1])
    leaders = [LeaderSpec("Initiative lead", d["lead_authority"], d["lead_buy_in"], leads_initiative=True)]
    leaders.append(LeaderSpec("Superintendent", True, d["superintendent_buy_in"], on_team=False, superintendent=True))
    if d["ec_lead"]:
        leaders.append(LeaderSpec("Head of Early Childhood", False, 0.8, early_childhood=True))
    if d["competing_holder"]:
        leaders.append(LeaderSpec("Leader with a competing agenda", True, d["holder_buy_in"], on_team=False,
                                  agenda="fluency", owns=_COMPETING_OWNS))
    shocks = (ShockSpec("prek_eliminated", prek_month),) if d.get("prek_eliminated") else ()
    return DistrictConditions(
        name=d["name"],
        students=students,
        n_elementary_schools=schools,
        n_school_leaders=max(1, int(schools * r["school_leaders_per_school"])),
        teachers=tuple(counts),
        team_teachers=min(n_teachers, int(r["team_teachers_midsize"])),
        prior_experience=d["prior_experience"],
        prior_provider=d["prior_provider"],
        capacity=tuple(Capacity.from_key(c) for c in d["capacity"]),
        leaders=tuple(leaders),
        has_prek=d["has_prek"],
        shocks=shocks,
        rural=d["rural"],
    )
