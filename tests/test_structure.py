"""Element structure: capacity levels are states of what an element runs, and changes act on it."""

from __future__ import annotations

import pytest

from sim.structure import NO_ROUTINE, Structure
from sim.vocab import Capacity, ChangeForm, Content, Element

E = int(Element.ASSESSMENT)
ALL = (Capacity.DID_NOT_EXIST, Capacity.EMERGENT, Capacity.ESTABLISHED, Capacity.ESTABLISHED, Capacity.EMERGENT, Capacity.DID_NOT_EXIST)


def test_starting_capacity_is_read_back_from_the_structure():
    s = Structure(ALL)
    assert [s.capacity(e) for e in range(6)] == list(ALL)
    assert s.routine[0] == NO_ROUTINE and not s.practices[0]  # did not exist: nothing runs
    assert s.routine[1] == NO_ROUTINE and s.practices[1] == [Content.TRADITIONAL]  # emergent: a practice, no routine
    assert s.routine[2] == Content.TRADITIONAL  # established: a routine, whatever its content (lines 1109-1113)
    assert not any(s.holds_provider(e) for e in range(6))


@pytest.mark.parametrize("start, form, after", [
    (Capacity.DID_NOT_EXIST, ChangeForm.ADD_ON, Capacity.EMERGENT),  # created as a single practice
    (Capacity.DID_NOT_EXIST, ChangeForm.BUILD, Capacity.ESTABLISHED),  # created systemically
    (Capacity.EMERGENT, ChangeForm.ADD_ON, Capacity.EMERGENT),
    (Capacity.EMERGENT, ChangeForm.BUILD, Capacity.ESTABLISHED),  # made systemic
    (Capacity.ESTABLISHED, ChangeForm.ADD_ON, Capacity.ESTABLISHED),
    (Capacity.ESTABLISHED, ChangeForm.REDESIGN, Capacity.ESTABLISHED),
])
def test_a_change_moves_the_state_as_appendix_a_describes(start, form, after):
    s = Structure((start,) * 6)
    s.apply(E, int(form), int(Content.SIGNATURE), prek=True)
    assert s.capacity(E) == after
    assert s.holds_provider(E) and s.prek[E]
    assert s.capacity(0) == start  # other elements untouched


def test_an_add_on_leaves_the_routine_as_it_was_and_a_redesign_shifts_its_core():
    s = Structure((Capacity.ESTABLISHED,) * 6)
    s.apply(E, int(ChangeForm.ADD_ON), int(Content.SIGNATURE), prek=False)
    assert s.routine[E] == Content.TRADITIONAL and s.practices[E] == [Content.SIGNATURE]
    s.apply(E, int(ChangeForm.REDESIGN), int(Content.PRINCIPLES), prek=False)
    assert s.routine[E] == Content.PRINCIPLES and s.holds_principles(E)
    assert s.components(E) == 2


def test_a_build_absorbs_the_practices_of_its_own_vision_only():
    s = Structure((Capacity.EMERGENT,) * 6)
    s.apply(E, int(ChangeForm.ADD_ON), int(Content.COMPETING), prek=False)
    s.apply(E, int(ChangeForm.ADD_ON), int(Content.SIGNATURE), prek=False)
    s.apply(E, int(ChangeForm.BUILD), int(Content.SIGNATURE), prek=False)
    assert s.routine[E] == Content.SIGNATURE
    assert sorted(s.practices[E]) == sorted([Content.TRADITIONAL, Content.COMPETING])
    assert s.holds(E, int(Content.COMPETING)) and s.holds_provider(E)
    assert "routine: signature practice" in s.describe(E)


def test_a_structure_needs_six_elements():
    with pytest.raises(ValueError, match="capacity"):
        Structure((Capacity.ESTABLISHED,) * 5)
