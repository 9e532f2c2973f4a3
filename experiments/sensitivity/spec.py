"""The sensitivity spec file (TOML; see ``experiments/data/sensitivity/default.toml``): the study, Morris
and Sobol' settings, the question's groups, capacity and size mappings, parameter ranges, district
types and the factors, each with a reason; validated with errors that name the key."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator
from sim.parameters import PARAMETER_SPECS
from sim.results import OUTCOME_NAMES
from sim.vocab import Element
from ..scenario import format_validation_errors
from ..scenario import Scenario, ScenarioError, load_scenario, validate_scenario



DEFAULT_SPEC = Path(__file__).resolve().parent.parent / "data" / "sensitivity" / "default.toml"


DEFAULT_OUTPUTS = (
    "share_transformed",
    "share_continuity_changes",
    "share_continuity_end",
    "share_consistent",
    "share_aligned",
    "elements_changed",
)


FACTOR_KINDS = ("parameter", "continuous", "bool", "shock", "size", "capacity", "capacity_level")


class SensitivityError(ValueError):
    """A spec, design or study that cannot be used or completed; the message says why."""


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
        spec = SensitivitySpec.model_validate(data, strict=True)  # no true for a number, no text for a number or boolean
    except ValidationError as exc:
        raise SensitivityError(format_validation_errors(exc, SensitivitySpec, "sensitivity spec")) from None
    spec._base_dir = Path(base_dir) if base_dir is not None else Path.cwd()
    spec._source = source
    return spec


def load_sensitivity_spec(path: str | Path = DEFAULT_SPEC) -> SensitivitySpec:
    """Read a sensitivity spec (TOML, parsed safely, with the scenario files' limits on size and depth)."""
    from ..scenario import parse_toml, read_input_file

    p = Path(path)
    if p.suffix.lower() != ".toml":
        raise SensitivityError(f"sensitivity spec {p}: expected a .toml file")
    try:
        data = parse_toml(read_input_file(p, "sensitivity spec"), f"sensitivity spec {p}")
    except ScenarioError as exc:
        raise SensitivityError(str(exc)) from None
    return validate_sensitivity_spec(data, base_dir=p.resolve().parent, source=str(p))
