"""Every free parameter of the model, in one place: name, unit, range, default, source.

The defaults are stated assumptions until the calibration (issue 4) replaces them with the
posterior's point estimate; each says so in its ``source``. Ranges are the plausible bounds used by
validation, sweeps and priors.

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
    # --- Participation and exposure -------------------------------------------------------
    ParameterSpec(
        "change_rate", "1/month", 0.005, 0.5, 0.15,
        "assumed; calibrated in issue 4. Participation drives change: lines 994-1060",
        "Monthly hazard that a fully ready, fully needed, ungated element is changed by the district.",
    ),
    ParameterSpec(
        "readiness_half", "exposure units", 0.5, 30.0, 3.0,
        "assumed. Readiness saturates with accumulated exposure to the provider's emphasis (lines 1063-1080)",
        "Accumulated exposure at which an element's readiness reaches one half.",
    ),
    ParameterSpec(
        "post_initiative_momentum", "fraction", 0.0, 1.0, 0.5,
        "assumed. Sustainability plans in year 3 (lines 483-486); developmental process (lines 1440-1461)",
        "Multiplier on the change hazard after the provider's programme has ended.",
    ),
    ParameterSpec(
        "head_start_prior_provider", "exposure units", 0.0, 10.0, 2.0,
        "assumed. Districts that worked with the provider before were expected to start with more capacity for improvement work (Appendix A, lines 1502-1504)",
        "Readiness each element starts with in a district that has worked with the provider before.",
    ),
    ParameterSpec(
        "repeat_change_factor", "fraction", 0.0, 1.0, 0.35,
        "assumed. Appendix A codes an element from all its changes (lines 1652-1666), so an element can be changed more than once; the report gives no rate",
        "Multiplier on the hazard of a further change to an element already changed.",
    ),
    # --- Pre-existing capacity ------------------------------------------------------------
    ParameterSpec(
        "hazard_did_not_exist", "fraction", 0.0, 1.0, 0.3,
        "Table 3 (line 1167): 4 of 7 elements that did not exist were still absent at the end (lines 1126-1127)",
        "Multiplier on the change hazard of an element that does not exist yet.",
    ),
    ParameterSpec(
        "p_transform_established", "probability", 0.0, 1.0, 0.8,
        "Table 3: 12 of 14 established elements transformed (lines 1111-1121)",
        "Probability that a change to an established element transforms it.",
    ),
    ParameterSpec(
        "p_transform_emergent", "probability", 0.0, 1.0, 0.25,
        "Table 3: 1 of 3 emergent or incoherent elements transformed (lines 1121-1125)",
        "Probability that a change to an emergent or incoherent element transforms it.",
    ),
    ParameterSpec(
        "p_transform_did_not_exist", "probability", 0.0, 1.0, 0.25,
        "Table 3: 1 of 3 newly created elements created systemically (lines 1127-1129)",
        "Probability that creating a missing element creates it systemically (transform) rather than as a single practice (add-on).",
    ),
    # --- Prior experience and depth -------------------------------------------------------
    ParameterSpec(
        "p_depth_prior_experience", "probability", 0.0, 1.0, 0.7,
        "Prior experience lets districts go beyond Counting Collections to the HLPPs (lines 1212-1232)",
        "Probability that a change made while the HLPPs are emphasised carries the principles, with prior experience.",
    ),
    ParameterSpec(
        "p_depth_no_prior", "probability", 0.0, 1.0, 0.1,
        "Birchwood and Diamond stayed with the signature practice (lines 1222-1229)",
        "The same probability without prior experience.",
    ),
    ParameterSpec(
        "depth_from_practice", "probability per unit share", 0.0, 1.0, 0.3,
        "assumed. Teachers' uptake of the HLPPs supports district-level principles (lines 444-460)",
        "Added probability of a principles-depth change per unit share of the district's teachers practising the HLPPs at the end of the previous school year.",
    ),
    # --- Leadership -----------------------------------------------------------------------
    ParameterSpec(
        "reach_without_authority", "fraction", 0.0, 1.0, 0.5,
        "A lead without positional authority cannot steer system-wide change (lines 1263-1278, 1463-1475)",
        "Gate on system-level elements (framework, assessment, school-leader learning, oversight) when the lead lacks authority and no authority holder endorses the change.",
    ),
    ParameterSpec(
        "competing_agenda_rate", "1/month", 0.0, 0.3, 0.06,
        "assumed. Diamond's authority holder drove a fluency agenda (lines 832-868, 1270-1278)",
        "Monthly hazard that an authority holder with a competing agenda changes an element on that agenda.",
    ),
    ParameterSpec(
        "superintendent_buy_in_gain", "buy-in per convening", 0.0, 0.2, 0.03,
        "assumed. Superintendent convenings keep superintendents updated (strategy 6, lines 373-378)",
        "Gain in a superintendent's buy-in from one superintendent convening (capped at 1).",
    ),
    # --- Alignment ------------------------------------------------------------------------
    ParameterSpec(
        "link_rate", "1/month", 0.0, 0.5, 0.12,
        "assumed. Changes link elements that carry the same practice (lines 885-914); early emphasis yields more links (lines 1063-1080)",
        "Monthly hazard that two changed elements carrying the same content become intentionally linked.",
    ),
    ParameterSpec(
        "link_did_not_exist", "fraction", 0.0, 1.0, 0.4,
        "Table 4 (line 1147): changes to elements that did not exist aligned less often (2 of 3 or 1 of 3, line 1194) than existing ones (16 of 17)",
        "Multiplier on the link hazard when one of the pair was created during the initiative.",
    ),
    # --- Continuity -----------------------------------------------------------------------
    ParameterSpec(
        "p_include_prek", "probability", 0.0, 1.0, 0.93,
        "Table 5 (line 1237): every change fostered continuity; pre-K focus threaded through all strategies (lines 1009-1015)",
        "Probability that a change includes pre-K when an early-childhood leader sits on the improvement team.",
    ),
    ParameterSpec(
        "prek_inclusion_without_ec_lead", "fraction", 0.0, 1.0, 0.5,
        "assumed. The provider insisted early-childhood leaders join the teams (lines 1406-1417)",
        "Multiplier on p_include_prek when no pre-K voice (an early-childhood leader or a pre-K teacher) sits on the improvement team.",
    ),
    # --- Size -----------------------------------------------------------------------------
    ParameterSpec(
        "latency_per_log_school", "months per ln(school)", 0.0, 6.0, 1.0,
        "Birchwood decided quickly without district bureaucracy (lines 1291-1297)",
        "Mean delay between a decision and its enactment, per natural log of the number of elementary schools.",
    ),
    ParameterSpec(
        "leaders_half_need", "school leaders", 0.0, 20.0, 4.0,
        "Birchwood's two school leaders needed no formal learning system (lines 1287-1291)",
        "Number of school leaders at which the need for a school-leader learning system is one half.",
    ),
    # --- Teachers -------------------------------------------------------------------------
    ParameterSpec(
        "teacher_uptake_team", "1/month", 0.0, 1.0, 0.15,
        "assumed. Team members receive ongoing professional development (lines 1297-1302)",
        "Monthly probability that a team teacher moves one practice level up when exposed.",
    ),
    ParameterSpec(
        "teacher_uptake_district", "1/month", 0.0, 1.0, 0.04,
        "assumed. District teacher learning reaches teachers beyond the team (lines 751-766)",
        "Monthly probability that a teacher reached by district teacher learning, or by a shared learning opportunity for teachers, moves one level up.",
    ),
    # --- Shocks ---------------------------------------------------------------------------
    ParameterSpec(
        "leader_turnover_rate", "1/month", 0.0, 0.1, 0.008,
        "assumed. Leadership turnover during the initiative (lines 599-601)",
        "Monthly hazard that a district leader leaves, times (1 + turbulence); the monthly probability is 1 - exp(-hazard).",
    ),
    ParameterSpec(
        "turnover_readiness_loss", "fraction", 0.0, 1.0, 0.4,
        "assumed. A new lead restarts part of the work (lines 599-601, 1350-1352)",
        "Share of accumulated readiness lost when the initiative lead leaves.",
    ),
    ParameterSpec(
        "turbulence_scale", "fraction", 0.0, 2.0, 1.0,
        "Pandemic turbulence (lines 599-601, 1350-1352); the per-year profile is a scenario condition",
        "Multiplier on the scenario's turbulence profile.",
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
