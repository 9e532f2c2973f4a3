"""Provider types: who supports the districts, who they reach, what it costs, what they deliver.

Sources: the partnership brief ``000_2f2cc46267fd8ab3.txt`` ("brief", its line numbers) and the
case report ``003_5ef94897120ea9a2.txt`` ("report"). docs/ODD.md section 7.18 describes each
mechanism; every number is a parameter of sim/parameters.py (all "assumed": the brief gives no
rates or prices).

Kinds (``ProviderSpec.kind``):

* ``pl_provider`` -- a nonprofit professional-learning provider alone: the case's provider and
  the default. Its programme is ``ProviderProgram`` (report lines 295-316, 357-378). With the
  default spec the model runs exactly as before this module existed (no extra random numbers).
* ``publisher`` -- a curriculum publisher alone: "reach, market access, and product integration"
  (brief line 17). It reaches more districts, and rural ones as easily as others; joining means
  adopting its curriculum (pedagogy & materials and teacher learning change together, as with the
  curriculum adoptions of report lines 633-640, 765-766) and receiving its own PL, which is
  thinner (``publisher_pl_intensity``), narrower (``publisher_pl_breadth``) and carries less of
  the high-leverage practices (``publisher_practice_depth``) than a PL provider's.
* ``lead_generation``, ``cross_selling``, ``bundle`` -- a publisher-PL-provider partnership under
  one of the brief's three go-to-market models (brief line 131):

  - lead generation: the publisher passes leads to the PL provider, which delivers its own
    programme; a curriculum-neutral PL provider converts fewer leads (brief line 199,
    ``neutrality_penalty``). The PL provider contracts with the district directly, so a failed
    partnership stops new leads but withdraws no services;
  - cross-marketing/selling: each partner sells the other's offer; a district buys the PL and,
    separately, perhaps the curriculum (``curriculum_uptake``); no co-designed link between them.
    A failed partnership withdraws the cross-sold PL;
  - co-branded bundle: curriculum, publisher PL and the PL provider's programme as one product
    with a single point of procurement (brief lines 133-147, 189) at a ``bundle_discount``. Its
    curriculum-embedded PL ties pedagogy & materials to teacher learning (``bundle_tie``, brief
    lines 17, 135, 147). A failed partnership withdraws the PL and the tie; the curriculum stays.

Reach and affordability decide who joins when recruitment is simulated (``ProviderSpec.recruit``;
the case's four districts were already recruited, report lines 282-285, so the case does not):
an offer reaches a district with a probability set by the kind's channels (:func:`offer_probability`),
and the district buys with a probability set by its budget against the net price
(:func:`afford_probability`; brief line 191: small districts cannot reach affordable price points
without supplemental funding, which ``ProviderSpec.subsidy_share`` provides).

The module reads no files; plain data in, plain data out, and one runtime object
(:class:`ProviderState`) the model holds when the spec needs one (:func:`needs_state`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .partnership import PartnershipHealth
from .records import SOURCE_INITIATIVE
from .vocab import N_ELEMENTS, ChangeForm, Content, Decision, Element

if TYPE_CHECKING:
    from .agents import District, Leader
    from .model import CoherenceModel

PROVIDER_KINDS: tuple[str, ...] = ("pl_provider", "publisher", "lead_generation", "cross_selling", "bundle")
PARTNERSHIP_KINDS: tuple[str, ...] = ("lead_generation", "cross_selling", "bundle")
#: Kinds that deliver the PL provider's programme (``ProviderProgram``).
PL_PROGRAMME_KINDS: tuple[str, ...] = ("pl_provider", "lead_generation", "cross_selling", "bundle")
#: Kinds whose failed partnership withdraws the PL services mid-initiative.
WITHDRAWING_KINDS: tuple[str, ...] = ("cross_selling", "bundle")
PROVIDER_LABELS = {
    "pl_provider": "nonprofit PL provider alone",
    "publisher": "curriculum publisher alone",
    "lead_generation": "partnership: lead generation",
    "cross_selling": "partnership: cross-marketing/selling",
    "bundle": "partnership: co-branded bundle",
}

# Triggers of the changes these mechanisms make (the event log's ``trigger``).
BUNDLE_TRIGGER = "the bundle's curriculum-embedded PL"
ADOPTION_TRIGGERS = {"bundle": "the bundle's curriculum adopted", "publisher": "the publisher's curriculum adopted",
                     "cross_selling": "the publisher's curriculum adopted"}

_PED, _TL = int(Element.PEDAGOGY), int(Element.TEACHER_LEARNING)
# Elements publisher PL concentrates on: its materials, the teachers using them and its embedded
# assessments (report lines 765-766); the district systems get publisher_pl_breadth of that.
_MATERIALS_ELEMENTS = (Element.PEDAGOGY, Element.ASSESSMENT, Element.TEACHER_LEARNING)


def _unit(name: str, v: float) -> float:
    v = float(v)
    if not (0.0 <= v <= 1.0) or math.isnan(v):
        raise ValueError(f"provider.{name}: {v!r} is out of range; allowed: [0, 1]")
    return v


@dataclass(frozen=True)
class ProviderSpec:
    """Who the external provider is and the terms of its offer (conditions of a run).

    ``recruit``: simulate whether each district takes up the offer (rollouts); ``False`` (the
    case): every district already takes part. ``subsidy_share``: share of the price covered by
    supplemental funding for districts of at most ``subsidy_max_students`` students (brief line
    191). ``alignment``, ``meetings_per_month``, ``trust``: the partnership's strategic alignment,
    communication cadence and initial organisational trust (brief lines 163-177; partnerships
    only). ``curriculum_neutral``: the PL provider stays curriculum-neutral (brief lines 199-201).
    ``breakdown_month``: force the partnership to fail in that month (what-ifs). ``adoption_month``:
    when a district joining with a curriculum adopts it (0 = July of year 1).
    """

    kind: str = "pl_provider"
    recruit: bool = False
    subsidy_share: float = 0.0
    subsidy_max_students: int = 2500
    alignment: float = 0.6
    meetings_per_month: float = 1.0
    trust: float = 0.5
    curriculum_neutral: bool = True
    breakdown_month: int | None = None
    adoption_month: int = 1

    def __post_init__(self) -> None:
        if self.kind not in PROVIDER_KINDS:
            raise ValueError(f"provider.kind: {self.kind!r} is not one of: {', '.join(PROVIDER_KINDS)}")
        for name in ("subsidy_share", "alignment", "trust"):
            _unit(name, getattr(self, name))
        if not 0.0 <= float(self.meetings_per_month) <= 30.0:
            raise ValueError(f"provider.meetings_per_month: {self.meetings_per_month!r} is out of range; allowed: [0, 30]")
        if self.subsidy_max_students < 0:
            raise ValueError(f"provider.subsidy_max_students: {self.subsidy_max_students!r} must be >= 0")
        if self.breakdown_month is not None and self.breakdown_month < 0:
            raise ValueError(f"provider.breakdown_month: {self.breakdown_month!r} must be a month >= 0")
        if self.adoption_month < 0:
            raise ValueError(f"provider.adoption_month: {self.adoption_month!r} must be a month >= 0")

    @property
    def partnership(self) -> bool:
        return self.kind in PARTNERSHIP_KINDS

    @property
    def label(self) -> str:
        return PROVIDER_LABELS[self.kind]


def needs_state(spec: ProviderSpec) -> bool:
    """Whether a run needs a :class:`ProviderState`. The case's provider (a PL provider alone, its
    districts already recruited) does not: the model then runs exactly its original code path."""
    return spec.kind != "pl_provider" or spec.recruit


# --- who is reached, what it costs, who can pay ----------------------------------------------------
def superintendent_buy_in(district) -> float:
    """Buy-in of the district's superintendent (the lead's if no leader is the superintendent)."""
    sup = [l.buy_in for l in district.leaders if l.superintendent]
    return max(sup) if sup else district.lead.buy_in


def partnership_health0(spec: ProviderSpec) -> float:
    return 0.5 * (spec.alignment + spec.trust)


def offer_probability(spec: ProviderSpec, district, P) -> float:
    """Probability that the kind's channels bring an offer to ``district``.

    * A PL provider recruits intentionally, districts with superintendent buy-in (report lines
      282-285), and reaches rural districts less (brief line 15): ``reach_pl_provider`` x
      superintendent buy-in x (``rural_access`` if rural).
    * A publisher reaches any district (brief line 17): ``reach_publisher``.
    * Partnerships add the publisher's channel to the PL provider's own, through the go-to-market
      model (brief line 131), weighted by the partnership's health at the start:
      lead generation x ``lead_conversion`` x (1 - ``neutrality_penalty`` if curriculum-neutral,
      brief line 199); cross-selling x ``cross_sell_rate``; bundle x ``bundle_sales_rate``.
    """
    pl = P.reach_pl_provider * superintendent_buy_in(district) * (P.rural_access if district.rural else 1.0)
    kind = spec.kind
    if kind == "pl_provider":
        return pl
    pub = P.reach_publisher
    if kind == "publisher":
        return pub
    h0 = partnership_health0(spec)
    if kind == "lead_generation":
        channel = P.lead_conversion * ((1.0 - P.neutrality_penalty) if spec.curriculum_neutral else 1.0)
    elif kind == "cross_selling":
        channel = P.cross_sell_rate
    else:  # bundle
        channel = P.bundle_sales_rate
    return 1.0 - (1.0 - pl) * (1.0 - pub * channel * h0)


def annual_prices(spec: ProviderSpec, district, P, curriculum: bool) -> tuple[float, float]:
    """(PL services, curriculum) annual gross price for ``district`` (USD per year).

    PL: ``price_pl_fixed`` + ``price_pl_per_teacher`` x teachers -- the fixed part (convenings and
    coaching serve a team whatever the district's size) is what makes small districts pay more
    per student (brief line 191). Publisher alone: its PL comes with the curriculum (report lines
    765-766). A bundle costs (1 - ``bundle_discount``) of its parts (brief line 189)."""
    n = district.n_teachers
    pl = P.price_pl_fixed + P.price_pl_per_teacher * n if spec.kind in PL_PROGRAMME_KINDS else 0.0
    cur = P.price_curriculum_per_teacher * n if curriculum else 0.0
    if spec.kind == "bundle":
        f = 1.0 - P.bundle_discount
        pl, cur = pl * f, cur * f
    return pl, cur


def subsidy_fraction(spec: ProviderSpec, district) -> float:
    """Share of the price paid by supplemental funding (brief line 191): ``subsidy_share`` for
    districts of at most ``subsidy_max_students`` students, else 0."""
    return spec.subsidy_share if district.students <= spec.subsidy_max_students else 0.0


def afford_probability(net_price: float, district, P) -> float:
    """Probability that a district buys at ``net_price`` (USD/year): r^k / (1 + r^k) with
    r = ``budget_per_student`` x students / net price and k = ``price_sensitivity``
    (one half when the price equals the budget)."""
    if net_price <= 0.0:
        return 1.0
    budget = P.budget_per_student * district.students
    if budget <= 0.0:
        return 0.0
    x = P.price_sensitivity * math.log(budget / net_price)
    return 1.0 / (1.0 + math.exp(-x)) if x > -700 else 0.0


# --- the runtime state ---------------------------------------------------------------------------
class ProviderState:
    """Provider mechanics of one run (held as ``CoherenceModel.providers`` when needed).

    Per district: joined, curriculum adopted, PL services delivered (``service``, 1 or 0), the
    exposure multiplier by element, the depth factor for the HLPPs and the team's uptake factor.
    The partnership's health (sim/partnership.py) evolves month by month.
    Random numbers: one provider stream per district (spawned from the district's stream, whose
    own draws are unchanged) and one for the partnership (spawned from the model's generator).
    """

    def __init__(self, model: "CoherenceModel"):
        self.model = model
        spec = self.spec = model.conditions.provider
        P = self.P = model.params
        D = model.n_districts
        self.kind = spec.kind
        self.streams = [d.provider_rng for d in model.district_list]
        self.version = 0  # bumps when any district's services change
        self.partnership: PartnershipHealth | None = None
        if spec.partnership:
            self.partnership = PartnershipHealth(
                spec.alignment, spec.trust, spec.meetings_per_month, P, model.rng.spawn(1)[0], spec.breakdown_month
            )
        # Exposure weights by element (publisher PL: thinner and centred on materials).
        if self.kind == "publisher":
            w = np.full(N_ELEMENTS, P.publisher_pl_breadth)
            for e in _MATERIALS_ELEMENTS:
                w[e] = 1.0
            self.weights = w * P.publisher_pl_intensity
            self.depth = P.publisher_practice_depth
            self.uptake = P.publisher_pl_intensity
        else:
            self.weights = np.ones(N_ELEMENTS)
            self.depth = 1.0
            self.uptake = 1.0
        # Recruitment: three uniforms per district (offer, afford, curriculum uptake), always drawn,
        # so a change to one district's terms leaves the others' decisions as they were.
        self.p_offer = np.ones(D)
        self.p_afford = np.ones(D)
        self.joined = np.ones(D, dtype=bool)
        self.curriculum = np.zeros(D, dtype=bool)
        self.price_pl = np.zeros(D)
        self.price_cur = np.zeros(D)
        self.subsidy = np.zeros(D)
        for dist in model.district_list:
            d, dc = dist.index, dist.conditions
            rng = self.streams[d]
            u = (rng.random(), rng.random(), rng.random())
            if self.kind in ("publisher", "bundle"):
                cur = True
            elif self.kind == "cross_selling":
                cur = bool(u[2] < P.curriculum_uptake)
            else:
                cur = False
            pl, cu = annual_prices(spec, dc, P, cur)
            self.price_pl[d], self.price_cur[d] = pl, cu
            self.subsidy[d] = subsidy_fraction(spec, dc)
            if spec.recruit:
                self.p_offer[d] = offer_probability(spec, dc, P)
                self.p_afford[d] = afford_probability((pl + cu) * (1.0 - self.subsidy[d]), dc, P)
                self.joined[d] = bool(u[0] < self.p_offer[d]) and bool(u[1] < self.p_afford[d])
            self.curriculum[d] = cur and self.joined[d]
        self.service = self.joined.astype(float)  # PL (or publisher PL) services delivered now
        self.withdrawn_month = np.full(D, -1, dtype=np.int16)
        self.tie = self.kind == "bundle"
        self._adoptions: list[_Adoption] = []

    # --- hooks called by the model ---------------------------------------------------------------
    def schedule(self, at_offset: float) -> None:
        """Schedule the curriculum adoptions of districts that joined with a curriculum."""
        model = self.model
        m = self.spec.adoption_month
        if m >= model.horizon:
            return
        for dist in model.district_list:
            if self.curriculum[dist.index]:
                a = _Adoption(self, dist)
                self._adoptions.append(a)  # Mesa holds event callbacks weakly
                model.schedule_event(a.fire, at=m + at_offset)

    def served(self, d: int) -> bool:
        return self.service[d] > 0.0

    def superintendent_convening(self, d: int) -> bool:
        """Superintendent convenings are the PL provider's strategy 6 (report lines 373-378)."""
        return self.kind != "publisher" and self.served(d)

    def month(self, month: int) -> None:
        """End of ``month``: the partnership's health moves; a failure withdraws services."""
        ps = self.partnership
        if ps is None or ps.failed:
            return
        if ps.step(month):
            model = self.model
            forced = ps.forced_month is not None and month >= ps.forced_month
            why = "broke down (scenario)" if forced else f"failed (health {ps.health:.2f})"
            withdraws = self.kind in WITHDRAWING_KINDS
            model.log_event(month, "", "partnership_failed", f"the {self.spec.label} {why}")
            if withdraws:
                for dist in model.district_list:
                    d = dist.index
                    if self.service[d] > 0.0:
                        self.service[d] = 0.0
                        self.withdrawn_month[d] = month
                self.tie = False
                self.version += 1
                model.services_changed()

    def after_change(self, district: "District", record) -> None:
        """Bundle: an initiative change to pedagogy & materials or teacher learning pulls the other
        along, or links to it if it changed already (curriculum-embedded PL; brief lines 17,
        131-147). Changes it makes itself, curriculum adoptions and competing agendas do not pull.
        The pulled change redesigns the other element's routine if it runs one, else adds a
        practice, with the same content and pre-K reach; its owner makes it."""
        element = int(record.element)
        if (not self.tie or element not in (_PED, _TL) or record.source != SOURCE_INITIATIVE
                or record.trigger == BUNDLE_TRIGGER or not self.served(district.index)):
            return
        model = self.model
        d = district.index
        if self.streams[d].random() >= self.P.bundle_tie:
            return
        other = _TL if element == _PED else _PED
        if model.links[d, element, other]:
            return
        month = record.month
        if model.first_month[d, other] >= 0:
            model.add_link(d, element, other, record.consistent and bool(model.n_consistent[d, other] > 0), month)
        elif not district.pending[other]:
            owner = district.owner[other]
            form = int(ChangeForm.REDESIGN) if district.structure.has_routine(other) else int(ChangeForm.ADD_ON)
            rec = district.enact((other, form, int(record.content), record.prek_included, SOURCE_INITIATIVE, owner, owner,
                                  Decision.OWN, BUNDLE_TRIGGER), month, record.decided_month)
            model.add_link(d, element, other, record.consistent and rec.consistent, month)

    def adopted(self, district: "District", month: int) -> None:
        """After a curriculum adoption: in a bundle the curriculum-embedded PL links the two."""
        if not self.tie:
            return
        model = self.model
        d = district.index
        if self.streams[d].random() < self.P.bundle_tie and not model.links[d, _PED, _TL]:
            if model.first_month[d, _PED] >= 0 and model.first_month[d, _TL] >= 0:
                ok = bool(model.n_consistent[d, _PED] > 0 and model.n_consistent[d, _TL] > 0)
                model.add_link(d, _PED, _TL, ok, month)


class _Adoption:
    __slots__ = ("state", "district", "__weakref__")

    def __init__(self, state: ProviderState, district: "District"):
        self.state, self.district = state, district

    def fire(self) -> None:
        from .calendar import month_of_time

        m = month_of_time(self.district.model.time)
        trigger = ADOPTION_TRIGGERS[self.state.kind]
        # A bundle's curriculum is co-designed with the PL provider and carries its practice; a
        # publisher's own is used as its owner sees fit (sim/agents.py District.adopt_curriculum).
        content = int(Content.SIGNATURE) if self.state.kind == "bundle" else None
        self.district.adopt_curriculum(m, trigger, content)
        self.state.adopted(self.district, m)


def provider_outputs(model: "CoherenceModel") -> dict:
    """Who joined, what they received and what it cost, for ``RunResult`` (plain arrays).

    Costs are the annual prices times the months each part was delivered (PL: until the programme
    ended or the partnership withdrew it; curriculum: the programme's years), split between the
    district and supplemental funding."""
    spec = model.conditions.provider
    P = model.params
    D = model.n_districts
    months = min(model.horizon, 12 * model.program.years)
    st = model.providers
    if st is None:
        joined = np.ones(D, dtype=bool)
        curriculum = np.zeros(D, dtype=bool)
        withdrawn = np.full(D, -1, dtype=np.int16)
        prices = [annual_prices(spec, d.conditions, P, False) for d in model.district_list]
        price_pl = np.array([p[0] for p in prices])
        price_cur = np.zeros(D)
        subsidy = np.array([subsidy_fraction(spec, d.conditions) for d in model.district_list])
        failed = -1
    else:
        joined, curriculum, withdrawn = st.joined.copy(), st.curriculum.copy(), st.withdrawn_month.copy()
        price_pl, price_cur, subsidy = st.price_pl, st.price_cur, st.subsidy
        failed = st.partnership.failed_month if st.partnership is not None else -1
    pl_months = np.where(withdrawn >= 0, np.minimum(withdrawn.astype(int) + 1, months), months) * joined
    cur_months = months * curriculum
    gross = price_pl * pl_months / 12.0 + price_cur * cur_months / 12.0
    return {
        "provider_kind": spec.kind,
        "joined": joined,
        "curriculum_adopted": curriculum,
        "service_months": pl_months.astype(np.int16),
        "cost_district": gross * (1.0 - subsidy),
        "cost_subsidy": gross * subsidy,
        "partnership_failed_month": int(failed),
    }


__all__ = [
    "PARTNERSHIP_KINDS",
    "PROVIDER_KINDS",
    "PROVIDER_LABELS",
    "ProviderSpec",
    "ProviderState",
    "afford_probability",
    "annual_prices",
    "needs_state",
    "offer_probability",
    "provider_outputs",
    "subsidy_fraction",
]

