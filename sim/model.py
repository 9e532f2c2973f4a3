"""The CoherenceModel: districts changing six infrastructure elements month by month.

One run is a pure function of (conditions, parameters, seed). docs/ODD.md describes the model;
each mechanism names the report passage it stands on (003_5ef94897120ea9a2.txt).

A month (``step``; Mesa fires it at integer times, so step s is model month s - 1):

1. the provider holds this month's activities (sim/initiative.py): the teams gain readiness for the
   emphasised elements and understanding, teams hear each other at convenings, school leaders
   attend sessions aimed at them, teams take the sessions for school leaders and teachers home as
   routines to replicate (``ImprovementTeam.replicate``), superintendents meet; at the start of each programme year the
   provider first revisits its focus on what it has observed;
2. teachers move between practices (sim/teachers.py), and what classrooms show moves leaders'
   buy-in and the teams' grasp of the principles (``evidence_gain``);
3. leaders with a competing agenda may push it into another element (``District.push_agenda``);
4. the teams work (sim/team.py): readiness fades, projects progress and are designed, proposed and
   decided (``District.design``), spare attention takes up new elements;
5. changed elements carrying the same vision may become linked.

Shocks, delayed enactments and leader turnover are Mesa events inside the month (sim/calendar.py).
State that every district has per element (readiness, projects, what changed) lives in numpy rows
owned by the model, so that the monthly pass is one vectorised step for all districts.
"""

from __future__ import annotations

import bisect
import math
import random

import numpy as np
from mesa import Model
from mesa.agentset import AgentSet
from mesa.datacollection import DataCollector

from .agents import District, Leader, Provider, Teacher
from .calendar import SHOCK_OFFSET, TURNOVER_OFFSET, school_year
from .conditions import Conditions
from .parameters import Parameters
from .providers import ProviderState, needs_state
from .records import ChangeRecord, EventRecord, LinkRecord
from .teachers import N_GROUPS, TeacherCohorts
from .vocab import N_ELEMENTS, Capacity, Content, Element, GradeBand, Phase

_E = N_ELEMENTS
_SLL, _OVERSIGHT, _FRAMEWORK, _PEDAGOGY, _TL = (int(Element.SCHOOL_LEADER_LEARNING), int(Element.OVERSIGHT),
                                                int(Element.FRAMEWORK), int(Element.PEDAGOGY), int(Element.TEACHER_LEARNING))
_ASSESSMENT = int(Element.ASSESSMENT)
_PREK = int(GradeBand.PREK)
_SIGNATURE, _PRINCIPLES, _COMPETING = int(Content.SIGNATURE), int(Content.PRINCIPLES), int(Content.COMPETING)


class HorizonReached(RuntimeError):
    """Stepping a model past its horizon (the run is over; make a new model to run longer)."""


class CoherenceModel(Model):
    """Districts, their leaders, school leaders and teachers, and an external provider.

    ``parameters`` (default ``Parameters()``, the documented prior centre) may be overridden by
    keyword, one parameter name each (``CoherenceModel(conditions, team_attention=3)``), which is
    how ``mesa.batch_run`` passes a design. ``collect=True`` attaches a Mesa ``DataCollector``
    (model reporters: elements changed, the four dimensions' shares, the provider's phase; agent
    reporters: each leader's role and buy-in), collected at the start and every month, for
    ``mesa.batch_run`` and the app; runs for analysis leave it off for speed. The model stops
    (``running`` False) at ``conditions.horizon_months``; stepping it further raises
    ``HorizonReached``.
    """

    def __init__(self, conditions: Conditions, parameters: Parameters | None = None, rng=None, *,
                 collect: bool = False, **parameter_values: float):
        if not isinstance(conditions, Conditions):
            raise TypeError(f"conditions: expected sim.Conditions, got {type(conditions).__name__}")
        super().__init__(rng=rng)
        self.conditions = conditions
        P = parameters if parameters is not None else Parameters()
        if parameter_values:
            P = Parameters.from_mapping({**P.to_dict(), **parameter_values})
        self.params = P
        self.team_slots = int(round(P.team_attention))  # elements a team works on at once
        self.program = conditions.program
        self.horizon = H = conditions.horizon_months
        D = self.n_districts = len(conditions.districts)
        # Random numbers: one seed sequence per district, spawned from the run's; each district's
        # decisions, links, turnover and teachers draw from their own streams, so a what-if that
        # changes one district leaves the others' random numbers untouched (docs/ODD.md 7.14).
        children = self.rng.bit_generator.seed_seq.spawn(D)
        seeds = [c.generate_state(5) for c in children]
        teacher_streams = [random.Random(int(s[4])) for s in seeds]
        self._turbulence = [self._turbulence_at(m) for m in range(H)]
        self._alive: set = set()  # callbacks Mesa holds weakly

        # Per district-element state (rows of the districts).
        self.capacity0 = np.array([[int(c) for c in d.capacity] for d in conditions.districts], dtype=np.int8)
        self.capacity = self.capacity0.copy()
        self.proposals_blocked = np.zeros((D, _E), dtype=np.int16)
        self.common_adopted = [False] * D  # took up the provider's common assessment (lines 386-396, 1041)
        self.n_add_on = np.zeros((D, _E), dtype=np.int16)
        self.n_transform = np.zeros((D, _E), dtype=np.int16)
        self.n_consistent = np.zeros((D, _E), dtype=np.int16)
        self.n_competing = np.zeros((D, _E), dtype=np.int16)
        self.prek_included = np.zeros((D, _E), dtype=bool)
        self.first_month = np.full((D, _E), -1, dtype=np.int16)
        self.content = np.zeros((D, _E, len(Content)), dtype=bool)
        self.links = np.zeros((D, _E, _E), dtype=bool)
        self.link_consistent = np.zeros((D, _E, _E), dtype=bool)
        self.changes: list[ChangeRecord] = []
        self.link_log: list[LinkRecord] = []
        self.event_log: list[EventRecord] = []

        self.teachers_pop = TeacherCohorts(conditions.districts, teacher_streams)
        self._teacher_agents: AgentSet | None = None
        self._teacher_p_cache: dict = {}
        self._emphasis_rows = [np.asarray(row, dtype=float) for row in self.program.emphasis]

        # Agents.
        self.provider = Provider(self)
        self.district_list: list[District] = [District(self, dc, i, seeds[i]) for i, dc in enumerate(conditions.districts)]
        self._link_candidates: list[list[tuple]] = [[] for _ in range(D)]
        self._links_dirty = [False] * D
        # Provider types (sim/providers.py): None for the case's PL provider alone.
        self.providers: ProviderState | None = ProviderState(self) if needs_state(conditions.provider) else None

        # The calendar's events: shocks, provider-type adoptions, leader turnover.
        for dist in self.district_list:
            for shock in dist.conditions.shocks:
                if shock.month < H:
                    dist.add_shock(shock, at=shock.month + SHOCK_OFFSET)
        if self.providers is not None:
            self.providers.schedule(SHOCK_OFFSET)
        hazard = [P.leader_turnover_rate * (1.0 + t) for t in self._turbulence]
        self._cum_turnover = [0.0]
        for h in hazard:
            self._cum_turnover.append(self._cum_turnover[-1] + h)
        for dist in self.district_list:
            for leader in list(dist.leaders):
                self._schedule_turnover(leader, 0)

        self.datacollector: DataCollector | None = None
        self._collect = bool(collect)
        if collect:
            self.datacollector = _collector()
            self.datacollector.collect(self)

    # --- agents on demand ---------------------------------------------------------------------
    @property
    def teachers(self) -> AgentSet:
        """Every active teacher as a Mesa agent, with her current practice (made on each access
        from the cohorts: a teacher's identity within her group is not tracked)."""
        if self._teacher_agents is not None:
            for t in list(self._teacher_agents):
                t.remove()
        agents = []
        for dist in self.district_list:
            for band, on_team, practice, count in self.teachers_pop.group_practices(dist.index):
                agents.extend(Teacher(self, dist, band, on_team, practice) for _ in range(count))
        self._teacher_agents = AgentSet(agents, random=self.random)
        return self._teacher_agents

    @property
    def leaders(self) -> list[Leader]:
        return [l for d in self.district_list for l in d.leaders]

    # --- views of the teams as (district x element) arrays, for the app and analyses ------------
    @property
    def readiness(self) -> np.ndarray:
        return np.array([d.team.readiness for d in self.district_list])

    @property
    def pending(self) -> np.ndarray:
        return np.array([d.pending for d in self.district_list])

    @property
    def project(self) -> np.ndarray:
        return np.array([[e in d.team.projects for e in range(_E)] for d in self.district_list])

    @property
    def know(self) -> np.ndarray:
        return np.array([d.team.know for d in self.district_list])

    @property
    def know_principles(self) -> np.ndarray:
        return np.array([d.team.know_principles for d in self.district_list])

    # --- helpers used by agents -------------------------------------------------------------
    def keep_alive(self, callback_owner) -> None:
        self._alive.add(callback_owner)

    def served(self, d: int) -> bool:
        """District ``d`` receives the provider's programme now."""
        return self.providers is None or self.providers.served(d)

    def in_programme(self) -> bool:
        """The provider's programme is still running (its ``years`` have not ended)."""
        return school_year(max(self.steps - 1, 0)) <= self.program.years

    def principles_available(self, d: int) -> bool:
        """The HLPPs are within reach of district ``d``: the provider teaches them to it now, or the
        district already carries them in some element."""
        if self.in_programme() and self.served(d) and self.provider.teaches_principles():
            return True
        return self.district_list[d].structure_carries_principles()

    def record_change(self, d: int, rec: ChangeRecord) -> None:
        e = int(rec.element)
        if rec.transform:
            self.n_transform[d, e] += 1
        else:
            self.n_add_on[d, e] += 1
        if rec.consistent:
            self.n_consistent[d, e] += 1
        else:
            self.n_competing[d, e] += 1
        self.prek_included[d, e] |= rec.prek_included
        if self.first_month[d, e] < 0:
            self.first_month[d, e] = rec.month
        self.content[d, e, rec.content] = True
        if rec.content == Content.PRINCIPLES:
            self.content[d, e, Content.SIGNATURE] = True  # Counting Collections is their vehicle (lines 444-451)
        if (e == _ASSESSMENT and rec.consistent and rec.source == "initiative" and self.provider.common_assessment):
            self.common_adopted[d] = True
        dist = self.district_list[d]
        self.capacity[d, e] = dist.structure.capacity(e)
        self.changes.append(rec)
        dist.changed.add(e)
        dist.update_reach()
        self._links_dirty[d] = True

    # --- alignment ----------------------------------------------------------------------------
    def _update_link_candidates(self, d: int) -> None:
        """Pairs of changed elements carrying the same vision, not yet linked, with their hazard
        multipliers: coordination (the lead, or the agenda's holder, directs both owners; else
        ``coordination_without_authority``) x structure (both run routines; else
        ``piece_link_factor``)."""
        P = self.params
        dist = self.district_list[d]
        s = dist.structure
        changed = sorted(dist.changed)
        lead = dist.lead
        holders = dist.agenda_holders
        out = []
        for i, a in enumerate(changed):
            for b in changed[i + 1:]:
                if (a, b) in dist.linked_pairs:
                    continue
                if s.holds_provider(a) and s.holds_provider(b):
                    consistent, by = True, lead
                elif s.holds(a, _COMPETING) and s.holds(b, _COMPETING) and holders:
                    consistent, by = False, holders[0]
                else:
                    continue
                mult = 1.0 if dist.coordinated(a, b, by) else P.coordination_without_authority
                if not (s.has_routine(a) and s.has_routine(b)):
                    mult *= P.piece_link_factor
                if mult > 0.0:
                    out.append((a, b, consistent, mult))
        self._link_candidates[d] = out
        self._links_dirty[d] = False

    def _link(self, month: int, turbulence: float, supported: list[bool]) -> None:
        """Changed elements carrying the same vision become intentionally linked over time, so what
        is changed early links more (lines 885-914, 1063-1081)."""
        rate = self.params.link_rate * (1.0 - turbulence)
        for dist in self.district_list:
            d = dist.index
            if self._links_dirty[d]:
                self._update_link_candidates(d)
            cands = self._link_candidates[d]
            if not cands:
                continue
            r = rate * (1.0 if supported[d] else self.params.post_initiative_momentum)
            rng = dist.link_rng
            formed = False
            for a, b, consistent, mult in cands:
                if rng.random() < -math.expm1(-r * mult):
                    self.add_link(d, a, b, consistent, month)
                    formed = True
            if formed:
                self._links_dirty[d] = True

    def add_link(self, d: int, a: int, b: int, consistent: bool, month: int) -> None:
        dist = self.district_list[d]
        a, b = min(a, b), max(a, b)
        dist.linked_pairs.add((a, b))
        self.links[d, a, b] = self.links[d, b, a] = True
        self.link_consistent[d, a, b] = self.link_consistent[d, b, a] = consistent
        self.link_log.append(LinkRecord(month, dist.name, Element(a), Element(b),
                                        Content.SIGNATURE if consistent else Content.COMPETING, consistent))

    # --- events -------------------------------------------------------------------------------
    def log_event(self, month: int, district: str, kind: str, detail: str) -> None:
        self.event_log.append(EventRecord(month, district, kind, detail))

    def services_changed(self) -> None:
        """A district's services started or stopped (a partnership failed)."""

    def _schedule_turnover(self, leader: Leader, from_month: int) -> None:
        """When ``leader`` leaves: the first month whose cumulative hazard since ``from_month``
        passes an Exp(1) draw from the district's turnover stream (the monthly process exactly)."""
        cum = self._cum_turnover
        if from_month >= self.horizon or cum[-1] <= cum[from_month]:
            return
        threshold = cum[from_month] - math.log(1.0 - leader.district.turnover_rng.random())
        m = bisect.bisect_left(cum, threshold) - 1  # first month m with cum[m + 1] >= threshold
        if m < self.horizon:
            event = _Turnover(self, leader)
            self.keep_alive(event)
            self.schedule_event(event.fire, at=m + TURNOVER_OFFSET)

    def leader_leaves(self, leader: Leader, month: int) -> None:
        """Turnover (lines 599-601, 1350-1352): a successor arrives with a buy-in drawn from
        [0.3, 1] (assumed). A new lead loses part of the team's understanding and its projects."""
        dist = leader.district
        if leader not in dist.leaders:
            return
        new = dist.replace_leader(leader, dist.turnover_rng.uniform(0.3, 1.0))
        d = dist.index
        if leader.leads_initiative:
            dist.team.forget(self.params.turnover_understanding_loss)
        self._links_dirty[d] = True
        self.log_event(month, dist.name, "leader_turnover", f"{leader.role} replaced (new buy-in {new.buy_in:.2f})")
        self._schedule_turnover(new, month + 1)

    # --- the month -----------------------------------------------------------------------------
    def step(self) -> None:
        if self.steps > self.horizon:
            self.steps -= 1
            raise HorizonReached(
                f"the run is over: its horizon is {self.horizon} months (conditions.horizon_months); "
                "make a new model with a longer horizon to run longer"
            )
        month = self.steps - 1
        year = school_year(month)
        turb = self._turbulence[month]
        in_program = year <= self.program.years
        providers = self.providers
        supported = [in_program and self.served(d) for d in range(self.n_districts)]
        after = self.params.post_initiative_momentum
        # 1. the provider
        if in_program:
            self._provider_month(month, year, turb, supported)
        # 2. teachers
        self._teachers_month(month, turb, in_program, supported)
        # 3.-4. each district: evidence, agendas, the team's work
        trigger = _Triggers(self.provider, supported)
        for dist in self.district_list:
            dist.month(month, turb, 1.0 if supported[dist.index] else after, trigger)
        # 5. alignment
        self._link(month, turb, supported)
        if providers is not None:
            providers.month(month)  # the partnership's health; a failure withdraws services
        if month + 1 == 12 * self.program.years and month + 1 < self.horizon:
            self.log_event(month, "", "programme_ended", "the provider's programme ends; districts continue on their own")
        if month + 1 >= self.horizon:
            self.running = False
        if self._collect:
            self.datacollector.collect(self)

    def _provider_month(self, month: int, year: int, turb: float, supported: list[bool]) -> None:
        provider = self.provider
        pop = self.teachers_pop
        if month % 12 == 0 and year >= 2:
            teams = [pop.level_counts(d.index, team_only=True) for d in self.district_list if supported[d.index]]
            n = sum(sum(c) for c in teams) or 1
            cc = sum(c[1] + c[2] for c in teams) / n
            hlpp = sum(c[2] for c in teams) / n
            adopted = [self.common_adopted[d.index] for d in self.district_list if supported[d.index]]
            share_adopted = sum(adopted) / len(adopted) if adopted else 0.0
            for note in provider.plan_year(month, cc, hlpp, share_adopted):
                self.log_event(month, "", "provider_adapts", note)
        plan = provider.plan(month)
        if not plan.activities:
            return
        provider.record(month, plan)
        P = self.params
        prov = self.providers
        amount = plan.team_exposure * (1.0 - turb)
        emphasis = provider.emphasis()
        principles = provider.teaches_principles()
        content = _PRINCIPLES if principles else _SIGNATURE  # what its sessions model
        for dist in self.district_list:
            d = dist.index
            if not supported[d]:
                continue
            if prov is None:
                dist.team.expose(amount, emphasis, P.learning_rate, principles, 1.0)
            else:
                w = prov.weights
                dist.team.expose(amount, [emphasis[e] * w[e] for e in range(_E)], P.learning_rate, principles, prov.depth)
        if plan.convening and P.peer_learning > 0.0 and self.n_districts > 1:
            # Teams hear what the other districts changed in the provider's direction and see their
            # redesigned routines (lines 355-365, 1046-1062).
            structures = [dist.structure for dist in self.district_list]
            held = [[s.holds_provider(e) for e in range(_E)] for s in structures]
            redesigned = [[s.routine[e] in (_SIGNATURE, _PRINCIPLES) for e in range(_E)] for s in structures]
            held_total = [sum(h[e] for h in held) for e in range(_E)]
            redesigned_total = [sum(r[e] for r in redesigned) for e in range(_E)]
            others = self.n_districts - 1
            for dist in self.district_list:
                d = dist.index
                if supported[d]:
                    dist.team.hear_peers([(held_total[e] - held[d][e]) / others for e in range(_E)],
                                         [(redesigned_total[e] - redesigned[d][e]) / others for e in range(_E)],
                                         P.peer_learning, self.program.convening_weight * (1.0 - turb))
        if (plan.slo or plan.convening) and provider.slo_audience() == "school_leaders":
            # School leaders take part in the SLOs aimed at them and in the convenings of that phase
            # (lines 472-479, 1044-1046); an SLO for them is school-leader learning's own emphasis.
            # Provider types weigh what their sessions give each element (sim/providers.py).
            pw = prov.weights[_SLL] if prov is not None else 1.0
            w = self.program.slo_weight * (1.0 - turb) * pw
            share = P.session_replication * (1.0 - turb) * pw
            for dist in self.district_list:
                if supported[dist.index]:
                    dist.school_leaders.attend()
                    if plan.slo:
                        dist.team.raise_readiness(_SLL, w)
                    if share > 0.0:
                        dist.replicate(_SLL, share, content)
        elif plan.slo and provider.slo_audience() == "teachers" and P.session_replication > 0.0:
            # An SLO for teachers models a teacher-learning routine (lines 1046-1062).
            share = P.session_replication * (1.0 - turb) * (prov.weights[_TL] if prov is not None else 1.0)
            for dist in self.district_list:
                if supported[dist.index]:
                    dist.replicate(_TL, share, content)
        if plan.superintendents:
            gain = P.superintendent_buy_in_gain
            for dist in self.district_list:
                if supported[dist.index] and (prov is None or prov.superintendent_convening(dist.index)):
                    for leader in dist.leaders:
                        if leader.superintendent:
                            leader.buy_in += gain * (1.0 - leader.buy_in)

    def _teachers_month(self, month: int, turb: float, in_program: bool, supported: list[bool]) -> None:
        """Teachers' monthly moves (sim/teachers.py). Sources, per group: team teachers in a month
        of convenings or coaching (``teacher_uptake_team``); an SLO for teachers; a district
        teacher-learning element, pedagogical expectations or school leaders carrying the
        provider's practice (``teacher_uptake_district`` each; pre-K teachers only where the
        element included pre-K) -- lines 357-372, 751-766, 819-823, 936-939, 1297-1302. The move
        to the HLPPs goes as far as the district understands them (``know_principles``)."""
        P = self.params
        plan = self.provider.plan(month) if in_program else None
        prov = self.providers
        phase_teaches = in_program and self.provider.teaches_principles()
        slo_teachers = bool(plan and plan.slo and self.provider.slo_audience() == "teachers")
        team_reached = bool(plan and plan.team_reached)
        cache = self._teacher_p_cache
        pop = self.teachers_pop
        uptake = prov.uptake if prov is not None else 1.0
        for dist in self.district_list:
            d = dist.index
            sup = supported[d]
            key = (turb, sup and team_reached, sup and slo_teachers, uptake) + dist.reach
            p_move = cache.get(key)
            if p_move is None:
                p_move = cache[key] = _teacher_probabilities(P, *key)
            # Teachers learn the HLPPs from what the district offers them, so as far as the district
            # understands them (teachers "were focusing on the specific activity rather than the
            # general teaching strategies", lines 444-451).
            reachable = (sup and phase_teaches) or dist.carries_principles
            pop.step(d, p_move, dist.team.know_principles if reachable else 0.0)
        pop.record_month()

    # --- running ------------------------------------------------------------------------------
    def run(self) -> "CoherenceModel":
        while self.running:
            self.step()
        return self

    def turbulence(self, month: int) -> float:
        """Share of effort lost to turbulence in ``month`` (lines 599-601, 1350-1352), capped at 0.95."""
        return self._turbulence[month] if 0 <= month < self.horizon else self._turbulence_at(month)

    def _turbulence_at(self, month: int) -> float:
        t = self.conditions.turbulence(school_year(month)) * self.params.turbulence_scale
        return min(t, 0.95)

    @property
    def has_prek_end(self) -> np.ndarray:
        return np.array([d.has_prek for d in self.district_list])


def _teacher_probabilities(P, turb, team, slo, uptake, tl, tl_prek, ped, ped_prek, sll, sll_prek) -> tuple[float, ...]:
    """Monthly probability of a move, per group (2 * is_prek + on_team)."""
    out = []
    q = P.teacher_uptake_district
    for prek in (False, True):
        stay = 1.0
        if slo:
            stay *= 1.0 - q * uptake
        for held, held_prek in ((tl, tl_prek), (ped, ped_prek), (sll, sll_prek)):
            if held and (held_prek or not prek):
                stay *= 1.0 - q
        for on_team in (0, 1):
            s = stay * (1.0 - P.teacher_uptake_team * uptake) if (on_team and team) else stay
            out.append((1.0 - s) * (1.0 - turb))
    return tuple(out)


class _Triggers:
    """What prompted a district's change this month, worked out only when a change is designed."""

    __slots__ = ("provider", "supported")

    def __init__(self, provider: Provider, supported: np.ndarray):
        self.provider, self.supported = provider, supported

    def __getitem__(self, d: int) -> str:
        if self.supported[d]:
            return self.provider.last_activity
        trigger = "the district's own sustainability plan"
        return trigger


class _Turnover:
    __slots__ = ("model", "leader", "__weakref__")

    def __init__(self, model: CoherenceModel, leader: Leader):
        self.model, self.leader = model, leader

    def fire(self) -> None:
        self.model.leader_leaves(self.leader, int(self.model.time))


def _collector() -> DataCollector:
    def share(model, code_name):
        n = model.n_add_on + model.n_transform
        changed = n > 0
        k = int(changed.sum())
        if not k:
            return float("nan")
        if code_name == "transformed":
            return float((model.n_transform > 0)[changed].mean())
        if code_name == "consistent":
            return float((model.n_competing == 0)[changed].mean())
        if code_name == "aligned":
            return float(model.links.any(axis=2)[changed].mean())
        return float(model.prek_included[changed].mean())

    return DataCollector(
        model_reporters={
            "elements_changed": lambda m: int(((m.n_add_on + m.n_transform) > 0).sum()),
            "share_transformed": lambda m: share(m, "transformed"),
            "share_consistent": lambda m: share(m, "consistent"),
            "share_aligned": lambda m: share(m, "aligned"),
            "share_continuity": lambda m: share(m, "continuity"),
            "provider_phase": lambda m: m.provider.phase.key,
        },
        agenttype_reporters={Leader: {"buy_in": "buy_in", "role": "role"}},
    )
