"""Conditions of a run: who the districts are, what the provider does, and for how long.

Conditions are plain, frozen, validated data: the model reads them and never changes them. They
hold *conditions only* (who leads, capacities, experience, size, shocks); which elements change,
and how, must emerge from the mechanisms. Files and command-line overrides are handled in
``experiments/``; this module knows nothing of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from .agendas import agenda
from .providers import ProviderSpec
from .vocab import N_ELEMENTS, Capacity, Element, GradeBand, Phase

ShockKind = Literal["prek_eliminated", "curriculum_adoption"]
SHOCK_KINDS: tuple[str, ...] = ("prek_eliminated", "curriculum_adoption")

# Curriculum, assessment and teacher PD "are under the auspices of a single department (typically,
# Curriculum and Instruction or Education Services)" (lines 1017-1020): the elements a head of that
# department owns by position. The others (framework, school-leader learning, oversight) belong to
# the superintendent's office unless a leader's ``owns`` says otherwise (docs/ODD.md 7.4).
DEPARTMENT_ELEMENTS: tuple[Element, ...] = (Element.PEDAGOGY, Element.ASSESSMENT, Element.TEACHER_LEARNING)


def _unit(name: str, value: float) -> float:
    v = float(value)
    if not 0.0 <= v <= 1.0:
        raise ValueError(f"{name}: {value!r} is out of range; allowed: [0, 1]")
    return v


@dataclass(frozen=True)
class LeaderSpec:
    """A district leader involved in (or beside) the initiative.

    ``owns``: the elements this leader owns by position (the decisions about them are theirs when
    they have positional authority; docs/ODD.md 7.4). ``agenda`` names a competing agenda of
    ``sim.agendas.AGENDAS`` (``"fluency"``: Diamond's basic-skills push, lines 1270-1278): the
    holder's goals, not the elements it will reach.
    """

    role: str
    positional_authority: bool
    buy_in: float
    leads_initiative: bool = False
    on_team: bool = True
    early_childhood: bool = False
    superintendent: bool = False
    agenda: str | None = None
    owns: tuple[Element, ...] = ()

    def __post_init__(self) -> None:
        _unit(f"leader {self.role!r}.buy_in", self.buy_in)
        if self.agenda:
            agenda(self.agenda, field=f"leader {self.role!r}.agenda")
        object.__setattr__(self, "owns", tuple(Element(e) for e in self.owns))
        if len(set(self.owns)) != len(self.owns):
            raise ValueError(f"leader {self.role!r}.owns: an element is listed twice")

    @property
    def rank(self) -> int:
        """Position in the district's hierarchy: 3 superintendent, 2 a cabinet-level leader with
        positional authority, 1 anyone else (lines 1263-1272)."""
        return 3 if self.superintendent else 2 if self.positional_authority else 1


@dataclass(frozen=True)
class ShockSpec:
    """A scheduled external event.

    ``prek_eliminated``: the district ends its pre-K programme (Diamond under universal TK,
    lines 941-950). ``curriculum_adoption``: a curriculum adopted with another provider, with
    publisher PD (Cedarville in year 2, lines 633-640, 765-766).
    """

    kind: str
    month: int

    def __post_init__(self) -> None:
        if self.kind not in SHOCK_KINDS:
            raise ValueError(f"shock.kind: {self.kind!r} is not one of: {', '.join(SHOCK_KINDS)}")
        if int(self.month) != self.month or self.month < 0:
            raise ValueError(f"shock.month: {self.month!r} must be a whole month >= 0")


@dataclass(frozen=True)
class DistrictConditions:
    """One district's starting conditions."""

    name: str
    students: int
    n_elementary_schools: int
    n_school_leaders: int
    teachers: tuple[int, int, int]  # by GradeBand: pre-K, TK, K-3
    team_teachers: int  # teachers on the improvement team
    prior_experience: bool  # with similar approaches to mathematics (CGI-like PD), lines 1212-1232
    prior_provider: bool  # worked with the provider before (lines 495-496, 560-561, 1551-1560)
    capacity: tuple[Capacity, ...]  # by Element, at the start
    leaders: tuple[LeaderSpec, ...]
    has_prek: bool = True
    shocks: tuple[ShockSpec, ...] = ()
    rural: bool = False  # limited access to qualified providers (brief 000_2f2cc46267fd8ab3.txt line 15)

    def __post_init__(self) -> None:
        p = f"districts.{self.name}"
        if len(self.capacity) != N_ELEMENTS:
            raise ValueError(f"{p}.capacity: needs one value per element ({N_ELEMENTS}), got {len(self.capacity)}")
        object.__setattr__(self, "capacity", tuple(Capacity(c) for c in self.capacity))
        if self.students < 1:
            raise ValueError(f"{p}.students: {self.students!r} must be >= 1")
        if self.n_elementary_schools < 1:
            raise ValueError(f"{p}.n_elementary_schools: {self.n_elementary_schools!r} must be >= 1")
        if self.n_school_leaders < 1:
            raise ValueError(f"{p}.n_school_leaders: {self.n_school_leaders!r} must be >= 1")
        if len(self.teachers) != len(GradeBand) or any(n < 0 for n in self.teachers):
            raise ValueError(f"{p}.teachers: needs {len(GradeBand)} counts >= 0 (pre-K, TK, K-3)")
        if not self.has_prek and self.teachers[GradeBand.PREK] > 0:
            raise ValueError(f"{p}.teachers: a district without pre-K has no pre-K teachers")
        if not 0 <= self.team_teachers <= sum(self.teachers):
            raise ValueError(f"{p}.team_teachers: {self.team_teachers!r} must be in [0, {sum(self.teachers)}]")
        leads = [l for l in self.leaders if l.leads_initiative]
        if len(leads) != 1:
            raise ValueError(f"{p}.leaders: exactly one leader must lead the initiative, found {len(leads)}")
        if leads[0].agenda:
            raise ValueError(f"{p}.lead.agenda: the initiative's lead cannot hold a competing agenda; give it to another leader")
        claimed: dict[Element, str] = {}
        for l in self.leaders:
            for e in l.owns:
                if e in claimed:
                    raise ValueError(f"{p}.leaders: {e.key} is owned by both {claimed[e]!r} and {l.role!r}")
                claimed[e] = l.role

    @property
    def lead(self) -> LeaderSpec:
        return next(l for l in self.leaders if l.leads_initiative)

    @property
    def n_teachers(self) -> int:
        return sum(self.teachers)


def _default_emphasis() -> tuple[tuple[float, ...], ...]:
    # Rows: the provider's phases (sim.vocab.Phase); columns: Element order. Relative weight of the
    # provider's attention.
    # SIGNATURE (year 1, lines 386-423): Counting Collections (pedagogy), the common Learning from
    #   Children assessment, teacher PD in convenings and SLOs; silos between pre-K and elementary.
    # PRINCIPLES (year 2, lines 425-470): HLPPs; the Coherence Framework's four levers
    #   (expectations, HLPPs, monitoring progress, teacher and administrator capacity) widen
    #   attention to framework, oversight and school leaders.
    # SYSTEMS (year 3, lines 472-486): school-leader learning (SLOs for school leaders), a district
    #   mathematics vision (framework), aligning systems, sustainability.
    # The weights are assumed; their order within each phase follows the report.
    return (
        (0.15, 1.00, 0.80, 0.80, 0.10, 0.10),
        (0.50, 0.80, 0.60, 0.80, 0.30, 0.40),
        (0.80, 0.50, 0.50, 0.60, 1.00, 0.50),
    )


@dataclass(frozen=True)
class ProviderProgram:
    """What the external provider does (strategies 3-6, lines 295-316, 357-378).

    Months are indices within the school year, 0 = July. Timings inside the year are assumed;
    the frequencies are the report's: convenings three times a year, SLOs between them,
    monthly coaching of team leads, superintendent convenings twice a year. ``emphasis`` and
    ``slo_audience`` have one row per phase of the provider's focus (sim.vocab.Phase): the provider
    moves to the next phase when what it observes says so (docs/ODD.md 7.8). ``common_assessment``:
    it starts by asking every district to adopt one assessment (strategy 8, lines 386-396).
    """

    years: int = 3
    emphasis: tuple[tuple[float, ...], ...] = field(default_factory=_default_emphasis)
    slo_audience: tuple[str, ...] = ("teachers", "teachers", "school_leaders")  # lines 476-479
    convening_months: tuple[int, ...] = (3, 7, 10)  # Oct, Feb, May
    slo_months: tuple[int, ...] = (4, 5, 8, 9)  # between convenings
    coaching_months: tuple[int, ...] = tuple(range(1, 12))  # monthly, Aug-Jun
    superintendent_months: tuple[int, ...] = (4, 9)  # twice a year
    convening_weight: float = 1.0  # exposure units per activity (assumed)
    slo_weight: float = 0.4
    coaching_weight: float = 0.5
    prek_focus: float = 1.0  # pre-K focus threaded through the strategies (lines 1009-1015)
    common_assessment: bool = True  # strategy 8 (lines 386-396)
    adaptive: bool = True  # the provider shifts its focus on what it observes (lines 378-384)

    def __post_init__(self) -> None:
        if self.years < 0:
            raise ValueError(f"program.years: {self.years!r} must be >= 0")
        n_phases = len(Phase)
        for name in ("emphasis", "slo_audience"):
            if len(getattr(self, name)) != n_phases:
                raise ValueError(f"program.{name}: needs one row per phase ({n_phases}), got {len(getattr(self, name))}")
        for i, row in enumerate(self.emphasis):
            if len(row) != N_ELEMENTS:
                raise ValueError(f"program.emphasis[{i}]: needs {N_ELEMENTS} values, got {len(row)}")
            for j, v in enumerate(row):
                _unit(f"program.emphasis[{i}][{j}]", v)
        for a in self.slo_audience:
            if a not in ("teachers", "school_leaders"):
                raise ValueError(f"program.slo_audience: {a!r} is not one of: teachers, school_leaders")
        for name in ("convening_months", "slo_months", "coaching_months", "superintendent_months"):
            for mo in getattr(self, name):
                if not 0 <= mo < 12:
                    raise ValueError(f"program.{name}: {mo!r} is not a month of the year in [0, 11]")
        for name in ("convening_weight", "slo_weight", "coaching_weight"):
            v = float(getattr(self, name))
            if not 0.0 <= v <= 10.0:
                raise ValueError(f"program.{name}: {v!r} is out of range; allowed: [0, 10]")
        _unit("program.prek_focus", self.prek_focus)


@dataclass(frozen=True)
class Conditions:
    """Everything a run needs besides parameters and seed."""

    districts: tuple[DistrictConditions, ...]
    program: ProviderProgram = field(default_factory=ProviderProgram)
    horizon_months: int = 36
    turbulence_by_year: tuple[float, ...] = (0.5, 0.3, 0.15)  # assumed COVID profile, lines 599-601
    turbulence_after: float = 0.05
    provider: ProviderSpec = field(default_factory=ProviderSpec)  # who the provider is (sim/providers.py)

    def __post_init__(self) -> None:
        if not self.districts:
            raise ValueError("districts: at least one district is needed")
        names = [d.name for d in self.districts]
        if len(set(names)) != len(names):
            raise ValueError(f"districts: names must be unique, got {names}")
        if not 1 <= self.horizon_months <= 240:
            raise ValueError(f"horizon_months: {self.horizon_months!r} is out of range; allowed: [1, 240]")
        for i, v in enumerate(self.turbulence_by_year):
            _unit(f"turbulence_by_year[{i}]", v)
        _unit("turbulence_after", self.turbulence_after)

    def turbulence(self, year: int) -> float:
        if year <= len(self.turbulence_by_year):
            return self.turbulence_by_year[year - 1]
        return self.turbulence_after
