"""The provider's calendar and how its focus shifts on what it observes (lines 378-486)."""

from __future__ import annotations

from conftest import conditions, district
from sim import CoherenceModel
from sim.conditions import ProviderProgram
from sim.initiative import month_plan
from sim.vocab import Activity, Phase


def test_calendar_frequencies_are_the_reports():
    program = ProviderProgram()
    plans = [month_plan(program, m) for m in range(12)]
    count = lambda a: sum(a in p.activities for p in plans)  # noqa: E731
    assert count(Activity.CONVENING) == 3 and count(Activity.SUPERINTENDENT_CONVENING) == 2
    assert count(Activity.COACHING) == 11 and count(Activity.SLO) == 4


def provider(**program):
    model = CoherenceModel(conditions(district(), program=ProviderProgram(**program)), rng=0)
    return model.provider


def test_turns_to_the_hlpps_only_once_most_team_teachers_practise_the_signature_practice():
    p = provider()
    assert p.plan_year(12, team_cc_share=0.3, team_hlpp_share=0.0, common_adopted=1.0) == []
    assert p.phase == Phase.SIGNATURE
    notes = p.plan_year(24, team_cc_share=0.6, team_hlpp_share=0.1, common_adopted=1.0)
    assert p.phase == Phase.SYSTEMS  # the final year of three: sustainability is due
    p = provider(years=5)
    p.plan_year(12, team_cc_share=0.6, team_hlpp_share=0.1, common_adopted=1.0)
    assert p.phase == Phase.PRINCIPLES and p.teaches_principles()
    p.plan_year(24, team_cc_share=0.9, team_hlpp_share=0.2, common_adopted=1.0)
    assert p.phase == Phase.PRINCIPLES
    p.plan_year(36, team_cc_share=0.9, team_hlpp_share=0.6, common_adopted=1.0)
    assert p.phase == Phase.SYSTEMS and p.slo_audience() == "school_leaders"
    assert [ph for _, ph in p.phase_log] == [Phase.SIGNATURE, Phase.PRINCIPLES, Phase.SYSTEMS]
    assert notes  # what changed is said


def test_drops_the_common_assessment_when_few_districts_adopted_it():
    p = provider()
    p.plan_year(12, 0.0, 0.0, common_adopted=0.25)
    assert not p.common_assessment
    p = provider()
    p.plan_year(12, 0.0, 0.0, common_adopted=0.75)
    assert p.common_assessment


def test_a_fixed_calendar_follows_the_school_years():
    p = provider(adaptive=False)
    p.plan_year(12, 0.0, 0.0, 1.0)
    assert p.phase == Phase.PRINCIPLES and not p.common_assessment
    p.plan_year(24, 0.0, 0.0, 1.0)
    assert p.phase == Phase.SYSTEMS


def test_the_provider_adapts_in_a_run():
    model = CoherenceModel(conditions(district(), district("E")), rng=4)
    model.run()
    kinds = [e.kind for e in model.event_log]
    assert "provider_adapts" in kinds
    assert model.provider.phase == Phase.SYSTEMS
    assert model.provider.sessions[Activity.CONVENING] == 9
