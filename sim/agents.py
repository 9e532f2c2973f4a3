"""Agents: District, Leader, SchoolLeaders, Teacher, and the Provider (sim/initiative.py).

House style follows Mesa's example models (model and agents apart). A district's decisions are
here; the monthly attention pass over all districts' teams is vectorised in ``sim/team.py``, and the
teachers are cohorts (``sim/teachers.py``) of which ``Teacher`` agents are views.

How a district changes an element (docs/ODD.md 7.2-7.7):

1. the provider's activities raise the team's *readiness* for the elements it emphasises (and peers
   at convenings for elements other districts changed); readiness fades while not attended;
2. the team *takes up* an element when it has attention to spare, with a hazard set by readiness,
   the element's need and the lead's buy-in, once the element's prerequisites hold;
3. after ``design_months`` of work it *designs* a change: its form (redesign, build or add-on)
   follows from the element's structure and the team's understanding of the approach; its content
   is the signature practice or, once the provider teaches them and the team understands them,
   the principles; it includes pre-K if an early-childhood voice on the team brings it in;
4. the team's lead *proposes* it to the element's owner, who adopts, reshapes or blocks it
   (``sim/leadership.py``);
5. an adopted change is *enacted* after the district's bureaucratic latency - less the share of it
   a provider session already showed its people - and applied to the element's structure
   (``sim/structure.py``); Appendix A codes the history at the end.

Besides the team: a leader with a competing agenda pushes it into elements it owns or influences;
shocks (pre-K eliminated, a curriculum adopted with another provider) act on their own; changed
elements carrying the same vision become linked when their owners can be coordinated.
"""

from __future__ import annotations

import math
import random
from typing import TYPE_CHECKING

from mesa import Agent

from .agendas import agenda as agenda_named
from .calendar import ENACT_OFFSET, month_of_time
from .conditions import DistrictConditions, LeaderSpec, ShockSpec
from .initiative import MOST, Provider
from .leadership import accepts_agenda, can_direct, escalate, own_vision, owners, respond
from .records import SOURCE_AGENDA, SOURCE_CURRICULUM, SOURCE_INITIATIVE, SOURCE_OWNER, ChangeRecord
from .structure import Structure
from .team import ImprovementTeam
from .vocab import Capacity, ChangeForm, Content, Decision, Element, GradeBand, Practice

if TYPE_CHECKING:
    from .model import CoherenceModel

__all__ = ["District", "Leader", "Provider", "SchoolLeaders", "Teacher"]

_ADD_ON, _REDESIGN, _BUILD = int(ChangeForm.ADD_ON), int(ChangeForm.REDESIGN), int(ChangeForm.BUILD)
_SIGNATURE, _PRINCIPLES, _COMPETING, _TRADITIONAL = (
    int(Content.SIGNATURE), int(Content.PRINCIPLES), int(Content.COMPETING), int(Content.TRADITIONAL))
_ASSESSMENT, _PEDAGOGY, _TL = int(Element.ASSESSMENT), int(Element.PEDAGOGY), int(Element.TEACHER_LEARNING)
_SLL, _OVERSIGHT, _FRAMEWORK = int(Element.SCHOOL_LEADER_LEARNING), int(Element.OVERSIGHT), int(Element.FRAMEWORK)
_PREK = int(GradeBand.PREK)


class Leader(Agent):
    """A district leader: role, rank, the elements owned by position, buy-in, maybe an agenda.

    Buy-in is the probability-weight with which the leader, as an owner, adopts the initiative's
    proposals as designed; it rises with classroom evidence (``evidence_gain``) and, for
    superintendents, with superintendent convenings.
    """

    def __init__(self, model: "CoherenceModel", district: "District", spec: LeaderSpec, buy_in: float | None = None,
                 keeps_agenda: bool = True):
        super().__init__(model)
        self.district = district
        self.spec = spec
        self.role = spec.role
        self.positional_authority = spec.positional_authority
        self.superintendent = spec.superintendent
        self.rank = spec.rank
        self.owns = spec.owns
        self.buy_in = spec.buy_in if buy_in is None else buy_in
        self.leads_initiative = spec.leads_initiative
        self.on_team = spec.on_team
        self.early_childhood = spec.early_childhood
        self.agenda = agenda_named(spec.agenda) if (spec.agenda and keeps_agenda) else None

    @property
    def competing(self) -> bool:
        return self.agenda is not None

    def __repr__(self) -> str:
        return f"Leader({self.role!r}, rank={self.rank}, buy_in={self.buy_in:.2f})"


class SchoolLeaders(Agent):
    """A district's school leaders (principals and assistants), as one group agent.

    They take part in the sessions aimed at them: the SLOs and convenings of the provider's phase
    whose SLOs are for school leaders (the systems phase, lines 472-479). ``sessions`` counts them.
    Districts redesigned school-leader learning "during the initiative's third year as they
    participated in activities related to school leader learning in the SLOs and convenings"
    (lines 1044-1046): a routine built around the practices needs school leaders who have met them,
    so the team can take the element up only once they have (``engaged``; District.eligible). Each
    SLO for them also raises the team's readiness to redesign it.
    """

    def __init__(self, model: "CoherenceModel", district: "District", n: int):
        super().__init__(model)
        self.district = district
        self.n = n
        self.sessions = 0

    def attend(self) -> None:
        self.sessions += 1

    @property
    def engaged(self) -> bool:
        """Whether they have taken part in at least one session aimed at school leaders."""
        return self.sessions > 0


class Teacher(Agent):
    """A pre-K-3 teacher: a view of one member of a cohort (sim/teachers.py), made on demand."""

    def __init__(self, model: "CoherenceModel", district: "District", is_prek: bool, on_team: bool, practice: int):
        super().__init__(model)
        self.district = district
        self.prek = bool(is_prek)
        self.on_team = bool(on_team)
        self.practice = Practice(practice)


class District(Agent):
    """A school district: its leaders, school leaders, improvement team and six elements."""

    def __init__(self, model: "CoherenceModel", conditions: DistrictConditions, index: int, seeds):
        super().__init__(model)
        self.conditions = dc = conditions
        self.name = dc.name
        self.index = index
        # This district's random numbers (common random numbers across what-ifs): decisions,
        # links and turnover each draw from their own stream (docs/ODD.md 7.14).
        self.decide_rng = random.Random(int(seeds[0]))
        self.link_rng = random.Random(int(seeds[1]))
        self.turnover_rng = random.Random(int(seeds[2]))
        self.provider_rng = random.Random(int(seeds[3]))  # provider types' draws (sim/providers.py)
        self.has_prek = dc.has_prek
        self.prior_experience = dc.prior_experience
        self.structure = Structure(dc.capacity)
        self.leaders: list[Leader] = [Leader(model, self, s) for s in dc.leaders]
        self.lead: Leader = next(l for l in self.leaders if l.leads_initiative)
        self._holders: list[Leader] = [l for l in self.leaders if l.agenda is not None]
        self.school_leaders = SchoolLeaders(model, self, dc.n_school_leaders)
        self.owner: list[Leader] = owners(self.leaders)
        P = model.params
        # Size (lines 1280-1302): decisions pass through more bureaucracy in larger districts, and a
        # few school leaders need no formal learning system (lines 1287-1291).
        self.mean_latency = P.latency_per_log_school * math.log(dc.n_elementary_schools)
        need = [1.0] * 6
        if P.leaders_half_need > 0:
            need[_SLL] = dc.n_school_leaders / (dc.n_school_leaders + P.leaders_half_need)
        self.team = ImprovementTeam(P.prior_understanding if dc.prior_experience else 0.0, need)
        self.pending = [False] * 6  # decided, awaiting enactment
        self.tried_building = [False] * 6  # tried to make a disorganized element systemic, no traction
        self.work = [P.build_cost if c == Capacity.DID_NOT_EXIST else 1.0 for c in dc.capacity]
        self.linked_pairs: set[tuple[int, int]] = set()
        self.changed: set[int] = set()  # elements changed so far
        self.reach: tuple[bool, ...] = (False,) * 6  # what carries the provider's practice to teachers
        self.carries_principles = False
        self.update_reach()

    def update_reach(self) -> None:
        """What of the district's infrastructure carries the provider's practice to teachers:
        teacher learning, pedagogical expectations, school leaders (each with its pre-K reach)."""
        s = self.structure
        out = []
        for e in (_TL, _PEDAGOGY, _SLL):
            held = s.holds_provider(e)
            out += [held, held and s.prek[e]]
        self.reach = tuple(out)
        self.carries_principles = s.holds_principles(_TL) or s.holds_principles(_PEDAGOGY)

    def structure_carries_principles(self) -> bool:
        s = self.structure
        return any(s.holds_principles(e) for e in range(6))

    # --- leadership ------------------------------------------------------------------------
    @property
    def agenda_holders(self) -> list[Leader]:
        return list(self._holders)

    @property
    def superintendent(self) -> Leader | None:
        return next((l for l in self.leaders if l.superintendent), None)

    def prek_voice(self, understanding: float = 0.0) -> float:
        """Probability that a change made in the district while it takes part in the initiative
        includes pre-K (lines 1003-1015, 1196-1210, 1396-1418): the initiative puts early-childhood
        voices at the district's table -- an early-childhood leader on the team, pre-K teachers on
        it -- and each may bring pre-K in; a team designing the change also brings it in as far as
        it has taken in the provider's approach (``understanding``), which is pre-K-3 by design --
        the provider cued teams to check "whether they included pre-K and TK to 3" (lines
        1396-1400) and the report calls the progress "a direct result from participating" (lines
        1003-1005). The provider's pre-K focus scales them all. A district no longer supported
        brings none in. After pre-K is eliminated (Diamond under universal TK) the
        four-year-olds are in TK and a change that brings that youngest band in is still coded as
        fostering continuity when made -- Table 5 counts all of Diamond's changes so -- while
        continuity at the end needs a pre-K programme (lines 941-950, sim/coding.py). A district
        that never ran pre-K has none to bring in."""
        if not self.conditions.has_prek or not self.model.served(self.index):
            return 0.0
        P = self.model.params
        miss = 1.0 - understanding
        if any(l.early_childhood and l.on_team for l in self.leaders):
            miss *= 1.0 - P.ec_leader_voice
        n = self.model.teachers_pop.prek_on_team(self.index)
        if n:
            miss *= (1.0 - P.prek_teacher_voice) ** n
        return (1.0 - miss) * self.model.program.prek_focus

    def coordinated(self, a: int, b: int, by: Leader) -> bool:
        """Can ``by`` direct the owners of both elements (alignment across owners needs authority
        spanning them, lines 1017-1020, 1463-1469)?"""
        return can_direct(by, self.owner[a]) and can_direct(by, self.owner[b])

    def replace_leader(self, old: Leader, buy_in: float) -> Leader:
        """Turnover: a successor takes the seat (role, rank, ownership) with its own buy-in. A
        competing agenda is its holder's, so the successor does not bring it (assumed)."""
        new = Leader(self.model, self, old.spec, buy_in=buy_in, keeps_agenda=False)
        self.leaders[self.leaders.index(old)] = new
        self.owner = [new if o is old else o for o in self.owner]
        if old is self.lead:
            self.lead = new
        self._holders = [l for l in self.leaders if l.agenda is not None]
        old.remove()
        return new

    # --- a month -------------------------------------------------------------------------------
    def eligible(self, practising_team: float) -> list[bool]:
        """Elements the team may take up: not awaiting enactment, prerequisites in place
        (docs/ODD.md 7.6). School-leader learning is redesigned around practices already in
        classrooms, so most team teachers must practise them (lines 470-482), and by school leaders
        who have met them in sessions aimed at them (lines 1044-1046); oversight needs a
        framework or pedagogical expectations in the provider's vision to oversee
        (lines 862-868, 897-904)."""
        ok = [not p for p in self.pending]
        if practising_team < MOST or not self.school_leaders.engaged:
            ok[_SLL] = False
        s = self.structure
        if not (s.holds_provider(_FRAMEWORK) or s.holds_provider(_PEDAGOGY)):
            ok[_OVERSIGHT] = False
        return ok

    def month(self, month: int, turbulence: float, momentum: float, trigger) -> None:
        """The district's month after the provider's activities: teachers, evidence, agendas, the
        team's work, links (docs/ODD.md 7.1)."""
        m = self.model
        P = m.params
        pop = m.teachers_pop
        d = self.index
        t, c, h = pop.totals[d]
        n = t + c + h
        practising, hlpp = ((c + h) / n, h / n) if n else (0.0, 0.0)
        t, c, h = pop.team_totals[d]
        n = t + c + h
        practising_team = (c + h) / n if n else 0.0
        # What classrooms show (lines 444-455, 1297-1302): leaders' buy-in rises with the share of
        # teachers practising the provider's approach; the team's grasp of the principles with the
        # share practising the HLPPs.
        g = P.evidence_gain
        if g > 0.0 and practising > 0.0:
            f = g * practising
            for leader in self.leaders:
                leader.buy_in += f * (1.0 - leader.buy_in)
            self.team.learn_from_classrooms(g, hlpp)
        # A competing agenda, pushed as hard as its holder is not on board with the initiative
        # (evidence from classrooms can win a holder over, lines 444-455).
        if P.agenda_drive > 0.0 and self._holders:
            for holder in self._holders:
                drive = P.agenda_drive * (1.0 - holder.buy_in) * (1.0 - turbulence)
                if self.decide_rng.random() < -math.expm1(-drive):
                    self.push_agenda(holder, month)
        # The team.
        effort = (1.0 - turbulence) * momentum
        cause = trigger[self.index]
        _, taken = self.team.month(effort, self.lead.buy_in, m.team_slots, P, self.eligible(practising_team),
                                   self.work, self.decide_rng.random, lambda e: self.design(e, month, cause))
        if taken is not None:
            m.log_event(month, self.name, "taken_up", f"the team takes up {Element(taken).label.lower()}")

    def replicate(self, element: int, share: float, content: int) -> None:
        """A session the provider ran models ``element``'s routine in ``content`` (the signature
        practice, or the principles once it teaches them): the team can replicate it
        (``ImprovementTeam.replicate``) unless the district already runs that routine -- then the
        session shows it nothing it does not have."""
        if self.structure.routine[element] != content:
            self.team.replicate(element, share)

    # --- the team's work ---------------------------------------------------------------------
    def design(self, element: int, month: int, trigger: str) -> bool:
        """The team has worked ``design_months`` on ``element``: design a change and propose it.

        Form: a running routine is redesigned with probability ``know`` (the team's understanding
        of the approach, with what peers' worked examples of the element add to it), a routine is
        built where none runs with probability know / build_cost,
        otherwise a practice is added beside what is there. While the provider asks every district
        for the common assessment (strategy 8), an assessment change *is* adopting it as the
        district's system, so an add-on is no design at all: the team gets no traction
        (lines 780-790). Where an element runs only separate, disorganized practices, the team's
        first design that cannot make it systemic gets no traction either; the next one builds
        with the same chance or settles for adding a piece beside them (lines 780-789). Either way
        the team keeps the element and tries again (returns False; ``ImprovementTeam.month``); a
        design that is proposed returns True, whatever its owner answers. Depth: the principles
        once within reach and understood. Pre-K: if the team's understanding of the (pre-K-3)
        approach or the district's early-childhood voices bring it in (``prek_voice``)."""
        m = self.model
        P = m.params
        rng = self.decide_rng
        d = self.index
        s = self.structure
        know = self.team.understanding_for(element)
        u_form, u_depth, u_prek, u_answer, u_complex, u_escalate = (
            rng.random(), rng.random(), rng.random(), rng.random(), rng.random(), rng.random())
        if s.has_routine(element):
            form = _REDESIGN if u_form < know else _ADD_ON
        else:
            form = _BUILD if u_form < know / P.build_cost else _ADD_ON
        common = element == _ASSESSMENT and m.provider.common_assessment and m.served(d) and m.in_programme()
        if form == _ADD_ON and not common and s.practices[element] and not s.has_routine(element) and not self.tried_building[element]:
            # A team working toward coherence first tries to make a disorganized element systemic;
            # when its understanding does not carry the build, it gets no traction; its next design
            # may settle for adding a piece beside the separate ones (Cedarville's assessment,
            # lines 780-789).
            self.tried_building[element] = True
            label = Element(element).label.lower()
            m.log_event(month, self.name, "no_traction",
                        f"the team could not make {label} systemic; it will try again and may add to what is there")
            return False
        if common and form == _ADD_ON:
            m.log_event(month, self.name, "no_traction",
                        "the team could not design the common assessment into the district's system")
            return False
        content = _PRINCIPLES if (m.principles_available(d) and u_depth < self.team.know_principles) else _SIGNATURE
        prek = u_prek < self.prek_voice(self.team.know)
        lead = self.lead
        owner = self.owner[element]
        decision = respond(owner, lead, u_answer, P.reshape_share)
        if decision in (None, Decision.RESHAPED) and escalate(owner, lead, self.superintendent, u_escalate):
            decision = Decision.ADOPTED
            m.log_event(month, self.name, "escalated",
                        f"the superintendent overruled {owner.role} on {Element(element).label.lower()}")
        # Replacing what runs with the common assessment meets the "political and operational
        # complexity" of retiring each existing component (lines 430-440).
        if decision is not None and common and u_complex * (1 + s.components(element)) >= 1.0:
            decision = None
        if decision is None:
            m.log_event(month, self.name, "proposal_blocked",
                        f"{owner.role} blocked the team's {ChangeForm(form).label} of {Element(element).label.lower()}")
            m.proposals_blocked[d, element] += 1
            return True
        change = (element, form, content, prek, SOURCE_INITIATIVE, owner, lead, decision, trigger)
        changes = [change]
        if decision == Decision.RESHAPED:
            changes.append((element, _ADD_ON, own_vision(owner), prek, SOURCE_OWNER, owner, lead, decision, trigger))
        self.decide(changes, month, rolled_out=self.team.modelled[element])
        return True

    def decide(self, changes: list[tuple], month: int, rolled_out: float = 0.0) -> None:
        """A decision to make ``changes`` (to one element): enacted now or after the latency.

        The latency is the time a decision takes to pass the district's bureaucracy and be
        communicated across its schools (lines 1291-1297). ``rolled_out`` is the share of the
        change its people have already met: a routine the provider modelled in a session for the
        people it serves (``ImprovementTeam.replicate``) is redesigned *as they participate*
        (school-leader learning "as they participated in activities related to school leader
        learning in the SLOs and convenings", lines 1044-1046) and needs no separate roll-out, so
        the mean latency is scaled by 1 - ``rolled_out``."""
        m = self.model
        element = changes[0][0]
        mean = self.mean_latency * (1.0 - rolled_out)
        latency = _poisson(self.decide_rng, mean) if mean > 0 else 0
        if latency == 0:
            for c in changes:
                self.enact(c, month, month)
            return
        when = month + latency
        self.pending[element] = True
        if when >= m.horizon:
            return  # decided but not enacted within the run: stays pending
        pending = _PendingChange(self, changes, month)
        m.keep_alive(pending)
        m.schedule_event(pending.fire, at=when + ENACT_OFFSET)

    def enact(self, change: tuple, month: int, decided_month: int) -> ChangeRecord:
        element, form, content, prek, source, owner, proposer, decision, trigger = change
        m = self.model
        s = self.structure
        created = s.capacity(element) == Capacity.DID_NOT_EXIST
        prek = bool(prek)
        s.apply(element, form, content, prek)
        self.work[element] = 1.0
        rec = ChangeRecord(
            month=month,
            district=self.name,
            element=Element(element),
            transform=form != _ADD_ON,
            created=bool(created),
            content=Content(content),
            consistent=content == _SIGNATURE or content == _PRINCIPLES,
            prek_included=prek,
            decided_by=owner.role,
            source=source,
            trigger=trigger,
            decided_month=decided_month,
            form=ChangeForm(form),
            proposed_by=proposer.role if proposer is not owner else "",
            decision=Decision(decision),
        )
        m.record_change(self.index, rec)
        if m.providers is not None:
            m.providers.after_change(self, rec)  # a bundle's tie (sim/providers.py)
        return rec

    # --- a competing agenda -------------------------------------------------------------------
    def push_agenda(self, holder: Leader, month: int) -> None:
        """The holder pushes its agenda into one more element it owns or influences, chosen by how
        much the element serves its goals (sim/agendas.py); not into one already carrying it."""
        m = self.model
        rng = self.decide_rng
        d = self.index
        s = self.structure
        weights = [0.0 if (s.holds(e, _COMPETING) or self.pending[e]) else holder.agenda.weights[e] for e in range(6)]
        total = sum(weights)
        u_pick, u_form, u_answer = rng.random(), rng.random(), rng.random()
        if total <= 0.0:
            return
        x, element = u_pick * total, 5
        for e, w in enumerate(weights):
            x -= w
            if x < 0.0:
                element = e
                break
        owner = self.owner[element]
        if not accepts_agenda(owner, holder, u_answer):
            m.log_event(month, self.name, "agenda_blocked",
                        f"{owner.role} kept the {holder.agenda.name} agenda out of {Element(element).label.lower()}")
            return
        # The holder knows its own approach: it redesigns a running routine, and builds one where
        # none runs with probability 1 / build_cost (the same cost the team faces).
        if s.has_routine(element):
            form = _REDESIGN
        else:
            form = _BUILD if u_form < 1.0 / m.params.build_cost else _ADD_ON
        trigger = f"the {holder.agenda.name} agenda of the {holder.role}"
        decision = Decision.OWN if owner is holder else Decision.ADOPTED
        prek = rng.random() < self.prek_voice()
        self.decide([(element, form, _COMPETING, prek, SOURCE_AGENDA, owner, holder, decision, trigger)], month)

    # --- shocks ----------------------------------------------------------------------------
    def add_shock(self, spec: ShockSpec, at: float) -> None:
        s = _Shock(self, spec)
        self.model.keep_alive(s)
        self.model.schedule_event(s.fire, at=at)

    def eliminate_prek(self, month: int) -> None:
        """Universal TK: four-year-olds move into TK; no pre-K teachers remain (lines 941-950)."""
        self.has_prek = False
        self.model.teachers_pop.remove_prek(self.index)
        self.model.log_event(month, self.name, "prek_eliminated", "pre-K programme ended; its children moved to TK")

    def adopt_curriculum(self, month: int, trigger: str | None = None, content: int | None = None) -> None:
        """A curriculum adopted with another provider, with publisher PD (lines 633-640, 748,
        765-766): the owner of pedagogy & materials makes it the routine and adds the publisher's
        PD to teacher learning. Whether its use follows the provider's vision is the owner's
        (with probability its buy-in: 'guidance to teachers to use their newly adopted curriculum
        in ways consistent with this vision', lines 819-823); pre-K is included if the team's
        early-childhood voices bring it in."""
        m = self.model
        d = self.index
        trigger = trigger or "curriculum adopted with another provider"
        rng = self.decide_rng
        for element, form in ((_PEDAGOGY, _REDESIGN if self.structure.has_routine(_PEDAGOGY) else _BUILD), (_TL, _ADD_ON)):
            u_content, u_prek = rng.random(), rng.random()
            if self.pending[element]:
                continue
            owner = self.owner[element]
            c = content if content is not None else (_SIGNATURE if u_content < owner.buy_in else _TRADITIONAL)
            self.enact((element, form, c, u_prek < self.prek_voice(), SOURCE_CURRICULUM, owner, owner, Decision.OWN, trigger),
                       month, month)


def _poisson(rng: random.Random, mean: float) -> int:
    """A Poisson draw by multiplying uniforms (means here are a few months)."""
    limit, k, p = math.exp(-mean), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


class _PendingChange:
    """A decided change waiting for the district's bureaucracy (a Mesa event's callback)."""

    __slots__ = ("district", "changes", "month", "__weakref__")

    def __init__(self, district: District, changes: list[tuple], month: int):
        self.district, self.changes, self.month = district, changes, month

    def fire(self) -> None:
        district = self.district
        m = month_of_time(district.model.time)
        district.pending[self.changes[0][0]] = False
        for c in self.changes:
            # the seat may have changed hands since the decision: its successor enacts it
            element, form, content, prek, source, owner, proposer, decision, trigger = c
            owner = district.owner[element] if owner not in district.leaders else owner
            district.enact((element, form, content, prek, source, owner, proposer, decision, trigger), m, self.month)


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
