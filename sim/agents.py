"""Agents: District, Leader, Teacher, Provider.

House style follows Mesa's example models (model and agents apart). For speed the monthly work is
vectorised: a district's element state lives in rows of the model's arrays and every teacher's
state in the model's teacher arrays; the agents read and write those rows. Per-agent Python runs
only for rare events (a change, a turnover, a shock), never for every agent every month.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np
from mesa import Agent

from .calendar import ENACT_OFFSET, month_of_time, month_of_year, school_year
from .conditions import SYSTEM_ELEMENTS, DistrictConditions, LeaderSpec, ProviderProgram, ShockSpec
from .records import (
    SOURCE_AGENDA,
    SOURCE_CURRICULUM,
    SOURCE_INITIATIVE,
    ChangeRecord,
    EventRecord,
)
from .vocab import Activity, Capacity, Content, Element, GradeBand, Practice

if TYPE_CHECKING:
    from .model import CoherenceModel


class Leader(Agent):
    """A district leader: role, positional authority, buy-in, a possibly competing agenda.

    Mechanism (lines 1263-1278, 1463-1475): a lead with positional authority who is on board steers
    consistent change; a lead without it needs an authority holder, whose buy-in (or competing
    agenda) then shapes the change.
    """

    def __init__(self, model: "CoherenceModel", district: "District", spec: LeaderSpec, buy_in: float | None = None):
        super().__init__(model)
        self.district = district
        self.spec = spec
        self.role = spec.role
        self.positional_authority = spec.positional_authority
        self.buy_in = spec.buy_in if buy_in is None else buy_in
        self.leads_initiative = spec.leads_initiative
        self.on_team = spec.on_team
        self.early_childhood = spec.early_childhood
        self.superintendent = spec.superintendent
        self.agenda = spec.agenda
        self.agenda_elements = spec.agenda_elements

    @property
    def competing(self) -> bool:
        return bool(self.agenda) and self.positional_authority

    def leave(self) -> None:
        """Turnover (a Mesa event): a successor takes the same role. An agenda holder's successor
        keeps the agenda's stance; others arrive with a buy-in drawn uniformly from [0.3, 1]
        (assumed; turnover during the initiative, lines 599-601)."""
        model = self.model
        month = month_of_time(model.time)
        buy_in = self.spec.buy_in if self.agenda else float(self.district.stream.uniform(0.3, 1.0))
        new = self.district.replace_leader(self, buy_in)
        model.leader_replaced(self, new, month)


class Teacher(Agent):
    """A pre-K-3 teacher. State lives in the model's ``TeacherPopulation`` (row ``index``).

    Practice moves traditional -> Counting Collections -> high-leverage practices (lines 396-460).
    """

    def __init__(self, model: "CoherenceModel", district: "District", index: int):
        super().__init__(model)
        self.district = district
        self.index = index

    @property
    def grade_band(self) -> GradeBand:
        return GradeBand(int(self.model.teacher_pop.band[self.index]))

    @property
    def practice(self) -> Practice:
        return self.model.teacher_pop.practice_of(self.index)

    @property
    def on_team(self) -> bool:
        return bool(self.model.teacher_pop.team[self.index])


class District(Agent):
    """A school district with six infrastructure elements (rows of the model's arrays)."""

    def __init__(self, model: "CoherenceModel", conditions: DistrictConditions, index: int):
        super().__init__(model)
        self.conditions = conditions
        self.name = conditions.name
        self.index = index
        self.stream: np.random.Generator = model.district_streams[index]  # this district's random numbers
        self.has_prek = conditions.has_prek
        self.leaders: list[Leader] = [Leader(model, self, s) for s in conditions.leaders]
        # Size (lines 1280-1302): decisions pass through more bureaucracy in larger districts.
        self.mean_latency = model.params.latency_per_log_school * math.log(conditions.n_elementary_schools)
        self._shocks: list[_Shock] = []
        self._pending: dict[int, _PendingChange] = {}
        self._ec_voice: bool | None = None  # cached: a pre-K teacher sits on the team
        self._successor: dict[Leader, Leader] = {}

    # --- leadership ------------------------------------------------------------------------
    @property
    def lead(self) -> Leader:
        return next(l for l in self.leaders if l.leads_initiative)

    def authority_holder(self) -> Leader | None:
        """Who a lead without positional authority must go through: a competing authority holder
        if there is one (Diamond, lines 1270-1278), else the superintendent or another authority."""
        holders = [l for l in self.leaders if l.positional_authority and not l.leads_initiative]
        if not holders:
            return None
        competing = [l for l in holders if l.competing]
        if competing:
            return competing[0]
        return max(holders, key=lambda l: (l.superintendent, l.buy_in))

    def ec_on_team(self) -> bool:
        """Pre-K voices on the improvement team: an early-childhood leader or a pre-K teacher
        (lines 289-292, 1406-1417)."""
        if any(l.early_childhood and l.on_team for l in self.leaders):
            return True
        if self._ec_voice is None:
            pop = self.model.teacher_pop
            self._ec_voice = bool(np.any((pop.district == self.index) & pop.team & pop.active & (pop.band == GradeBand.PREK)))
        return self._ec_voice

    def gates(self) -> np.ndarray:
        """Per-element gate on the change hazard from leadership (lines 1263-1278)."""
        g = np.ones(len(Element))
        lead = self.lead
        if not lead.positional_authority:
            holder = self.authority_holder()
            holder_buy_in = holder.buy_in if holder is not None else 0.0
            reach = self.model.params.reach_without_authority
            for e in SYSTEM_ELEMENTS:
                g[e] = reach + (1.0 - reach) * holder_buy_in
        return g

    def choose_decider(self, element: Element, u: float) -> Leader:
        lead = self.lead
        if lead.positional_authority or element not in SYSTEM_ELEMENTS:
            return lead
        holder = self.authority_holder()
        if holder is None:
            return lead
        reach = self.model.params.reach_without_authority
        gate = reach + (1.0 - reach) * holder.buy_in
        return lead if u * gate < reach else holder

    def replace_leader(self, old: Leader, buy_in: float) -> Leader:
        new = Leader(self.model, self, old.spec, buy_in=buy_in)
        self.leaders[self.leaders.index(old)] = new
        self._successor[old] = new
        old.remove()
        return new

    def current(self, leader: Leader) -> Leader:
        """The leader now in ``leader``'s seat (a pending decision is enacted by the successor)."""
        while leader in self._successor:
            leader = self._successor[leader]
        return leader

    # --- decisions -------------------------------------------------------------------------
    def decide(self, element: Element, month: int, source: str, trigger: str, decider: Leader) -> None:
        """A decision to change ``element``; enacted now or after the district's latency."""
        m = self.model
        latency = int(self.stream.poisson(self.mean_latency)) if self.mean_latency > 0 else 0
        m.pending[self.index, element] = True
        m.state_changed(self.index, int(element))
        if latency == 0:
            self.enact(element, month, source, trigger, decider, month)
            return
        when = month + latency + ENACT_OFFSET
        if when >= m.horizon:
            return  # decided but not enacted within the run: stays pending
        p = _PendingChange(self, element, month, source, trigger, decider)
        self._pending[int(element)] = p
        m.schedule_event(p.fire, at=when)

    def enact(self, element: Element, month: int, source: str, trigger: str, decider: Leader, decided_month: int) -> ChangeRecord:
        """Make one change and record it. Every mechanism of a single change is here."""
        m = self.model
        P = m.params
        d, e = self.index, int(element)
        decider = self.current(decider)
        u = self.stream.random(4)
        cap = Capacity(int(m.capacity[d, e]))
        # Capacity -> substantiveness (Table 3, lines 1111-1129).
        p_transform = (P.p_transform_did_not_exist, P.p_transform_emergent, P.p_transform_established)[cap]
        transform = bool(u[0] < p_transform)
        created = cap == Capacity.DID_NOT_EXIST
        if created:
            # A missing element is created as a single practice (emergent) or systemically.
            m.capacity[d, e] = Capacity.ESTABLISHED if transform else Capacity.EMERGENT
            m.created[d, e] = True
        elif transform:
            m.capacity[d, e] = Capacity.ESTABLISHED
        # Authority x buy-in x competing agenda -> consistency (lines 1263-1278).
        if source == SOURCE_AGENDA:
            consistent = False
        else:
            consistent = bool(u[1] < decider.buy_in)
        # Prior experience -> depth (lines 1212-1232); HLPPs emphasised from year 2 (lines 444-460).
        if not consistent:
            content = Content.COMPETING
        else:
            hlpp = m.hlpp_emphasis(d, month)
            base = P.p_depth_prior_experience if self.conditions.prior_experience else P.p_depth_no_prior
            bottom_up = P.depth_from_practice * m.hlpp_share(d, month) if hlpp > 0 and P.depth_from_practice > 0 else 0.0
            p_depth = min(1.0, hlpp * (base + bottom_up))
            content = Content.PRINCIPLES if u[2] < p_depth else Content.SIGNATURE
        # Pre-K on the team and pre-K still existing -> continuity (lines 1003-1015, 1196-1210).
        p_prek = P.p_include_prek * m.program.prek_focus
        if not self.ec_on_team():
            p_prek *= P.prek_inclusion_without_ec_lead
        prek = bool(self.has_prek and u[3] < p_prek)
        record = ChangeRecord(
            month=month,
            district=self.name,
            element=Element(e),
            transform=transform,
            created=bool(created),
            content=content,
            consistent=consistent,
            prek_included=prek,
            decided_by=decider.role,
            source=source,
            trigger=trigger,
            decided_month=decided_month,
        )
        m.record_change(d, record)
        self._pending.pop(e, None)
        if m.providers is not None:
            m.providers.after_change(self, record, decider)  # a bundle's tie (sim/providers.py)
        return record

    # --- shocks ----------------------------------------------------------------------------
    def add_shock(self, spec: ShockSpec, at: float) -> None:
        s = _Shock(self, spec)
        self._shocks.append(s)
        self.model.schedule_event(s.fire, at=at)

    def eliminate_prek(self, month: int) -> None:
        """Universal TK: four-year-olds move into TK; no pre-K teachers remain (lines 941-950)."""
        self.has_prek = False
        self._ec_voice = None
        self.model.remove_prek_teachers(self, month)
        self.model.log_event(month, self.name, "prek_eliminated", "pre-K programme ended; its children moved to TK")

    def adopt_curriculum(self, month: int, trigger: str | None = None) -> None:
        """A curriculum adopted with another provider, with publisher PD (lines 633-640, 748, 765-766);
        or, under a publisher or a partnership, the provider's own curriculum (sim/providers.py)."""
        lead = self.lead
        if trigger is None:
            trigger = "curriculum adopted with another provider"
        for element in (Element.PEDAGOGY, Element.TEACHER_LEARNING):
            if not self.model.pending[self.index, element]:
                self.enact(element, month, SOURCE_CURRICULUM, trigger, lead, month)


class _PendingChange:
    """A decided change waiting for the district's bureaucracy (a Mesa event's callback)."""

    __slots__ = ("district", "element", "month", "source", "trigger", "decider", "__weakref__")

    def __init__(self, district, element, month, source, trigger, decider):
        self.district, self.element, self.month = district, element, month
        self.source, self.trigger, self.decider = source, trigger, decider

    def fire(self) -> None:
        m = month_of_time(self.district.model.time)
        self.district.enact(self.element, m, self.source, self.trigger, self.decider, self.month)


class _Shock:
    __slots__ = ("district", "spec", "__weakref__")

    def __init__(self, district: District, spec: ShockSpec):
        self.district, self.spec = district, spec

    def fire(self) -> None:
        m = month_of_time(self.district.model.time)
        if self.spec.kind == "prek_eliminated":
            self.district.eliminate_prek(m)
        elif self.spec.kind == "curriculum_adoption":
            self.district.adopt_curriculum(m)


@lru_cache(maxsize=4096)
def month_plan(program: ProviderProgram, month: int) -> tuple:
    """What the provider does in ``month``: (exposure by element, activities, (team reached,
    SLO for teachers), superintendent convening?, label). Pure function of the programme, cached
    across runs (a sweep reuses the same programme thousands of times)."""
    moy = month_of_year(month)
    p = program
    acts = []
    if moy in p.convening_months:
        acts.append(Activity.CONVENING)
    if moy in p.slo_months:
        acts.append(Activity.SLO)
    if moy in p.coaching_months:
        acts.append(Activity.COACHING)
    if moy in p.superintendent_months:
        acts.append(Activity.SUPERINTENDENT_CONVENING)
    year = school_year(month)
    weight = (
        p.convening_weight * (Activity.CONVENING in acts)
        + p.coaching_weight * (Activity.COACHING in acts)
        + p.slo_weight * (Activity.SLO in acts)
    )
    emphasis = np.asarray(p.year_row(p.emphasis, year), dtype=float)
    top = Element(int(np.argmax(emphasis)))
    label = f"the {acts[0].label} ({top.label.lower()} emphasis, year {year})" if acts else None
    flags = (
        Activity.CONVENING in acts or Activity.COACHING in acts,
        Activity.SLO in acts and p.year_row(p.slo_audience, year) == "teachers",
    )
    exposure = weight * emphasis
    exposure.setflags(write=False)
    return exposure, tuple(acts), flags, Activity.SUPERINTENDENT_CONVENING in acts, label


class Provider(Agent):
    """The external provider running the initiative's calendar (strategies 3-6, lines 295-316, 357-378).

    Its activities are Mesa events scheduled from the programme's calendar; each delivers exposure
    weighted by the year's emphasis (lines 380-486) to every district's improvement team.
    """

    def __init__(self, model: "CoherenceModel"):
        super().__init__(model)
        self.program = model.program
        self.last_activity: str = "the initiative's launch"
        self.sessions: dict[Activity, int] = {a: 0 for a in Activity}

    def activities(self, month: int) -> tuple[Activity, ...]:
        return month_plan(self.program, month)[1]

    def active_months(self, horizon: int) -> list[int]:
        end = min(horizon, 12 * self.program.years)
        return [m for m in range(end) if self.activities(m)]

    def _plan(self, month: int) -> tuple:
        return month_plan(self.program, month)

    def deliver(self) -> None:
        """This month's activities: exposure to teams, SLO uptake, superintendents' buy-in."""
        model = self.model
        exposure, acts, flags, superintendents, label = self._plan(month_of_time(model.time))
        model.expose(exposure)
        for a in acts:
            self.sessions[a] += 1
        model.month_activity = flags
        if superintendents:
            gain = model.params.superintendent_buy_in_gain
            for district in model.district_list:
                if model.providers is not None and not model.providers.superintendent_convening(district.index):
                    continue
                for leader in district.leaders:
                    if leader.superintendent:
                        leader.buy_in = min(1.0, leader.buy_in + gain)
                model.refresh_gates(district)
        if label is not None:
            self.last_activity = label
