"""The library of named what-ifs (``experiments/data/whatifs.toml``): each a question, its dotted
overrides and the report lines it comes from; read and validated, with element keys resolved."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from sim.vocab import Element



LIBRARY_PATH = Path(__file__).resolve().parent.parent / "data" / "whatifs.toml"


_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


_LINES = re.compile(r"^(\d{1,6})(?:-(\d{1,6}))?$")


_ENTRY_KEYS = {"name", "question", "set", "lines", "note", "baseline"}

#: File suffixes a ``baseline`` may name a scenario file by (anything else names a what-if).
SCENARIO_SUFFIXES = (".toml", ".yaml", ".yml")


class WhatIfLibraryError(ValueError):
    """A what-if library file that cannot be used; the message names the entry and the key."""


@dataclass(frozen=True)
class WhatIfSpec:
    """A named what-if: a one-line question, its overrides, the report lines it probes, and what it
    is compared with: ``baseline`` is None (the base scenario, by default the four-district case),
    the name of another what-if of the library (its scenario is the baseline arm), or a scenario file
    (``.toml``/``.yaml``; ``baseline_file`` is that file resolved against the library's folder)."""

    name: str
    question: str
    set: tuple[str, ...]
    lines: tuple[str, ...] = ()
    note: str = ""
    baseline: str | None = None
    baseline_file: str | None = field(default=None, compare=False)

    def to_dict(self) -> dict:
        return {"name": self.name, "question": self.question, "set": list(self.set), "lines": list(self.lines), "note": self.note,
                "baseline": self.baseline}


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
    for i, spec in enumerate(out.values()):
        out[spec.name] = _check_baseline(spec, out, p, f"{p.name}: whatif[{i}] ({spec.name}).baseline")
    return out


def _check_baseline(spec: WhatIfSpec, library: Mapping[str, WhatIfSpec], path: Path, where: str) -> WhatIfSpec:
    """A baseline names another what-if of the library or an existing scenario file."""
    b = spec.baseline
    if b is None:
        return spec
    if b.lower().endswith(SCENARIO_SUFFIXES):
        f = (path.parent / b).resolve()
        if not f.is_file():
            raise WhatIfLibraryError(f"{where}: scenario file {b!r} not found (looked for {f})")
        return replace(spec, baseline_file=str(f))
    if b == spec.name:
        raise WhatIfLibraryError(f"{where}: {b!r} is the what-if itself; name another what-if or a scenario file")
    if b not in library:
        raise WhatIfLibraryError(f"{where}: {b!r} is neither a what-if of the library nor a scenario file "
                                 f"({', '.join(SCENARIO_SUFFIXES)}); what-ifs: {', '.join(library)}")
    return spec


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
    baseline = e.get("baseline")
    if baseline is not None and (not isinstance(baseline, str) or not baseline.strip() or len(baseline) > 4096):
        raise WhatIfLibraryError(f"{where}.baseline: needs the name of another what-if or a scenario file (text)")
    return WhatIfSpec(name, question.strip(), tuple(sets), tuple(lines), note.strip(),
                      baseline.strip() if baseline is not None else None)


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
        if s.baseline:
            lines.append(f"    compared with: {s.baseline}")
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
