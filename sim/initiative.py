"""The external provider's initiative: its calendar of activities and how its focus shifts.

Calendar (strategies 3-6, lines 295-316, 357-378): convenings three times a year, shared learning
opportunities (SLOs) between them, monthly coaching of team leads, superintendent convenings twice
a year; the months are conditions (``sim.conditions.ProviderProgram``).

Focus (lines 378-486). The provider "intentionally experimented and refined" its strategies
(lines 380-384) and the report gives its reasons; the provider here acts on the same observations,
once a year when it plans the next year's convenings:

* it moves from Counting Collections as an activity to the high-leverage practices once most team
  teachers practise Counting Collections -- "teachers were focusing on the specific activity rather
  than the general teaching strategies" (lines 444-455);
* it moves to school leaders, a district vision and sustainability once most team teachers practise
  the HLPPs, or in the programme's final year, when sustainability plans are due (lines 472-486);
* it stops asking for the common Learning from Children assessment and helps each district use its
  own when fewer than half the districts adopted the common one in the first year -- "faced with the
  political and operational complexity" (lines 430-440).

"Most" is one half (assumed). With ``ProviderProgram.adaptive = False`` the focus follows the
school years instead (phase = year - 1), the report's calendar read as a schedule.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from mesa import Agent

from .calendar import month_of_year, school_year
from .conditions import ProviderProgram
from .vocab import Activity, Element, Phase

if TYPE_CHECKING:
    from .model import CoherenceModel

MOST = 0.5  # "most teachers": the share at which the provider sees a practice taken up (assumed)


@dataclass(frozen=True, slots=True)
class MonthPlan:
    """The provider's activities of one month of the school year."""

    activities: tuple[Activity, ...]
    team_exposure: float  # exposure units the improvement teams receive (convening + coaching + SLO)
    team_reached: bool  # team teachers learn (a convening or coaching)
    slo: bool
    superintendents: bool
    convening: bool


@lru_cache(maxsize=4096)
def month_plan(program: ProviderProgram, month: int) -> MonthPlan:
    """What the calendar holds in ``month`` (pure, cached across runs: a sweep reuses a programme
    thousands of times)."""
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
    conv, slo, coach = Activity.CONVENING in acts, Activity.SLO in acts, Activity.COACHING in acts
    weight = p.convening_weight * conv + p.coaching_weight * coach + p.slo_weight * slo
    return MonthPlan(tuple(acts), weight, conv or coach, slo, Activity.SUPERINTENDENT_CONVENING in acts, conv)


@lru_cache(maxsize=4096)
def activity_label(program: ProviderProgram, activity: Activity, month: int, phase: Phase) -> str:
    """How a change's trigger names a provider activity: the activity, the element the provider
    emphasised most in that phase, the school year."""
    row = program.emphasis[int(phase)]
    top = max(range(len(row)), key=row.__getitem__)
    return f"the {activity.label} ({Element(top).label.lower()} emphasis, year {school_year(month)})"


class Provider(Agent):
    """The external provider (California Education Partners in the case).

    State: its focus (``phase``), whether it still asks for the common assessment, how many
    sessions of each activity it has held, and what it did last (for the event log).
    """

    def __init__(self, model: "CoherenceModel"):
        super().__init__(model)
        self.program = model.program
        self.phase = Phase.SIGNATURE
        self.common_assessment = bool(self.program.common_assessment)
        self.sessions: dict[Activity, int] = {a: 0 for a in Activity}
        self._last: tuple[Activity, int, Phase] | None = None  # what it did last, for the event log
        self.phase_log: list[tuple[int, Phase]] = [(0, Phase.SIGNATURE)]

    # --- what it does this month -------------------------------------------------------------
    def plan(self, month: int) -> MonthPlan:
        return month_plan(self.program, month)

    def emphasis(self) -> tuple[float, ...]:
        return self.program.emphasis[int(self.phase)]

    def slo_audience(self) -> str:
        return self.program.slo_audience[int(self.phase)]

    def teaches_principles(self) -> bool:
        return self.phase >= Phase.PRINCIPLES

    def record(self, month: int, plan: MonthPlan) -> None:
        sessions = self.sessions
        for a in plan.activities:
            sessions[a] += 1
        if plan.activities:
            self._last = (plan.activities[0], month, self.phase)

    @property
    def last_activity(self) -> str:
        """'the convening (pedagogy & materials emphasis, year 1)': what prompted the teams last."""
        if self._last is None:
            last_activity = "the initiative's launch"
            return last_activity
        activity, month, phase = self._last
        return activity_label(self.program, activity, month, phase)

    # --- how its focus shifts ------------------------------------------------------------------
    def plan_year(self, month: int, team_cc_share: float, team_hlpp_share: float, common_adopted: float) -> list[str]:
        """At the start of school year ``school_year(month)`` (>= 2) of the programme: shift the focus
        on what was observed (module docstring). Returns what changed, for the event log."""
        year = school_year(month)
        final = year >= self.program.years
        notes: list[str] = []
        if not self.program.adaptive:
            new = Phase(min(year - 1, len(Phase) - 1))
        else:
            new = self.phase
            if new == Phase.SIGNATURE and team_cc_share >= MOST:
                new = Phase.PRINCIPLES
            if new == Phase.PRINCIPLES and team_hlpp_share >= MOST:
                new = Phase.SYSTEMS
            if final:
                new = Phase.SYSTEMS
        if new != self.phase:
            self.phase = new
            self.phase_log.append((month, new))
            notes.append(f"the provider turns to {new.label}")
        if self.common_assessment and year == 2 and self.program.adaptive and common_adopted < MOST:
            self.common_assessment = False
            notes.append("the provider stops asking for the common assessment and helps districts use their own")
        elif self.common_assessment and year == 2 and not self.program.adaptive:
            self.common_assessment = False
        return notes
