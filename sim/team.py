"""A district's improvement team: readiness, understanding, and what it is working on.

The team (strategy 2, lines 287-292: an upper-level leader, the head of early childhood, the
district's mathematics leadership, pre-K-3 teachers, school leaders) holds, per element, a
*readiness*: the provider's recent emphasis on the element as the team met it (exposure units,
a leaky integrator: each activity adds its exposure times the element's emphasis, and readiness
fades while not attended), plus what peers showed at convenings, and what the provider's sessions
for school leaders and teachers modelled of their learning routines (``replicate``). It works on at most
``team_attention`` elements at a time (docs/ODD.md 7.3). It also holds its understanding of the
provider's approach (``know``) and of the principles behind it (``know_principles``). Each month
(``ImprovementTeam.month``):

1. readiness of the elements the team is not working on fades (``readiness_fade``);
2. its projects progress by the month's effort / ``design_months`` (effort = 1 - turbulence, times
   the post-programme momentum once the provider has gone); a project that reaches 1 is designed
   and proposed (``District.design``), and the readiness it drew on is spent - unless the design
   got no traction: then the team starts it again;
3. with attention to spare it takes up one more element with probability 1 - exp(-sum_e h_e),
   h_e = ``uptake_rate`` x readiness_e x need_e x the lead's buy-in x effort / work_e over the
   elements whose prerequisites hold (docs/ODD.md 7.6), element e with probability h_e / sum h.
   ``work_e`` is 1 where the element runs something to work with and ``build_cost`` where nothing
   exists yet, times the share of the design a session the team can replicate has not already
   shown (1 - ``modelled_e``): a team weighs what it is ready for against the work it takes
   ("districts were more able to make substantive change in a given element when they had some
   pre-existing capacity", lines 1084-1090), and a routine the provider has just run for the
   district's school leaders or teachers is little work to take home (lines 1044-1048). What it
   took up it keeps until it is designed (primacy: early points of emphasis "tended to stick",
   lines 1063-1072) - through a design that gets no traction, which it starts again (Cedarville
   "found it difficult to gain traction" on its assessment and added to it in year 3, lines
   780-789); a design that lands uses up the readiness and the modelled example it drew on.

Plain Python on six numbers per district: cheaper than numpy at this size, and the cost grows
with the number of districts only (rollouts run one district per run).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from .vocab import N_ELEMENTS

_RANGE = range(N_ELEMENTS)
_LEFT_MIN = 1e-3  # smallest share of the work left a take-up weighs (see ImprovementTeam.month)


class ImprovementTeam:
    """One district's team. ``projects`` maps an element to the share of its design done."""

    __slots__ = ("readiness", "projects", "know", "know_principles", "need", "examples", "modelled")

    def __init__(self, know: float, need: Sequence[float]):
        self.readiness = [0.0] * N_ELEMENTS
        self.examples = [0.0] * N_ELEMENTS  # what peers showed of each element (worked examples)
        self.modelled = [0.0] * N_ELEMENTS  # what the provider's sessions modelled of each element
        self.projects: dict[int, float] = {}
        self.know = know
        self.know_principles = know
        self.need = list(need)

    # --- what reaches it -----------------------------------------------------------------------
    def expose(self, amount: float, emphasis: Sequence[float], learning_rate: float, principles: bool, depth: float) -> None:
        """The provider's activities: ``amount`` exposure units spread over the elements by
        ``emphasis`` raise readiness; understanding of the approach grows, and of its principles
        while the provider teaches them. Absorptive capacity (Cohen & Levinthal 1990): a team learns the
        principles in proportion to how well it understands the practice -- prior experience with
        similar approaches is what let districts move beyond the signature practice
        (lines 1212-1232)."""
        r = self.readiness
        for e in _RANGE:
            r[e] += amount * emphasis[e]
        know = self.know
        self.know = 1.0 - (1.0 - know) * math.exp(-learning_rate * amount)
        if principles:
            self.know_principles = 1.0 - (1.0 - self.know_principles) * math.exp(-learning_rate * amount * depth * know)

    def raise_readiness(self, element: int, x: float) -> None:
        self.readiness[element] += x

    def hear_peers(self, changed: Sequence[float], redesigned: Sequence[float], weight: float, exposure: float) -> None:
        """A convening: the other districts' changes in the provider's direction (``changed``, the
        share of them per element) raise readiness, and their redesigned routines
        (``redesigned``) become worked examples for this team's own designs (lines 355-365,
        1046-1062)."""
        r, ex = self.readiness, self.examples
        for e in _RANGE:
            r[e] += weight * exposure * changed[e]
            ex[e] = weight * redesigned[e]

    def replicate(self, element: int, share: float) -> None:
        """A session the provider ran for the people an element's learning routine serves (an SLO
        or convening for school leaders models school-leader learning; an SLO for teachers models
        teacher learning) is a routine the team can replicate at home: districts "took specific
        activities from the [...] convenings and replicated them back in their districts"
        (lines 1046-1048), and redesigned school-leader learning "as they participated in
        activities related to school leader learning in the SLOs and convenings" (lines 1044-1046;
        Avalon's monthly sessions led by its math coach, lines 936-939). The session is a worked
        example for the team's design of the element and, while the team designs it, a share of
        the element's design done: ``share`` times the element's ``need``, for what a team carries
        home it carries to those who were not there -- a district whose few school leaders all
        take part in the sessions needs no routine to replicate them in (lines 1287-1291).
        Replicating a routine the provider ran needs only what the session did not show (a session
        with ``share`` 1, where the need is full, hands the team the whole design, whatever its own
        pace ``design_months``). Until a design of the element uses it up, the modelled example
        also lowers the work the team weighs when it chooses what to take up (``month``); it is
        kept through a change of lead (``forget`` leaves it; docs/ODD.md limitation 15). ``District.replicate`` calls this only when the district does
        not already run the routine the session models."""
        share *= self.need[element]
        if share > self.modelled[element]:
            self.modelled[element] = share
        if element in self.projects:
            self.projects[element] += share

    def understanding_for(self, element: int) -> float:
        """The understanding a design of ``element`` draws on: the team's own, and what peers'
        worked examples and the provider's modelled sessions of the element add to it."""
        ex = self.examples[element]
        m = self.modelled[element]
        return 1.0 - (1.0 - self.know) * (1.0 - (ex if ex > m else m))

    def learn_from_classrooms(self, gain: float, hlpp_share: float) -> None:
        """Classrooms practising the HLPPs show the team the principles at work (lines 444-455)."""
        if hlpp_share > 0.0:
            self.know_principles = 1.0 - (1.0 - self.know_principles) * math.exp(-gain * hlpp_share)

    def forget(self, loss: float) -> None:
        """A new lead: part of the understanding goes, and the projects are dropped."""
        self.know *= 1.0 - loss
        self.know_principles *= 1.0 - loss
        self.projects.clear()

    # --- its month -------------------------------------------------------------------------------
    def month(self, effort: float, buy_in: float, slots: int, params, eligible: Sequence[bool],
              work: Sequence[float], random: Callable[[], float],
              design: Callable[[int], bool] | None = None) -> tuple[list[int], int | None]:
        """Fade, progress, take up (module docstring). A session that handed over the whole design
        (``modelled_e`` = 1) leaves no work to weigh: the element's hazard is then that of
        ``_LEFT_MIN`` of the work (a numerical floor; it is taken up at once when attention allows).
        ``design(e)`` is called when a project reaches 1, before the take-up: it returns False when
        the design got no traction, and the team then keeps the element and starts its design
        again (primacy); without ``design`` every finished design lands. Returns the elements whose
        design landed and the element taken up (or None). Draws exactly one uniform when nothing
        is taken up and two when something is, from ``random`` (besides what ``design`` draws)."""
        r = self.readiness
        projects = self.projects
        fade = 1.0 - params.readiness_fade
        if fade < 1.0:
            if projects:
                for e in _RANGE:
                    if e not in projects:
                        r[e] *= fade
            else:
                r[:] = [x * fade for x in r]
        done: list[int] = []
        if projects:
            step = effort / params.design_months
            for e in list(projects):
                p = projects[e] + step
                if p >= 1.0:
                    if design is not None and not design(e):
                        projects[e] = 0.0  # no traction: it keeps what it took up and tries again
                        continue
                    del projects[e]
                    r[e] = 0.0
                    self.modelled[e] = 0.0
                    done.append(e)
                else:
                    projects[e] = p
        u = random()
        if len(projects) >= slots:
            return done, None
        scale = params.uptake_rate * buy_in * effort
        need = self.need
        modelled = self.modelled
        h = [0.0] * N_ELEMENTS
        total = 0.0
        for e in _RANGE:
            if eligible[e] and e not in projects and e not in done:
                left = 1.0 - modelled[e]
                x = r[e] * need[e] * scale / (work[e] * (left if left > _LEFT_MIN else _LEFT_MIN))
                h[e] = x
                total += x
        if total <= 0.0 or u >= -math.expm1(-total):
            return done, None
        x = random() * total
        chosen = max(e for e in _RANGE if h[e] > 0.0)  # if rounding leaves x >= 0
        for e in _RANGE:
            x -= h[e]
            if x < 0.0 and h[e] > 0.0:
                chosen = e
                break
        projects[chosen] = 0.0
        return done, chosen
