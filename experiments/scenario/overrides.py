"""Dotted overrides (``--set districts.Diamond.lead.buy_in=0.3``): the same keys as the files,
values read as YAML scalars or flow collections, every change validated with the whole scenario."""

from __future__ import annotations

import copy
import math
from typing import Any
import yaml
from . import grammar
from .errors import ScenarioError, one_line, short_key, show_value
from .io import MAX_DEPTH, check_depth
from .model import Scenario, validate_scenario


# --- dotted overrides ------------------------------------------------------------------------
def parse_override(text: str) -> tuple[str, Any]:
    """``"districts.Diamond.lead.positional_authority=true"`` -> (key, parsed value).

    Values are read as YAML scalars or flow collections (``true``, ``0.3``, ``[0.1, 0.2]``,
    ``"text"``) with the strict grammar of :mod:`.grammar` (YAML 1.2's core schema; literals that
    YAML 1.1 reads otherwise -- ``036``, ``1:00``, ``yes`` -- refused, naming the key), safely: no
    tags, no code.
    """
    if not isinstance(text, str):
        raise ScenarioError(f"--set {show_value(text)}: expected a KEY=VALUE string, e.g. horizon_months=60")
    if "=" not in text:
        raise ScenarioError(f"--set {short_key(text)!r}: expected KEY=VALUE, e.g. horizon_months=60")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise ScenarioError(f"--set {short_key(text)!r}: the key {short_key(key)!r} is not a dotted path like districts.Diamond.lead.buy_in")
    try:
        value = grammar.load(raw) if raw.strip() else ""
    except yaml.constructor.ConstructorError as exc:  # e.g. a key given twice in a flow mapping
        raise ScenarioError(f"{short_key(key)}: {show_value(raw)} is not allowed: {one_line(exc.problem or exc, 200)}") from None
    except yaml.YAMLError:
        value = raw
    except RecursionError:
        raise ScenarioError(f"{short_key(key)}: the value is nested more than {MAX_DEPTH} levels deep") from None
    except (ValueError, OverflowError) as exc:  # e.g. an integer of more than 4300 digits, a bad date
        raise ScenarioError(f"{short_key(key)}: {show_value(raw)} is not allowed: {one_line(exc, 200)}") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise ScenarioError(f"{short_key(key)}: {show_value(raw)} is not a finite number")
    check_depth(value, short_key(key))
    found = grammar.find_ambiguous(value)
    if found is not None:
        path, amb = found
        raise ScenarioError(f"--set {short_key(key + ('.' + path if path else ''))}: {amb.explain()}")
    return key, value


def refuse_repeated_keys(keys: list[str], where: str) -> None:
    """Refuse a key given twice in one list of overrides or factors -- the same dotted key, or one
    inside another (``districts.Diamond.lead`` and ``districts.Diamond.lead.buy_in``): one of them
    would silently replace the other."""
    seen: dict[tuple[str, ...], str] = {}
    for k in keys:
        parts = tuple(p.strip() for p in str(k).split("."))
        for n in range(1, len(parts) + 1):
            if parts[:n] in seen:
                other = seen[parts[:n]]
                what = "twice" if n == len(parts) and other == ".".join(parts) else f"twice ({short_key(other)} holds it)"
                raise ScenarioError(f"{where}: {short_key('.'.join(parts))}: given {what}; the later one would silently "
                                    "replace the earlier: give each key once")
        for prev_parts in list(seen):
            if prev_parts[: len(parts)] == parts:
                raise ScenarioError(f"{where}: {short_key('.'.join(parts))}: given twice ({short_key(seen[prev_parts])} is "
                                    "inside it); the later one would silently replace the earlier: give each key once")
        seen[parts] = ".".join(parts)


def override_keys(overrides: list[str]) -> list[str]:
    """The keys of ``KEY=VALUE`` texts (texts without ``=`` are left to :func:`parse_override`)."""
    return [t.split("=", 1)[0].strip() for t in overrides if isinstance(t, str) and "=" in t]


def apply_overrides(s: Scenario, overrides: list[str] | dict[str, Any]) -> Scenario:
    """Return a new scenario with dotted-key overrides applied and validated."""
    if isinstance(overrides, str):
        overrides = [overrides]
    if isinstance(overrides, dict):
        items = [(k, check_depth(v, short_key(k))) for k, v in overrides.items()]
        for k, _ in items:
            if not isinstance(k, str) or not k or any(not part for part in k.split(".")):
                raise ScenarioError(f"override key {show_value(k)}: not a dotted path like districts.Diamond.lead.buy_in")
    else:
        items = [parse_override(o) for o in overrides]
    data = s.model_dump(mode="python")
    for key, value in items:
        _set_path(data, key, value)
    return validate_scenario(data)


def _set_path(data: dict, key: str, value: Any) -> None:
    parts = key.split(".")
    node: Any = data
    for i, part in enumerate(parts[:-1]):
        path = ".".join(parts[: i + 1])
        if isinstance(node, list):
            node = _list_item(node, part, path)
            continue
        if not isinstance(node, dict) or part not in node:
            raise ScenarioError(f"{short_key(path)}: unknown key" + _allowed(node))
        if node[part] is None:
            node[part] = {}
        node = node[part]
    last = parts[-1]
    if isinstance(node, list):
        idx = _index(last, key, len(node))
        node[idx] = value
        return
    if not isinstance(node, dict):
        raise ScenarioError(f"{short_key(key)}: cannot set a key inside a {type(node).__name__}")
    if last not in node and not _open_mapping(parts[:-1]):
        raise ScenarioError(f"{short_key(key)}: unknown key" + _allowed(node))
    node[last] = copy.deepcopy(value)


def _open_mapping(parent: list[str]) -> bool:
    """Mappings that accept new keys: district names, leader ids and element capacities."""
    return parent in (["districts"],) or (len(parent) == 3 and parent[0] == "districts" and parent[2] in ("leaders", "capacity"))


def _list_item(node: list, part: str, path: str):
    return node[_index(part, path, len(node))]


def _index(part: str, path: str, n: int) -> int:
    try:
        i = int(part) if part.isascii() and len(part) <= 18 else int("x")
    except ValueError:
        raise ScenarioError(f"{short_key(path)}: {short_key(part)!r} is not a list index; allowed: 0..{n - 1}") from None
    if not 0 <= i < n:
        raise ScenarioError(f"{short_key(path)}: index {i} out of range; allowed: 0..{n - 1}")
    return i


def _allowed(node: Any) -> str:
    if isinstance(node, dict) and node:
        keys = list(node)
        shown = ", ".join(str(k) for k in keys[:30]) + (", ..." if len(keys) > 30 else "")
        return f"; allowed: {shown}"
    return ""
