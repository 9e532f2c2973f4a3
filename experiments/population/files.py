"""Population files (``experiments/data/populations/<STATE>.toml``): distributions of district
conditions for one state, each an assumption stated in the file; read and validated with errors
that name the key."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from ..scenario import short_key, show_value



POPULATION_DIR = Path(__file__).resolve().parent.parent / "data" / "populations"


STATES = ("CA", "TX", "NY", "FL")


DEFAULT_DISTRICTS = 200


DEFAULT_SEED = 20201


SIZE_CLASSES = ("small", "medium", "large")


CAPACITY_CLASSES = ("low", "mid", "high")


LEADERSHIP_TYPES = (
    "authority, no competing holder",
    "authority, competing holder",
    "no authority, no competing holder",
    "no authority, competing holder",
)


class PopulationError(ValueError):
    """A population file or rollout request that cannot be used; the message names the key."""


@dataclass(frozen=True)
class PopulationSpec:
    """A state's district distributions (see the packaged files for the meaning of each key)."""

    state: str
    name: str
    n_districts: int
    seed: int
    size: dict
    rural: dict
    capacity: dict
    experience: dict
    leadership: dict
    run: dict
    raw: dict = field(repr=False, default_factory=dict)

    def to_dict(self) -> dict:
        return self.raw


_REQUIRED = {
    "size": ("median_students", "sigma_log", "min_students", "max_students", "small_max", "medium_max"),
    "rural": ("small", "medium", "large"),
    "capacity": ("marginal", "level_weight"),
    "experience": ("prior_experience", "prior_provider", "has_prek"),
    "leadership": ("lead_authority", "lead_buy_in", "superintendent_buy_in", "competing_holder", "holder_buy_in",
                   "ec_lead_on_team"),
    "run": ("horizon_months", "turbulence", "prek_eliminated", "prek_eliminated_month"),
}


MAX_DISTRICTS = 1_000_000


_STATE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$")


def _finite(x: Any) -> bool:
    """A real number (not bool) that is finite as a float (huge ints are not: no OverflowError)."""
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return False
    try:
        return math.isfinite(float(x))
    except OverflowError:
        return False


def _num(table: dict, key: str, where: str, lo: float = -math.inf, hi: float = math.inf) -> float:
    v = table.get(key)
    if isinstance(v, dict) and "value" in v:
        v = v["value"]
    if not _finite(v) or not lo <= v <= hi:
        raise PopulationError(f"{where}.{key}: {show_value(v)} is not allowed; allowed: a number in [{lo}, {hi}]")
    return float(v)


def _val(table: dict, key: str):
    v = table.get(key)
    return v["value"] if isinstance(v, dict) and "value" in v else v


def _range(table: dict, key: str, where: str) -> tuple[float, float]:
    v = _val(table, key)
    if not (isinstance(v, list) and len(v) == 2 and all(_finite(x) for x in v) and 0.0 <= v[0] <= v[1] <= 1.0):
        raise PopulationError(f"{where}.{key}: {show_value(v)} is not allowed; allowed: [low, high] with 0 <= low <= high <= 1")
    return float(v[0]), float(v[1])


def validate_population(raw: dict, where: str = "population") -> PopulationSpec:
    """Check a parsed population file; errors name the key and what is allowed."""
    if not isinstance(raw, dict):
        raise PopulationError(f"{where}: expected a table")
    allowed = {"population", "sources", *_REQUIRED}
    extra = sorted(set(raw) - allowed)
    if extra:
        raise PopulationError(f"{where}.{short_key(extra[0])}: unknown key; allowed: {', '.join(sorted(allowed))}")
    head = raw.get("population")
    if not isinstance(head, dict):
        raise PopulationError(f"{where}.population: missing table [population]")
    for sec, keys in _REQUIRED.items():
        t = raw.get(sec)
        if not isinstance(t, dict):
            raise PopulationError(f"{where}.{sec}: missing table [{sec}]")
        unknown = sorted(set(t) - set(keys))
        if unknown:
            raise PopulationError(f"{where}.{sec}.{short_key(unknown[0])}: unknown key; allowed: {', '.join(keys)}")
        for k in keys:
            if k not in t:
                raise PopulationError(f"{where}.{sec}.{k}: missing")
    s = raw["size"]
    _num(s, "median_students", f"{where}.size", 1, 5e6)
    _num(s, "sigma_log", f"{where}.size", 0, 5)
    lo = _num(s, "min_students", f"{where}.size", 1, 5e6)
    hi = _num(s, "max_students", f"{where}.size", lo, 5e6)
    sm = _num(s, "small_max", f"{where}.size", lo, hi)
    _num(s, "medium_max", f"{where}.size", sm, hi)
    for k in _REQUIRED["rural"]:
        _num(raw["rural"], k, f"{where}.rural", 0, 1)
    marg = _val(raw["capacity"], "marginal")
    if not (isinstance(marg, list) and len(marg) == 3 and all(_finite(x) and 0 <= x <= 1e6 for x in marg) and sum(marg) > 0):
        raise PopulationError(f"{where}.capacity.marginal: {show_value(marg)} is not allowed; allowed: three weights in [0, 1e6] "
                              "(did_not_exist, emergent, established), not all 0")
    _num(raw["capacity"], "level_weight", f"{where}.capacity", 0, 1)
    for k in _REQUIRED["experience"]:
        _num(raw["experience"], k, f"{where}.experience", 0, 1)
    leadership_table = raw["leadership"]
    for k in ("lead_authority", "competing_holder", "ec_lead_on_team"):
        _num(leadership_table, k, f"{where}.leadership", 0, 1)
    for k in ("lead_buy_in", "superintendent_buy_in", "holder_buy_in"):
        _range(leadership_table, k, f"{where}.leadership")
    r = raw["run"]
    _num(r, "horizon_months", f"{where}.run", 1, 240)
    _num(r, "turbulence", f"{where}.run", 0, 0.95)
    _num(r, "prek_eliminated", f"{where}.run", 0, 1)
    _num(r, "prek_eliminated_month", f"{where}.run", 0, 239)
    state = head.get("state")
    if not isinstance(state, str) or not state:
        raise PopulationError(f"{where}.population.state: missing")
    if not _STATE.match(state) or ".." in state:  # it names the default output folder: no path, no control character
        raise PopulationError(f"{where}.population.state: {show_value(state)} is not allowed; allowed: 1-64 letters, digits, "
                              "spaces, '.', '_' or '-', starting with a letter or digit (it names the default output folder)")
    n = head.get("n_districts")
    if isinstance(n, dict):
        n = n.get("value")
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= MAX_DISTRICTS:
        raise PopulationError(f"{where}.population.n_districts: {show_value(n)} is not allowed; allowed: a whole number in [1, {MAX_DISTRICTS}]")
    seed = head.get("seed", DEFAULT_SEED)
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**128:
        raise PopulationError(f"{where}.population.seed: {show_value(seed)} is not allowed; allowed: a whole number >= 0 (below 2**128)")
    return PopulationSpec(state=state, name=str(head.get("name", state)), n_districts=n, seed=seed,
                          size=raw["size"], rural=raw["rural"], capacity=raw["capacity"],
                          experience=raw["experience"], leadership=raw["leadership"], run=raw["run"], raw=raw)


def load_population(state_or_path: str | Path) -> PopulationSpec:
    """A packaged state (``"CA"``, ``"TX"``, ``"NY"``, ``"FL"``) or a population file's path."""
    p = Path(state_or_path)
    if not p.suffix:
        key = str(state_or_path).upper()
        p = POPULATION_DIR / f"{key}.toml"
        if not p.exists():
            have = sorted(q.stem for q in POPULATION_DIR.glob("*.toml"))
            raise PopulationError(f"state: {state_or_path!r} is not one of: {', '.join(have)} (or give a population file)")
    from ..scenario import ScenarioError, parse_toml, read_input_file

    try:
        raw = parse_toml(read_input_file(p, "population file"), f"population file {p}")
    except ScenarioError as exc:
        raise PopulationError(str(exc)) from None
    return validate_population(raw, p.name)
