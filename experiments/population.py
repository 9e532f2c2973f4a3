"""Populations of districts and rollouts: which districts join an offer, what changes, at what cost.

A population file (``experiments/data/populations/<STATE>.toml``) holds *distributions* of district
conditions for one state -- enrolment, rurality, per-element starting capacity, prior experience,
pre-K, leadership configuration -- each an assumption stated in the file (docs/ODD.md section 6.6).
:func:`generate_population` draws synthetic districts from it: district ``i`` comes from
``SeedSequence(seed, spawn_key=(i,))``, so it does not depend on how many are drawn.

A rollout (:func:`run_rollout`) runs every district alone under one provider type with simulated
recruitment (``provider.recruit = true``; sim/providers.py) for R replicates. Run (district ``i``,
replicate ``r``) is seeded with ``SeedSequence(seed, spawn_key=(i, r))``: the numbers do not depend
on the number of workers, the chunking, or local processes vs Dask. Chunks of runs are tasks for
the sweep engine's executor (``experiments.execution.executor.make_executor``: this process, local processes,
or a Dask cluster) and are written as they finish to a sweep store (``experiments.execution.store``:
``runs/`` one row per run, ``elements/`` one row per district-element of a run), so memory stays
flat; ``resume=True`` continues an interrupted rollout. :func:`summarise_rollout` aggregates by
district type (size class, capacity class, leadership configuration) with 90% intervals over
replicates.

Python::

    from experiments.population import load_population, generate_population, run_rollout
    pop = load_population("CA")
    districts = generate_population(pop, n=200)
    result = run_rollout(pop, "results/rollout/CA", provider="bundle", n=200, replicates=10)
    result.summary  # pandas DataFrame by district type
"""

from __future__ import annotations

import json
import math
import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.conditions import Conditions, DistrictConditions, LeaderSpec, ShockSpec
from sim.parameters import PARAMETER_SPECS, Parameters
from sim.providers import PROVIDER_KINDS, ProviderSpec
from sim.results import OUTCOME_NAMES
from sim.vocab import Capacity, Element, Practice
from .numerics import capacity_cuts

POPULATION_DIR = Path(__file__).resolve().parent / "data" / "populations"
STATES = ("CA", "TX", "NY", "FL")
DEFAULT_DISTRICTS = 200
DEFAULT_REPLICATES = 10
DEFAULT_SEED = 20201
DEFAULT_CHUNK_SIZE = 100
SIZE_CLASSES = ("small", "medium", "large")
CAPACITY_CLASSES = ("low", "mid", "high")
LEADERSHIP_TYPES = (
    "authority, no competing holder",
    "authority, competing holder",
    "no authority, no competing holder",
    "no authority, competing holder",
)
#: Outcomes aggregated in the summary (means over districts of a type, then intervals over replicates).
SUMMARY_OUTCOMES = ("joined", "elements_changed", "share_transformed", "share_consistent", "share_aligned",
                    "share_continuity_changes", "share_beyond_signature_practice", "hlpp_share_end",
                    "cost_district", "cost_subsidy", "cost_per_student")
_COMPETING_ELEMENTS = (Element.PEDAGOGY, Element.ASSESSMENT, Element.OVERSIGHT)  # as Diamond's (report lines 832-868)


class PopulationError(ValueError):
    """A population file or rollout request that cannot be used; the message names the key."""


# === population files ===========================================================================
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
MAX_ROLLOUT_RUNS = 100_000_000


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
        raise PopulationError(f"{where}.{key}: {_short(v)} is not allowed; allowed: a number in [{lo}, {hi}]")
    return float(v)


def _short(v: Any) -> str:
    """A value as shown in an error message (at most 80 characters; huge ints are not expanded)."""
    try:
        r = repr(v)
    except ValueError:
        return f"<{type(v).__name__} too large to show>"
    return r if len(r) <= 80 else r[:77] + "..."


def _short_key(key: str) -> str:
    from .scenario import short_key

    return short_key(key)


def _val(table: dict, key: str):
    v = table.get(key)
    return v["value"] if isinstance(v, dict) and "value" in v else v


def _range(table: dict, key: str, where: str) -> tuple[float, float]:
    v = _val(table, key)
    if not (isinstance(v, list) and len(v) == 2 and all(_finite(x) for x in v) and 0.0 <= v[0] <= v[1] <= 1.0):
        raise PopulationError(f"{where}.{key}: {_short(v)} is not allowed; allowed: [low, high] with 0 <= low <= high <= 1")
    return float(v[0]), float(v[1])


def validate_population(raw: dict, where: str = "population") -> PopulationSpec:
    """Check a parsed population file; errors name the key and what is allowed."""
    if not isinstance(raw, dict):
        raise PopulationError(f"{where}: expected a table")
    allowed = {"population", "sources", *_REQUIRED}
    extra = sorted(set(raw) - allowed)
    if extra:
        raise PopulationError(f"{where}.{_short_key(extra[0])}: unknown key; allowed: {', '.join(sorted(allowed))}")
    head = raw.get("population")
    if not isinstance(head, dict):
        raise PopulationError(f"{where}.population: missing table [population]")
    for sec, keys in _REQUIRED.items():
        t = raw.get(sec)
        if not isinstance(t, dict):
            raise PopulationError(f"{where}.{sec}: missing table [{sec}]")
        unknown = sorted(set(t) - set(keys))
        if unknown:
            raise PopulationError(f"{where}.{sec}.{_short_key(unknown[0])}: unknown key; allowed: {', '.join(keys)}")
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
        raise PopulationError(f"{where}.capacity.marginal: {_short(marg)} is not allowed; allowed: three weights in [0, 1e6] "
                              "(did_not_exist, emergent, established), not all 0")
    _num(raw["capacity"], "level_weight", f"{where}.capacity", 0, 1)
    for k in _REQUIRED["experience"]:
        _num(raw["experience"], k, f"{where}.experience", 0, 1)
    L = raw["leadership"]
    for k in ("lead_authority", "competing_holder", "ec_lead_on_team"):
        _num(L, k, f"{where}.leadership", 0, 1)
    for k in ("lead_buy_in", "superintendent_buy_in", "holder_buy_in"):
        _range(L, k, f"{where}.leadership")
    r = raw["run"]
    _num(r, "horizon_months", f"{where}.run", 1, 240)
    _num(r, "turbulence", f"{where}.run", 0, 0.95)
    _num(r, "prek_eliminated", f"{where}.run", 0, 1)
    _num(r, "prek_eliminated_month", f"{where}.run", 0, 239)
    state = head.get("state")
    if not isinstance(state, str) or not state:
        raise PopulationError(f"{where}.population.state: missing")
    n = head.get("n_districts")
    if isinstance(n, dict):
        n = n.get("value")
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= MAX_DISTRICTS:
        raise PopulationError(f"{where}.population.n_districts: {_short(n)} is not allowed; allowed: a whole number in [1, {MAX_DISTRICTS}]")
    seed = head.get("seed", DEFAULT_SEED)
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**128:
        raise PopulationError(f"{where}.population.seed: {_short(seed)} is not allowed; allowed: a whole number >= 0 (below 2**128)")
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
    from .scenario import ScenarioError, parse_toml, read_input_file

    try:
        raw = parse_toml(read_input_file(p, "population file"), f"population file {p}")
    except ScenarioError as exc:
        raise PopulationError(str(exc)) from None
    return validate_population(raw, p.name)


# === synthetic districts ========================================================================
def _derivation() -> dict[str, Any]:
    from .scenario import load_case

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
    S = spec.size
    mu = math.log(_val(S, "median_students"))
    z = math.sqrt(2.0) * _erfinv(2.0 * u[0] - 1.0)
    students = int(round(min(max(math.exp(mu + _val(S, "sigma_log") * z), _val(S, "min_students")), _val(S, "max_students"))))
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
                                  agenda="fluency", agenda_elements=_COMPETING_ELEMENTS))
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


# === rollouts ===================================================================================
_TYPE_COLUMNS = ("size_class", "capacity_class", "leadership")


def _run_params(overrides: dict | None) -> Parameters:
    from experiments.evidence import calibrated_parameters

    base = calibrated_parameters() or Parameters()
    if not overrides:
        return base
    return Parameters.from_mapping({**base.to_dict(), **overrides})


def rollout_task_runs(task: dict):
    """(district, replicate) pairs of a task, in plan order."""
    R = task["replicates"]
    return [(j // R, j % R) for j in range(task["start"], task["stop"])]


def run_rollout_chunk(task: dict) -> dict:
    """One chunk of a rollout (a worker's task): plain data in, plain columns out."""
    from sim.run import simulate

    t0 = time.perf_counter()
    spec = validate_population(task["population"])
    provider = ProviderSpec(**task["provider"])
    params = Parameters(**task["params"])
    deriv = task["derivation"]
    R = spec.run
    rows: dict[str, list] = {k: [] for k in _RUN_COLUMNS}
    el: dict[str, list] = {k: [] for k in ("design_point", "replicate", "district", "element", "capacity0", "capacity_end",
                                           "substantiveness", "consistency", "alignment", "continuity", "continuity_end",
                                           "principles", "first_month", "n_changes")}
    cache: dict[int, tuple[dict, DistrictConditions]] = {}
    horizon = int(_val(R, "horizon_months"))
    turb = float(_val(R, "turbulence"))
    for i, r in rollout_task_runs(task):
        if i not in cache:
            d = draw_district(spec, i, task["population_seed"])
            cache = {i: (d, district_conditions(d, deriv, int(_val(R, "prek_eliminated_month"))))}
        d, dc = cache[i]
        rows["district"].append(i)
        rows["replicate"].append(r)
        for k in ("name", "students", "size_class", "capacity_class", "leadership", "rural", "prior_experience", "has_prek"):
            rows[k].append(d[k])
        try:
            cond = Conditions(districts=(dc,), horizon_months=horizon, turbulence_by_year=(turb,), turbulence_after=turb,
                              provider=provider)
            res = simulate(cond, params, seed=np.random.SeedSequence(task["seed"], spawn_key=(i, r)))
            o = res.overall_outcomes()
            hl = res.practice_series[-1, 0, int(Practice.HLPP)] if len(res.practice_series) else 0.0
            vals = {
                "joined": bool(res.joined[0]), "curriculum_adopted": bool(res.curriculum_adopted[0]),
                "service_months": int(res.service_months[0]), "cost_district": float(res.cost_district[0]),
                "cost_subsidy": float(res.cost_subsidy[0]), "partnership_failed_month": int(res.partnership_failed_month),
                "hlpp_share_end": float(hl), "status": "ok", "error": None,
            }
            vals.update({k: float(o[k]) for k in OUTCOME_NAMES})
            n = len(Element)
            el["design_point"].append(np.full(n, i, dtype=np.int64))
            el["replicate"].append(np.full(n, r, dtype=np.int64))
            el["district"].append(np.full(n, d["name"], dtype=object))
            el["element"].append(np.array(Element.keys(), dtype=object))
            for col in ("capacity0", "capacity_end", "substantiveness", "consistency", "alignment", "continuity", "continuity_end"):
                el[col].append(np.asarray(getattr(res, col), dtype=np.int8).ravel())
            el["principles"].append(np.asarray(res.principles, dtype=bool).ravel())
            el["first_month"].append(np.asarray(res.first_month, dtype=np.int16).ravel())
            el["n_changes"].append(np.asarray(res.n_changes, dtype=np.int16).ravel())
        except Exception as exc:  # noqa: BLE001 - a failing run is recorded, the rollout goes on
            vals = {k: None for k in _RESULT_COLUMNS}
            vals.update(status="error", error=f"{type(exc).__name__}: {exc}"[:2000])
        for k in _RESULT_COLUMNS:
            rows[k].append(vals.get(k))
    return {
        "chunk": task["chunk"],
        "runs": rows,
        "elements": {k: (np.concatenate(v) if v else np.array([])) for k, v in el.items()},
        "seconds": time.perf_counter() - t0,
        "worker": f"{socket.gethostname()}:{os.getpid()}",
    }


_ID_COLUMNS = ("district", "replicate", "name", "students", "size_class", "capacity_class", "leadership", "rural",
               "prior_experience", "has_prek")
_RESULT_COLUMNS = ("joined", "curriculum_adopted", "service_months", "cost_district", "cost_subsidy",
                   "partnership_failed_month", "hlpp_share_end", *OUTCOME_NAMES, "status", "error")
_RUN_COLUMNS = _ID_COLUMNS + _RESULT_COLUMNS


def _runs_schema():
    import pyarrow as pa

    types = {"district": pa.int64(), "replicate": pa.int64(), "name": pa.string(), "students": pa.int64(),
             "size_class": pa.string(), "capacity_class": pa.string(), "leadership": pa.string(), "rural": pa.bool_(),
             "prior_experience": pa.bool_(), "has_prek": pa.bool_(), "joined": pa.bool_(), "curriculum_adopted": pa.bool_(),
             "service_months": pa.int32(), "cost_district": pa.float64(), "cost_subsidy": pa.float64(),
             "partnership_failed_month": pa.int32(), "hlpp_share_end": pa.float64(), "status": pa.string(), "error": pa.string()}
    for k in OUTCOME_NAMES:
        types[k] = pa.float64()
    return pa.schema([pa.field(k, types[k]) for k in _RUN_COLUMNS])


@dataclass
class RolloutPlan:
    population: PopulationSpec
    n: int
    replicates: int
    seed: int
    provider: dict
    params: dict
    chunk_size: int = DEFAULT_CHUNK_SIZE
    population_seed: int | None = None

    @property
    def n_runs(self) -> int:
        return self.n * self.replicates

    @property
    def n_chunks(self) -> int:
        return -(-self.n_runs // self.chunk_size)

    def plan_dict(self) -> dict:
        return {"state": self.population.state, "population": self.population.raw, "districts": self.n,
                "replicates": self.replicates, "seed": self.seed, "provider": self.provider, "params": self.params,
                "chunk_size": self.chunk_size, "population_seed": self.population_seed}

    @property
    def plan_hash(self) -> str:
        from .execution.provenance import content_hash

        return content_hash(self.plan_dict())

    def task(self, c: int, derivation: dict) -> dict:
        return {"chunk": c, "start": c * self.chunk_size, "stop": min((c + 1) * self.chunk_size, self.n_runs),
                "replicates": self.replicates, "seed": self.seed, "population": self.population.raw,
                "population_seed": self.population_seed if self.population_seed is not None else self.population.seed,
                "provider": self.provider, "params": self.params, "derivation": derivation}


@dataclass
class RolloutResult:
    out_dir: Path
    plan_hash: str
    n_runs: int
    runs_done: int
    n_errors: int
    seconds: float
    executor: str
    summary: pd.DataFrame | None = None
    failed_chunks: dict = field(default_factory=dict)

    def load(self) -> pd.DataFrame:
        return load_rollout(self.out_dir)


def make_rollout_plan(population: PopulationSpec | str | Path, *, provider: str | dict = "pl_provider", n: int | None = None,
                      replicates: int = DEFAULT_REPLICATES, seed: int = DEFAULT_SEED, params: dict | None = None,
                      chunk_size: int = DEFAULT_CHUNK_SIZE, population_seed: int | None = None) -> RolloutPlan:
    """Validate a rollout request. ``provider``: a kind, or a dict of ``provider.*`` keys (recruitment
    is always simulated). ``params``: parameter overrides on the calibrated defaults."""
    pop = population if isinstance(population, PopulationSpec) else load_population(population)
    prov = {"kind": provider} if isinstance(provider, str) else dict(provider)
    if prov.get("kind", "pl_provider") not in PROVIDER_KINDS:
        raise PopulationError(f"--provider: {prov.get('kind')!r} is not one of: {', '.join(PROVIDER_KINDS)}")
    prov["recruit"] = True
    allowed = list(ProviderSpec.__dataclass_fields__)
    unknown = sorted(set(prov) - set(allowed))
    if unknown:
        raise PopulationError(f"provider.{_short_key(unknown[0])}: unknown key; allowed: {', '.join(allowed)}")
    for k in sorted(prov):  # one key at a time, so that the error names it
        try:
            ProviderSpec(**{"kind": prov.get("kind", "pl_provider"), k: prov[k]})
        except (TypeError, ValueError, OverflowError) as exc:
            msg = str(exc)
            raise PopulationError(msg if msg.startswith(f"provider.{k}:") else f"provider.{k}: {_short(prov[k])} is not allowed ({msg})") from None
    try:
        ProviderSpec(**prov)
    except (TypeError, ValueError, OverflowError) as exc:
        raise PopulationError(f"provider: {exc}") from None
    unknown = sorted(set(params or {}) - set(PARAMETER_SPECS))
    if unknown:
        raise PopulationError(f"parameters.{_short_key(unknown[0])}: unknown parameter; allowed: {', '.join(PARAMETER_SPECS)}")
    for k, v in (params or {}).items():
        if isinstance(v, int) and not isinstance(v, bool) and not _finite(v):
            raise PopulationError(f"parameters.{k}: {_short(v)} is not allowed; allowed: a number in "
                                  f"[{PARAMETER_SPECS[k].low}, {PARAMETER_SPECS[k].high}]")
    try:
        p = _run_params(params)
    except (TypeError, OverflowError) as exc:
        raise PopulationError(f"parameters: {exc}") from None
    n = pop.n_districts if n is None else n
    for what, v, lo, hi in (("districts", n, 1, MAX_DISTRICTS), ("replicates", replicates, 1, MAX_ROLLOUT_RUNS),
                            ("chunk_size", chunk_size, 1, MAX_ROLLOUT_RUNS), ("seed", seed, 0, 2**128 - 1)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not lo <= v <= hi:
            raise PopulationError(f"{what}: {_short(v)} is not allowed; allowed: a whole number in [{lo}, {hi}]")
    if n * replicates > MAX_ROLLOUT_RUNS:
        raise PopulationError(f"districts x replicates: {n} x {replicates} runs; allowed: at most {MAX_ROLLOUT_RUNS}")
    return RolloutPlan(pop, n, int(replicates), int(seed), prov, p.to_dict(), int(chunk_size), population_seed)


def run_rollout(population: PopulationSpec | str | Path | RolloutPlan, out_dir: str | Path, *, provider: str | dict = "pl_provider",
                n: int | None = None, replicates: int = DEFAULT_REPLICATES, seed: int = DEFAULT_SEED,
                params: dict | None = None, chunk_size: int = DEFAULT_CHUNK_SIZE, workers: int | None = None,
                scheduler: Any = None, resume: bool = False, summarise: bool = True, quiet: bool = True) -> RolloutResult:
    """Run a rollout into ``out_dir`` (a sweep store) and write its summary by district type."""
    import pyarrow as pa

    from .execution.executor import make_executor
    from .execution.provenance import provenance
    from .execution.session import close_quietly, run_session
    from .execution.store import SweepStore

    plan = population if isinstance(population, RolloutPlan) else make_rollout_plan(
        population, provider=provider, n=n, replicates=replicates, seed=seed, params=params, chunk_size=chunk_size)
    out = Path(out_dir)
    manifest = {
        "format": "coherence-sim sweep",
        "format_version": 1,
        "name": f"rollout-{plan.population.state}-{plan.provider['kind']}",
        "kind": "rollout",
        "plan_hash": plan.plan_hash,
        "plan": {k: v for k, v in plan.plan_dict().items() if k != "population"},
        "provenance": provenance(plan_hash=plan.plan_hash),
        "sessions": [{"started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "resume": bool(resume)}],
    }
    executor = make_executor(workers=None, scheduler=scheduler) if scheduler is not None else None
    try:
        store = SweepStore.open(out, manifest, resume=resume)
    except BaseException:
        close_quietly(executor)
        raise
    deriv = _derivation()
    schema = _runs_schema()

    def save(c: int, res: dict, attempt: int) -> int:
        runs = pa.table({f.name: res["runs"][f.name] for f in schema}, schema=schema)
        n_err = sum(1 for s in res["runs"]["status"] if s != "ok")
        store.write_chunk(c, runs, _elements_table(res["elements"]),
                          {"runs": runs.num_rows, "errors": n_err, "seconds": round(res["seconds"], 3),
                           "worker": res["worker"], "attempt": attempt})
        return runs.num_rows

    done = run_session(
        store, plan.n_chunks, compute=run_rollout_chunk, task_of=lambda c: plan.task(c, deriv),
        key_of=lambda c: f"coherence-rollout-{c:06d}", save=save,
        runs_in_chunk=lambda c: min((c + 1) * plan.chunk_size, plan.n_runs) - c * plan.chunk_size,
        make_executor=lambda n_todo: make_executor(workers=workers, max_tasks=n_todo),
        describe=lambda done_runs: f"rollout {plan.population.state}", executor=executor, quiet=quiet,
        before=lambda: store.write_static(
            "population.json", lambda p: p.write_text(json.dumps(plan.population.raw, indent=1), encoding="utf-8")),
    )
    info = store.completed_info()
    result = RolloutResult(out, plan.plan_hash, plan.n_runs, sum(v["runs"] for v in info.values()),
                           sum(v["errors"] for v in info.values()), done.seconds, done.executor_description,
                           failed_chunks=done.failed)
    if summarise and len(info) == plan.n_chunks:
        result.summary = summarise_rollout(out)
        result.summary.to_csv(out / "summary.csv", index=False)
        (out / "summary.json").write_text(json.dumps(
            {"plan": manifest["plan"], "provenance": manifest["provenance"],
             "summary": json.loads(result.summary.to_json(orient="records"))}, indent=1, default=str), encoding="utf-8")
    return result


def _elements_table(e: dict):
    import pyarrow as pa

    from .execution.store import elements_schema

    es = elements_schema()
    if len(e["design_point"]) == 0:
        return es.empty_table()
    return pa.table({f.name: e[f.name] for f in es}, schema=es)


def load_rollout(out_dir: str | Path, columns: list[str] | None = None) -> pd.DataFrame:
    """The runs of a rollout (one row per district x replicate), in plan order."""
    import pyarrow.parquet as pq

    from .execution.store import RUNS, chunk_name, read_manifest

    root = Path(out_dir)
    m = read_manifest(root)
    files = [root / RUNS / chunk_name(int(c)) for c in sorted(m.get("completed", {}), key=int)]
    if not files:
        return pd.DataFrame(columns=columns or list(_RUN_COLUMNS))
    return pd.concat([pq.read_table(f, columns=columns).to_pandas() for f in files], ignore_index=True)


def summarise_rollout(out_dir: str | Path | pd.DataFrame, level: float = 0.90) -> pd.DataFrame:
    """Aggregate a rollout by district type: for each grouping (all, size class, capacity class,
    leadership configuration, rural) and group, the mean over replicates of the group's mean, and a
    ``level`` interval over replicates. ``joined`` is over all districts of the group; the other
    outcomes over those that joined (costs: per district that joined; ``cost_per_student``: the
    group's total cost to districts / its total enrolment among those that joined)."""
    df = out_dir if isinstance(out_dir, pd.DataFrame) else load_rollout(out_dir)
    df = df[df["status"] == "ok"].copy()
    df["rural"] = df["rural"].map({True: "rural", False: "not rural"})
    df["all"] = "all districts"
    lo_q, hi_q = (1 - level) / 2, 1 - (1 - level) / 2
    rows = []
    for grouping in ("all", "size_class", "capacity_class", "leadership", "rural"):
        for group, g in df.groupby(grouping, sort=True):
            per_rep = []
            for r, gr in g.groupby("replicate"):
                j = gr[gr["joined"]]
                v = {"joined": gr["joined"].mean()}
                for k in ("elements_changed", "share_transformed", "share_consistent", "share_aligned",
                          "share_continuity_changes", "share_beyond_signature_practice", "hlpp_share_end",
                          "cost_district", "cost_subsidy"):
                    v[k] = j[k].mean() if len(j) else np.nan
                v["cost_per_student"] = j["cost_district"].sum() / j["students"].sum() if len(j) else np.nan
                per_rep.append(v)
            t = pd.DataFrame(per_rep)
            row = {"grouping": grouping, "group": group, "districts": int(g["district"].nunique()),
                   "replicates": int(g["replicate"].nunique())}
            for k in SUMMARY_OUTCOMES:
                x = t[k].dropna()
                row[k] = float(x.mean()) if len(x) else np.nan
                row[f"{k}_p05"] = float(x.quantile(lo_q)) if len(x) else np.nan
                row[f"{k}_p95"] = float(x.quantile(hi_q)) if len(x) else np.nan
            rows.append(row)
    return pd.DataFrame(rows)


def format_summary(summary: pd.DataFrame) -> str:
    """A text table of the summary (joined share, elements changed, cost per district)."""
    lines = [f"{'grouping':<15} {'group':<34} {'n':>5} {'joined':>17} {'elements changed':>19} {'cost/district (USD)':>27}"]
    for _, r in summary.iterrows():
        def cell(k, fmt):
            if pd.isna(r[k]):
                return "-"
            return f"{fmt.format(r[k])} [{fmt.format(r[k + '_p05'])}, {fmt.format(r[k + '_p95'])}]"
        lines.append(f"{r['grouping']:<15} {str(r['group']):<34} {r['districts']:>5} {cell('joined', '{:.2f}'):>17} "
                     f"{cell('elements_changed', '{:.2f}'):>19} {cell('cost_district', '{:,.0f}'):>27}")
    return "\n".join(lines)


__all__ = [
    "PopulationError",
    "PopulationSpec",
    "RolloutPlan",
    "RolloutResult",
    "district_conditions",
    "draw_district",
    "format_summary",
    "generate_population",
    "load_population",
    "load_rollout",
    "make_rollout_plan",
    "run_rollout",
    "run_rollout_chunk",
    "summarise_rollout",
    "validate_population",
]
