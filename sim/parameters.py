"""Every free parameter of the model, in one place: name, unit, range, default, source.

The defaults are stated assumptions (``sim.Parameters()`` is the documented prior centre); the
calibration's point estimate is published as a data file that experiments/ applies. Ranges are
the plausible bounds used by validation, sweeps and priors. No parameter maps a starting capacity
or a district to an outcome code: every source names the process it stands for, and none is read
off Tables 2-5 or the consistency figure, which the model is compared with.

Line numbers refer to ``003_5ef94897120ea9a2.txt`` (the report) unless another file is named.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, make_dataclass, field, replace
from types import MappingProxyType
from typing import Any, Mapping


@dataclass(frozen=True)
class ParameterSpec:
    """One model parameter and where it comes from."""

    name: str
    unit: str
    low: float
    high: float
    default: float
    source: str
    description: str

    def check(self, value: Any, *, field_name: str | None = None) -> float:
        """Return ``value`` as float, or raise ValueError naming the key and the allowed range."""
        key = field_name or self.name
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(
                f"{key}: {value!r} is not a number; allowed: a number in [{self.low}, {self.high}] ({self.unit})"
            )
        v = float(value)
        if not math.isfinite(v) or v < self.low or v > self.high:
            raise ValueError(
                f"{key}: {value!r} is out of range; allowed: [{self.low}, {self.high}] ({self.unit})"
            )
        return v


_SPECS: tuple[ParameterSpec, ...] = (
    # --- Participation: the improvement team's attention and work (docs/ODD.md 7.3) --------
    ParameterSpec(
        "team_attention", "elements", 1.0, 4.0, 2.0,
        "assumed. Teams guided the initiative beside their other duties (lines 287-292); coaching helped them keep the focus 'in the face of competing priorities' (lines 1433-1438)",
        "How many elements the improvement team works on at once (rounded to a whole number).",
    ),
    ParameterSpec(
        "uptake_rate", "1/month per exposure unit", 0.005, 0.5, 0.2,
        "assumed. Participation turns the provider's emphasis into work on elements (lines 994-1060)",
        "Monthly hazard, per unit of readiness (recent exposure to the provider's emphasis on the element) and of need, that the team takes up an element it is not yet working on.",
    ),
    ParameterSpec(
        "readiness_fade", "1/month", 0.02, 0.5, 0.15,
        "assumed. What the team does not attend fades; early points of emphasis stick (lines 1063-1072)",
        "Monthly share of an element's readiness lost while the team is not working on it (readiness is the recent exposure to the provider's emphasis: 1 / readiness_fade is its memory in months).",
    ),
    ParameterSpec(
        "design_months", "months", 1.0, 12.0, 3.0,
        "assumed. Teams tested and planned changes through continuous-improvement cycles (lines 386-394, 425-433)",
        "Months of the team's undisturbed work from taking an element up to a designed change.",
    ),
    ParameterSpec(
        "peer_learning", "fraction", 0.0, 1.0, 0.5,
        "Teams shared ideas at convenings (lines 355-365) and replicated what they saw at home (lines 1046-1062)",
        "How much a team takes from the other districts at a convening: readiness for an element (in convening exposure units) times the share of the others that changed it in the provider's direction, and the same share of the others' redesigned routines as worked examples for its own designs.",
    ),
    ParameterSpec(
        "session_replication", "share of a design per session", 0.0, 1.0, 1.0,
        "assumed. Districts replicated the provider's sessions at home (lines 1044-1048, 936-939); the provider modelled routines for teams to take over (lines 369-372)",
        "What a team carries home from a session the provider ran for the people an element's learning routine serves (school leaders: school-leader learning; teachers: teacher learning): that share of the element's design done while the team designs it (1: the session hands over the whole design), a worked example of that weight for the design, and that share of the change already met by its people (no roll-out latency).",
    ),
    # --- Pre-existing capacity: what a change can do to an element's structure -------------
    ParameterSpec(
        "build_cost", "relative to a redesign", 1.0, 6.0, 2.5,
        "assumed. Established means systemic and regularized (lines 1098-1106); making an element systemic is itself a transformation (lines 790-794, 1658-1662), and needs an owner, staff and time besides knowing the approach",
        "Understanding a team needs to build a systemic routine where none runs, relative to redesigning the core of one that does (a change builds with probability understanding / build_cost, redesigns with probability understanding).",
    ),
    # --- Prior experience and understanding -------------------------------------------------
    ParameterSpec(
        "prior_understanding", "fraction", 0.0, 1.0, 0.6,
        "Prior PD on CGI-like approaches gave some district leaders and teachers access to the approach (lines 1212-1222)",
        "Understanding of the provider's approach and of its principles that a district with prior experience of similar approaches starts with (0 without).",
    ),
    ParameterSpec(
        "learning_rate", "per exposure unit", 0.0, 0.5, 0.08,
        "assumed. Convenings, SLOs and coaching built the teams' understanding of mathematics instruction (lines 357-372)",
        "Share of the remaining distance to full understanding a team closes per unit of the provider's exposure (the principles only once the provider teaches them).",
    ),
    ParameterSpec(
        "evidence_gain", "per month per unit share", 0.0, 0.5, 0.1,
        "assumed. What teachers did in classrooms informed the provider and the districts (lines 444-455); half of Birchwood's teachers were on its team (lines 1297-1302)",
        "Monthly gain, per unit share of the district's teachers practising the provider's approach, in its leaders' buy-in and (for the HLPPs) in the team's understanding of the principles.",
    ),
    # --- Leadership: contested decisions ----------------------------------------------------
    ParameterSpec(
        "reshape_share", "fraction", 0.0, 1.0, 0.5,
        "assumed. Without the authority to steer it, a change is shaped by those who own the element (lines 1263-1278, 1463-1475)",
        "Share of the proposals an owner does not adopt as designed that it adopts with a piece of its own vision added (the rest it blocks).",
    ),
    ParameterSpec(
        "agenda_drive", "1/month", 0.0, 0.5, 0.08,
        "assumed. Diamond's authority holder drove a fluency and test-score agenda (lines 832-868, 1270-1278)",
        "Monthly hazard that a leader with a competing agenda who is not at all on board with the initiative pushes the agenda into one more element it owns or influences (times 1 - the holder's buy-in).",
    ),
    ParameterSpec(
        "coordination_without_authority", "fraction", 0.0, 1.0, 0.4,
        "Curriculum, assessment and PD are usually one department's; aligning the broader set of elements needs authority spanning them (lines 1017-1020, 1463-1469)",
        "Multiplier on the link hazard between two elements when the initiative's lead cannot direct both owners.",
    ),
    ParameterSpec(
        "superintendent_buy_in_gain", "buy-in per convening", 0.0, 0.2, 0.03,
        "assumed. Superintendent convenings kept superintendents updated (strategy 6, lines 373-378)",
        "Share of the remaining distance to full buy-in a superintendent closes at one superintendent convening.",
    ),
    # --- Alignment --------------------------------------------------------------------------
    ParameterSpec(
        "link_rate", "1/month", 0.0, 0.5, 0.12,
        "assumed. Districts connected changed elements that carry the same practice (lines 885-914); what is attended early connects more (lines 1076-1081)",
        "Monthly hazard that two changed elements carrying the same vision become intentionally linked, when the lead can direct both and both run as routines.",
    ),
    ParameterSpec(
        "piece_link_factor", "fraction", 0.0, 1.0, 0.5,
        "assumed. Alignment means redirecting one element's routines to another's content (lines 1669-1675); a lone practice has fewer routines to redirect",
        "Multiplier on the link hazard when one of the two elements is only practices beside no routine.",
    ),
    # --- Continuity -------------------------------------------------------------------------
    ParameterSpec(
        "ec_leader_voice", "probability", 0.0, 1.0, 0.9,
        "The provider insisted early-childhood leaders sit on the teams and kept early childhood 'on the front burner' (lines 1003-1015, 1404-1418)",
        "Probability that an early-childhood leader on the team brings pre-K into a change the team designs.",
    ),
    ParameterSpec(
        "prek_teacher_voice", "probability per teacher", 0.0, 1.0, 0.3,
        "Teams included pre-K teachers (lines 289-292, 1406-1412)",
        "Probability that one pre-K teacher on the team brings pre-K into a change the team designs.",
    ),
    # --- Size -------------------------------------------------------------------------------
    ParameterSpec(
        "latency_per_log_school", "months per ln(school)", 0.0, 6.0, 1.0,
        "Birchwood decided quickly without district bureaucracy (lines 1291-1297)",
        "Mean delay between a decision and its enactment, per natural log of the number of elementary schools; the share of a change a session modelled for its people needs no roll-out (lines 1044-1046).",
    ),
    ParameterSpec(
        "leaders_half_need", "school leaders", 0.0, 20.0, 4.0,
        "Birchwood's two school leaders needed no formal learning system (lines 1287-1291)",
        "Number of school leaders at which the need for a school-leader learning system is one half.",
    ),
    # --- Teachers ---------------------------------------------------------------------------
    ParameterSpec(
        "teacher_uptake_team", "1/month", 0.0, 1.0, 0.15,
        "assumed. Team members receive ongoing professional development (lines 1297-1302)",
        "Monthly probability that a team teacher moves one practice level up in a month of convenings or coaching.",
    ),
    ParameterSpec(
        "teacher_uptake_district", "1/month", 0.0, 1.0, 0.04,
        "assumed. Shared learning opportunities and district teacher learning reach teachers beyond the team (lines 362-366, 751-766)",
        "Monthly probability that a teacher reached by a shared learning opportunity, by a changed district teacher-learning element or by school leaders who learned the practices moves one level up.",
    ),
    # --- Turbulence -------------------------------------------------------------------------
    ParameterSpec(
        "leader_turnover_rate", "1/month", 0.0, 0.1, 0.008,
        "assumed. Leadership turnover during the initiative (lines 599-601)",
        "Monthly hazard that a district leader leaves, times (1 + turbulence).",
    ),
    ParameterSpec(
        "turnover_understanding_loss", "fraction", 0.0, 1.0, 0.4,
        "assumed. A new lead restarts part of the work (lines 599-601, 1350-1352)",
        "Share of the team's understanding lost, and its projects dropped, when the initiative's lead leaves.",
    ),
    ParameterSpec(
        "turbulence_scale", "fraction", 0.0, 2.0, 1.0,
        "Pandemic turbulence (lines 599-601, 1350-1352); the per-year profile is a scenario condition",
        "Multiplier on the scenario's turbulence profile (the share of effort lost each month).",
    ),
    ParameterSpec(
        "post_initiative_momentum", "fraction", 0.0, 1.0, 0.5,
        "assumed. Sustainability plans in year 3 (lines 483-486); a developmental process (lines 1440-1461)",
        "Multiplier on the team's take-up and work after the provider's programme has ended.",
    ),
    # --- Provider types and partnerships ---------------------------------------------------
    # Line numbers in these sources refer to the partnership brief 000_2f2cc46267fd8ab3.txt
    # ("brief"); none of these parameters acts in the four-district case (provider.kind =
    # "pl_provider", recruitment not simulated), see sim/providers.py and sim/partnership.py.
    ParameterSpec(
        "bundle_tie", "probability", 0.0, 1.0, 0.8,
        "assumed. Co-branded bundles co-design curriculum-embedded training (brief lines 17, 131-135) for 'stronger coherence in the delivery of support' (brief line 147)",
        "Under a co-branded bundle, probability that a change to pedagogy & materials or to teacher learning pulls the other along (a change to it, or a link if it already changed) and links the two.",
    ),
    ParameterSpec(
        "publisher_pl_intensity", "fraction", 0.0, 1.0, 0.5,
        "assumed. PL providers 'contribute deep expertise in instructional practice' (brief line 17); bundles were built to augment 'publisher PL capabilities' (brief line 135)",
        "Exposure a publisher's own professional learning delivers, relative to the PL provider's programme, and the multiplier on team teachers' uptake under it.",
    ),
    ParameterSpec(
        "publisher_pl_breadth", "fraction", 0.0, 1.0, 0.3,
        "assumed. Publisher PL accompanies its materials (report 003 lines 765-766; brief line 17 'product integration'); leadership capacity was an add-on the PL provider brought (brief line 135)",
        "Weight publisher PL gives to the district systems (framework, school-leader learning, oversight) relative to pedagogy & materials, teacher learning and assessment.",
    ),
    ParameterSpec(
        "publisher_practice_depth", "fraction", 0.0, 1.0, 0.25,
        "assumed. The HLPPs are the PL provider's expertise (report 003 lines 444-460; brief line 17)",
        "Share of the programme's emphasis on the high-leverage practices that a publisher's own PL carries.",
    ),
    ParameterSpec(
        "reach_pl_provider", "probability", 0.0, 1.0, 0.3,
        "assumed. Districts face 'limited access to qualified providers' (brief line 15); the case's provider recruited intentionally (report 003 lines 282-285)",
        "Probability that a nonprofit PL provider's own recruitment reaches a district (times the superintendent's buy-in: recruitment required superintendent buy-in, report 003 line 282-285).",
    ),
    ParameterSpec(
        "rural_access", "fraction", 0.0, 1.0, 0.5,
        "assumed. 'Rural and smaller districts may encounter additional barriers, including limited access to qualified providers' (brief line 15)",
        "Multiplier on the PL provider's reach for a rural district.",
    ),
    ParameterSpec(
        "reach_publisher", "probability", 0.0, 1.0, 0.8,
        "assumed. 'Publishers bring reach, market access, and product integration' (brief line 17)",
        "Probability that a publisher's sales pipeline reaches a district (any size, rural or not, whatever its superintendent's buy-in).",
    ),
    ParameterSpec(
        "lead_conversion", "probability", 0.0, 1.0, 0.5,
        "assumed. Lead generation is one of the three go-to-market models (brief line 131)",
        "Under lead generation, probability that a lead the publisher passes on becomes an offer from the PL provider.",
    ),
    ParameterSpec(
        "neutrality_penalty", "fraction", 0.0, 1.0, 0.6,
        "assumed. 'PL providers' desire to remain curriculum-neutral creates challenges for lead generation' (brief line 199)",
        "Share of lead conversions lost when the PL provider stays curriculum-neutral (provider.curriculum_neutral).",
    ),
    ParameterSpec(
        "cross_sell_rate", "probability", 0.0, 1.0, 0.4,
        "assumed. Cross-marketing/selling (brief line 131); 'concerns about the ability of sales teams to sell packaged services with the product' (brief line 199)",
        "Under cross-selling, probability that a publisher's sales contact sells the PL provider's services.",
    ),
    ParameterSpec(
        "curriculum_uptake", "probability", 0.0, 1.0, 0.5,
        "assumed. Under cross-selling the curriculum and the PL are bought separately (brief lines 131, 189)",
        "Under cross-selling, probability that a district taking the PL provider's services also adopts the partner publisher's curriculum.",
    ),
    ParameterSpec(
        "bundle_sales_rate", "probability", 0.0, 1.0, 0.6,
        "assumed. Sales teams sell the bundle once defined, with a playbook and incentives (brief lines 197-201); a single point of procurement (brief line 189)",
        "Under a co-branded bundle, probability that a publisher's sales contact sells the bundle.",
    ),
    ParameterSpec(
        "price_pl_fixed", "USD per district-year", 0.0, 500000.0, 60000.0,
        "assumed (no prices in the sources). Pricing PL 'as a product' and scaling it with service intensity is hard (brief line 191); convenings and coaching serve a district's team whatever its size",
        "Annual price of the PL provider's programme per district (convenings, team coaching, shared learning opportunities).",
    ),
    ParameterSpec(
        "price_pl_per_teacher", "USD per teacher-year", 0.0, 5000.0, 400.0,
        "assumed (no prices in the sources; brief line 191)",
        "Annual price of the PL provider's programme per pre-K-3 teacher.",
    ),
    ParameterSpec(
        "price_curriculum_per_teacher", "USD per teacher-year", 0.0, 5000.0, 600.0,
        "assumed (no prices in the sources). Curriculum with the publisher's own PL (report 003 lines 765-766)",
        "Annual price of the publisher's curriculum and its publisher PL per pre-K-3 teacher (materials for one classroom).",
    ),
    ParameterSpec(
        "bundle_discount", "fraction", 0.0, 0.9, 0.15,
        "assumed. A single point of access for procurement of a bundled offering (brief line 189)",
        "Discount of a co-branded bundle on the sum of its parts.",
    ),
    ParameterSpec(
        "budget_per_student", "USD per student-year", 0.0, 1000.0, 40.0,
        "assumed. Limited funding is a barrier to securing CBPL at scale (brief line 15)",
        "Annual money a district can put towards mathematics PL and materials, per enrolled student.",
    ),
    ParameterSpec(
        "price_sensitivity", "dimensionless", 0.1, 10.0, 2.0,
        "assumed. 'Difficulty reaching affordable price points for smaller districts without supplemental funding' (brief line 191)",
        "Steepness of the affordability curve: a district buys with probability r^k / (1 + r^k), r = budget / net price.",
    ),
    ParameterSpec(
        "trust_gain", "per meeting", 0.0, 1.0, 0.06,
        "assumed. 'Agreed-upon meeting cadence', joint work sessions 'accelerate trust-building' (brief lines 173, 177)",
        "Share of the remaining distance to full organisational trust closed by one partnership meeting.",
    ),
    ParameterSpec(
        "trust_erosion", "1/month", 0.0, 1.0, 0.05,
        "assumed. Misaligned strategy and 'lower organizational-level trust' slow decisions (brief lines 165-167, 175)",
        "Monthly loss of organisational trust per unit of strategic misalignment (1 - provider.alignment).",
    ),
    ParameterSpec(
        "health_volatility", "per month", 0.0, 0.5, 0.04,
        "assumed. Staffing availability, pricing, market feedback are risks to monitor (brief line 155)",
        "Standard deviation of the monthly shock to organisational trust.",
    ),
    ParameterSpec(
        "partnership_failure_threshold", "health", 0.0, 1.0, 0.3,
        "assumed. Phase 4 monitors 'the health and viability of each partnership' (brief line 155); sustaining it needs trust and communication (brief line 205)",
        "Partnership health ((alignment + trust) / 2) below which the partnership fails and its joint services are withdrawn.",
    ),
)

PARAMETER_SPECS: Mapping[str, ParameterSpec] = MappingProxyType({s.name: s for s in _SPECS})

#: The provider-type parameters (sim/providers.py, sim/partnership.py): inert in the four-district
#: case (a PL provider alone, its districts already recruited), so fixed in the calibration and
#: outside the case's sensitivity study.
PROVIDER_PARAMETERS: tuple[str, ...] = tuple(s.name for s in _SPECS[_SPECS.index(next(x for x in _SPECS if x.name == "bundle_tie")):])

def _post_init(self) -> None:
    for f in fields(self):
        object.__setattr__(self, f.name, PARAMETER_SPECS[f.name].check(getattr(self, f.name)))


def _from_mapping(cls, values: Mapping[str, Any], *, prefix: str = "parameters"):
    """Build from a mapping, refusing unknown keys with the list of known ones."""
    unknown = sorted(set(values) - set(PARAMETER_SPECS))
    if unknown:
        raise ValueError(
            f"{prefix}.{unknown[0]}: unknown parameter; allowed: {', '.join(PARAMETER_SPECS)}"
        )
    checked = {k: PARAMETER_SPECS[k].check(v, field_name=f"{prefix}.{k}") for k, v in values.items()}
    return cls(**checked)


def _to_dict(self) -> dict[str, float]:
    return {f.name: getattr(self, f.name) for f in fields(self)}


def _replace(self, **changes: float):
    return replace(self, **changes)


#: The model's free parameters (frozen dataclass generated from ``PARAMETER_SPECS``, so names and
#: defaults live in one place). ``Parameters()`` gives the defaults; every value is range-checked.
Parameters = make_dataclass(
    "Parameters",
    [(s.name, float, field(default=s.default)) for s in _SPECS],
    frozen=True,
    namespace={
        "__post_init__": _post_init,
        "from_mapping": classmethod(_from_mapping),
        "to_dict": _to_dict,
        "replace": _replace,
        "__doc__": "The model's free parameters; see PARAMETER_SPECS for units, ranges and sources.",
    },
    module=__name__,
)


def parameter_table() -> list[dict[str, Any]]:
    """Rows for documentation: name, unit, range, default, source, description."""
    return [
        {
            "name": s.name,
            "unit": s.unit,
            "low": s.low,
            "high": s.high,
            "default": s.default,
            "source": s.source,
            "description": s.description,
        }
        for s in _SPECS
    ]
