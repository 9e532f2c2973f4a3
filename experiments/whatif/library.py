"""The library of named what-ifs (``experiments/data/whatifs.toml``): each a question, its dotted
overrides and the report lines it comes from; read and validated, with element keys resolved."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from sim.vocab import Element



LIBRARY_PATH = Path(__file__).resolve().parent.parent / "data" / "whatifs.toml"


_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


_LINES = re.compile(r"^(\d{1,6})(?:-(\d{1,6}))?$")


_ENTRY_KEYS = {"name", "question", "set", "lines", "note"}


class WhatIfLibraryError(ValueError):
    """A what-if library file that cannot be used; the message names the entry and the key."""


@dataclass(frozen=True)
class WhatIfSpec:
    """A named what-if: a one-line question, its overrides, the report lines it probes."""

    name: str
    question: str
    set: tuple[str, ...]
    lines: tuple[str, ...] = ()
    note: str = ""

    def to_dict(self) -> dict:
        return {"name": self.name, "question": self.question, "set": list(self.set), "lines": list(self.lines), "note": self.note}


def load_whatif_library(path: str | Path | None = None) -> dict[str, WhatIfSpec]:
    """The named what-ifs of a library file (default: the packaged one), by name, in file order.

    The file holds ``[[whatif]]`` tables with ``name``, ``question`` (one line), ``set`` (a list
    of ``KEY=VALUE`` overrides), and optionally ``lines`` (report lines, ``"941"`` or
    ``"941-950"``) and ``note``. Overrides are checked against a scenario only when applied
    (see tests/test_whatif.py for the check of the packaged library against the case)."""
    from ..scenario import ScenarioError, parse_toml, read_input_file

    p = Path(path) if path is not None else LIBRARY_PATH
    try:
        data = parse_toml(read_input_file(p, "what-if library"), f"what-if library {p}")
    except ScenarioError as exc:
        raise WhatIfLibraryError(str(exc)) from None
    extra = sorted(set(data) - {"whatif"})
    if extra:
        from ..scenario import short_key

        raise WhatIfLibraryError(f"what-if library {p}: unknown key(s) {', '.join(short_key(k) for k in extra[:10])}; allowed: whatif")
    entries = data.get("whatif", [])
    if not isinstance(entries, list) or not entries:
        raise WhatIfLibraryError(f"what-if library {p}: needs at least one [[whatif]] table")
    out: dict[str, WhatIfSpec] = {}
    for i, e in enumerate(entries):
        spec = _spec(e, f"{p.name}: whatif[{i}]")
        if spec.name in out:
            raise WhatIfLibraryError(f"{p.name}: whatif[{i}].name: {spec.name!r} is used twice")
        out[spec.name] = spec
    return out


def _spec(e, where: str) -> WhatIfSpec:
    if not isinstance(e, dict):
        raise WhatIfLibraryError(f"{where}: expected a table")
    if "name" not in e:
        raise WhatIfLibraryError(f"{where}.name: missing")
    name = e["name"]
    if not isinstance(name, str) or not _NAME.match(name):
        from ..scenario import show_value

        raise WhatIfLibraryError(f"{where}.name: {show_value(name)} is not allowed: lower-case letters, digits and _, starting with a letter")
    where = f"{where} ({name})"
    unknown = sorted(set(e) - _ENTRY_KEYS)
    if unknown:
        from ..scenario import short_key

        raise WhatIfLibraryError(f"{where}.{short_key(unknown[0])}: unknown key; allowed: {', '.join(sorted(_ENTRY_KEYS))}")
    for key in ("question", "set"):
        if key not in e:
            raise WhatIfLibraryError(f"{where}.{key}: missing")
    question, sets = e["question"], e["set"]
    if not isinstance(question, str) or not question.strip() or "\n" in question.strip() or len(question) > 200:
        raise WhatIfLibraryError(f"{where}.question: needs one line of text (at most 200 characters)")
    if not isinstance(sets, list) or not sets or not all(isinstance(s, str) and "=" in s for s in sets):
        raise WhatIfLibraryError(f"{where}.set: needs a non-empty list of \"KEY=VALUE\" strings")
    from ..scenario import ScenarioError
    from ..scenario.overrides import override_keys, refuse_repeated_keys

    try:
        refuse_repeated_keys(override_keys(sets), f"{where}.set")
    except ScenarioError as exc:
        raise WhatIfLibraryError(str(exc)) from None
    lines = e.get("lines", [])
    if not isinstance(lines, list) or not all(isinstance(l, str) for l in lines):
        raise WhatIfLibraryError(f"{where}.lines: needs a list of strings like \"941\" or \"941-950\"")
    for l in lines:
        m = _LINES.match(l)
        if not m or int(m.group(1)) < 1 or (m.group(2) and int(m.group(2)) < int(m.group(1))):
            raise WhatIfLibraryError(f"{where}.lines: {l!r} is not a line or a range like \"941-950\"")
    note = e.get("note", "")
    if not isinstance(note, str):
        raise WhatIfLibraryError(f"{where}.note: needs text")
    return WhatIfSpec(name, question.strip(), tuple(sets), tuple(lines), note.strip())


def list_whatifs(path: str | Path | None = None) -> list[WhatIfSpec]:
    """The named what-ifs of the library, in file order."""
    return list(load_whatif_library(path).values())


def get_whatif(name: str, library: Mapping[str, WhatIfSpec] | None = None) -> WhatIfSpec:
    """One named what-if; an unknown name is a ``ValueError`` listing the names."""
    library = load_whatif_library() if library is None else library
    try:
        return library[name]
    except KeyError:
        from ..scenario import short_key

        raise ValueError(f"--whatif {short_key(repr(name))}: unknown what-if; allowed: {', '.join(library)}") from None


def format_whatif_list(specs: Iterable[WhatIfSpec]) -> str:
    """The library as text: name, question, report lines and overrides."""
    blocks = []
    for s in specs:
        lines = [s.name, f"    {s.question}"]
        if s.lines:
            lines.append(f"    report lines: {', '.join(s.lines)}")
        lines.append("    sets: " + "  ".join(s.set))
        blocks.append("\n".join(lines))
    return "\n".join(blocks)


def resolve_override(text: str) -> str:
    """Spell an element key in an emphasis path as its column:
    ``program.emphasis.0.school_leader_learning=1`` -> ``program.emphasis.0.4=1`` (Element order)."""
    if "=" not in text:
        return text
    key, value = text.split("=", 1)
    parts = key.strip().split(".")
    if len(parts) == 4 and parts[:2] == ["program", "emphasis"] and parts[3] in Element.keys():
        parts[3] = str(int(Element.from_key(parts[3])))
        return ".".join(parts) + "=" + value
    return text
