"""The scenario as typed data (pydantic models): every model parameter, the provider's programme and
type, and each district's conditions; :meth:`Scenario.conditions` turns it into the model's
``Conditions`` (one per starting-capacity assignment: the report's districts whose capacities are
not given run over every assignment consistent with the report) and :meth:`Scenario.parameters_`
into ``sim.Parameters``."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, field_validator, model_validator
from sim.conditions import SHOCK_KINDS, Conditions, DistrictConditions, LeaderSpec, ProviderProgram, ShockSpec
from sim.parameters import PARAMETER_SPECS, Parameters
from sim.providers import PROVIDER_KINDS, ProviderSpec
from sim.vocab import CASE_DISTRICTS, Capacity, Element, Phase
from .errors import ScenarioError, format_validation_errors


ElementKey = Literal[tuple(Element.keys())]  # type: ignore[valid-type]


CapacityKey = Literal[tuple(Capacity.keys())]  # type: ignore[valid-type]


ShockKind = Literal[SHOCK_KINDS]  # type: ignore[valid-type]


ProviderKind = Literal[PROVIDER_KINDS]  # type: ignore[valid-type]


Unit = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]


_STRICT = ConfigDict(extra="forbid", allow_inf_nan=False, validate_assignment=True)


class LeaderModel(BaseModel):
    model_config = _STRICT
    role: str = Field(min_length=1, max_length=200)
    positional_authority: bool
    buy_in: Unit
    on_team: bool = True
    early_childhood: bool = False
    superintendent: bool = False
    agenda: str | None = Field(default=None, max_length=200)
    owns: list[ElementKey] = Field(default_factory=list)

    @model_validator(mode="after")
    def _known_agenda(self):
        if self.agenda:
            from sim.agendas import AGENDAS

            if self.agenda not in AGENDAS:
                raise ValueError(f"agenda {self.agenda!r} is not a known agenda; allowed: {', '.join(AGENDAS)}")
        if len(set(self.owns)) != len(self.owns):
            raise ValueError("owns: an element is listed twice")
        return self

    def spec(self, leads: bool) -> LeaderSpec:
        return LeaderSpec(
            role=self.role,
            positional_authority=self.positional_authority,
            buy_in=self.buy_in,
            leads_initiative=leads,
            on_team=self.on_team,
            early_childhood=self.early_childhood,
            superintendent=self.superintendent,
            agenda=self.agenda,
            owns=tuple(Element.from_key(k) for k in self.owns),
        )


class ShockModel(BaseModel):
    model_config = _STRICT
    kind: ShockKind
    month: int = Field(ge=0, le=240)


class TeachersModel(BaseModel):
    model_config = _STRICT
    prek: int = Field(ge=0, le=100_000)
    tk: int = Field(ge=0, le=100_000)
    k3: int = Field(ge=0, le=100_000)


class DistrictModel(BaseModel):
    """One district. ``capacity`` may be omitted for the report's four districts: the scenario then
    runs over every starting-capacity assignment consistent with the report."""

    model_config = _STRICT
    students: int = Field(ge=1, le=5_000_000)
    n_elementary_schools: int = Field(ge=1, le=5_000)
    n_school_leaders: int = Field(ge=1, le=20_000)
    teachers: TeachersModel
    team_teachers: int = Field(ge=0, le=10_000)
    prior_experience: bool
    prior_provider: bool
    has_prek: bool = True
    rural: bool = False
    capacity: dict[ElementKey, CapacityKey] | None = None
    lead: LeaderModel
    leaders: dict[str, LeaderModel] = Field(default_factory=dict)
    shocks: list[ShockModel] = Field(default_factory=list)

    @field_validator("capacity")
    @classmethod
    def _all_elements(cls, v):
        if v is not None and set(v) != set(Element.keys()):
            missing = sorted(set(Element.keys()) - set(v))
            raise ValueError(f"needs every element; missing: {', '.join(missing)}")
        return v

    @model_validator(mode="after")
    def _consistent(self):
        total = self.teachers.prek + self.teachers.tk + self.teachers.k3
        if self.team_teachers > total:
            raise ValueError(f"team_teachers ({self.team_teachers}) exceeds the number of teachers ({total})")
        if not self.has_prek and self.teachers.prek:
            raise ValueError("a district without pre-K (has_prek = false) has no pre-K teachers (teachers.prek = 0)")
        if self.lead.agenda:
            raise ValueError(f"lead.agenda: the initiative's lead cannot hold a competing agenda ({self.lead.agenda!r}); "
                             "give it to another leader (leaders.KEY.agenda)")
        claimed: dict[str, str] = {}
        for key, leader in [("lead", self.lead), *((f"leaders.{k}", v) for k, v in self.leaders.items())]:
            for e in leader.owns:
                if e in claimed:
                    raise ValueError(f"{key}.owns: {e} is already owned by {claimed[e]}; an element has one owner")
                claimed[e] = key
        return self


class ProgramModel(BaseModel):
    """The provider's programme (see sim.conditions.ProviderProgram for sources)."""

    model_config = _STRICT
    years: int = Field(default=3, ge=0, le=20)
    emphasis: list[Annotated[list[Unit], Field(min_length=len(Element), max_length=len(Element))]] = Field(
        default_factory=lambda: [list(r) for r in ProviderProgram().emphasis], min_length=len(Phase), max_length=len(Phase)
    )
    slo_audience: list[Literal["teachers", "school_leaders"]] = Field(
        default_factory=lambda: list(ProviderProgram().slo_audience), min_length=len(Phase), max_length=len(Phase)
    )
    convening_months: list[Annotated[int, Field(ge=0, le=11)]] = Field(default_factory=lambda: list(ProviderProgram().convening_months))
    slo_months: list[Annotated[int, Field(ge=0, le=11)]] = Field(default_factory=lambda: list(ProviderProgram().slo_months))
    coaching_months: list[Annotated[int, Field(ge=0, le=11)]] = Field(default_factory=lambda: list(ProviderProgram().coaching_months))
    superintendent_months: list[Annotated[int, Field(ge=0, le=11)]] = Field(
        default_factory=lambda: list(ProviderProgram().superintendent_months)
    )
    convening_weight: float = Field(default=ProviderProgram().convening_weight, ge=0.0, le=10.0, allow_inf_nan=False)
    slo_weight: float = Field(default=ProviderProgram().slo_weight, ge=0.0, le=10.0, allow_inf_nan=False)
    coaching_weight: float = Field(default=ProviderProgram().coaching_weight, ge=0.0, le=10.0, allow_inf_nan=False)
    prek_focus: Unit = ProviderProgram().prek_focus
    common_assessment: bool = ProviderProgram().common_assessment
    adaptive: bool = ProviderProgram().adaptive

    def program(self) -> ProviderProgram:
        d = self.model_dump()
        return ProviderProgram(
            **{k: (tuple(tuple(r) for r in v) if k == "emphasis" else tuple(v) if isinstance(v, list) else v) for k, v in d.items()}
        )


class ProviderModel(BaseModel):
    """Who the provider is and the terms of its offer (see sim.providers.ProviderSpec for sources).
    ``kind`` is one of: pl_provider (the case), publisher, lead_generation, cross_selling, bundle."""

    model_config = _STRICT
    kind: ProviderKind = "pl_provider"
    recruit: bool = False
    subsidy_share: Unit = 0.0
    subsidy_max_students: int = Field(default=2500, ge=0, le=5_000_000)
    alignment: Unit = 0.6
    meetings_per_month: float = Field(default=1.0, ge=0.0, le=30.0, allow_inf_nan=False)
    trust: Unit = 0.5
    curriculum_neutral: bool = True
    breakdown_month: int | None = Field(default=None, ge=0, le=240)
    adoption_month: int = Field(default=1, ge=0, le=240)

    def spec(self) -> ProviderSpec:
        return ProviderSpec(**self.model_dump())


# Parameters: generated from PARAMETER_SPECS, so names, defaults and ranges live in one place.
ParametersModel = create_model(
    "ParametersModel",
    __config__=_STRICT,
    **{
        s.name: (float, Field(default=s.default, ge=s.low, le=s.high, description=f"{s.description} [{s.unit}]"))
        for s in PARAMETER_SPECS.values()
    },
)


class Scenario(BaseModel):
    """Everything a study needs besides the seed and the number of replicates."""

    model_config = _STRICT
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=10_000)
    horizon_months: int = Field(default=36, ge=1, le=240)
    turbulence_by_year: list[Unit] = Field(default_factory=lambda: [0.5, 0.3, 0.15], max_length=40)
    turbulence_after: Unit = 0.05
    parameters: ParametersModel = Field(default_factory=ParametersModel)  # type: ignore[valid-type]
    program: ProgramModel = Field(default_factory=ProgramModel)
    provider: ProviderModel = Field(default_factory=ProviderModel)
    districts: dict[str, DistrictModel] = Field(min_length=1, max_length=10_000)

    @model_validator(mode="after")
    def _capacities_known(self):
        for name, d in self.districts.items():
            if d.capacity is None and name not in CASE_DISTRICTS:
                raise ValueError(
                    f"districts.{name}.capacity: missing; only the report's districts "
                    f"({', '.join(CASE_DISTRICTS)}) may leave it to the enumeration of the report's tables"
                )
        return self

    # --- to the model ------------------------------------------------------------------------
    def parameters_(self) -> Parameters:
        return Parameters(**self.parameters.model_dump())

    def conditions(self) -> tuple[Conditions, ...]:
        """One ``Conditions`` per starting-capacity assignment (one if every capacity is given)."""
        need_enum = [n for n, d in self.districts.items() if d.capacity is None]
        if need_enum:
            from experiments.evidence import consistent_capacity_assignments

            assignments = consistent_capacity_assignments()
        else:
            assignments = ({},)
        program = self.program.program()
        provider = self.provider.spec()
        out = []
        for a in assignments:
            districts = tuple(_district_conditions(n, d, a.get(n)) for n, d in self.districts.items())
            out.append(
                Conditions(
                    districts=districts,
                    program=program,
                    horizon_months=self.horizon_months,
                    turbulence_by_year=tuple(self.turbulence_by_year),
                    turbulence_after=self.turbulence_after,
                    provider=provider,
                )
            )
        return tuple(out)


def _district_conditions(name: str, d: DistrictModel, enumerated: dict | None) -> DistrictConditions:
    caps = d.capacity if d.capacity is not None else enumerated
    leaders = (d.lead.spec(True),) + tuple(l.spec(False) for l in d.leaders.values())
    try:
        return DistrictConditions(
            name=name,
            students=d.students,
            n_elementary_schools=d.n_elementary_schools,
            n_school_leaders=d.n_school_leaders,
            teachers=(d.teachers.prek, d.teachers.tk, d.teachers.k3),
            team_teachers=d.team_teachers,
            prior_experience=d.prior_experience,
            prior_provider=d.prior_provider,
            capacity=tuple(Capacity.from_key(caps[e.key]) for e in Element),
            leaders=leaders,
            has_prek=d.has_prek,
            shocks=tuple(ShockSpec(s.kind, s.month) for s in d.shocks),
            rural=d.rural,
        )
    except ValueError as exc:
        raise ScenarioError(str(exc)) from None


def _with_default_parameters(data: dict) -> dict:
    """Model parameters the data does not set take the defaults every entry point starts from
    (:func:`experiments.evidence.model_defaults`: calibrated, or the prior centre), not the prior
    centre alone: a scenario file that sets one parameter differs from the default scenario in that
    parameter only, as ``--set parameters.NAME=...`` does."""
    given = data.get("parameters", {})
    if not isinstance(given, dict) or all(name in given for name in PARAMETER_SPECS):
        return data
    from experiments.evidence import default_parameters

    return {**data, "parameters": {**default_parameters().to_dict(), **given}}


def validate_scenario(data: Any) -> Scenario:
    """Validate plain data into a Scenario, turning pydantic's errors into one clear message.
    Parameters the data leaves out take the defaults in force (calibrated or prior centre)."""
    if not isinstance(data, dict):
        raise ScenarioError(f"scenario: expected a table of keys, got {type(data).__name__}")
    data = _with_default_parameters(data)
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(format_validation_errors(exc, Scenario, "scenario", prefixed=False)) from None


def scenario_dict(s: Scenario) -> dict:
    """Plain data of a scenario, as written to files (``None`` values omitted)."""
    return s.model_dump(mode="json", exclude_none=True)
