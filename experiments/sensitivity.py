"""Global sensitivity analysis with SALib: Morris screening of every factor, then Sobol' indices
(first, total, second order) of the factors that matter, on a stochastic model.

Python API (the CLI's ``coherence-sim sensitivity SPEC`` calls exactly these)::

    from experiments.sensitivity import load_sensitivity_spec, run_study, run_morris, run_sobol

    spec = load_sensitivity_spec("experiments/data/sensitivity/default.toml")
    study = run_study(spec, "results/sensitivity/default", workers=2)   # Morris, selection, Sobol, report
    study.morris.indices        # DataFrame: output, factor, group, mu, mu_star, sigma, mu_star_conf, mu_star_norm, ...
    study.morris.selection      # DataFrame: group, score, selected, why
    study.sobol.indices         # DataFrame: output, group, S1, S1_conf, ST, ST_conf, N
    study.sobol.second_order    # DataFrame: output, group_a, group_b, S2, S2_conf
    study.sobol.history         # the indices at every N of the doubling, with the CI movement
    study.sobol.noise           # share of output variance that is replicate noise
    study.sobol.types           # within-type total-order indices and means per district type
    study.sobol.salib[output]   # SALib's own ResultDict

    # Morris or Sobol alone (e.g. Sobol on chosen groups):
    m = run_morris(spec, out_dir)
    s = run_sobol(spec, out_dir, groups=["capacity", "lead_authority", "lead_buy_in"])

    # any function of the unit cube (tests use Ishigami): the same doubling and analysis
    res = sobol_doubling(problem, evaluate, outputs=["y"], n_start=64, n_max=4096, ...)

**Factors** live in a spec file (``experiments/data/sensitivity/default.toml``, see its header): each
factor maps ``u`` in [0, 1] to dotted scenario keys (model parameters, booleans by threshold,
capacities by bins, a size that sets schools/leaders/teachers, a shock). SALib only ever sees the unit
cube; :class:`FactorSpace` turns its samples into scenarios.

**Runs** go through the sweep engine: each task is ``experiments.sweep.run_chunk`` (the same worker
code, outcome definitions and per-run error capture), on ``experiments.execution.executor`` (local processes or
a Dask cluster), stored as chunks of ``experiments.execution.store.SweepStore`` folders readable with
``experiments.sweep.load_results``. One difference, on purpose: **common random numbers**. The sweep
seeds run (design point i, replicate r) with ``SeedSequence(seed, spawn_key=(i, r))``, so replicates at
different design points share nothing. Here every design point's replicate r uses
``spawn_key=(0, r)`` (the worker runs the chunk as design point 0 and relabels its rows): the same
random numbers at every design point, so differences between design points are differences of the
factors, not of the draws (documented in each store's manifest under ``seeding``).

**Stochastic model**: ``replicates`` runs per design point; indices are computed on the replicate means
(shares pooled over replicates: elements transformed / elements changed, summed over replicates), and
the share of variance that is replicate noise is reported (:func:`noise_table`).

**Sobol doubling**: ``SALib.sample.sobol.sample(..., scramble=True, seed=s)`` draws the first N points of
one scrambled Sobol' sequence, so the N design is a prefix of the 2N design (checked at every step and
by the tests); a study at 2N reuses every run of N (the store's chunks are base points of the
sequence). N doubles from ``n_start`` until no S1/ST confidence-interval endpoint moves by more than
``tolerance`` between N/2 and N, or N reaches ``n_max``.

**Resume**: a study's stores are keyed by a hash of everything that fixes their runs (base scenario,
factor mapping, varied groups, seeds, replicates, chunking); running the same spec into the same
folder again computes only the chunks not yet stored.
"""

from __future__ import annotations

import json
import math
import os
import socket
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from sim.parameters import PARAMETER_SPECS
from sim.results import OUTCOME_NAMES
from sim.vocab import Alignment, Capacity, Consistency, Continuity, Element, Substantiveness

from .execution.provenance import content_hash, provenance
from .scenario import Scenario, ScenarioError, apply_overrides, load_scenario, scenario_dict, validate_scenario

DEFAULT_SPEC = Path(__file__).resolve().parent / "data" / "sensitivity" / "default.toml"
DEFAULT_OUTPUTS = (
    "share_transformed",
    "share_continuity_changes",
    "share_continuity_end",
    "share_consistent",
    "share_aligned",
    "elements_changed",
)
#: outputs that are ratios over changed elements: pooled over replicates with elements_changed as weight
RATIO_OUTPUTS = tuple(n for n in OUTCOME_NAMES if n != "elements_changed")
FACTOR_KINDS = ("parameter", "continuous", "bool", "shock", "size", "capacity", "capacity_level")
from .execution.session import MAX_ATTEMPTS, now  # noqa: E402
SEEDING = "SeedSequence(seed, spawn_key=(0, replicate)) at every design point (common random numbers)"


class SensitivityError(ValueError):
    """A spec, design or study that cannot be used or completed; the message says why."""


# === the spec file ===========================================================================
_SPEC = ConfigDict(extra="forbid", allow_inf_nan=False)


class StudySection(BaseModel):
    model_config = _SPEC
    name: str = Field(default="sensitivity", min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    scenario: str | None = Field(default=None, min_length=1, max_length=4096)
    seed: int = Field(default=20201, ge=0, le=2**63 - 1, strict=True)
    replicates: int = Field(default=8, ge=1, le=10_000, strict=True)
    outputs: list[str] = Field(default_factory=lambda: list(DEFAULT_OUTPUTS), min_length=1)
    chunk_runs: int = Field(default=400, ge=1, le=1_000_000, strict=True)

    @field_validator("outputs")
    @classmethod
    def _known(cls, v):
        bad = [o for o in v if o not in OUTCOME_NAMES]
        if bad:
            raise ValueError(f"unknown output(s) {', '.join(bad)}; allowed: {', '.join(OUTCOME_NAMES)}")
        if len(set(v)) != len(v):
            raise ValueError("an output is listed twice")
        return v


class MorrisSection(BaseModel):
    model_config = _SPEC
    trajectories: int = Field(default=24, ge=2, le=100_000, strict=True)
    levels: int = Field(default=6, ge=2, le=100, strict=True)
    seed: int = Field(default=11, ge=1, le=2**32 - 1, strict=True)
    num_resamples: int = Field(default=1000, ge=10, le=100_000, strict=True)
    conf_level: float = Field(default=0.95, gt=0.0, lt=1.0)
    threshold: float = Field(default=0.1, ge=0.0, le=1.0)
    max_groups: int = Field(default=12, ge=2, le=1000, strict=True)
    always: list[str] = Field(default_factory=list)

    @field_validator("levels")
    @classmethod
    def _even(cls, v):
        if v % 2:
            raise ValueError(f"{v} is odd; Morris levels must be even (the step is levels / (2 (levels - 1)))")
        return v


class SobolSection(BaseModel):
    model_config = _SPEC
    n_start: int = Field(default=128, ge=2, le=2**24, strict=True)
    n_max: int = Field(default=1024, ge=2, le=2**24, strict=True)
    second_order: bool = True
    seed: int = Field(default=12, ge=0, le=2**32 - 1, strict=True)
    tolerance: float = Field(default=0.03, ge=0.0, le=1.0)
    num_resamples: int = Field(default=200, ge=10, le=100_000, strict=True)
    conf_level: float = Field(default=0.95, gt=0.0, lt=1.0)

    @model_validator(mode="after")
    def _powers(self):
        for k in ("n_start", "n_max"):
            v = getattr(self, k)
            if v & (v - 1):
                raise ValueError(f"{k}: {v} is not a power of two (the Sobol' sequence's balance needs one)")
        if self.n_max < self.n_start:
            raise ValueError(f"n_max ({self.n_max}) is below n_start ({self.n_start})")
        return self


class AnswerSection(BaseModel):
    model_config = _SPEC
    capacity: str = "capacity"
    authority: str = "lead_authority"
    buy_in: str = "lead_buy_in"
    holder: str = "competing_holder"
    important: float = Field(default=0.05, gt=0.0, lt=1.0)


class CapacitySection(BaseModel):
    model_config = _SPEC
    marginal: list[float] = Field(default_factory=lambda: [7.0, 3.0, 14.0], min_length=3, max_length=3)
    level_weight: float = Field(default=0.5, ge=0.0, le=1.0)

    @field_validator("marginal")
    @classmethod
    def _positive(cls, v):
        if any(x <= 0 for x in v):
            raise ValueError("every capacity needs a positive weight (did_not_exist, emergent, established)")
        return v


class SizeSection(BaseModel):
    model_config = _SPEC
    elementary_students_share: float = Field(default=0.5, gt=0.0, le=1.0)
    students_per_elementary_school: float = Field(default=450.0, gt=0.0)
    school_leaders_per_school: int = Field(default=2, ge=1, strict=True)
    prek3_share: float = Field(default=0.4, gt=0.0, le=1.0)
    students_per_teacher: float = Field(default=22.0, gt=0.0)
    band_shares: list[float] = Field(default_factory=lambda: [0.17, 0.08, 0.75], min_length=3, max_length=3)
    team_teachers: int = Field(default=6, ge=1, strict=True)
    one_school_team_share: float = Field(default=0.5, gt=0.0, le=1.0)


class RangesSection(BaseModel):
    model_config = _SPEC
    posterior: str = ""
    quantiles: list[float] = Field(default_factory=lambda: [0.025, 0.975], min_length=2, max_length=2)

    @field_validator("quantiles")
    @classmethod
    def _order(cls, v):
        if not 0.0 <= v[0] < v[1] <= 1.0:
            raise ValueError(f"{v}: needs 0 <= low < high <= 1")
        return v


class FactorSpec(BaseModel):
    """One factor: how u in [0, 1] becomes scenario values, and why (``reason``)."""

    model_config = _SPEC
    kind: Literal[FACTOR_KINDS]  # type: ignore[valid-type]
    reason: str = Field(min_length=10, max_length=4000)
    group: str | None = Field(default=None, min_length=1, max_length=100)
    key: str | None = Field(default=None, min_length=1, max_length=500)
    district: str | None = Field(default=None, min_length=1, max_length=200)
    element: str | None = None
    shock: str | None = None
    month: int | None = Field(default=None, ge=0, le=240)
    low: float | None = None
    high: float | None = None
    scale: Literal["linear", "log"] = "linear"
    threshold: float | None = Field(default=None, gt=0.0, lt=1.0)
    nominal: Any = None

    @model_validator(mode="after")
    def _fields_of_kind(self):
        need = {
            "parameter": (),
            "continuous": ("key", "low", "high"),
            "bool": ("key", "threshold"),
            "shock": ("district", "shock", "month", "threshold"),
            "size": ("district", "low", "high"),
            "capacity": ("district", "element"),
            "capacity_level": ("district",),
        }[self.kind]
        missing = [k for k in need if getattr(self, k) is None]
        if missing:
            raise ValueError(f"kind {self.kind!r} needs {', '.join(missing)}")
        if self.kind == "capacity" and self.element not in Element.keys():
            raise ValueError(f"element {self.element!r} is not allowed; allowed: {', '.join(Element.keys())}")
        if self.low is not None and self.high is not None:
            if not self.low < self.high:
                raise ValueError(f"low ({self.low}) must be below high ({self.high})")
            if self.scale == "log" and self.low <= 0:
                raise ValueError(f"scale = 'log' needs low > 0, got {self.low}")
        if self.kind in ("capacity", "capacity_level") and self.nominal is not None:
            if isinstance(self.nominal, bool) or not isinstance(self.nominal, (int, float)) or not 0 <= self.nominal <= 1:
                raise ValueError(f"nominal of a {self.kind} factor is a u in [0, 1], got {self.nominal!r}")
        return self


class SensitivitySpec(BaseModel):
    """A sensitivity spec file (see ``experiments/data/sensitivity/default.toml``)."""

    model_config = _SPEC
    study: StudySection = Field(default_factory=StudySection)
    morris: MorrisSection = Field(default_factory=MorrisSection)
    sobol: SobolSection = Field(default_factory=SobolSection)
    answer: AnswerSection = Field(default_factory=AnswerSection)
    capacity: CapacitySection = Field(default_factory=CapacitySection)
    size: SizeSection = Field(default_factory=SizeSection)
    ranges: RangesSection = Field(default_factory=RangesSection)
    types: dict[str, dict[str, Any]] = Field(default_factory=dict)
    scenario: dict[str, Any] | None = None
    factors: dict[str, FactorSpec] = Field(min_length=2)
    # Model parameters deliberately held at their defaults, each with the reason (e.g. inert under
    # the study's provider type); together with the parameter factors they must name every parameter.
    not_varied: dict[str, str] = Field(default_factory=dict)
    _base_dir: Path = PrivateAttr(default_factory=Path.cwd)

    @field_validator("not_varied")
    @classmethod
    def _not_varied_are_parameters(cls, v: dict[str, str]) -> dict[str, str]:
        bad = sorted(k for k in v if k not in PARAMETER_SPECS)
        if bad:
            raise ValueError(f"{', '.join(bad)} not a model parameter; allowed: {', '.join(PARAMETER_SPECS)}")
        short = sorted(k for k, reason in v.items() if len(str(reason).strip()) < 20)
        if short:
            raise ValueError(f"{', '.join(short)}: give a reason (at least 20 characters) for not varying it")
        return v

    @model_validator(mode="after")
    def _not_varied_and_varied_are_disjoint(self):
        both = sorted(n for n, f in self.factors.items() if f.kind == "parameter" and n in self.not_varied)
        if both:
            raise ValueError(f"not_varied: {', '.join(both)} also a factor; a parameter is either varied or not")
        return self
    _source: str | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _one_scenario(self):
        if (self.scenario is None) == (self.study.scenario is None):
            raise ValueError("give the base scenario either inline ([scenario]) or as a file ([study] scenario = PATH), exactly one")
        return self

    @property
    def name(self) -> str:
        return self.study.name

    def resolve(self, rel: str) -> Path:
        p = Path(rel).expanduser()
        return p if p.is_absolute() else self._base_dir / p

    def base_scenario(self) -> Scenario:
        if self.scenario is not None:
            try:
                return validate_scenario(self.scenario)
            except ScenarioError as exc:
                raise SensitivityError(f"sensitivity spec [scenario]: {exc}") from None
        return load_scenario(self.resolve(self.study.scenario))


def validate_sensitivity_spec(data: Any, base_dir: str | Path | None = None, source: str | None = None) -> SensitivitySpec:
    """Validate plain data (a parsed spec file); errors name the key and what is allowed."""
    if not isinstance(data, dict):
        raise SensitivityError(f"sensitivity spec: expected a table, got {type(data).__name__}")
    try:
        spec = SensitivitySpec.model_validate(data)
    except ValidationError as exc:
        parts = []
        for err in exc.errors(include_url=False)[:8]:
            loc = ".".join(str(p) for p in err["loc"]) or "spec"
            if err["type"] == "extra_forbidden":
                parts.append(f"{loc}: unknown key")
            elif err["type"] == "missing":
                parts.append(f"{loc}: missing")
            else:
                v = err.get("input")
                shown = repr(v) if not isinstance(v, (dict, list)) else type(v).__name__
                parts.append(f"{loc}: {shown[:80]} is not allowed: {err['msg'].removeprefix('Value error, ')}")
        raise SensitivityError("sensitivity spec: " + "; ".join(parts)) from None
    spec._base_dir = Path(base_dir) if base_dir is not None else Path.cwd()
    spec._source = source
    return spec


def load_sensitivity_spec(path: str | Path = DEFAULT_SPEC) -> SensitivitySpec:
    """Read a sensitivity spec (TOML, parsed safely, with the scenario files' limits on size and depth)."""
    from .scenario import parse_toml, read_input_file

    p = Path(path)
    if p.suffix.lower() != ".toml":
        raise SensitivityError(f"sensitivity spec {p}: expected a .toml file")
    try:
        data = parse_toml(read_input_file(p, "sensitivity spec"), f"sensitivity spec {p}")
    except ScenarioError as exc:
        raise SensitivityError(str(exc)) from None
    return validate_sensitivity_spec(data, base_dir=p.resolve().parent, source=str(p))


# === factors: from the unit cube to scenarios ================================================
@dataclass
class Factor:
    """A factor with its resolved range (after a posterior, if any) and nominal value."""

    name: str
    kind: str
    group: str
    reason: str
    low: float | None = None
    high: float | None = None
    scale: str = "linear"
    threshold: float | None = None
    key: str | None = None
    district: str | None = None
    element: str | None = None
    shock: str | None = None
    month: int | None = None
    nominal: Any = None
    nominal_u: float = 0.5
    range_source: str = "spec"

    def value(self, u: float) -> float:
        """Continuous map of u (parameter, continuous, size)."""
        if self.scale == "log":
            return float(self.low * (self.high / self.low) ** u)
        return float(self.low + u * (self.high - self.low))

    def unit(self, x: float) -> float:
        if self.scale == "log":
            return math.log(x / self.low) / math.log(self.high / self.low)
        return (x - self.low) / (self.high - self.low)

    def describe(self) -> dict:
        d = {k: getattr(self, k) for k in ("name", "kind", "group", "low", "high", "scale", "threshold", "key", "district", "element", "shock", "month", "nominal", "nominal_u")}
        return {k: v for k, v in d.items() if v is not None}

    def mapping(self) -> str:
        """One line saying how u becomes the scenario value."""
        if self.kind in ("parameter", "continuous"):
            key = self.key or f"parameters.{self.name}"
            return f"{key} = {'log-uniform' if self.scale == 'log' else 'uniform'} [{_num(self.low)}, {_num(self.high)}]"
        if self.kind == "bool":
            return f"{self.key} = (u >= {self.threshold}), P(true) = {1 - self.threshold:g}"
        if self.kind == "shock":
            return f"{self.shock} at month {self.month} if u >= {self.threshold} (P = {1 - self.threshold:g})"
        if self.kind == "size":
            return f"students {'log-uniform' if self.scale == 'log' else 'uniform'} [{_num(self.low)}, {_num(self.high)}]; schools, leaders, teachers derived"
        if self.kind == "capacity":
            return f"capacity of {self.element}: bin of (1-w) u + w u_level"
        return "district-wide capacity level: shifts every element's bin"


def _num(x) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


def _two_uniform_cdf(x: float, a: float, b: float) -> float:
    """CDF of a U1 + b U2 (U1, U2 independent uniforms on [0, 1]; a, b >= 0)."""
    if a < b:
        a, b = b, a
    if b == 0:
        return min(max(x / a, 0.0), 1.0)
    if x <= 0:
        return 0.0
    if x >= a + b:
        return 1.0
    if x <= b:
        return x * x / (2 * a * b)
    if x <= a:
        return (x - b / 2) / a
    return 1.0 - (a + b - x) ** 2 / (2 * a * b)


def capacity_cuts(marginal: Sequence[float], level_weight: float) -> tuple[float, float]:
    """Cut points t1 < t2 on z = (1-w) u_e + w u_level such that P(z < t1), P(t1 <= z < t2), P(z >= t2)
    are the marginal shares of did_not_exist, emergent, established."""
    p = np.asarray(marginal, float) / float(np.sum(marginal))
    a, b = 1.0 - level_weight, level_weight
    cuts = []
    for q in (p[0], p[0] + p[1]):
        lo, hi = 0.0, 1.0
        for _ in range(80):
            mid = 0.5 * (lo + hi)
            if _two_uniform_cdf(mid, a, b) < q:
                lo = mid
            else:
                hi = mid
        cuts.append(0.5 * (lo + hi))
    return cuts[0], cuts[1]


class FactorSpace:
    """The study's factors: unit-cube samples -> natural values -> dotted-key scenario overrides."""

    def __init__(self, spec: SensitivitySpec, base: Scenario | None = None) -> None:
        self.spec = spec
        self.base = base if base is not None else spec.base_scenario()
        self.capacity = spec.capacity
        self.size = spec.size
        posterior = _load_posterior(spec) if spec.ranges.posterior else None
        self.factors: list[Factor] = []
        for name, f in spec.factors.items():
            self.factors.append(self._resolve(name, f, posterior))
        # order: groups contiguous, in order of first appearance (SALib's group order)
        order = list(dict.fromkeys(f.group for f in self.factors))
        self.factors.sort(key=lambda f: order.index(f.group))
        self.names = [f.name for f in self.factors]
        self.groups = [f.group for f in self.factors]
        self.group_names = list(dict.fromkeys(self.groups))
        self._by_name = {f.name: f for f in self.factors}
        levels = {f.district for f in self.factors if f.kind == "capacity_level"}
        self._cuts = {
            d: capacity_cuts(self.capacity.marginal, self.capacity.level_weight if d in levels else 0.0)
            for d in {f.district for f in self.factors if f.kind in ("capacity", "capacity_level")}
        }
        self._check()

    # --- building ---------------------------------------------------------------------------
    def _resolve(self, name: str, f: FactorSpec, posterior: pd.DataFrame | None) -> Factor:
        where = f"factors.{name}"
        fac = Factor(name=name, kind=f.kind, group=f.group or name, reason=f.reason, low=f.low, high=f.high, scale=f.scale,
                     threshold=f.threshold, key=f.key, district=f.district, element=f.element, shock=f.shock, month=f.month)
        if f.kind == "parameter":
            ps = PARAMETER_SPECS.get(name)
            if ps is None:
                raise SensitivityError(f"{where}: {name!r} is not a model parameter; allowed: {', '.join(PARAMETER_SPECS)}")
            fac.key = f"parameters.{name}"
            fac.low = ps.low if f.low is None else f.low
            fac.high = ps.high if f.high is None else f.high
            if fac.low < ps.low or fac.high > ps.high:
                raise SensitivityError(f"{where}: [{fac.low}, {fac.high}] leaves the parameter's range [{ps.low}, {ps.high}]")
            fac.nominal = ps.default if f.nominal is None else float(f.nominal)
            if posterior is not None and name in posterior.columns:
                w = posterior["weight"].to_numpy(float) if "weight" in posterior.columns else np.ones(len(posterior))
                x = posterior[name].to_numpy(float)
                lo, hi = (_weighted_quantile(x, w, q) for q in self.spec.ranges.quantiles)
                lo, hi = max(lo, ps.low), min(hi, ps.high)
                if hi > lo:
                    if fac.scale == "log" and lo <= 0:
                        fac.scale = "linear"
                    fac.low, fac.high = lo, hi
                    fac.nominal = float(min(max(_weighted_quantile(x, w, 0.5), lo), hi))
                    fac.range_source = "posterior"
        if f.kind in ("bool", "shock"):
            nominal = False if f.nominal is None else f.nominal
            if not isinstance(nominal, bool):
                raise SensitivityError(f"{where}.nominal: {nominal!r} is not allowed; allowed: true or false")
            fac.nominal = nominal
            fac.nominal_u = (1.0 + f.threshold) / 2 if nominal else f.threshold / 2
        elif f.kind in ("capacity", "capacity_level"):
            fac.nominal_u = 0.5 if f.nominal is None else float(f.nominal)
            fac.nominal = fac.nominal_u
        else:
            if fac.nominal is None:
                if f.nominal is None:
                    raise SensitivityError(f"{where}.nominal: missing (where the factor stays when it is not varied)")
                fac.nominal = f.nominal
            if isinstance(fac.nominal, bool) or not isinstance(fac.nominal, (int, float)) or not fac.low <= fac.nominal <= fac.high:
                raise SensitivityError(f"{where}.nominal: {fac.nominal!r} is not allowed; allowed: a number in [{fac.low}, {fac.high}]")
            fac.nominal_u = fac.unit(float(fac.nominal))
        if f.kind == "shock":
            from sim.conditions import SHOCK_KINDS

            if f.shock not in SHOCK_KINDS:
                raise SensitivityError(f"{where}.shock: {f.shock!r} is not allowed; allowed: {', '.join(SHOCK_KINDS)}")
        if f.kind in ("shock", "size", "capacity", "capacity_level") and f.district not in self.base.districts:
            raise SensitivityError(f"{where}.district: {f.district!r} is not a district of the scenario; allowed: {', '.join(self.base.districts)}")
        return fac

    def _check(self) -> None:
        seen: dict[tuple, str] = {}
        for f in self.factors:
            tag = (f.kind, f.key or "", f.district or "", f.element or "", f.shock or "")
            if tag in seen:
                raise SensitivityError(f"factors.{f.name}: sets the same thing as factors.{seen[tag]}")
            seen[tag] = f.name
        members: dict[str, list[str]] = {}
        for f in self.factors:
            members.setdefault(f.group, []).append(f.name)
        clash = [g for g in members if g in self._by_name and members[g] != [g]]
        if clash:
            raise SensitivityError(f"group {clash[0]!r}: has the name of a factor outside it; rename the group")
        for f in self.factors:
            if f.kind == "capacity_level":
                missing = [e for e in Element.keys() if not any(g.kind == "capacity" and g.district == f.district and g.element == e for g in self.factors)]
                if missing:
                    raise SensitivityError(f"factors.{f.name}: a district-wide capacity level acts through the element factors; "
                                           f"district {f.district} has none for {', '.join(missing)}")
        # every corner and the nominal point must be a valid scenario (a bad key fails here, named)
        for label, u in (("nominal", self.nominal_unit()), ("all u = 0", np.zeros(len(self.factors))), ("all u = 1", np.full(len(self.factors), 1.0 - 1e-12))):
            try:
                apply_overrides(self.base, self.overrides(u[None, :])[0])
            except ScenarioError as exc:
                raise SensitivityError(f"factors ({label}): not a valid scenario: {exc}") from None

    # --- mapping ----------------------------------------------------------------------------
    def nominal_unit(self) -> np.ndarray:
        return np.array([f.nominal_u for f in self.factors], float)

    def index(self, names: Sequence[str]) -> list[int]:
        try:
            return [self.names.index(n) for n in names]
        except ValueError:
            bad = [n for n in names if n not in self.names]
            raise SensitivityError(f"unknown factor(s) {', '.join(bad)}; allowed: {', '.join(self.names)}") from None

    def members(self, groups: Sequence[str]) -> list[str]:
        bad = [g for g in groups if g not in self.group_names]
        if bad:
            raise SensitivityError(f"unknown group(s) {', '.join(bad)}; allowed: {', '.join(self.group_names)}")
        return [f.name for f in self.factors if f.group in set(groups)]

    def problem(self, names: Sequence[str] | None = None, grouped: bool = True) -> dict:
        """SALib problem on the unit cube for ``names`` (default: every factor), with groups."""
        names = list(self.names if names is None else names)
        fs = [self._by_name[n] for n in names]
        prob = {"num_vars": len(names), "names": names, "bounds": [[0.0, 1.0]] * len(names)}
        if grouped:
            prob["groups"] = [f.group for f in fs]
        return prob

    def full(self, U: np.ndarray, names: Sequence[str]) -> np.ndarray:
        """Samples of ``names`` -> samples of every factor (the others at their nominal u)."""
        U = np.atleast_2d(np.asarray(U, float))
        out = np.tile(self.nominal_unit(), (len(U), 1))
        out[:, self.index(names)] = U
        return out

    def natural(self, U: np.ndarray) -> pd.DataFrame:
        """Natural value of every factor for full-space samples ``U`` (rows x factors)."""
        U = np.atleast_2d(np.asarray(U, float))
        cols: dict[str, Any] = {}
        for j, f in enumerate(self.factors):
            u = U[:, j]
            if f.kind in ("parameter", "continuous"):
                cols[f.name] = np.array([f.value(x) for x in u])
            elif f.kind in ("bool", "shock"):
                cols[f.name] = u >= f.threshold
            elif f.kind == "size":
                cols[f.name] = np.array([int(round(f.value(x))) for x in u], dtype=np.int64)
            elif f.kind == "capacity_level":
                cols[f.name] = u.copy()
        for j, f in enumerate(self.factors):
            if f.kind == "capacity":
                cols[f.name] = np.array([Capacity(c).key for c in self._capacity_codes(U, f.district, j)], dtype=object)
        return pd.DataFrame({f.name: cols[f.name] for f in self.factors})

    def _capacity_codes(self, U: np.ndarray, district: str, j: int) -> np.ndarray:
        lvl = [i for i, f in enumerate(self.factors) if f.kind == "capacity_level" and f.district == district]
        w = self.capacity.level_weight if lvl else 0.0
        z = (1 - w) * U[:, j] + (w * U[:, lvl[0]] if lvl else 0.0)
        t1, t2 = self._cuts[district]
        return np.where(z < t1, int(Capacity.DID_NOT_EXIST), np.where(z < t2, int(Capacity.EMERGENT), int(Capacity.ESTABLISHED)))

    def overrides(self, U: np.ndarray) -> list[dict[str, Any]]:
        """Dotted-key overrides (experiments.scenario.apply_overrides) for each full-space sample."""
        nat = self.natural(U)
        out: list[dict[str, Any]] = []
        records = nat.to_dict("records")
        for row in records:
            ov: dict[str, Any] = {}
            shocks: dict[str, list] = {}
            for f in self.factors:
                v = row[f.name]
                if f.kind in ("parameter", "continuous", "bool"):
                    ov[f.key] = bool(v) if f.kind == "bool" else float(v)
                elif f.kind == "capacity":
                    ov[f"districts.{f.district}.capacity.{f.element}"] = v
                elif f.kind == "size":
                    ov.update(self._size_overrides(f.district, int(v)))
                elif f.kind == "shock":
                    cur = shocks.setdefault(f.district, [s.model_dump() for s in self.base.districts[f.district].shocks if s.kind != f.shock])
                    if v:
                        cur.append({"kind": f.shock, "month": int(f.month)})
            for d, lst in shocks.items():
                ov[f"districts.{d}.shocks"] = sorted(lst, key=lambda s: (s["month"], s["kind"]))
            out.append(ov)
        return out

    def _size_overrides(self, district: str, students: int) -> dict[str, Any]:
        s = self.size
        d = self.base.districts[district]
        schools = max(1, int(round(students * s.elementary_students_share / s.students_per_elementary_school)))
        teachers = max(1, math.ceil(students * s.prek3_share / s.students_per_teacher))
        shares = np.asarray(s.band_shares, float) / float(np.sum(s.band_shares))
        prek = max(1, int(round(teachers * shares[0]))) if d.has_prek else 0
        prek = min(prek, teachers)
        tk = min(int(round(teachers * shares[1])), teachers - prek)
        k3 = teachers - prek - tk
        team = int(round(teachers * s.one_school_team_share)) if schools == 1 else min(teachers, s.team_teachers)
        team = max(1, min(teachers, team))
        p = f"districts.{district}"
        return {
            f"{p}.students": int(students),
            f"{p}.n_elementary_schools": schools,
            f"{p}.n_school_leaders": schools * s.school_leaders_per_school,
            f"{p}.teachers": {"prek": prek, "tk": tk, "k3": k3},
            f"{p}.team_teachers": team,
        }

    def describe(self) -> dict:
        """Everything that fixes the mapping (for hashes and the report)."""
        return {
            "factors": [f.describe() for f in self.factors],
            "capacity": self.capacity.model_dump(),
            "size": self.size.model_dump(),
            "base": content_hash(scenario_dict(self.base)),
        }

    def table(self) -> pd.DataFrame:
        """One row per factor: group, kind, mapping, nominal, source of the range, reason."""
        return pd.DataFrame(
            [{"factor": f.name, "group": f.group, "kind": f.kind, "mapping": f.mapping(), "nominal": f.nominal,
              "range_source": f.range_source, "reason": f.reason} for f in self.factors]
        )


def _weighted_quantile(x: np.ndarray, w: np.ndarray, q: float) -> float:
    o = np.argsort(x)
    x, w = x[o], w[o]
    c = np.cumsum(w) - 0.5 * w
    c /= w.sum()
    return float(np.interp(q, c, x))


def _load_posterior(spec: SensitivitySpec) -> pd.DataFrame:
    if spec.ranges.posterior == "calibrated":  # the posterior shipped with the package (issue 4)
        from experiments.evidence import load_posterior_samples

        try:
            return load_posterior_samples()
        except ValueError as exc:
            raise SensitivityError(f"ranges.posterior 'calibrated': {exc}") from None
    p = spec.resolve(spec.ranges.posterior)
    if not p.is_file():
        raise SensitivityError(f"ranges.posterior {p}: does not exist")
    try:
        df = pd.read_parquet(p) if p.suffix.lower() in (".parquet", ".pq") else pd.read_csv(p)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is bad input
        raise SensitivityError(f"ranges.posterior {p}: cannot be read ({exc})") from None
    if not any(c in PARAMETER_SPECS for c in df.columns):
        raise SensitivityError(f"ranges.posterior {p}: no column names a model parameter")
    if "weight" in df.columns and not (df["weight"].to_numpy(float) >= 0).all():
        raise SensitivityError(f"ranges.posterior {p}: negative weights")
    return df


# === running designs through the sweep engine, with common random numbers ====================
def run_crn_chunk(task: dict) -> dict:
    """A worker's task: ``experiments.sweep.run_chunk`` with every design point seeded as design
    point 0 (common random numbers), its rows then labelled with their real design points."""
    from .sweep import run_chunk

    items = task["items"]
    res = run_chunk(dict(task, items=[(0, reps, ov) for _, reps, ov in items]))
    labels = np.concatenate([np.full(len(reps), dp, dtype=np.int64) for dp, reps, _ in items])
    runs = res["runs"]
    if len(labels) != len(runs["design_point"]):  # run_chunk emits one row per (item, replicate), in order
        raise RuntimeError("run_chunk returned an unexpected number of rows")
    runs["design_point"] = labels
    ok = np.array([s == "ok" for s in runs["status"]], bool)
    el = res["elements"]
    n_el = len(el["design_point"])
    if ok.sum():
        per = n_el // int(ok.sum())
        el["design_point"] = np.repeat(labels[ok], per)
    return res


class _Engine:
    """Runs full-space designs into sweep-format stores, chunk by chunk, resumable."""

    def __init__(self, space: FactorSpace, replicates: int, seed: int, workers=None, scheduler=None, quiet: bool = False) -> None:
        self.space = space
        self.replicates = int(replicates)
        self.seed = int(seed)
        self.workers, self.scheduler, self.quiet = workers, scheduler, quiet
        self.base_dict = scenario_dict(space.base)
        self.base_hash = content_hash(self.base_dict)
        self.districts = list(space.base.districts)
        self._executor = None
        self.runs_session = 0
        self.seconds = 0.0

    def close(self, cancel: bool = False) -> None:
        if self._executor is not None:
            try:
                self._executor.close(cancel=cancel)
            except Exception:  # noqa: BLE001
                pass
            self._executor = None

    def describe_executor(self) -> str:
        return self._executor.describe() if self._executor is not None else "none"

    def ensure(self, root: Path, plan: dict, U: np.ndarray, chunk_rows: int, label: str) -> None:
        """Make sure the first ``len(U)`` design points (full-space unit rows) are stored in ``root``."""
        from .execution.executor import make_executor
        from .execution.session import run_session
        from .execution.store import SweepStore

        n = len(U)
        if n % chunk_rows:
            raise SensitivityError(f"{label}: {n} design points are not a whole number of chunks of {chunk_rows}")
        plan_hash = content_hash(plan)
        manifest = {
            "format": "coherence-sim sweep",
            "format_version": 1,
            "name": f"sensitivity-{label}",
            "plan_hash": plan_hash,
            "plan": {"stage": label, "replicates": self.replicates, "seed": self.seed, "chunk_rows": chunk_rows,
                     "factors": self.space.names, "scenario_hash": self.base_hash},
            "spec": plan,
            "seeding": SEEDING,
            "provenance": provenance(scenario_hash=self.base_hash, plan_hash=plan_hash),
            "sessions": [{"started": now(), "host": socket.gethostname(), "pid": os.getpid(), "design_points": n}],
        }
        store = SweepStore.open(root, manifest, resume=True)

        def before() -> None:
            if not (root / "scenario.toml").exists():
                from .scenario import dump_scenario

                dump_scenario(self.space.base, root / "scenario.toml")

        try:
            done = run_session(
                store, n // chunk_rows, compute=run_crn_chunk, task_of=lambda c: self._task(c, U, chunk_rows),
                key_of=lambda c: f"coherence-sens-{label.split()[0]}-{c:06d}",
                save=lambda c, result, attempt: self._store(store, c, U, chunk_rows, result),
                runs_in_chunk=lambda c: chunk_rows * self.replicates,
                make_executor=lambda n_todo: make_executor(workers=self.workers, scheduler=self.scheduler, max_tasks=n_todo),
                describe=lambda done_runs: f"sensitivity {label}", executor=self._executor, keep_executor=True,
                quiet=self.quiet, before=before,
            )
        except BaseException:
            self._executor = None  # the session closed it
            raise
        self._executor = done.executor
        self.runs_session += done.runs
        self.seconds += done.seconds
        if done.failed:
            c, msg = sorted(done.failed.items())[0]
            raise SensitivityError(f"{label}: {len(done.failed)} chunk(s) failed after {MAX_ATTEMPTS} attempts (chunk {c}: {msg}); run again to retry them")

    def _task(self, c: int, U: np.ndarray, chunk_rows: int) -> dict:
        rows = range(c * chunk_rows, (c + 1) * chunk_rows)
        ovs = self.space.overrides(U[rows.start:rows.stop])
        reps = list(range(self.replicates))
        return {"chunk": c, "seed": self.seed, "base_hash": self.base_hash, "base": self.base_dict,
                "items": [(int(i), reps, ov) for i, ov in zip(rows, ovs)]}

    def _store(self, store, c: int, U: np.ndarray, chunk_rows: int, result: dict) -> int:
        import pyarrow as pa

        from .execution.store import elements_schema

        r = result["runs"]
        dp = np.asarray(r["design_point"], np.int64)
        n = len(dp)
        local = dp - c * chunk_rows
        Uc = U[c * chunk_rows:(c + 1) * chunk_rows]
        nat = self.space.natural(Uc)
        cols: dict[str, Any] = {
            "design_point": pa.array(dp, pa.int64()),
            "replicate": pa.array(np.asarray(r["replicate"], np.int64), pa.int64()),
            "seed": pa.array(np.full(n, self.seed, np.int64), pa.int64()),
            "assignment": pa.array(r["assignment"], pa.int32()),
        }
        for j, name in enumerate(self.space.names):
            cols[f"u.{name}"] = pa.array(Uc[local, j], pa.float64())
        for name in self.space.names:
            v = nat[name].to_numpy()[local]
            cols[f"x.{name}"] = pa.array(v.tolist())
        for name in OUTCOME_NAMES:
            cols[name] = pa.array(np.asarray(r[name], float), pa.float64())
        for d in self.districts:
            for name in OUTCOME_NAMES:
                v = result["district_outcomes"].get(f"{d}.{name}")
                cols[f"{d}.{name}"] = pa.array(np.asarray(v, float) if v is not None else np.full(n, np.nan), pa.float64())
        cols["status"] = pa.array(list(r["status"]), pa.string())
        cols["error"] = pa.array(list(r["error"]), pa.string())
        cols["traceback"] = pa.array(list(r["traceback"]), pa.string())
        cols["version"] = pa.array([result["version"]] * n, pa.string())
        cols["git_commit"] = pa.array([result["git_commit"]] * n, pa.string())
        runs = pa.table(cols)
        es = elements_schema()
        e = result["elements"]
        elements = es.empty_table() if len(e["design_point"]) == 0 else pa.table({f.name: e[f.name] for f in es}, schema=es)
        n_err = int(sum(1 for s in r["status"] if s != "ok"))
        store.write_chunk(c, runs, elements, {"runs": n, "errors": n_err, "seconds": round(result["seconds"], 3), "worker": result["worker"]})
        return n


def _load_runs(root: Path, n_points: int, replicates: int, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Runs of the first ``n_points`` design points of a store, sorted (design point, replicate)."""
    import pyarrow.dataset as ds

    from .execution.store import chunk_name, read_manifest

    m = read_manifest(root)
    files = [str(root / "runs" / chunk_name(int(c))) for c in sorted(m.get("completed", {}), key=int)]
    if not files:
        return pd.DataFrame()
    dset = ds.dataset(files, format="parquet")
    cols = None if columns is None else [c for c in dict.fromkeys(["design_point", "replicate", "status", "error", *columns]) if c in dset.schema.names]
    t = dset.to_table(columns=cols, filter=ds.field("design_point") < n_points)
    df = t.to_pandas().sort_values(["design_point", "replicate"], kind="stable").reset_index(drop=True)
    if len(df) != n_points * replicates:
        raise SensitivityError(f"{root}: expected {n_points * replicates} runs of {n_points} design points, found {len(df)}")
    bad = df[df["status"] != "ok"]
    if len(bad):
        raise SensitivityError(f"{root}: {len(bad)} run(s) failed (first: design point {int(bad['design_point'].iat[0])}: {bad['error'].iat[0]})")
    return df


def _load_elements(root: Path, n_points: int) -> pd.DataFrame:
    import pyarrow.dataset as ds

    from .execution.store import chunk_name, read_manifest

    m = read_manifest(root)
    files = [str(root / "elements" / chunk_name(int(c))) for c in sorted(m.get("completed", {}), key=int)]
    if not files:
        return pd.DataFrame()
    dset = ds.dataset(files, format="parquet")
    t = dset.to_table(columns=["design_point", "replicate", "district", "element", "capacity0", "substantiveness", "consistency",
                               "alignment", "continuity", "continuity_end"], filter=ds.field("design_point") < n_points)
    return t.to_pandas()


def output_columns(outputs: Sequence[str], districts: Sequence[str]) -> list[tuple[str, str, str]]:
    """(label, value column, weight column) of each analysed output: pooled over the scenario's
    districts, and per district when there are several."""
    cols = [(o, o, "elements_changed") for o in outputs]
    if len(districts) > 1:
        cols += [(f"{d}.{o}", f"{d}.{o}", f"{d}.elements_changed") for d in districts for o in outputs]
    return cols


def runs_to_arrays(runs: pd.DataFrame, n_points: int, replicates: int, columns: Sequence[tuple[str, str, str]]):
    """Per-run values and weights, shaped (design points, replicates, outputs)."""
    k = len(columns)
    Yr = np.empty((n_points, replicates, k))
    W = np.ones((n_points, replicates, k))
    for j, (label, col, wcol) in enumerate(columns):
        Yr[:, :, j] = runs[col].to_numpy(float).reshape(n_points, replicates)
        if label.split(".")[-1] in RATIO_OUTPUTS:
            W[:, :, j] = runs[wcol].to_numpy(float).reshape(n_points, replicates)
    return Yr, W


def replicate_means(Yr: np.ndarray, W: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Weighted replicate means per design point and output (ratios pooled over replicates); points
    with no valid replicate are imputed with the output's mean. Returns (Y, imputed mask)."""
    if W is None:
        W = np.ones_like(Yr)
    valid = np.isfinite(Yr) & (W > 0)
    sw = np.where(valid, W, 0.0).sum(axis=1)
    s = np.where(valid, Yr * W, 0.0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        Y = s / sw
    imputed = ~np.isfinite(Y)
    if imputed.any():
        fill = np.nanmean(np.where(imputed, np.nan, Y), axis=0)
        Y = np.where(imputed, np.nan_to_num(fill, nan=0.0)[None, :], Y)
    return Y, imputed


def noise_table(Yr: np.ndarray, Y: np.ndarray, labels: Sequence[str], imputed: np.ndarray | None = None) -> pd.DataFrame:
    """How much of the output variance is replicate noise.

    ``noise_share_runs`` = mean over design points of the within-point variance of single runs /
    variance of all runs (law of total variance: the rest is the factors' part);
    ``noise_share_means`` = mean of (within-point variance / valid replicates) / variance of the
    analysed replicate means: the part of the variance Sobol' sees that is noise."""
    rows = []
    for j, lab in enumerate(labels):
        y = Yr[:, :, j]
        ok = np.isfinite(y)
        nv = ok.sum(axis=1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            wv = np.nanvar(np.where(ok, y, np.nan), axis=1, ddof=1)
        use = nv >= 2
        within = float(np.mean(wv[use])) if use.any() else float("nan")
        total = float(np.nanvar(y[ok], ddof=1)) if ok.sum() > 1 else float("nan")
        mean_noise = float(np.mean(wv[use] / nv[use])) if use.any() else float("nan")
        vmeans = float(np.var(Y[:, j], ddof=1)) if len(Y) > 1 else float("nan")
        rows.append({
            "output": lab,
            "design_points": int(len(y)),
            "runs_valid": int(ok.sum()),
            "points_imputed": int(imputed[:, j].sum()) if imputed is not None else 0,
            "var_runs": total,
            "var_within": within,
            "noise_share_runs": within / total if total > 0 else float("nan"),
            "var_means": vmeans,
            "noise_share_means": mean_noise / vmeans if vmeans > 0 else float("nan"),
        })
    return pd.DataFrame(rows)


# === Morris ==================================================================================
@dataclass
class MorrisResult:
    """Morris screening: ``indices`` (one row per output x factor), ``selection`` (per group)."""

    indices: pd.DataFrame
    selection: pd.DataFrame
    noise: pd.DataFrame
    selected_groups: list[str]
    n_runs: int
    store: Path | None = None
    salib: dict = field(default_factory=dict, repr=False)


def morris_design(space_or_problem, trajectories: int, levels: int, seed: int) -> np.ndarray:
    from SALib.sample import morris as morris_sample

    problem = space_or_problem.problem(grouped=False) if isinstance(space_or_problem, FactorSpace) else space_or_problem
    return morris_sample.sample(problem, trajectories, num_levels=levels, seed=seed)


def morris_indices(problem: dict, X: np.ndarray, Y: np.ndarray, labels: Sequence[str], *, levels: int, num_resamples: int,
                   conf_level: float, seed: int) -> tuple[pd.DataFrame, dict]:
    """SALib Morris on given samples and replicate-mean outputs (via ProblemSpec.set_samples/set_results)."""
    from SALib import ProblemSpec

    frames, raw = [], {}
    for j, lab in enumerate(labels):
        sp = ProblemSpec({k: v for k, v in problem.items() if k != "groups"})
        sp.set_samples(np.asarray(X, float))
        sp.set_results(np.asarray(Y[:, j], float))
        sp.analyze_morris(num_resamples=num_resamples, conf_level=conf_level, num_levels=levels, seed=seed)
        Si = sp.analysis
        raw[lab] = Si
        df = pd.DataFrame({"output": lab, "factor": list(problem["names"]), "mu": np.asarray(Si["mu"], float),
                           "mu_star": np.asarray(Si["mu_star"], float), "sigma": np.asarray(Si["sigma"], float),
                           "mu_star_conf": np.asarray(Si["mu_star_conf"], float)})
        top = df["mu_star"].max()
        df["mu_star_norm"] = df["mu_star"] / top if top > 0 else 0.0
        df["mu_star_conf_norm"] = df["mu_star_conf"] / top if top > 0 else 0.0
        frames.append(df)
    return pd.concat(frames, ignore_index=True), raw


def select_groups(indices: pd.DataFrame, groups: Mapping[str, str], *, threshold: float, max_groups: int,
                  always: Sequence[str] = ()) -> pd.DataFrame:
    """The selection rule: a group's score is its members' largest mu*/max(mu*) over every output;
    keep the ``always`` groups, then groups with score >= threshold by score, at most ``max_groups``."""
    df = indices.assign(group=indices["factor"].map(groups))
    score = df.groupby("group", sort=False)["mu_star_norm"].max()
    order = sorted(score.index, key=lambda g: (g not in always, -score[g]))
    rows, kept = [], 0
    for g in order:
        if g in always:
            sel, why = True, "always (a factor of the question)"
        elif score[g] >= threshold and kept < max_groups:
            sel, why = True, f"score {score[g]:.2f} >= {threshold}"
        elif score[g] >= threshold:
            sel, why = False, f"score {score[g]:.2f} >= {threshold} but max_groups = {max_groups} reached"
        else:
            sel, why = False, f"score {score[g]:.2f} < {threshold}"
        kept += sel
        rows.append({"group": g, "score": float(score[g]), "selected": sel, "why": why,
                     "factors": ", ".join(k for k, v in groups.items() if v == g)})
    return pd.DataFrame(rows)


def run_morris(spec: SensitivitySpec, out_dir: str | Path, *, workers=None, scheduler=None, quiet: bool = False,
               _engine: _Engine | None = None) -> MorrisResult:
    """Morris screening of every factor of ``spec`` (runs stored under ``out_dir/runs``)."""
    space = _engine.space if _engine is not None else FactorSpace(spec)
    engine = _engine or _Engine(space, spec.study.replicates, spec.study.seed, workers, scheduler, quiet)
    try:
        m = spec.morris
        prob = space.problem(grouped=False)
        always = [g for g in m.always]
        bad = [g for g in always if g not in space.group_names]
        if bad:
            raise SensitivityError(f"morris.always: unknown group(s) {', '.join(bad)}; allowed: {', '.join(space.group_names)}")
        X = morris_design(prob, m.trajectories, m.levels, m.seed)
        k = len(space.names)
        per_traj = k + 1
        traj_chunk = max(1, min(m.trajectories, spec.study.chunk_runs // (per_traj * spec.study.replicates)))
        while m.trajectories % traj_chunk:
            traj_chunk -= 1
        plan = {"stage": "morris", "mapping": space.describe(), "trajectories": m.trajectories, "levels": m.levels,
                "design_seed": m.seed, "replicates": spec.study.replicates, "seed": spec.study.seed, "chunk_rows": traj_chunk * per_traj}
        root = Path(out_dir) / "runs" / f"morris-{content_hash(plan)[:10]}"
        engine.ensure(root, plan, X, traj_chunk * per_traj, "morris")
        cols = output_columns(spec.study.outputs, engine.districts)
        runs = _load_runs(root, len(X), spec.study.replicates, [c[1] for c in cols] + [c[2] for c in cols])
        Yr, W = runs_to_arrays(runs, len(X), spec.study.replicates, cols)
        Y, imputed = replicate_means(Yr, W)
        labels = [c[0] for c in cols]
        idx, raw = morris_indices(prob, X, Y, labels, levels=m.levels, num_resamples=m.num_resamples, conf_level=m.conf_level, seed=m.seed)
        idx.insert(2, "group", idx["factor"].map(dict(zip(space.names, space.groups))))
        sel = select_groups(idx, dict(zip(space.names, space.groups)), threshold=m.threshold, max_groups=m.max_groups, always=always)
        return MorrisResult(indices=idx, selection=sel, noise=noise_table(Yr, Y, labels, imputed),
                            selected_groups=[g for g in space.group_names if g in set(sel.loc[sel["selected"], "group"])],
                            n_runs=len(X) * spec.study.replicates, store=root, salib=raw)
    finally:
        if _engine is None:
            engine.close()


# === Sobol ===================================================================================
@dataclass
class SobolRun:
    """The doubling's outcome for any evaluator: indices at the final N, their history, the data."""

    indices: pd.DataFrame
    second_order: pd.DataFrame
    history: pd.DataFrame
    noise: pd.DataFrame
    N: int
    converged: bool
    X: np.ndarray
    Yr: np.ndarray
    W: np.ndarray
    Y: np.ndarray
    imputed: np.ndarray
    labels: list[str]
    problem: dict
    salib: dict = field(default_factory=dict, repr=False)


def sobol_design(problem: dict, N: int, *, second_order: bool, seed: int) -> np.ndarray:
    """Saltelli design from the first N points of one scrambled Sobol' sequence (SALib)."""
    from SALib.sample import sobol as sobol_sample

    return sobol_sample.sample(problem, N, calc_second_order=second_order, scramble=True, seed=seed)


def rows_per_base(problem: dict, second_order: bool) -> int:
    g = len(dict.fromkeys(problem.get("groups") or problem["names"]))
    return 2 * g + 2 if second_order else g + 2


def sobol_indices(problem: dict, X: np.ndarray, Y: np.ndarray, labels: Sequence[str], *, second_order: bool,
                  num_resamples: int, conf_level: float, seed: int, N: int | None = None) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """SALib Sobol' analysis of replicate-mean outputs (ProblemSpec.set_samples/set_results), as
    DataFrames: (output, group, S1, S1_conf, ST, ST_conf) and (output, group_a, group_b, S2, S2_conf).
    A constant output gets zero indices (SALib would divide by its zero variance)."""
    from SALib import ProblemSpec

    names = list(dict.fromkeys(problem.get("groups") or problem["names"]))
    first, second, raw = [], [], {}
    for j, lab in enumerate(labels):
        y = np.asarray(Y[:, j], float)
        if np.ptp(y) <= 1e-12 * max(1.0, abs(float(y.mean()))):
            z = np.zeros(len(names))
            first.append(pd.DataFrame({"output": lab, "group": names, "S1": z, "S1_conf": z, "ST": z, "ST_conf": z}))
            if second_order:
                for a in range(len(names)):
                    for b in range(a + 1, len(names)):
                        second.append({"output": lab, "group_a": names[a], "group_b": names[b], "S2": 0.0, "S2_conf": 0.0})
            continue
        sp = ProblemSpec(dict(problem))
        sp.set_samples(np.asarray(X, float))
        sp.set_results(y)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            sp.analyze_sobol(calc_second_order=second_order, num_resamples=num_resamples, conf_level=conf_level, seed=seed)
        Si = sp.analysis
        raw[lab] = Si
        first.append(pd.DataFrame({"output": lab, "group": names, "S1": np.asarray(Si["S1"], float), "S1_conf": np.asarray(Si["S1_conf"], float),
                                   "ST": np.asarray(Si["ST"], float), "ST_conf": np.asarray(Si["ST_conf"], float)}))
        if second_order:
            S2, C2 = np.asarray(Si["S2"], float), np.asarray(Si["S2_conf"], float)
            for a in range(len(names)):
                for b in range(a + 1, len(names)):
                    second.append({"output": lab, "group_a": names[a], "group_b": names[b], "S2": S2[a, b], "S2_conf": C2[a, b]})
    fo = pd.concat(first, ignore_index=True)
    so = pd.DataFrame(second, columns=["output", "group_a", "group_b", "S2", "S2_conf"])
    if N is not None:
        fo.insert(0, "N", N)
        so.insert(0, "N", N)
    return fo, so, raw


def ci_movement(prev: pd.DataFrame, cur: pd.DataFrame) -> float:
    """Largest move of an S1 or ST confidence-interval endpoint (index -/+ conf) between two analyses."""
    m = prev.merge(cur, on=["output", "group"], suffixes=("_a", "_b"))
    moves = []
    for s in ("S1", "ST"):
        for sign in (-1, 1):
            a = m[f"{s}_a"] + sign * m[f"{s}_conf_a"]
            b = m[f"{s}_b"] + sign * m[f"{s}_conf_b"]
            moves.append(np.abs(b - a).to_numpy())
    v = np.concatenate(moves)
    v = v[np.isfinite(v)]
    return float(v.max()) if len(v) else float("nan")


def sobol_doubling(problem: dict, evaluate: Callable[[np.ndarray, int], Any], *, labels: Sequence[str], n_start: int, n_max: int,
                   second_order: bool = True, seed: int = 12, tolerance: float = 0.03, num_resamples: int = 200,
                   conf_level: float = 0.95, analysis_seed: int = 7, on_step: Callable[[int, float], None] | None = None) -> SobolRun:
    """Sobol' indices with N doubling from ``n_start`` until the S1/ST confidence intervals stop
    moving (:func:`ci_movement` <= ``tolerance`` between N/2 and N) or N = ``n_max``.

    ``evaluate(X_new, first_row)`` gets only the design rows not evaluated before (the N design is
    a prefix of the 2N design) and returns per-replicate values ``(rows, replicates, outputs)``, or a
    pair ``(values, weights)`` for outputs that are ratios pooled over replicates.
    """
    if n_start & (n_start - 1) or n_max & (n_max - 1) or n_max < n_start:
        raise SensitivityError(f"sobol: n_start ({n_start}) and n_max ({n_max}) must be powers of two with n_start <= n_max")
    N = n_start
    X = np.empty((0, problem["num_vars"]))
    Yr_parts, W_parts = [], []
    history, prev, converged = [], None, False
    while True:
        Xn = sobol_design(problem, N, second_order=second_order, seed=seed)
        if len(X) and not np.array_equal(Xn[: len(X)], X):
            raise SensitivityError("sobol: the N design is not a prefix of the 2N design (SALib/scipy changed?); runs cannot be reused")
        new = Xn[len(X):]
        out = evaluate(new, len(X))
        yr, w = out if isinstance(out, tuple) else (out, None)
        yr = np.asarray(yr, float)
        if yr.ndim == 2:
            yr = yr[:, None, :]
        Yr_parts.append(yr)
        W_parts.append(np.ones_like(yr) if w is None else np.asarray(w, float).reshape(yr.shape))
        X = Xn
        Yr, W = np.concatenate(Yr_parts), np.concatenate(W_parts)
        Y, imputed = replicate_means(Yr, W)
        fo, so, raw = sobol_indices(problem, X, Y, labels, second_order=second_order, num_resamples=num_resamples,
                                    conf_level=conf_level, seed=analysis_seed, N=N)
        move = ci_movement(prev, fo) if prev is not None else float("nan")
        history.append(fo.assign(movement=move))
        if on_step is not None:
            on_step(N, move)
        if prev is not None and np.isfinite(move) and move <= tolerance:
            converged = True
            break
        if N >= n_max:
            break
        prev = fo
        N *= 2
    return SobolRun(indices=fo.drop(columns="N").assign(N=N), second_order=so.drop(columns="N").assign(N=N),
                    history=pd.concat(history, ignore_index=True), noise=noise_table(Yr, Y, labels, imputed), N=N,
                    converged=converged, X=X, Yr=Yr, W=W, Y=Y, imputed=imputed, labels=list(labels), problem=problem, salib=raw)


def type_indices(run: SobolRun, natural: pd.DataFrame, types: Mapping[str, Mapping[str, Any]], groups_of: Mapping[str, str], *,
                 num_resamples: int = 200, conf_level: float = 0.95, seed: int = 7) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Within-type total-order indices and means for each district type.

    A type is a condition on factor values (``{factor: value}`` or ``{factor: {min, max}}``). For base
    point j, rows A_j and AB_{g,j} share every factor outside group g, so restricting to the base
    points whose A row is of the type gives the type's total-order index (Jansen's estimator,
    normalised by the type's variance): ST_g|type = mean((f(A) - f(AB_g))^2) / (2 Var(f(A) | type)).
    Groups holding a type-defining factor are skipped. Means use the A and B rows of the type."""
    from scipy.stats import norm

    prob = run.problem
    gnames = list(dict.fromkeys(prob.get("groups") or prob["names"]))
    step = rows_per_base(prob, second_order=len(run.X) == run.N * (2 * len(gnames) + 2))
    n = run.N
    A_rows = np.arange(n) * step
    B_rows = A_rows + step - 1
    z = norm.ppf(0.5 + conf_level / 2)
    idx_rows, mean_rows = [], []
    types = {"all": {}, **dict(types)}
    for tname, cond in types.items():
        bad = [k for k in cond if k not in natural.columns]
        if bad:
            raise SensitivityError(f"types.{tname}: unknown factor(s) {', '.join(bad)}; allowed: {', '.join(natural.columns)}")
        mask_all = _type_mask(natural, cond)
        mA, mB = mask_all[A_rows], mask_all[B_rows]
        defining = {groups_of[k] for k in cond}
        for j, lab in enumerate(run.labels):
            y = run.Y[:, j]
            both = np.concatenate([y[A_rows][mA], y[B_rows][mB]])
            mean_rows.append({"type": tname, "output": lab, "points": int(mA.sum() + mB.sum()),
                              "mean": float(both.mean()) if len(both) else float("nan"),
                              "sd": float(both.std(ddof=1)) if len(both) > 1 else float("nan")})
            yA = y[A_rows][mA]
            if len(yA) < 4:
                continue
            var = float(np.var(yA))
            # the same bootstrap resamples of the type's base points for every group (seeded)
            r = np.random.default_rng(seed).integers(0, len(yA), size=(num_resamples, len(yA)))
            vb = np.var(yA[r], axis=1)
            for gi, g in enumerate(gnames):
                if g in defining:
                    continue
                yAB = y[A_rows + 1 + gi][mA]
                d2 = (yA - yAB) ** 2
                st = 0.5 * float(d2.mean()) / var if var > 0 else 0.0
                if var > 0:
                    with np.errstate(invalid="ignore", divide="ignore"):
                        bs = np.where(vb > 0, 0.5 * d2[r].mean(axis=1) / vb, 0.0)
                    conf = float(z * np.std(bs, ddof=1))
                else:
                    conf = 0.0
                idx_rows.append({"type": tname, "output": lab, "group": g, "ST": st, "ST_conf": conf, "base_points": int(mA.sum())})
    return pd.DataFrame(idx_rows), pd.DataFrame(mean_rows)


def _type_mask(natural: pd.DataFrame, cond: Mapping[str, Any]) -> np.ndarray:
    m = np.ones(len(natural), bool)
    for k, v in cond.items():
        col = natural[k]
        if isinstance(v, Mapping):
            x = col.to_numpy(float)
            if "min" in v:
                m &= x >= float(v["min"])
            if "max" in v:
                m &= x <= float(v["max"])
        else:
            m &= (col == v).to_numpy()
    return m


@dataclass
class SobolResult:
    """Sobol' indices of the model (DataFrames), with the doubling history, noise and types."""

    indices: pd.DataFrame
    second_order: pd.DataFrame
    history: pd.DataFrame
    noise: pd.DataFrame
    types: pd.DataFrame
    type_means: pd.DataFrame
    N: int
    converged: bool
    groups: list[str]
    factors: list[str]
    n_runs: int
    store: Path | None = None
    natural: pd.DataFrame | None = field(default=None, repr=False)
    Y: np.ndarray | None = field(default=None, repr=False)
    labels: list[str] = field(default_factory=list)
    salib: dict = field(default_factory=dict, repr=False)


def run_sobol(spec: SensitivitySpec, out_dir: str | Path, *, groups: Sequence[str] | None = None, workers=None, scheduler=None,
              quiet: bool = False, _engine: _Engine | None = None) -> SobolResult:
    """Sobol' indices of ``groups`` (default: every group) of ``spec``; the other factors stay at
    their nominal values. Runs are stored under ``out_dir/runs`` and reused by later calls."""
    space = _engine.space if _engine is not None else FactorSpace(spec)
    engine = _engine or _Engine(space, spec.study.replicates, spec.study.seed, workers, scheduler, quiet)
    try:
        groups = list(space.group_names if groups is None else groups)
        if len(groups) < 2:
            raise SensitivityError(f"sobol: needs at least two groups, got {groups}")
        names = space.members(groups)
        prob = space.problem(names)
        s = spec.sobol
        R = spec.study.replicates
        step = rows_per_base(prob, s.second_order)
        m = 1
        while m * 2 <= s.n_start and (m * 2) * step * R <= spec.study.chunk_runs:
            m *= 2
        plan = {"stage": "sobol", "mapping": space.describe(), "varied": names, "groups": prob["groups"], "second_order": s.second_order,
                "design_seed": s.seed, "replicates": R, "seed": spec.study.seed, "chunk_rows": m * step}
        root = Path(out_dir) / "runs" / f"sobol-{content_hash(plan)[:10]}"
        cols = output_columns(spec.study.outputs, engine.districts)
        labels = [c[0] for c in cols]
        designs: list[np.ndarray] = []

        def evaluate(Xnew: np.ndarray, first: int):
            Xall = np.concatenate(designs + [Xnew]) if designs else Xnew
            designs.append(Xnew)
            U = space.full(Xall, names)
            engine.ensure(root, plan, U, m * step, f"sobol N={len(U) // step}")
            runs = _load_runs(root, len(U), R, [c[1] for c in cols] + [c[2] for c in cols])
            Yr, W = runs_to_arrays(runs, len(U), R, cols)
            return Yr[first:], W[first:]

        def step_note(N, move):
            if not engine.quiet:
                mv = "" if not np.isfinite(move) else f"; largest CI move since N/2: {move:.3f} (tolerance {s.tolerance})"
                print(f"sensitivity: Sobol' N = {N} ({N * step * R} runs){mv}", flush=True)

        res = sobol_doubling(prob, evaluate, labels=labels, n_start=s.n_start, n_max=s.n_max, second_order=s.second_order, seed=s.seed,
                             tolerance=s.tolerance, num_resamples=s.num_resamples, conf_level=s.conf_level, on_step=step_note)
        natural = space.natural(space.full(res.X, names))
        groups_of = dict(zip(space.names, space.groups))
        usable = {t: c for t, c in spec.types.items() if all(groups_of.get(k) in groups for k in c if k in groups_of)}
        tix, tmeans = type_indices(res, natural, usable, groups_of, num_resamples=s.num_resamples, conf_level=s.conf_level)
        return SobolResult(indices=res.indices, second_order=res.second_order, history=res.history, noise=res.noise, types=tix,
                           type_means=tmeans, N=res.N, converged=res.converged, groups=groups, factors=names,
                           n_runs=len(res.X) * R, store=root, natural=natural, Y=res.Y, labels=labels, salib=res.salib)
    finally:
        if _engine is None:
            engine.close()


# === the study: Morris -> selection -> Sobol -> report =========================================
@dataclass
class StudyResult:
    spec: SensitivitySpec
    out_dir: Path
    morris: MorrisResult
    sobol: SobolResult
    factors: pd.DataFrame
    contrasts: dict
    answer: dict
    runs_total: int
    runs_this_session: int
    seconds: float
    run_seconds: float
    executor: str
    written: list[Path] = field(default_factory=list)

    @property
    def runs_per_second(self) -> float:
        return self.runs_this_session / self.run_seconds if self.run_seconds > 0 else float("nan")

    def summary(self) -> str:
        a = self.answer
        lines = [
            f"sensitivity {self.spec.name!r}: Morris {self.morris.n_runs} runs, Sobol' N = {self.sobol.N} "
            f"({'converged' if self.sobol.converged else 'NOT converged: n_max reached'}) {self.sobol.n_runs} runs, "
            f"{len(self.sobol.groups)} groups",
            f"  this session: {self.runs_this_session} runs in {self.run_seconds:.1f} s of running"
            + (f" ({self.runs_per_second:.0f} runs/s)" if self.runs_this_session else "") + f"; {self.seconds:.1f} s in all; executor: {self.executor}",
        ]
        for c in a.get("claims", []):
            lines.append(f"  claim: {c['claim']}: {c['verdict'].upper()} ({c['evidence']})")
        lines.append(f"  report: {self.out_dir / 'report.md'}")
        return "\n".join(lines)


def run_study(spec: SensitivitySpec | str | Path, out_dir: str | Path, *, workers=None, scheduler=None, quiet: bool = False,
              report: bool = True) -> StudyResult:
    """Morris over every factor, Sobol' on the groups the selection rule keeps, the answer and the
    report (``out_dir/report.md``, figures, CSV/Parquet indices). Resumes from runs already stored."""
    if not isinstance(spec, SensitivitySpec):
        spec = load_sensitivity_spec(spec)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise SensitivityError(f"--out {out}: exists and is not a folder")
    t0 = time.perf_counter()
    space = FactorSpace(spec)
    for key, g in (("answer.capacity", spec.answer.capacity), ("answer.authority", spec.answer.authority), ("answer.buy_in", spec.answer.buy_in)):
        if g not in space.group_names:
            raise SensitivityError(f"{key}: {g!r} is not a group; allowed: {', '.join(space.group_names)}")
    out.mkdir(parents=True, exist_ok=True)
    engine = _Engine(space, spec.study.replicates, spec.study.seed, workers, scheduler, quiet)
    try:
        morris = run_morris(spec, out, _engine=engine)
        sobol = run_sobol(spec, out, groups=morris.selected_groups, _engine=engine)
        executor = engine.describe_executor()
    except BaseException:
        engine.close(cancel=True)
        raise
    engine.close()
    contrasts = study_contrasts(spec, space, sobol)
    answer = answer_question(spec, sobol, contrasts)
    res = StudyResult(spec=spec, out_dir=out, morris=morris, sobol=sobol, factors=space.table(), contrasts=contrasts, answer=answer,
                      runs_total=morris.n_runs + sobol.n_runs, runs_this_session=engine.runs_session, seconds=0.0,
                      run_seconds=engine.seconds, executor=executor)
    res.seconds = time.perf_counter() - t0
    if report:
        res.written = write_report(res)
        res.seconds = time.perf_counter() - t0
    return res


def study_contrasts(spec: SensitivitySpec, space: FactorSpace, sobol: SobolResult) -> dict:
    """Directions behind the indices: element codes by starting capacity (every Sobol' run), and the
    mean replicate-mean outputs by leadership condition (every design point is a draw of the inputs)."""
    out: dict[str, Any] = {}
    if sobol.store is not None:
        el = _load_elements(sobol.store, len(sobol.natural))
        if len(el):
            changed = el["substantiveness"] != int(Substantiveness.NO_CHANGE)
            caps = {int(c): Capacity(c).key for c in Capacity}
            ch = el[changed].assign(
                transform=el["substantiveness"] == int(Substantiveness.TRANSFORM),
                continuity_=el["continuity"] == int(Continuity.CONTINUITY),
                continuity_end_=el["continuity_end"] == int(Continuity.CONTINUITY),
                consistent=el["consistency"] == int(Consistency.CONSISTENT),
                aligned=el["alignment"] == int(Alignment.ALIGNED),
            )
            g = ch.groupby("capacity0")
            tab = pd.DataFrame({
                "elements": el.groupby("capacity0").size(),
                "changed": g.size(),
                "transform": g["transform"].mean(),
                "continuity": g["continuity_"].mean(),
                "continuity_end": g["continuity_end_"].mean(),
                "consistent": g["consistent"].mean(),
                "aligned": g["aligned"].mean(),
            })
            tab["share_changed"] = tab["changed"] / tab["elements"]
            tab.index = [caps[int(i)] for i in tab.index]
            out["by_capacity"] = tab
    nat = sobol.natural
    Y = pd.DataFrame(sobol.Y, columns=sobol.labels)
    a = spec.answer
    if nat is not None and a.authority in nat and a.buy_in in nat:
        auth = nat[a.authority].astype(bool).to_numpy()
        hold = nat[a.holder].astype(bool).to_numpy() if a.holder in nat else np.zeros(len(nat), bool)
        buy = nat[a.buy_in].to_numpy(float)
        bins = pd.cut(buy, [-np.inf, 0.6, 0.8, np.inf], labels=["buy-in < 0.6", "0.6-0.8", ">= 0.8"])
        df = Y.assign(authority=np.where(auth, "authority", "no authority"), holder=np.where(hold, "competing holder", "no competing holder"), buy_in=bins)
        keep = [o for o in ("share_consistent", "share_transformed", "share_continuity_changes", "elements_changed") if o in Y]
        out["by_leadership"] = df.groupby(["authority", "holder", "buy_in"], observed=True)[keep].mean().assign(
            points=df.groupby(["authority", "holder", "buy_in"], observed=True).size())
    return out


def answer_question(spec: SensitivitySpec, sobol: SobolResult, contrasts: dict) -> dict:
    """Verdicts on the report's claims from the Sobol' indices (pooled outputs), by stated rules:
    a group "matters" for an output if its ST confidence interval lies above ``important``, "does not
    matter" if it lies below, else the result is inconclusive."""
    a = spec.answer
    imp = a.important
    idx = sobol.indices.set_index(["output", "group"])

    def get(o, g):
        if (o, g) not in idx.index:
            return None
        r = idx.loc[(o, g)]
        return {k: float(r[k]) for k in ("S1", "S1_conf", "ST", "ST_conf")}

    def status(v):
        if v is None:
            return "not varied"
        if v["ST"] - v["ST_conf"] > imp:
            return "matters"
        if v["ST"] + v["ST_conf"] < imp:
            return "does not matter"
        return "inconclusive"

    def show(name, v):
        return f"{name}: S1 = {v['S1']:.3f} ± {v['S1_conf']:.3f}, ST = {v['ST']:.3f} ± {v['ST_conf']:.3f}" if v else f"{name}: not varied"

    claims = []
    cap_sub = get("share_transformed", a.capacity)
    st = status(cap_sub)
    verdict = {"matters": "agrees", "does not matter": "disagrees"}.get(st, "inconclusive" if cap_sub else "not tested")
    if verdict == "agrees" and cap_sub["S1"] - cap_sub["S1_conf"] <= 0:
        verdict = "agrees, through interactions only (S1 ~ 0)"
    claims.append({"claim": "capacity matters for substantiveness (share of changed elements transformed)", "verdict": verdict,
                   "evidence": show("capacity on share_transformed", cap_sub)})
    for o in ("share_continuity_changes", "share_continuity_end"):
        v = get(o, a.capacity)
        st = status(v)
        claims.append({"claim": f"capacity does not matter for continuity ({o})",
                       "verdict": {"matters": "disagrees", "does not matter": "agrees"}.get(st, "inconclusive" if v else "not tested"),
                       "evidence": show(f"capacity on {o}", v)})
    va, vb = get("share_consistent", a.authority), get("share_consistent", a.buy_in)
    sa, sb = status(va), status(vb)
    s2 = None
    if not sobol.second_order.empty:
        m = sobol.second_order[(sobol.second_order["output"] == "share_consistent")
                               & (((sobol.second_order["group_a"] == a.authority) & (sobol.second_order["group_b"] == a.buy_in))
                                  | ((sobol.second_order["group_a"] == a.buy_in) & (sobol.second_order["group_b"] == a.authority)))]
        if len(m):
            s2 = {"S2": float(m["S2"].iat[0]), "S2_conf": float(m["S2_conf"].iat[0])}
    if va is None or vb is None:
        verdict = "not tested"
    elif sa == "matters" and sb == "matters":
        verdict = "agrees"
    elif sa == "does not matter" or sb == "does not matter":
        verdict = "disagrees"
    else:
        verdict = "inconclusive"
    ev = show("authority on share_consistent", va) + "; " + show("buy-in on share_consistent", vb)
    if s2:
        ev += f"; S2(authority, buy-in) = {s2['S2']:.3f} ± {s2['S2_conf']:.3f}"
    claims.append({"claim": "authority with buy-in matters for consistency (share of changed elements consistent)", "verdict": verdict, "evidence": ev,
                   "authority": sa, "buy_in": sb, "s2": s2})
    top = {}
    for o in sobol.labels:
        sub = sobol.indices[sobol.indices["output"] == o].sort_values("ST", ascending=False)
        top[o] = [(r.group, float(r.S1), float(r.S1_conf), float(r.ST), float(r.ST_conf)) for r in sub.head(4).itertuples()]
    return {"claims": claims, "top": top, "important": imp}


# === the report ==============================================================================
_LABELS = {
    "share_transformed": "share transformed (substantiveness)",
    "share_continuity_changes": "share fostering continuity (changes)",
    "share_continuity_end": "share with continuity at the end",
    "share_consistent": "share consistent",
    "share_aligned": "share aligned",
    "elements_changed": "elements changed",
    "share_beyond_signature_practice": "share beyond the signature practice",
    "mean_month_of_change": "mean month of first change",
}


def _pretty(o: str) -> str:
    d, _, name = o.rpartition(".")
    return (f"{d}: " if d else "") + _LABELS.get(name, name)


def _fig(nrows: int, ncols: int, w: float, h: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(w * ncols, h * nrows), dpi=110, layout="constrained")


def _save(fig, path: Path) -> Path:
    fig.savefig(path)
    return path


def figure_sobol_bars(indices: pd.DataFrame, outputs: Sequence[str], path: Path) -> Path:
    """S1 and ST with confidence intervals, one panel per output."""
    n = len(outputs)
    cols = 2 if n > 1 else 1
    rows = math.ceil(n / cols)
    groups = list(dict.fromkeys(indices["group"]))
    fig = _fig(rows, cols, 5.2, 0.32 * len(groups) + 1.3)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    y = np.arange(len(groups))
    for ax, o in zip(axes, outputs):
        sub = indices[indices["output"] == o].set_index("group").reindex(groups)
        ax.barh(y - 0.2, sub["S1"], 0.4, xerr=sub["S1_conf"], color="#4C72B0", label="first order S1", error_kw={"lw": 0.8, "capsize": 2})
        ax.barh(y + 0.2, sub["ST"], 0.4, xerr=sub["ST_conf"], color="#DD8452", label="total order ST", error_kw={"lw": 0.8, "capsize": 2})
        ax.set_yticks(y, groups, fontsize=8)
        ax.invert_yaxis()
        ax.axvline(0, color="k", lw=0.6)
        ax.set_xlim(min(-0.05, float(np.nanmin((sub["S1"] - sub["S1_conf"]).to_numpy(float))) - 0.02), max(0.3, float(np.nanmax((sub["ST"] + sub["ST_conf"]).to_numpy(float))) + 0.05))
        ax.set_title(_pretty(o), fontsize=10)
        ax.grid(axis="x", lw=0.3)
    for ax in axes[n:]:
        ax.set_visible(False)
    axes[0].legend(fontsize=8, loc="lower right")
    fig.suptitle("Sobol' indices with 95% confidence intervals (bars: S1 and ST per group)", fontsize=11)
    return _save(fig, path)


def figure_s2_heatmap(second: pd.DataFrame, outputs: Sequence[str], groups: Sequence[str], path: Path) -> Path:
    """Second-order indices S2, one heatmap per output (upper triangle)."""
    n = len(outputs)
    cols = 2 if n > 1 else 1
    rows = math.ceil(n / cols)
    G = len(groups)
    fig = _fig(rows, cols, 0.42 * G + 2.4, 0.42 * G + 1.2)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    vmax = max(0.05, float(np.nanmax(np.abs(second["S2"].to_numpy(float))))) if len(second) else 0.05
    im = None
    for ax, o in zip(axes, outputs):
        M = np.full((G, G), np.nan)
        sub = second[second["output"] == o]
        pos = {g: i for i, g in enumerate(groups)}
        for r in sub.itertuples():
            M[pos[r.group_a], pos[r.group_b]] = r.S2
        im = ax.imshow(M, cmap="RdBu_r", vmin=-vmax, vmax=vmax)
        for i in range(G):
            for j in range(G):
                if np.isfinite(M[i, j]) and abs(M[i, j]) >= 0.01:
                    ax.text(j, i, f"{M[i, j]:.2f}", ha="center", va="center", fontsize=6, color="w" if abs(M[i, j]) > 0.6 * vmax else "k")
        ax.set_xticks(range(G), groups, rotation=70, fontsize=7)
        ax.set_yticks(range(G), groups, fontsize=7)
        ax.set_title(_pretty(o), fontsize=9)
    for ax in axes[n:]:
        ax.set_visible(False)
    if im is not None:
        fig.colorbar(im, ax=list(axes[:n]), shrink=0.6, label="S2")
    fig.suptitle("Second-order Sobol' indices S2 (interaction of two groups)", fontsize=11)
    return _save(fig, path)


def figure_convergence(history: pd.DataFrame, outputs: Sequence[str], path: Path) -> Path:
    """ST with its interval at every N of the doubling, one panel per output."""
    n = len(outputs)
    cols = 2 if n > 1 else 1
    rows = math.ceil(n / cols)
    fig = _fig(rows, cols, 5.0, 3.0)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax, o in zip(axes, outputs):
        sub = history[history["output"] == o]
        for g, s in sub.groupby("group", sort=False):
            ax.errorbar(s["N"], s["ST"], yerr=s["ST_conf"], marker="o", ms=3, lw=1, capsize=2, label=g)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("N (base points)")
        ax.set_ylabel("ST")
        ax.set_title(_pretty(o), fontsize=10)
        ax.grid(lw=0.3)
    for ax in axes[n:]:
        ax.set_visible(False)
    axes[0].legend(fontsize=6, ncol=2)
    fig.suptitle("Total-order indices as N doubles (the N design is a prefix of the 2N design)", fontsize=11)
    return _save(fig, path)


def figure_morris(indices: pd.DataFrame, selected_factors: set, path: Path) -> Path:
    """Normalised mu* (mu*/max mu* per output) of every factor and output; selected factors starred."""
    piv = indices.pivot_table(index="factor", columns="output", values="mu_star_norm", sort=False)
    order = piv.max(axis=1).sort_values(ascending=False).index
    piv = piv.loc[order]
    fig = _fig(1, 1, 0.9 * piv.shape[1] + 3.2, 0.22 * piv.shape[0] + 1.6)
    ax = fig.subplots()
    im = ax.imshow(piv.to_numpy(float), cmap="viridis", vmin=0, vmax=1, aspect="auto")
    for i in range(piv.shape[0]):
        for j in range(piv.shape[1]):
            v = piv.iat[i, j]
            if np.isfinite(v) and v >= 0.05:
                ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=6, color="w" if v < 0.6 else "k")
    ax.set_yticks(range(piv.shape[0]), [f"{'* ' if f in selected_factors else ''}{f}" for f in piv.index], fontsize=7)
    ax.set_xticks(range(piv.shape[1]), [_pretty(c) for c in piv.columns], rotation=30, ha="right", fontsize=7)
    fig.colorbar(im, ax=ax, shrink=0.5, label="mu* / max mu*")
    ax.set_title("Morris screening (* = varied in the Sobol' study)", fontsize=10)
    return _save(fig, path)


def figure_types(types: pd.DataFrame, outputs: Sequence[str], path: Path) -> Path:
    """Within-type total-order indices (types x groups), one panel per output."""
    n = len(outputs)
    cols = 2 if n > 1 else 1
    rows = math.ceil(n / cols)
    tnames = list(dict.fromkeys(types["type"]))
    gnames = list(dict.fromkeys(types["group"]))
    fig = _fig(rows, cols, 0.45 * len(gnames) + 3.0, 0.35 * len(tnames) + 1.6)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax, o in zip(axes, outputs):
        piv = types[types["output"] == o].pivot_table(index="type", columns="group", values="ST", sort=False).reindex(index=tnames, columns=gnames)
        ax.imshow(piv.to_numpy(float), cmap="magma_r", vmin=0, vmax=1, aspect="auto")
        for i in range(piv.shape[0]):
            for j in range(piv.shape[1]):
                v = piv.iat[i, j]
                if np.isfinite(v) and v >= 0.05:
                    ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=6, color="w" if v > 0.5 else "k")
        ax.set_yticks(range(len(tnames)), tnames, fontsize=7)
        ax.set_xticks(range(len(gnames)), gnames, rotation=70, fontsize=7)
        ax.set_title(_pretty(o), fontsize=9)
    for ax in axes[n:]:
        ax.set_visible(False)
    fig.suptitle("Total-order indices within district types (blank: the type's defining group)", fontsize=11)
    return _save(fig, path)


def _pm(v, c, d=3) -> str:
    return f"{v:.{d}f} ± {c:.{d}f}"


def _md_table(df: pd.DataFrame, floatfmt: str = ".3f") -> str:
    cols = list(df.columns)
    out = ["| " + " | ".join(str(c) for c in cols) + " |", "|" + "---|" * len(cols)]
    for r in df.itertuples(index=False):
        cells = []
        for v in r:
            if isinstance(v, (float, np.floating)):
                cells.append("" if not np.isfinite(v) else format(float(v), floatfmt))
            else:
                cells.append(str(v).replace("|", "\\|"))
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


def _answer_text(res: StudyResult) -> list[str]:
    spec, sob, a = res.spec, res.sobol, res.spec.answer
    idx = sob.indices.set_index(["output", "group"])
    imp = a.important
    L: list[str] = []

    def iv(o, g):
        if (o, g) not in idx.index:
            return None
        r = idx.loc[(o, g)]
        return float(r["S1"]), float(r["S1_conf"]), float(r["ST"]), float(r["ST_conf"])

    def rank(o, g):
        sub = sob.indices[sob.indices["output"] == o].sort_values("ST", ascending=False).reset_index(drop=True)
        hit = sub.index[sub["group"] == g]
        return int(hit[0]) + 1 if len(hit) else None

    def top_others(o, exclude, k=2):
        sub = sob.indices[(sob.indices["output"] == o) & (~sob.indices["group"].isin(exclude))].sort_values("ST", ascending=False).head(k)
        return ", ".join(f"`{r.group}` (ST {_pm(r.ST, r.ST_conf, 2)})" for r in sub.itertuples())

    def partner(o, g):
        """The group g interacts with most for output o (largest S2), as text."""
        so = sob.second_order
        if so.empty:
            return ""
        m = so[(so["output"] == o) & ((so["group_a"] == g) | (so["group_b"] == g))].sort_values("S2", ascending=False)
        if not len(m):
            return ""
        r = m.iloc[0]
        other = r["group_b"] if r["group_a"] == g else r["group_a"]
        return f"; its largest interaction is with `{other}` (S2 = {_pm(float(r['S2']), float(r['S2_conf']))})"

    def kind_of_effect(o, g):
        v = iv(o, g)
        if not v or v[2] - v[3] <= imp:
            return ""
        if v[0] - v[1] <= 0.0:
            return (f" Its effect is interaction, not main effect: S1 is indistinguishable from zero while ST is not, so `{g}` changes "
                    f"{_pretty(o)} only together with other factors{partner(o, g)}.")
        return f" A share {v[0] / v[2]:.0%} of its total effect is main effect (S1/ST){partner(o, g)}."

    G = len(sob.groups)
    bc = res.contrasts.get("by_capacity")
    cap = a.capacity
    L.append("### Substantiveness and pre-existing capacity\n")
    v = iv("share_transformed", cap)
    if v:
        L.append(
            f"Starting capacity (group `{cap}`: the district-wide level and the six elements) accounts for S1 = {_pm(v[0], v[1])} "
            f"of the variance of the share of changed elements that transform, and ST = {_pm(v[2], v[3])} with its interactions "
            f"(rank {rank('share_transformed', cap)} of {G} groups). The other main drivers: {top_others('share_transformed', [cap])}."
            + kind_of_effect("share_transformed", cap)
        )
    if bc is not None and len(bc):
        parts = [f"{k.replace('_', ' ')} {100 * bc.loc[k, 'transform']:.0f}%" for k in bc.index if k in bc.index]
        L.append(f"Direction: of the changed elements in all Sobol' runs, those that started {', '.join(parts)} transformed "
                 f"(the report's Table 3: 1 of 3, 1 of 3, 12 of 14). In the model, capacity acts on substantiveness only through the "
                 f"probabilities `p_transform_did_not_exist`, `p_transform_emergent`, `p_transform_established` (docs/ODD.md 7.5); over "
                 f"their ranges here their ordering, and so the direction of capacity's effect, is whatever the ranges allow.")
        tr = [f for f in res.factors["factor"] if f.startswith("p_transform_")]
        if sob.natural is not None and all(f in sob.natural for f in tr) and len(tr) == 3:
            nat = sob.natural
            src = sorted(set(res.factors.set_index("factor").loc[tr, "range_source"]))
            rng = ", ".join(f"{f.removeprefix('p_transform_').replace('_', ' ')} [{nat[f].min():.2f}, {nat[f].max():.2f}]" for f in tr)
            order = (nat["p_transform_established"] > nat["p_transform_emergent"]) & (nat["p_transform_emergent"] > nat["p_transform_did_not_exist"])
            L.append(f"Their ranges in this study ({' and '.join(src)}): {rng}; they rise with capacity, as "
                     f"Table 3 implies, at {100 * order.mean():.0f}% of the design points.")
            if "share_transformed" in sob.labels and order.any() and (~order).any() and cap in sob.groups:
                y = pd.Series(sob.Y[:, sob.labels.index("share_transformed")])
                L.append(f"Mean share transformed over design points: {y[order].mean():.3f} where p_transform rises with capacity "
                         f"({int(order.sum())} points) vs {y[~order].mean():.3f} elsewhere.")
    L.append("")
    L.append("### Continuity and pre-existing capacity\n")
    for o in ("share_continuity_changes", "share_continuity_end"):
        v = iv(o, cap)
        if v:
            L.append(f"- {_pretty(o)}: capacity S1 = {_pm(v[0], v[1])}, ST = {_pm(v[2], v[3])} (rank {rank(o, cap)} of {G}); "
                     f"the variance comes instead from {top_others(o, [cap])}." + kind_of_effect(o, cap))
    if bc is not None and len(bc):
        parts = [f"{k.replace('_', ' ')} {100 * bc.loc[k, 'continuity']:.0f}%" for k in bc.index]
        parts_end = [f"{k.replace('_', ' ')} {100 * bc.loc[k, 'continuity_end']:.0f}%" for k in bc.index]
        L.append(f"- Direction: changed elements fostered continuity (included pre-K) in {', '.join(parts)} of cases by starting capacity; "
                 f"continuity at the end: {', '.join(parts_end)} (the report: every changed element, whatever its capacity, Table 5).")
    L.append("")
    L.append("### Consistency and leadership\n")
    va, vb = iv("share_consistent", a.authority), iv("share_consistent", a.buy_in)
    vh = iv("share_consistent", a.holder)
    if va and vb:
        L.append(f"For the share of changed elements that are consistent with the provider's vision: the lead's positional authority has "
                 f"S1 = {_pm(va[0], va[1])}, ST = {_pm(va[2], va[3])}; the lead's buy-in S1 = {_pm(vb[0], vb[1])}, ST = {_pm(vb[2], vb[3])}"
                 + (f"; a competing authority holder S1 = {_pm(vh[0], vh[1])}, ST = {_pm(vh[2], vh[3])}" if vh else "") + ".")
        s2 = next((c.get("s2") for c in res.answer["claims"] if "consistency" in c["claim"]), None)
        if s2:
            L.append(f"Their interaction S2(authority, buy-in) = {_pm(s2['S2'], s2['S2_conf'])}; ST - S1 of authority = {va[2] - va[0]:.3f}.")
        for g in (a.authority, a.buy_in, a.holder):
            note = kind_of_effect("share_consistent", g)
            if note:
                L.append(f"`{g}`:{note}")
        L.append(f"Other drivers of consistency: {top_others('share_consistent', [a.authority, a.buy_in, a.holder])}. "
                 f"In the model a competing holder's agenda changes its elements whether or not the lead has authority "
                 f"(docs/ODD.md 7.10, limitation 3); the lead's authority only gates system elements and decides who decides them "
                 f"(7.3), and a lead without authority then goes through the superintendent or the competing holder.")
    bl = res.contrasts.get("by_leadership")
    if bl is not None and len(bl) and "share_consistent" in bl:
        lines = []
        for (au, ho, bu), r in bl.iterrows():
            lines.append(f"| {au} | {ho} | {bu} | {r['share_consistent']:.3f} | {int(r['points'])} |")
        L.append("\nMean share consistent (replicate means over every Sobol' design point):\n")
        L.append("| lead | other leader | lead's buy-in | share consistent | design points |\n|---|---|---|---|---|\n" + "\n".join(lines))
    L.append("")
    return L


def write_report(res: StudyResult) -> list[Path]:
    """``report.md``, PNG figures, and the tables as CSV and Parquet, into the study's folder."""
    out = res.out_dir
    out.mkdir(parents=True, exist_ok=True)
    sob, mor = res.sobol, res.morris
    written: list[Path] = []
    tables = {
        "morris": mor.indices, "selection": mor.selection, "morris_noise": mor.noise, "sobol": sob.indices, "sobol_s2": sob.second_order,
        "sobol_history": sob.history, "noise": sob.noise, "types": sob.types, "type_means": sob.type_means, "factors": res.factors,
    }
    for k in ("by_capacity", "by_leadership"):
        if k in res.contrasts:
            tables[k] = res.contrasts[k].reset_index().rename(columns={"index": "capacity0"})
    for name, df in tables.items():
        df = df.copy()
        for c in df.columns:
            if df[c].dtype == object:
                df[c] = df[c].map(lambda v: v if isinstance(v, str) or v is None else json.dumps(v, default=str))
            elif isinstance(df[c].dtype, pd.CategoricalDtype):
                df[c] = df[c].astype(str)
        df.to_csv(out / f"{name}.csv", index=False)
        df.to_parquet(out / f"{name}.parquet", index=False)
        written += [out / f"{name}.csv", out / f"{name}.parquet"]
    pooled = [o for o in sob.labels if "." not in o]
    sel_factors = set(sob.factors)
    figs = [
        figure_morris(mor.indices, sel_factors, out / "morris_mu_star.png"),
        figure_sobol_bars(sob.indices, pooled, out / "sobol_indices.png"),
        figure_convergence(sob.history, pooled, out / "sobol_convergence.png"),
    ]
    if not sob.second_order.empty:
        figs.append(figure_s2_heatmap(sob.second_order, pooled, sob.groups, out / "sobol_s2_heatmap.png"))
    if not sob.types.empty:
        figs.append(figure_types(sob.types, pooled, out / "types_st.png"))
    written += figs
    spec = res.spec
    prov = provenance()
    study_json = {
        "name": spec.name, "spec_file": spec._source, "spec": spec.model_dump(mode="json"), "provenance": prov,
        "seeding": SEEDING, "morris_runs": mor.n_runs, "sobol_runs": sob.n_runs, "sobol_N": sob.N, "converged": sob.converged,
        "selected_groups": sob.groups, "runs_total": res.runs_total, "runs_this_session": res.runs_this_session,
        "run_seconds": res.run_seconds, "seconds": res.seconds, "executor": res.executor, "answer": res.answer,
        "stores": {"morris": str(mor.store), "sobol": str(sob.store)},
    }
    (out / "study.json").write_text(json.dumps(study_json, indent=1, default=str), encoding="utf-8")
    written.append(out / "study.json")

    R = spec.study.replicates
    hist = sob.history.groupby("N", sort=True)["movement"].first()
    L = [f"# Sensitivity study `{spec.name}`: capacity, leadership, substantiveness and continuity", ""]
    L.append(f"Model `coherence-sim` {prov['version']} (git {prov['git_commit'] or 'unknown'}{', uncommitted changes' if prov['git_dirty'] else ''}); "
             f"spec `{spec._source}`; created {prov['created']}. Scenario: `{res.factors.shape[0]}` factors on the "
             f"{'generic district' if len(sob.labels) == len(spec.study.outputs) else 'scenario'}'s conditions and the model's parameters "
             f"(see *Factors*). All numbers below are from this study's runs; nothing was tuned to agree with the report.")
    L.append("")
    L.append("## The answer\n")
    L.append("| claim of the report | the model | evidence (pooled outputs, 95% intervals) |\n|---|---|---|")
    for c in res.answer["claims"]:
        L.append(f"| {c['claim']} | **{c['verdict']}** | {c['evidence']} |")
    L.append(f"\nRule: a group *matters* for an output when its total-order interval lies above {res.answer['important']}, *does not matter* "
             f"when it lies below, else the result is *inconclusive*. \"Agrees\" means the model reproduces the claim, \"disagrees\" that it "
             f"contradicts it; either way it is what the model's mechanisms (docs/ODD.md) imply over these ranges, not a test of the report.\n")
    L += _answer_text(res)
    L.append("### What drives each output\n")
    rows = []
    for o in pooled:
        t = res.answer["top"].get(o, [])
        rows.append({"output": _pretty(o), **{f"#{i + 1}": f"{g} (S1 {s1:.2f}, ST {st:.2f} ± {stc:.2f})" for i, (g, s1, s1c, st, stc) in enumerate(t)}})
    L.append(_md_table(pd.DataFrame(rows)))
    L.append("\n![Sobol' indices](sobol_indices.png)\n")
    if not sob.second_order.empty:
        big = sob.second_order[sob.second_order["output"].isin(pooled)].assign(lo=lambda d: d["S2"] - d["S2_conf"]).sort_values("S2", ascending=False).head(8)
        L.append("Largest second-order indices (interactions):\n")
        L.append(_md_table(big[["output", "group_a", "group_b", "S2", "S2_conf"]]))
        L.append("\n![Second-order indices](sobol_s2_heatmap.png)\n")
    L.append("## District types\n")
    L.append("Types are regions of the factor space (spec `[types]`). Means are over the type's A and B design points (replicate means); "
             "ST within a type uses the base points whose A row is of the type (Jansen's estimator normalised by the type's variance).\n")
    if not sob.type_means.empty:
        tm = sob.type_means[sob.type_means["output"].isin(pooled)].pivot_table(index="type", columns="output", values="mean", sort=False)
        tm.columns = [_pretty(c) for c in tm.columns]
        pts = sob.type_means.groupby("type", sort=False)["points"].first()
        tm.insert(0, "design points", pts.reindex(tm.index).astype(int))
        L.append(_md_table(tm.reset_index()))
    if not sob.types.empty:
        L.append("\nLargest within-type total-order indices:\n")
        rows = []
        for (ty, o), s in sob.types[sob.types["output"].isin(pooled)].groupby(["type", "output"], sort=False):
            s = s.sort_values("ST", ascending=False).head(3)
            rows.append({"type": ty, "output": _pretty(o), "top groups (ST ± CI)": "; ".join(f"{r.group} {_pm(r.ST, r.ST_conf, 2)}" for r in s.itertuples())})
        L.append(_md_table(pd.DataFrame(rows)))
        L.append("\n![Within-type indices](types_st.png)\n")
    L.append("## Noise: how much of the variance is replicate noise\n")
    nz = sob.noise.copy()
    nz["output"] = nz["output"].map(_pretty)
    L.append(f"Each design point runs {R} replicates with the same seeds at every point (common random numbers); indices are computed on the "
             f"replicate means. `noise_share_runs` = mean within-point variance / variance of single runs; `noise_share_means` = the part of the "
             f"analysed (mean) variance that is noise. `points_imputed`: design points without any changed element in any replicate (shares "
             f"undefined; set to the output's mean).\n")
    L.append(_md_table(nz[["output", "design_points", "points_imputed", "noise_share_runs", "noise_share_means"]]))
    L.append("")
    L.append("## Method\n")
    m = spec.morris
    L.append(f"1. **Morris screening** of all {len(res.factors)} factors: {m.trajectories} trajectories, {m.levels} levels, {R} replicates "
             f"({mor.n_runs} runs); mu* with {int(m.conf_level * 100)}% bootstrap intervals (SALib). Selection rule: a group's score is the largest "
             f"mu*/max(mu*) of its factors over every output; keep {', '.join(f'`{g}`' for g in m.always) or 'no group'} always, then every group "
             f"with score >= {m.threshold}, at most {m.max_groups} groups.")
    s = spec.sobol
    L.append(f"2. **Sobol'** on the {len(sob.groups)} selected groups ({len(sob.factors)} factors; the rest at their nominal values): "
             f"scrambled Sobol' sequence (SALib `sample.sobol`, seed {s.seed}), Saltelli design {'with' if s.second_order else 'without'} second order, "
             f"N doubling from {s.n_start} to at most {s.n_max}; the N design is a prefix of the 2N design, so every run is reused. Stop when no "
             f"S1/ST interval endpoint moves by more than {s.tolerance} between N/2 and N. Final N = {sob.N} ({sob.n_runs} runs): "
             f"{'**converged**' if sob.converged else '**not converged** (n_max reached)'}.")
    mv = ", ".join(f"N={int(k)}: {v:.3f}" for k, v in hist.items() if np.isfinite(v))
    if mv:
        L.append(f"   Largest interval-endpoint move at each doubling: {mv}.")
    L.append(f"3. **Runs** go through the sweep engine (`experiments.sweep.run_chunk` on `experiments.execution.executor`, stored as `experiments.execution.store` "
             f"chunks under `runs/`); seeding: {SEEDING}. Resume: the same spec into the same folder computes only missing chunks.")
    L.append(f"4. **Cost**: {res.runs_total} runs in the study; {res.runs_this_session} computed in this session in {res.run_seconds:.0f} s"
             + (f" ({res.runs_per_second:.1f} runs/s)" if res.runs_this_session else "") + f" on {res.executor}; {res.seconds:.0f} s in all.")
    for label, root in (("Morris", mor.store), ("Sobol'", sob.store)):
        st = _store_sessions(root)
        if st["runs"]:
            L.append(f"   {label} runs in `{root}`: {st['runs']} computed in {st['sessions']} session(s), {st['seconds']:.0f} s of running "
                     f"({st['runs'] / st['seconds']:.1f} runs/s) on {', '.join(st['executors']) or 'unknown'}.")
    L.append("\n![Convergence](sobol_convergence.png)\n")
    L.append("## Morris screening\n")
    L.append(_md_table(mor.selection[["group", "score", "selected", "why", "factors"]], ".2f"))
    L.append("\n![Morris](morris_mu_star.png)\n")
    L.append("## Factors\n")
    ft = res.factors.assign(nominal=res.factors["nominal"].map(lambda v: f"{v:g}" if isinstance(v, float) else str(v)))
    L.append(_md_table(ft[["factor", "group", "mapping", "nominal", "range_source", "reason"]]))
    L.append("\n## Files\n")
    L.append("Tables (CSV and Parquet): " + ", ".join(f"`{n}`" for n in tables) + ". Runs: `" + str(sob.store) + "`, `" + str(mor.store)
             + "` (load with `experiments.sweep.load_results`). `study.json`: spec, answer, provenance.")
    (out / "report.md").write_text("\n".join(L) + "\n", encoding="utf-8")
    written.append(out / "report.md")
    return written


def _store_sessions(root: Path | None) -> dict:
    """Runs computed, and running time, over every session recorded in a store's manifest."""
    import datetime as _dt

    from .execution.store import read_manifest

    out = {"runs": 0, "seconds": 0.0, "sessions": 0, "executors": []}
    if root is None or not (Path(root) / "manifest.json").is_file():
        return out
    for s in read_manifest(root).get("sessions", []):
        if not s.get("runs"):
            continue
        try:
            dt = (_dt.datetime.fromisoformat(s["finished"]) - _dt.datetime.fromisoformat(s["started"])).total_seconds()
        except (KeyError, ValueError):
            continue
        out["runs"] += int(s["runs"])
        out["seconds"] += max(dt, 1.0)
        out["sessions"] += 1
        if s.get("executor") and s["executor"] not in out["executors"]:
            out["executors"].append(s["executor"])
    return out


def load_study(out_dir: str | Path) -> dict[str, pd.DataFrame]:
    """The tables a finished study wrote (Parquet), by name: morris, selection, sobol, sobol_s2,
    sobol_history, noise, types, type_means, factors."""
    out = Path(out_dir)
    tables = {}
    for p in sorted(out.glob("*.parquet")):
        tables[p.stem] = pd.read_parquet(p)
    if not tables:
        raise SensitivityError(f"{out}: no study tables (*.parquet); run the study first")
    return tables


__all__ = [
    "DEFAULT_SPEC",
    "FactorSpace",
    "MorrisResult",
    "SensitivityError",
    "SensitivitySpec",
    "SobolResult",
    "SobolRun",
    "StudyResult",
    "answer_question",
    "capacity_cuts",
    "ci_movement",
    "load_sensitivity_spec",
    "load_study",
    "morris_design",
    "morris_indices",
    "noise_table",
    "replicate_means",
    "run_crn_chunk",
    "run_morris",
    "run_sobol",
    "run_study",
    "select_groups",
    "sobol_design",
    "sobol_doubling",
    "sobol_indices",
    "type_indices",
    "validate_sensitivity_spec",
    "write_report",
]
