"""Appendix A's coding rules, applied to simulated element histories.

One implementation serves both a hand-made history (a list of ``ChangeRecord``) and a whole run
(numpy arrays of per-element tallies): the functions below work elementwise on scalars and arrays.

Rules (003_5ef94897120ea9a2.txt):
- Substantiveness (lines 1652-1658, 775-802): no change; add-on if every change added a practice
  beside the existing way; transform if any change shifted the existing way.
- Consistency (lines 1660-1666): consistent if all changes promote the provider's vision,
  somewhat consistent if some do and some conflict, not consistent if all conflict.
- Alignment (lines 1668-1675; Table 4 as read in evidence-map section 3): changed with new
  alignment if the element was linked to another changed element (a link may itself carry a
  competing vision, lines 909-914); otherwise changed without new alignment.
- Continuity (lines 1677-1683; Table 5): change fostered continuity if a change included pre-K.
  Continuity at the end additionally requires pre-K to still exist at the end of the run
  (Diamond, lines 941-950).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from .records import ChangeRecord, LinkRecord
from .vocab import Alignment, Consistency, Continuity, Element, Substantiveness


@dataclass(frozen=True)
class ElementTally:
    """What the coding rules need to know about one element's history."""

    n_add_on: int
    n_transform: int
    n_consistent: int
    n_competing: int
    n_links: int
    prek_included: bool
    prek_at_end: bool


def tally(
    changes: Iterable[ChangeRecord],
    links: Iterable[LinkRecord] = (),
    *,
    element: Element | None = None,
    prek_at_end: bool = True,
) -> ElementTally:
    """Summarise a hand-made (or logged) history of one element."""
    ch = [c for c in changes if element is None or c.element == element]
    if element is None and len({c.element for c in ch}) > 1:
        raise ValueError("tally: changes span several elements; pass element=")
    el = element if element is not None else (ch[0].element if ch else None)
    n_links = sum(1 for l in links if el is not None and el in (l.a, l.b))
    return ElementTally(
        n_add_on=sum(not c.transform for c in ch),
        n_transform=sum(c.transform for c in ch),
        n_consistent=sum(c.consistent for c in ch),
        n_competing=sum(not c.consistent for c in ch),
        n_links=n_links,
        prek_included=any(c.prek_included for c in ch),
        prek_at_end=prek_at_end,
    )


def substantiveness(n_add_on, n_transform):
    return np.where(
        np.asarray(n_transform) > 0,
        int(Substantiveness.TRANSFORM),
        np.where(np.asarray(n_add_on) > 0, int(Substantiveness.ADD_ON), int(Substantiveness.NO_CHANGE)),
    )


def consistency(n_consistent, n_competing):
    nc, nx = np.asarray(n_consistent), np.asarray(n_competing)
    return np.where(
        nc + nx == 0,
        int(Consistency.NO_CHANGE),
        np.where(
            nx == 0,
            int(Consistency.CONSISTENT),
            np.where(nc == 0, int(Consistency.NOT_CONSISTENT), int(Consistency.SOMEWHAT)),
        ),
    )


def alignment(n_changes, n_links):
    n = np.asarray(n_changes)
    return np.where(
        n == 0,
        int(Alignment.NO_CHANGE),
        np.where(np.asarray(n_links) > 0, int(Alignment.ALIGNED), int(Alignment.NOT_ALIGNED)),
    )


def continuity(n_changes, prek_included):
    n = np.asarray(n_changes)
    return np.where(
        n == 0,
        int(Continuity.NO_CHANGE),
        np.where(np.asarray(prek_included), int(Continuity.CONTINUITY), int(Continuity.NO_CONTINUITY)),
    )


def code_tally(t: ElementTally) -> dict[str, object]:
    """All four dimensions (and continuity at the end) of one element, as enum members."""
    n = t.n_add_on + t.n_transform
    return {
        "substantiveness": Substantiveness(int(substantiveness(t.n_add_on, t.n_transform))),
        "consistency": Consistency(int(consistency(t.n_consistent, t.n_competing))),
        "alignment": Alignment(int(alignment(n, t.n_links))),
        "continuity": Continuity(int(continuity(n, t.prek_included))),
        "continuity_end": Continuity(int(continuity(n, t.prek_included and t.prek_at_end))),
    }
