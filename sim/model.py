"""The CoherenceModel: districts changing six infrastructure elements month by month.

One run is a pure function of (conditions, parameters, seed). docs/ODD.md describes the model;
each mechanism below names the report passage it stands on (003_5ef94897120ea9a2.txt).

Performance note: the state of the 4 x 6 district-elements and of every teacher is held in numpy
arrays owned by the model; agents read and write their rows. Per-agent Python runs only for rare
events (a change, a turnover, a shock). Hazards are cached and recomputed only when their inputs
change. Teacher agents are created on first access to ``model.teachers`` (the app, notebooks),
since sweeps need the teachers' state, not thousands of Python objects.
"""

from __future__ import annotations

import numpy as np
from mesa import Model
from mesa.agentset import AgentSet

from .agents import District, Leader, Provider, Teacher
from .calendar import PROVIDER_OFFSET, SHOCK_OFFSET, TURNOVER_OFFSET, school_year
from .conditions import Conditions
from .parameters import Parameters
from .providers import ProviderState, needs_state
from .records import SOURCE_AGENDA, SOURCE_INITIATIVE, ChangeRecord, EventRecord, LinkRecord
from .teachers import GROUPS_PER_DISTRICT, TeacherPopulation
from .vocab import N_ELEMENTS, Capacity, Content, Element, Practice

_E = N_ELEMENTS
_TRI = np.triu(np.ones((_E, _E), dtype=bool), k=1)  # each unordered element pair once
_TL = int(Element.TEACHER_LEARNING)
_P_MAX = 1.0 - 1e-12  # largest monthly move probability a teacher group can have


class CoherenceModel(Model):
    """Districts, their leaders and teachers, and an external provider, over a monthly calendar."""

    def __init__(self, conditions: Conditions, parameters: Parameters | None = None, rng=None):
        super().__init__(rng=rng)
        self.conditions = conditions
        self.params = P = parameters if parameters is not None else Parameters()
        self.program = conditions.program
        self.horizon = H = conditions.horizon_months
        # Separate streams, so that changing one district or mechanism shifts the random numbers of
        # as few others as possible (common random numbers for what-ifs):
        # - ``rng_decide`` (the model's own): one fixed-size block of uniforms per month (change hits);
        # - one stream per district (``District.stream``): first, at initialisation, its teachers'
        #   thresholds and its leaders' turnover months (fixed counts); then everything whose count
        #   depends on what happened in that district (deciders, enactments, latency, links, its
        #   competing agenda, successors). A what-if that changes one district leaves the others'
        #   random numbers untouched.
        D = self.n_districts = len(conditions.districts)
        self.rng_decide = self.rng
        self.district_streams = self.rng.spawn(D)
        self._turbulence = [self._turbulence_at(m) for m in range(H)]
        # Element state (district x element).
        self.capacity0 = np.array([[int(c) for c in d.capacity] for d in conditions.districts], dtype=np.int8)
        self.capacity = self.capacity0.copy()
        self.readiness = np.zeros((D, _E))
        self.pending = np.zeros((D, _E), dtype=bool)
        self.created = np.zeros((D, _E), dtype=bool)
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
        self.month_activity = (False, False)  # (team reached, SLO for teachers) this month

        self.teacher_pop = TeacherPopulation(conditions.districts, H, self.district_streams)
        self._teacher_agents: AgentSet | None = None

        # Agents.
        self.provider = Provider(self)
        self.district_list: list[District] = [District(self, dc, i) for i, dc in enumerate(conditions.districts)]

        # Multipliers on the change hazard: size -> need (few school leaders need no formal
        # learning system, lines 1287-1291) and leadership gates (lines 1263-1278).
        self.need = np.ones((D, _E))
        self.gate = np.ones((D, _E))
        for dist_agent in self.district_list:
            dc = dist_agent.conditions
            nl = dc.n_school_leaders
            if P.leaders_half_need > 0:
                self.need[dist_agent.index, Element.SCHOOL_LEADER_LEARNING] = nl / (nl + P.leaders_half_need)
            if dc.prior_provider:
                self.readiness[dist_agent.index] += P.head_start_prior_provider
            self.gate[dist_agent.index] = dist_agent.gates()
        # Provider types (sim/providers.py): who joined, what they receive, the partnership's health.
        # None for the case's provider (a PL provider alone, districts already recruited): the
        # original code path, with no extra random numbers.
        self.providers: ProviderState | None = ProviderState(self) if needs_state(conditions.provider) else None
        self._agenda: list[tuple[District, Leader]] = []
        self._refresh_agendas()
        self._p_change: np.ndarray | None = None  # cached monthly change probabilities
        self._p_change_key: tuple | None = None
        self._mult: np.ndarray | None = None  # cached hazard multipliers that change only on events
        # Candidate links: pairs of changed elements sharing content, not yet linked. Updated when
        # an element changes; the arrays below are rebuilt from the dict only when it changed.
        self._link_candidates: dict[tuple[int, int, int], bool] = {}
        self._link_arrays: tuple | None = None
        self._link_p_key: tuple | None = None
        self._teacher_cache: dict = {}
        self._hlpp_cache: tuple | None = None
        self._tl_version = 0  # bumps when a teacher-learning element changes

        # The calendar: provider activities, shocks and leader turnover are Mesa events.
        for month in self.provider.active_months(H):
            self.schedule_event(self.provider.deliver, at=month + PROVIDER_OFFSET)
        if self.providers is not None:
            self.providers.schedule(SHOCK_OFFSET)
        for dist_agent in self.district_list:
            for shock in dist_agent.conditions.shocks:
                if shock.month < H:
                    dist_agent.add_shock(shock, at=shock.month + SHOCK_OFFSET)
        # Turnover hazard per month (lines 599-601, 1350-1352): higher in turbulent years.
        self._turnover_hazard = -np.expm1(
            -np.array([P.leader_turnover_rate * (1.0 + self.turbulence(m)) for m in range(H)])
        )
        for dist_agent in self.district_list:
            for leader in dist_agent.leaders:
                self.schedule_turnover(leader, 0)

    # --- agents on demand ---------------------------------------------------------------------
    @property
    def teachers(self) -> AgentSet:
        """Every active teacher as a Mesa agent (created on first access)."""
        if self._teacher_agents is None:
            pop = self.teacher_pop
            agents = [
                Teacher(self, self.district_list[int(pop.district[i])], int(i))
                for i in np.flatnonzero(pop.active)
            ]
            self._teacher_agents = AgentSet(agents, random=self.random)
        return self._teacher_agents

    # --- helpers used by agents -------------------------------------------------------------
    def refresh_gates(self, district: District) -> None:
        self.gate[district.index] = district.gates()
        if self._mult is not None:
            for e in range(_E):
                self._update_mult(district.index, e)

    def _update_mult(self, d: int, e: int) -> None:
        """Recompute the event-driven hazard multiplier of one district-element: need x gate x
        capacity x repeat, or 0 while a decision is pending (section 7.2 of docs/ODD.md)."""
        P = self.params
        if self.pending[d, e]:
            v = 0.0
        else:
            v = self.need[d, e] * self.gate[d, e]
            if self.capacity[d, e] == Capacity.DID_NOT_EXIST:
                v *= P.hazard_did_not_exist
            if self.first_month[d, e] >= 0:
                v *= P.repeat_change_factor
        self._mult[d, e] = v
        self._p_change = None

    def state_changed(self, d: int, e: int) -> None:
        """Element ``e`` of district ``d`` changed state (pending, changed): update cached hazards."""
        if self._mult is not None:
            self._update_mult(d, e)

    def _refresh_agendas(self) -> None:
        self._agenda = [(d, l) for d in self.district_list for l in d.leaders if l.competing]

    def schedule_turnover(self, leader: Leader, from_month: int, rng: np.random.Generator | None = None) -> None:
        """Draw when ``leader`` leaves (a Mesa event), if within the horizon."""
        h = self._turnover_hazard[from_month:]
        if not len(h) or not h.any():
            return
        hit = np.flatnonzero((rng if rng is not None else leader.district.stream).random(len(h)) < h)
        if len(hit):
            self.schedule_event(leader.leave, at=from_month + int(hit[0]) + TURNOVER_OFFSET)

    def leader_replaced(self, old: Leader, new: Leader, month: int) -> None:
        if old.leads_initiative:
            # A new lead restarts part of the work (assumed; lines 599-601).
            self.readiness[old.district.index] *= 1.0 - self.params.turnover_readiness_loss
        self.refresh_gates(old.district)
        self._refresh_agendas()
        self.log_event(month, old.district.name, "leader_turnover", f"{old.role} replaced (new buy-in {new.buy_in:.2f})")
        if month + 1 < self.horizon:
            self.schedule_turnover(new, month + 1, old.district.stream)

    def expose(self, amount: np.ndarray) -> None:
        """Provider exposure reaches every district's team; turbulence (COVID, closings, turnover,
        lines 599-601) is assumed to cost a share of it. Under another provider type the exposure
        is weighted by kind and reaches only served districts (``ProviderState.exposure``)."""
        if self.providers is not None:
            amount = self.providers.exposure(amount)
        self.readiness += amount * (1.0 - self.turbulence(int(self.time)))
        self._p_change = None

    def hlpp_emphasis(self, d: int, month: int) -> float:
        """Emphasis on the HLPPs that district ``d`` works under in ``month``: the provider's
        (from year 2, lines 444-460) during the programme; afterwards the district sustains the
        HLPPs only if it already carries them in some element (lines 1440-1461)."""
        year = school_year(month)
        if year <= self.program.years:
            if self.providers is None:
                return float(self.program.year_row(self.program.hlpp_emphasis, year))
            if self.providers.served(d):  # publisher PL carries a share of it (sim/providers.py)
                return float(self.program.year_row(self.program.hlpp_emphasis, year)) * self.providers.depth
        return 1.0 if self.content[d, :, Content.PRINCIPLES].any() else 0.0

    def turbulence(self, month: int) -> float:
        """Share of effort lost to turbulence in ``month`` (lines 599-601, 1350-1352), capped at 0.95."""
        return self._turbulence[month] if 0 <= month < self.horizon else self._turbulence_at(month)

    def _turbulence_at(self, month: int) -> float:
        t = self.conditions.turbulence(school_year(month)) * self.params.turbulence_scale
        return min(t, 0.95)

    def hlpp_share(self, d: int, month: int) -> float:
        """Share of the district's active teachers practising the HLPPs at the end of the previous
        school year: what district leaders have seen of classroom uptake (assumed; lines 444-460)."""
        year = school_year(month)
        if year == 1:
            return 0.0
        if self._hlpp_cache is None or self._hlpp_cache[0] != year:
            counts = self.teacher_pop.district_counts(12 * (year - 1) - 1)
            n = counts.sum(axis=1)
            self._hlpp_cache = (year, np.where(n > 0, counts[:, Practice.HLPP] / np.maximum(n, 1), 0.0))
        return float(self._hlpp_cache[1][d])

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
            # Counting Collections is the vehicle for the HLPPs (lines 444-451).
            self.content[d, e, Content.SIGNATURE] = True
        self.pending[d, e] = False
        self.changes.append(rec)
        self.state_changed(d, e)
        self._update_link_candidates(d, e)
        if e == _TL:
            self._tl_version += 1

    def _update_link_candidates(self, d: int, e: int) -> None:
        """Element ``e`` of district ``d`` changed: pairs with it that now share content become
        candidate links (consistent if they share the provider's practice, lines 885-914;
        inconsistent if they share only a competing vision, lines 909-914)."""
        c = self.content[d]
        sig_e, comp_e = c[e, Content.SIGNATURE], c[e, Content.COMPETING]
        changed = False
        for f in range(_E):
            if f == e or self.links[d, e, f] or self.first_month[d, f] < 0:
                continue
            ok = bool(sig_e and c[f, Content.SIGNATURE])
            if ok or (comp_e and c[f, Content.COMPETING]):
                key = (d, e, f) if e < f else (d, f, e)
                if self._link_candidates.get(key) != ok:
                    self._link_candidates[key] = ok
                    changed = True
        if changed:
            self._link_arrays = None

    def add_link(self, d: int, a: int, b: int, consistent: bool, month: int) -> None:
        """Link two changed elements now (a bundle's curriculum-embedded PL, sim/providers.py)."""
        key = (d, a, b) if a < b else (d, b, a)
        if self._link_candidates.pop(key, None) is not None:
            self._link_arrays = None
        self.links[d, a, b] = self.links[d, b, a] = True
        self.link_consistent[d, a, b] = self.link_consistent[d, b, a] = consistent
        self.link_log.append(
            LinkRecord(month, self.district_list[d].name, Element(a), Element(b),
                       Content.SIGNATURE if consistent else Content.COMPETING, consistent)
        )

    def services_changed(self) -> None:
        """A district's services started or stopped (a partnership failed): drop cached hazards."""
        self._p_change = None

    def log_event(self, month: int, district: str, kind: str, detail: str) -> None:
        self.event_log.append(EventRecord(month, district, kind, detail))

    def remove_prek_teachers(self, district: District, month: int) -> None:
        gone = self.teacher_pop.remove_prek(district.index, month)
        if self._teacher_agents is not None:
            gone_set = set(gone.tolist())
            for t in [t for t in self._teacher_agents if t.index in gone_set]:
                self._teacher_agents.remove(t)
                t.remove()
        self._tl_version += 1

    # --- the monthly step --------------------------------------------------------------------
    def step(self) -> None:
        month = self.steps - 1
        year = school_year(month)
        turb = self.turbulence(month)
        in_program = year <= self.program.years
        momentum = 1.0 if in_program else self.params.post_initiative_momentum
        key = None
        if self.providers is not None:
            # Per district: supported this month (joined, services not withdrawn) or on its own.
            served = self.providers.in_program(in_program)
            momentum = np.where(served, 1.0, self.params.post_initiative_momentum)[:, None]
            key = (turb, in_program, self.providers.version)
        self._decide(month, turb, momentum, key)
        if self._agenda:
            self._competing_agendas(month, turb)
        self._link(month, turb)
        self._teachers(month, turb, in_program)
        self.month_activity = (False, False)
        if self.providers is not None:
            self.providers.month(month)  # the partnership's health; a failure withdraws services
        if month + 1 == 12 * self.program.years and month + 1 < self.horizon:
            self.log_event(month, "", "programme_ended", "the provider's programme ends; districts continue on their own")

    def _decide(self, month: int, turb: float, momentum, key: tuple | None = None) -> None:
        """Participation -> change: readiness from the provider's emphasis, need, leadership gate,
        capacity (lines 994-1060, 1082-1129, 1263-1278, 1280-1302). ``momentum`` is a number, or
        a (D, 1) array under another provider type (``key`` then identifies it for the cache)."""
        if key is None:
            key = (turb, momentum)
        if self._p_change is None or self._p_change_key != key:
            P = self.params
            if self._mult is None:
                self._mult = np.empty_like(self.need)
                for d in range(self.n_districts):
                    for e in range(_E):
                        self._update_mult(d, e)
            ready = self.readiness / (self.readiness + P.readiness_half)
            self._p_change = -np.expm1(ready * self._mult * (-P.change_rate * (1.0 - turb) * momentum))
            self._p_change_key = key
        hits = np.flatnonzero(self.rng_decide.random(self._p_change.shape) < self._p_change)
        if not len(hits):
            return
        per_district = isinstance(momentum, np.ndarray)  # another provider type (sim/providers.py)
        trigger = self.provider.last_activity if not per_district and momentum == 1.0 else "the district's own sustainability plan"
        if per_district:
            triggers = [self.provider.last_activity if m == 1.0 else trigger for m in momentum[:, 0].tolist()]
        for flat in hits.tolist():
            d, e = divmod(flat, _E)
            district = self.district_list[d]
            element = Element(e)
            decider = district.choose_decider(element, district.stream.random())
            district.decide(element, month, SOURCE_INITIATIVE, triggers[d] if per_district else trigger, decider)

    def _competing_agendas(self, month: int, turb: float) -> None:
        """An authority holder's own agenda changes its elements (lines 832-868, 1270-1278)."""
        P = self.params
        h_new = -np.expm1(-P.competing_agenda_rate * (1.0 - turb))
        h_again = -np.expm1(-P.competing_agenda_rate * P.repeat_change_factor * (1.0 - turb))
        for district, leader in self._agenda:
            d = district.index
            u = district.stream.random(len(leader.agenda_elements)).tolist()
            for e, ue in zip(leader.agenda_elements, u):
                if self.pending[d, e]:
                    continue
                if ue < (h_again if self.content[d, e, Content.COMPETING] else h_new):
                    district.decide(e, month, SOURCE_AGENDA, f"the {leader.agenda} agenda of the {leader.role}", leader)

    def _link(self, month: int, turb: float) -> None:
        """Alignment: changed elements carrying the same practice become linked over time, so
        early emphasis yields more links (lines 885-914, 1063-1080); created elements link less
        (Table 4, lines 1134-1194)."""
        if not self._link_candidates:
            return
        if self._link_arrays is None:
            keys = sorted(self._link_candidates)  # grouped by district
            cr = self.created
            mult = np.array([self.params.link_did_not_exist if (cr[d, a] or cr[d, b]) else 1.0 for d, a, b in keys])
            per_district = np.bincount([k[0] for k in keys], minlength=self.n_districts).tolist()
            self._link_arrays = (keys, mult, per_district)
            self._link_p_key = None
        keys, mult, per_district = self._link_arrays
        if self._link_p_key != turb:
            self._link_p = -np.expm1(-(self.params.link_rate * (1.0 - turb)) * mult)
            self._link_p_key = turb
        # Each district's uniforms come from its own stream.
        streams = self.district_streams
        u = np.concatenate([streams[d].random(n) for d, n in enumerate(per_district) if n])
        new = np.flatnonzero(u < self._link_p)
        if not len(new):
            return
        for i in new.tolist():
            d, a, b = keys[i]
            consistent = self._link_candidates.pop((d, a, b))
            self.links[d, a, b] = self.links[d, b, a] = True
            self.link_consistent[d, a, b] = self.link_consistent[d, b, a] = consistent
            self.link_log.append(
                LinkRecord(month, self.district_list[d].name, Element(a), Element(b),
                           Content.SIGNATURE if consistent else Content.COMPETING, consistent)
            )
        self._link_arrays = None

    def _teachers(self, month: int, turb: float, in_program: bool) -> None:
        """Teachers' practice: team members learn in convenings and coaching, everyone in SLOs and
        through a changed district teacher-learning element (lines 357-372, 751-766, 1297-1302)."""
        team, slo = self.month_activity
        # Teachers deepen to the HLPPs while they are emphasised (by the provider, or afterwards
        # by a district that carries them) or taught in district teacher learning.
        if in_program:
            hlpp_on = (self.program.year_row(self.program.hlpp_emphasis, school_year(month)) > 0,) * self.n_districts
        else:
            hlpp_on = tuple(self.content[:, :, Content.PRINCIPLES].any(axis=1).tolist())
        if self.providers is not None:
            # Served districts follow the programme (publisher PL: if it carries any HLPPs); the
            # others deepen only if they carry the HLPPs themselves.
            own = self.content[:, :, Content.PRINCIPLES].any(axis=1)
            served = self.providers.in_program(in_program)
            prog = bool(in_program and self.providers.depth > 0
                        and self.program.year_row(self.program.hlpp_emphasis, school_year(month)) > 0)
            hlpp_on = tuple(np.where(served, prog, own).tolist())
        key = (self._tl_version, team, slo, turb, hlpp_on)
        if self.providers is not None:
            key = key + (self.providers.version,)
        hazards = self._teacher_cache.get(key)
        if hazards is None:
            p1, p2 = self._teacher_probabilities(turb, team, slo, hlpp_on)
            # A certain move (p = 1, e.g. uptake 1 with no turbulence) has an infinite hazard; cap p
            # just below 1 so the hazard stays finite (a move then fails with probability ~1e-12).
            p1, p2 = np.minimum(p1, _P_MAX), np.minimum(p2, _P_MAX)
            hazards = self._teacher_cache[key] = (-np.log1p(-p1), -np.log1p(-p2))
        self.teacher_pop.step(month, *hazards)

    def _teacher_probabilities(self, turb: float, team: bool, slo: bool, hlpp_on: tuple[bool, ...]):
        """Monthly probability of each move per (district, pre-K?, on team?) group."""
        P = self.params
        tl_on = self.content[:, _TL, Content.SIGNATURE]
        # District teacher learning reaches teachers once changed with the provider's content;
        # pre-K teachers only if that change included pre-K.
        q_tl = 1.0 - P.teacher_uptake_district
        stay_k3 = np.where(tl_on, q_tl, 1.0)
        stay_prek = np.where(tl_on & self.prek_included[:, _TL], q_tl, 1.0)
        if self.providers is not None:
            # Activities reach served districts only; publisher PL moves teachers less (uptake).
            s = self.providers.service * self.providers.uptake
            if slo:
                stay_k3 = stay_k3 * (1.0 - P.teacher_uptake_district * s)
                stay_prek = stay_prek * (1.0 - P.teacher_uptake_district * s)
            q_team = (1.0 - P.teacher_uptake_team * s) if team else 1.0
        else:
            if slo:
                stay_k3 = stay_k3 * q_tl
                stay_prek = stay_prek * q_tl
            q_team = (1.0 - P.teacher_uptake_team) if team else 1.0
        # group order within a district: (K-3, off team), (K-3, team), (pre-K, off), (pre-K, team)
        stay = np.column_stack([stay_k3, stay_k3 * q_team, stay_prek, stay_prek * q_team]).ravel()
        p_first = (1.0 - stay) * (1.0 - turb)
        deep = np.repeat(self.content[:, _TL, Content.PRINCIPLES] | np.array(hlpp_on), GROUPS_PER_DISTRICT)
        return p_first, p_first * deep

    # --- running ------------------------------------------------------------------------------
    def run(self) -> "CoherenceModel":
        self.run_until(self.horizon)
        self.running = False
        return self

    @property
    def has_prek_end(self) -> np.ndarray:
        return np.array([d.has_prek for d in self.district_list])
