"""Contested decisions: who owns an element, and how an owner answers a proposal (docs/ODD.md 7.4)."""

from __future__ import annotations

import random

import pytest

from sim.conditions import DEPARTMENT_ELEMENTS, LeaderSpec
from sim.leadership import accepts_agenda, can_direct, own_vision, owners, respond
from sim.vocab import Content, Decision, Element


def spec(role, authority=False, superintendent=False, buy_in=0.5, owns=(), agenda=None, lead=False):
    return LeaderSpec(role=role, positional_authority=authority, superintendent=superintendent, buy_in=buy_in,
                      owns=owns, agenda=agenda, leads_initiative=lead)


SUP = spec("Superintendent", authority=True, superintendent=True, buy_in=0.7)
ASSOC = spec("Associate Superintendent", authority=True, buy_in=0.9, owns=DEPARTMENT_ELEMENTS, lead=True)
EC = spec("Director of Early Childhood", buy_in=0.9, lead=True, owns=(Element.PEDAGOGY,))
HOLDER = spec("Assistant Superintendent", authority=True, buy_in=0.15, owns=DEPARTMENT_ELEMENTS, agenda="fluency")


def test_department_head_owns_its_elements_and_the_superintendent_the_rest():
    o = owners([ASSOC, SUP])
    assert [o[e] is ASSOC for e in range(6)] == [e in DEPARTMENT_ELEMENTS for e in Element]
    assert o[Element.FRAMEWORK] is SUP and o[Element.OVERSIGHT] is SUP


def test_ownership_needs_positional_authority():
    # A director of early childhood who "owns" pedagogy without authority does not decide it
    # (lines 1269-1274): the superintendent's office does.
    o = owners([EC, SUP])
    assert all(o[e] is SUP for e in range(6))
    # Without a superintendent the highest-ranked leader holds what nobody owns.
    assert all(x is ASSOC for x in owners([ASSOC, EC]))


def test_rank_and_authority():
    assert (SUP.rank, ASSOC.rank, EC.rank) == (3, 2, 1)
    assert can_direct(ASSOC, ASSOC) and can_direct(SUP, ASSOC) and can_direct(ASSOC, EC)
    assert not can_direct(ASSOC, SUP) and not can_direct(EC, HOLDER) and not can_direct(ASSOC, HOLDER)


def test_authority_adopts_as_designed_whatever_the_owner_thinks():
    for u in (0.0, 0.5, 0.999):
        assert respond(ASSOC, ASSOC, u, 0.5) == Decision.OWN
        assert respond(EC, SUP, u, 0.5) == Decision.ADOPTED


def test_without_authority_the_owner_adopts_reshapes_or_blocks_in_stated_proportions():
    rng = random.Random(1)
    n = 20_000
    answers = [respond(HOLDER, EC, rng.random(), 0.5) for _ in range(n)]
    adopted = answers.count(Decision.ADOPTED) / n
    reshaped = answers.count(Decision.RESHAPED) / n
    blocked = answers.count(None) / n
    # buy-in 0.15: adopt 0.15, reshape 0.85 x 0.5, block the rest; tolerance 4 standard errors
    for got, want in ((adopted, 0.15), (reshaped, 0.425), (blocked, 0.425)):
        assert abs(got - want) < 4 * (want * (1 - want) / n) ** 0.5


def test_owners_reshape_with_their_own_vision():
    assert own_vision(HOLDER) == Content.COMPETING
    assert own_vision(SUP) == Content.TRADITIONAL


def test_an_owner_on_board_resists_a_competing_agenda():
    assert accepts_agenda(HOLDER, HOLDER, 0.99)  # its own elements
    assert accepts_agenda(EC, HOLDER, 0.0)  # it outranks the owner
    assert not accepts_agenda(SUP, HOLDER, 0.5) and accepts_agenda(SUP, HOLDER, 0.8)  # buy-in 0.7


def test_leader_specs_refuse_bad_input_naming_the_field():
    with pytest.raises(ValueError, match="agenda"):
        spec("X", agenda="unknown")
    with pytest.raises(ValueError, match="owns"):
        spec("X", owns=(Element.PEDAGOGY, Element.PEDAGOGY))
    with pytest.raises(ValueError, match="buy_in"):
        spec("X", buy_in=1.5)


def test_a_lead_with_authority_can_take_a_refusal_to_the_superintendent():
    from sim.leadership import escalate

    ec_with_authority = spec("Director of Early Childhood", authority=True, buy_in=0.9, lead=True)
    assert escalate(HOLDER, ec_with_authority, SUP, 0.5)  # superintendent buy-in 0.7
    assert not escalate(HOLDER, ec_with_authority, SUP, 0.8)
    assert not escalate(HOLDER, EC, SUP, 0.0)  # no positional authority: no seat at that table
    assert not escalate(SUP, ec_with_authority, SUP, 0.0)  # the superintendent already said no
    assert not escalate(HOLDER, ec_with_authority, None, 0.0)


def test_a_lead_with_authority_heads_instruction_unless_someone_else_is_named():
    lead = spec("Initiative lead", authority=True, buy_in=0.9, lead=True)
    o = owners([lead, SUP])
    assert all((o[e] is lead) == (e in DEPARTMENT_ELEMENTS) for e in Element)
    o = owners([lead, SUP, HOLDER])  # the holder is named head of curriculum and instruction
    assert all(o[e] is (HOLDER if e in DEPARTMENT_ELEMENTS else SUP) for e in Element)
    powerless_holder = spec("Assistant Superintendent", buy_in=0.15, owns=DEPARTMENT_ELEMENTS, agenda="fluency")
    o = owners([lead, SUP, powerless_holder])  # a claim without positional authority is void
    assert all((o[e] is lead) == (e in DEPARTMENT_ELEMENTS) for e in Element)
