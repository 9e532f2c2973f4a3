"""Reading and writing scenario files (TOML or YAML), safely: ``tomllib`` and ``yaml.safe_load`` (no
code runs from a file), with limits on size, nesting depth, dotted-key length and YAML alias
expansion. Sweep and sensitivity specs and population files are read with the same functions."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any
import yaml
from . import grammar
from .errors import ScenarioError, one_line, short_key
from .model import Scenario, scenario_dict, validate_scenario


MAX_FILE_BYTES = 2_000_000


#: The largest scenario file: a scenario of 10,000 districts (the most a scenario may hold) is about
#: 12 MB of TOML, read in about 7 s; the tool refuses to run a scenario whose file would be larger
#: (:func:`scenario_text`), so every scenario.toml it writes can be read back with --scenario.
MAX_SCENARIO_BYTES = 32_000_000


#: Deepest nesting of tables and lists accepted in a file or an override value (a scenario needs < 10).
MAX_DEPTH = 64


#: Most values a YAML document's aliases may unfold into.
MAX_EXPANDED = 1_000_000


# A run of MAX_DEPTH dotted key parts (``a.b.c...``): tomllib's time and memory grow with the square
# of a dotted key's length, so such keys are refused before parsing.
_DOTTED_RUN = re.compile(r"(?:\.[ \t]*(?:[A-Za-z0-9_-]+|\"[^\"\\\n]*\"|'[^'\n]*')[ \t]*){%d,}" % MAX_DEPTH)


def check_depth(data: Any, where: str, limit: int = MAX_DEPTH, max_expanded: int = MAX_EXPANDED) -> Any:
    """Refuse tables and lists nested deeper than ``limit``, and YAML whose aliases (``*name``) make a
    table or list contain itself or expand to more than ``max_expanded`` values ("billion laughs": a
    few lines that unfold into millions). Iterative (no recursion) and linear in the parsed data."""
    height: dict[int, int] = {}
    size: dict[int, int] = {}
    active: set[int] = set()
    distinct = 0
    stack: list[tuple[Any, bool]] = [(data, False)]
    while stack:
        node, done = stack.pop()
        if not isinstance(node, (dict, list)) or (not done and id(node) in height):
            continue
        children = [c for c in (node.values() if isinstance(node, dict) else node) if isinstance(c, (dict, list))]
        if not done:
            if id(node) in active or any(id(c) in active or c is node for c in children):
                raise ScenarioError(f"{where}: an alias makes a table or list contain itself")
            active.add(id(node))
            stack.append((node, True))
            stack.extend((c, False) for c in children)
            continue
        active.discard(id(node))
        height[id(node)] = 1 + max((height[id(c)] for c in children), default=0)
        size[id(node)] = 1 + len(node) - len(children) + sum(size[id(c)] for c in children)
        distinct += 1 + len(node) - len(children)
    if height.get(id(data), 0) > limit:
        raise ScenarioError(f"{where}: {_deepest_path(data, height)}: nested more than {limit} levels deep")
    if size.get(id(data), 0) > max(max_expanded, distinct):
        raise ScenarioError(f"{where}: its aliases (*name) expand to more than {max_expanded:,} values")
    return data


def _deepest_path(node: Any, height: dict[int, int]) -> str:
    """The first keys on the way down to the deepest value (for the message)."""
    parts: list[str] = []
    for _ in range(6):
        items = [(k, v) for k, v in (node.items() if isinstance(node, dict) else enumerate(node)) if isinstance(v, (dict, list))]
        if not items:
            break
        k, node = max(items, key=lambda kv: height.get(id(kv[1]), 0))
        parts.append(short_key(str(k)))
    return ".".join(parts) + ("..." if parts else "a value")


def read_input_file(path: str | Path, what: str, limit: int = MAX_FILE_BYTES) -> str:
    """The text of an input file (``what``: "scenario file", "sweep spec", ...), or a clear error:
    missing, a folder, larger than ``limit`` bytes, unreadable, not UTF-8."""
    p = Path(path)
    try:
        if not p.exists():
            raise ScenarioError(f"{what} {p}: does not exist")
        if p.is_dir():
            raise ScenarioError(f"{what} {p}: is a folder, not a file")
        if p.stat().st_size > limit:
            raise ScenarioError(f"{what} {p}: larger than {limit} bytes")
        return p.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ScenarioError(f"{what} {p}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise ScenarioError(f"{what} {p}: cannot be read ({exc.strerror or exc})") from None


def parse_toml(text: str, where: str) -> Any:
    """``tomllib.loads`` with every failure (syntax, too deep, huge numbers) as a ScenarioError."""
    if _DOTTED_RUN.search(text):
        raise ScenarioError(f"{where}: not valid here: a dotted key has more than {MAX_DEPTH} parts (nested too deeply)")
    try:
        data = tomllib.loads(text)
    except RecursionError:
        raise ScenarioError(f"{where}: not valid TOML (nested more than {MAX_DEPTH} levels deep)") from None
    except ValueError as exc:  # TOMLDecodeError, or an integer of more than 4300 digits
        raise ScenarioError(f"{where}: not valid TOML ({one_line(exc)})") from None
    return check_depth(data, where)


def _shallow_yaml(text: str) -> bool:
    """Whether YAML text cannot nest deeply, so that libyaml's safe loader (many times faster on
    large files) may read it: that one recurses in C and crashes on very deep nesting, where the
    pure-Python safe loader raises RecursionError. The bound counts flow brackets, indentation and
    block indicators on a line."""
    lines = text.splitlines() or [""]
    bound = (text.count("[") + text.count("{") + max(len(l) - len(l.lstrip()) for l in lines)
             + max(l.count("-") + l.count("?") + l.count(":") for l in lines))
    return bound <= 400


def parse_yaml(text: str, where: str) -> Any:
    """YAML with the strict grammar (:mod:`.grammar`: YAML 1.2's core schema, literals YAML 1.1 reads
    otherwise refused, a key given twice refused) on PyYAML's safe loaders; every failure (syntax,
    too deep, huge numbers, an ambiguous literal) as a ScenarioError naming the key."""
    try:
        data = grammar.load(text, fast=_shallow_yaml(text))
    except RecursionError:
        raise ScenarioError(f"{where}: not valid YAML (nested more than {MAX_DEPTH} levels deep)") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise ScenarioError(f"{where}: not valid YAML ({one_line(exc.problem or exc.context or 'error')}{at})") from None
    except (yaml.YAMLError, ValueError, OverflowError) as exc:
        raise ScenarioError(f"{where}: not valid YAML ({one_line(exc)})") from None
    check_depth(data, where)
    refuse_ambiguous(data, where)
    return data


def refuse_ambiguous(data: Any, where: str, key: str = "") -> None:
    """Raise a ScenarioError naming the key of the first literal the strict grammar refuses."""
    found = grammar.find_ambiguous(data)
    if found is not None:
        path, amb = found
        path = ".".join(p for p in (key, path) if p)
        raise ScenarioError(f"{where}: {short_key(path) if path else 'the value'}: {amb.explain()}")


def load_scenario(path: str | Path) -> Scenario:
    """Load a scenario from a ``.toml``, ``.yaml`` or ``.yml`` file."""
    p = Path(path)
    text = read_input_file(p, "scenario file", MAX_SCENARIO_BYTES)
    return validate_scenario(parse_scenario_text(text, p.suffix.lower(), f"scenario file {p}"))


def parse_scenario_text(text: str, suffix: str, where: str = "scenario") -> Any:
    if suffix == ".toml":
        return parse_toml(text, where)
    if suffix in (".yaml", ".yml"):
        return parse_yaml(text, where)
    raise ScenarioError(f"{where}: unknown file type {suffix!r}; allowed: .toml, .yaml, .yml")


def scenario_text(s: Scenario, suffix: str = ".toml") -> str:
    """A scenario as the text of a ``.toml`` or ``.yaml`` file (what :func:`dump_scenario` writes).
    A scenario whose file would be larger than MAX_SCENARIO_BYTES (so that ``--scenario`` could not
    read it back) raises ScenarioError: commands call this before they compute anything."""
    data = scenario_dict(s)
    suffix = suffix.lower()
    if suffix == ".toml":
        import tomli_w

        text = tomli_w.dumps(data)
    elif suffix in (".yaml", ".yml"):
        text = grammar.dump(data)  # strings the strict grammar would read otherwise are quoted
    else:
        raise ScenarioError(f"unknown file type {suffix!r}; allowed: .toml, .yaml, .yml")
    size = len(text.encode("utf-8"))
    if size > MAX_SCENARIO_BYTES:
        raise ScenarioError(f"scenario {s.name!r}: its file would be {size:,} bytes, more than the {MAX_SCENARIO_BYTES:,} a "
                            "scenario file may be, so it could not be run again with --scenario; make it smaller "
                            "(fewer districts, leaders or shocks)")
    return text


def dump_scenario(s: Scenario, path: str | Path) -> Path:
    """Write a scenario to ``.toml`` or ``.yaml``; loading it gives the same scenario. The file is
    written atomically (``experiments.execution.files.write_file``: never through a link planted
    at its name)."""
    from ..execution.files import write_file

    p = Path(path)
    if p.suffix.lower() not in (".toml", ".yaml", ".yml"):
        raise ScenarioError(f"{p}: unknown file type {p.suffix!r}; allowed: .toml, .yaml, .yml")
    write_file(p, scenario_text(s, p.suffix).encode("utf-8"))
    return p
