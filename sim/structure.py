"""What exists in a district's six elements: routines, the practices beside them, their content.

An element holds at most one *routine* -- a systemic, regularized way of doing the element's work
with an owner and the staff time that keeps it running -- and any number of *practices* beside it.
Each carries a content: the district's own traditional or content-neutral way
(``Content.TRADITIONAL``), the provider's signature practice or principles, or a competing vision.
The report's capacity levels (lines 1098-1106, 1698-1706) are states of this structure, not labels:

* did not exist -- no routine and no practice;
* emergent or incoherent -- practices in place, but no routine ("a practice in place, but not
  systemic or routine"; "in place, but disorganized");
* established and functional -- a routine ("systemic and regularized"), whatever its content
  ("established and functional even if it was not focused on mathematics at all").

A change acts on the structure (``sim.vocab.ChangeForm``): an add-on puts a practice beside what is
there; a redesign shifts the routine's core; a build makes the element systemic where no routine
ran. Appendix A's coding (sim/coding.py) then reads the history of changes, not this state.
"""

from __future__ import annotations

from collections.abc import Sequence

from .vocab import N_ELEMENTS, Capacity, ChangeForm, Content

NO_ROUTINE = -1
_TRADITIONAL = int(Content.TRADITIONAL)
_SIGNATURE, _PRINCIPLES, _COMPETING = int(Content.SIGNATURE), int(Content.PRINCIPLES), int(Content.COMPETING)
_ADD_ON, _REDESIGN = int(ChangeForm.ADD_ON), int(ChangeForm.REDESIGN)


class Structure:
    """The six elements of one district: each element's routine content (or ``NO_ROUTINE``), its
    practices' contents, and whether pre-K has been brought into it."""

    __slots__ = ("routine", "practices", "prek")

    def __init__(self, capacity: Sequence[Capacity]):
        if len(capacity) != N_ELEMENTS:
            raise ValueError(f"capacity: needs one value per element ({N_ELEMENTS}), got {len(capacity)}")
        # At the start an element holds the district's own way of doing it (lines 1111-1113).
        self.routine = [_TRADITIONAL if c == Capacity.ESTABLISHED else NO_ROUTINE for c in capacity]
        self.practices = [[_TRADITIONAL] if c == Capacity.EMERGENT else [] for c in capacity]
        self.prek = [False] * N_ELEMENTS

    # --- reading the state ----------------------------------------------------------------------
    def capacity(self, element: int) -> Capacity:
        if self.routine[element] != NO_ROUTINE:
            return Capacity.ESTABLISHED
        return Capacity.EMERGENT if self.practices[element] else Capacity.DID_NOT_EXIST

    def has_routine(self, element: int) -> bool:
        return self.routine[element] != NO_ROUTINE

    def components(self, element: int) -> int:
        """How many things an element runs: its routine (if any) and its practices."""
        return (self.routine[element] != NO_ROUTINE) + len(self.practices[element])

    def holds(self, element: int, content: int) -> bool:
        return self.routine[element] == content or content in self.practices[element]

    def holds_provider(self, element: int) -> bool:
        """Carries the provider's signature practice or principles somewhere."""
        r = self.routine[element]
        if r == _SIGNATURE or r == _PRINCIPLES:
            return True
        p = self.practices[element]
        return _SIGNATURE in p or _PRINCIPLES in p

    def holds_principles(self, element: int) -> bool:
        return self.routine[element] == _PRINCIPLES or _PRINCIPLES in self.practices[element]

    # --- changing it ------------------------------------------------------------------------------
    def apply(self, element: int, form: int, content: int, prek: bool) -> None:
        """Apply one change. A build absorbs the practices that carried the same content."""
        if form == _ADD_ON:
            self.practices[element].append(content)
        elif form == _REDESIGN:
            self.routine[element] = content
        else:
            self.routine[element] = content
            self.practices[element] = [p for p in self.practices[element] if p != content]
        if prek:
            self.prek[element] = True

    def describe(self, element: int) -> str:
        """One line for people: 'routine: signature practice; practices: traditional'."""
        r = self.routine[element]
        parts = [f"routine: {Content(r).label.lower()}" if r != NO_ROUTINE else "no routine"]
        if self.practices[element]:
            parts.append("practices: " + ", ".join(Content(p).label.lower() for p in self.practices[element]))
        return "; ".join(parts)
