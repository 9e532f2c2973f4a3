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
)

PARAMETER_SPECS: Mapping[str, ParameterSpec] = MappingProxyType({s.name: s for s in _SPECS})

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
