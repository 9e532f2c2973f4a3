"""What every adapter checks of its caller's choice of factors and outcomes, with one wording."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from experiments.api import Factor, FactorError


def chosen_factors(field: str, chosen: Sequence[str] | Mapping[str, Any], known: Mapping[str, Factor]) -> list[tuple[str, Any, Factor]]:
    """``(key, range or None, factor)`` per chosen factor key: ``chosen`` is a list of keys (full
    ranges) or a dict of key -> range. An empty choice or an unknown key raises :class:`FactorError`
    naming ``field``."""
    spec = dict(chosen) if isinstance(chosen, Mapping) else {k: None for k in chosen}
    if not spec:
        raise FactorError(f"{field}: give at least one factor key")
    out = []
    for key, rng in spec.items():
        f = known.get(key)
        if f is None:
            raise FactorError(f"{field}: {key!r} is not a factor; see experiments.api.FACTORS "
                              f"(e.g. {', '.join(list(known)[:3])}, ...)")
        out.append((key, rng, f))
    return out


def check_outcomes(field: str, names: Sequence[str], allowed: Sequence[str]) -> None:
    """Refuse an empty list or a name that is not an outcome, naming ``field`` and what is allowed."""
    bad = [o for o in names if o not in allowed]
    if bad or not names:
        raise FactorError(f"{field}: {bad[0] if bad else '(none)'!r} is not an outcome; allowed: {', '.join(allowed)}")
