"""Shared test helpers: small, explicit conditions built in code."""

from __future__ import annotations

import pytest

from sim.conditions import Conditions, DistrictConditions, LeaderSpec, ShockSpec
from sim.vocab import Capacity, Element

ALL_ESTABLISHED = (Capacity.ESTABLISHED,) * 6


def lead(authority: bool = True, buy_in: float = 0.95, **kw) -> LeaderSpec:
    return LeaderSpec(role=kw.pop("role", "Lead"), positional_authority=authority, buy_in=buy_in, leads_initiative=True, **kw)


def competing_holder(buy_in: float = 0.1) -> LeaderSpec:
    return LeaderSpec(
        role="Authority holder with a fluency agenda",
        positional_authority=True,
        buy_in=buy_in,
        on_team=False,
        agenda="fluency",
        owns=(Element.PEDAGOGY, Element.ASSESSMENT, Element.TEACHER_LEARNING),
    )


def district(
    name: str = "D",
    *,
    capacity=ALL_ESTABLISHED,
    leaders=None,
    schools: int = 8,
    school_leaders: int = 16,
    teachers=(20, 10, 90),
    team: int = 6,
    prior_experience: bool = False,
    prior_provider: bool = False,
    has_prek: bool = True,
    shocks=(),
) -> DistrictConditions:
    if leaders is None:
        leaders = (lead(), LeaderSpec(role="Head of Early Childhood", positional_authority=False, buy_in=0.9, early_childhood=True))
    if not has_prek:
        teachers = (0, teachers[1], teachers[2])
    return DistrictConditions(
        name=name,
        students=7000,
        n_elementary_schools=schools,
        n_school_leaders=school_leaders,
        teachers=tuple(teachers),
        team_teachers=team,
        prior_experience=prior_experience,
        prior_provider=prior_provider,
        capacity=tuple(capacity),
        leaders=tuple(leaders),
        has_prek=has_prek,
        shocks=tuple(shocks),
    )


def conditions(*districts: DistrictConditions, **kw) -> Conditions:
    return Conditions(districts=tuple(districts), **kw)


@pytest.fixture(scope="session")
def case_definition():
    from experiments.scenario import load_case

    return load_case()


__all__ = ["ShockSpec", "competing_holder", "conditions", "district", "lead"]
