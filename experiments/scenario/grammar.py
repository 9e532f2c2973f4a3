"""One strict grammar for values typed by people: ``--set KEY=VALUE``, the ``set`` lists of sweep
specs and what-ifs, and every YAML input file (scenarios, specs).

It is YAML 1.2's core schema, made strict where YAML 1.1 (PyYAML's rules) reads the same text
otherwise -- such literals are refused, naming the key, instead of silently taking one meaning:

* whole numbers: ``-12``, ``0``, ``36``, ``0x1F``; refused: a leading zero (``036``, ``0100``: octal
  30 and 64 in YAML 1.1, 36 and 100 in 1.2), ``0o17`` and ``0b101`` (a number in one version, text in
  the other), underscores (``1_000``), a sign before ``0x``, base 60 (``1:00`` is 60 in YAML 1.1);
* numbers with a fraction or exponent: ``0.3``, ``.5``, ``1e-3``, ``2.5E+3`` (``.inf``/``.nan`` parse,
  and are then refused as not finite where a number is expected);
* booleans: ``true``/``false`` (also ``True``, ``TRUE``, ``False``, ``FALSE``); refused: ``yes``,
  ``no``, ``on``, ``off`` (also Capitalised and UPPER: booleans in YAML 1.1, text in 1.2);
* null: ``null``, ``~`` or nothing; dates (``2020-01-01``, a date in YAML 1.1) are refused;
* everything else is text; quoting (``"036"``, ``'yes'``) always makes text.

A mapping that gives one key twice is refused too (PyYAML keeps the last silently). TOML files
need no such care: ``tomllib`` already refuses leading zeros and bare words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode

AMBIGUOUS_TAG = "tag:coherence-sim,2026:ambiguous"


@dataclass(frozen=True)
class Ambiguous:
    """A literal the strict grammar refuses (kept in place while loading, reported with its key)."""

    text: str

    def explain(self) -> str:
        t = self.text
        try:
            old = yaml.safe_load(t)  # what YAML 1.1 (PyYAML) makes of it
        except (yaml.YAMLError, ValueError, OverflowError):
            old = t
        if _BOOL_WORDS.match(t):
            meant = "true" if t.lower() in ("yes", "on") else "false"
            return (f"{t!r} is ambiguous: YAML 1.1 reads it as the boolean {meant}, YAML 1.2 as text; "
                    "write true or false, or quote it for text")
        if _DATE.match(t):
            return f"{t!r} is ambiguous: YAML 1.1 reads it as a date; quote it for text"
        if _SEXAGESIMAL.match(t):
            return (f"{t!r} is ambiguous: YAML 1.1 reads it as the base-60 number {old!r}; write the number you mean "
                    "as plain digits, or quote it for text")
        if _LEADING_ZERO.match(t):
            digits = t.lstrip("+-").lstrip("0") or "0"
            sign = "-" if t.startswith("-") else ""
            return (f"{t!r} is ambiguous: a leading zero makes YAML 1.1 read it as the octal number {old!r} and YAML 1.2 as "
                    f"{sign}{digits}; write {sign}{digits} (or quote it for text)")
        new: Any = t
        if re.match(r"^[-+]?0o[0-7]+$", t):
            new = int(t, 0)

        def shown(v: Any) -> str:
            return f"the number {v!r}" if isinstance(v, (int, float)) and not isinstance(v, bool) else "text"

        return (f"{t!r} is ambiguous: YAML 1.1 reads it as {shown(old)}, YAML 1.2 as {shown(new)}; write plain digits "
                "(e.g. 1000, 0.25, 0x1F) or quote it for text")


# (y and n are booleans in the YAML 1.1 specification but text in PyYAML, as in YAML 1.2: not
# ambiguous here, and ``n`` is a key of Latin-hypercube designs)
_BOOL_WORDS = re.compile(r"^(?:yes|Yes|YES|no|No|NO|on|On|ON|off|Off|OFF)$")
_LEADING_ZERO = re.compile(r"^[-+]?0[0-9_]+$")
_SEXAGESIMAL = re.compile(r"^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$")
_DATE = re.compile(
    r"^(?:[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]"
    r"|[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?(?:[Tt]|[ \t]+)[0-9][0-9]?:[0-9][0-9]:[0-9][0-9](?:\.[0-9]*)?"
    r"(?:[ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?)$")
_OTHER_AMBIGUOUS = re.compile(
    r"^(?:[-+]?0b[0-1_]+"                      # binary: a number in YAML 1.1, text in 1.2
    r"|[-+]?0o[0-7_]+"                         # 0o octal: text in YAML 1.1, a number in 1.2
    r"|[-+]0x[0-9a-fA-F_]+|0x[0-9a-fA-F]*_[0-9a-fA-F_]*"  # signed or underscored hex
    r"|[-+]?[0-9][0-9_]*_[0-9_]*(?:\.[0-9_]*)?(?:[eE][-+]?[0-9]+)?"  # underscores in a number
    r"|[-+]?[0-9][0-9_]*\.[0-9_]*_[0-9_]*(?:[eE][-+]?[0-9]+)?"
    r"|[-+]?\.[0-9_]*_[0-9_]*(?:[eE][-+]?[0-9]+)?)$")
_DIGITS = list("-+0123456789.")

# (tag, pattern, first characters) in the order they are tried: refusals first
_RESOLVERS: list[tuple[str, re.Pattern, list[str]]] = [
    (AMBIGUOUS_TAG, _BOOL_WORDS, list("yYnNoO")),
    (AMBIGUOUS_TAG, _DATE, list("0123456789")),
    (AMBIGUOUS_TAG, _SEXAGESIMAL, _DIGITS),
    (AMBIGUOUS_TAG, _LEADING_ZERO, _DIGITS),
    (AMBIGUOUS_TAG, _OTHER_AMBIGUOUS, _DIGITS),
    ("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")),
    ("tag:yaml.org,2002:null", re.compile(r"^(?:~|null|Null|NULL|)$"), ["~", "n", "N", ""]),
    ("tag:yaml.org,2002:int", re.compile(r"^(?:[-+]?(?:0|[1-9][0-9]*)|0x[0-9a-fA-F]+)$"), _DIGITS),
    ("tag:yaml.org,2002:float", re.compile(
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"), _DIGITS),
    ("tag:yaml.org,2002:merge", re.compile(r"^(?:<<)$"), ["<"]),
]


class _StrictMixin:
    """YAML 1.2 core resolution with YAML 1.1's other readings refused; duplicate keys refused."""

    def construct_ambiguous(self, node):  # noqa: D401 - a constructor
        return Ambiguous(self.construct_scalar(node))

    def construct_mapping(self, node, deep=False):
        if isinstance(node, MappingNode):
            seen: set = set()
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    hash(key)
                except TypeError:
                    continue
                if key in seen:
                    raise ConstructorError(None, None, f"the key {str(key)[:80]!r} is given twice", key_node.start_mark)
                seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _strict(base: type) -> type:
    cls = type(f"Strict{base.__name__}", (_StrictMixin, base), {})
    cls.yaml_implicit_resolvers = {}
    for tag, pattern, first in _RESOLVERS:
        for ch in first:
            cls.yaml_implicit_resolvers.setdefault(ch, []).append((tag, pattern))
    cls.yaml_constructors = dict(base.yaml_constructors)
    cls.yaml_constructors[AMBIGUOUS_TAG] = _StrictMixin.construct_ambiguous
    cls.yaml_constructors["tag:yaml.org,2002:map"] = base.yaml_constructors["tag:yaml.org,2002:map"]
    return cls


StrictSafeLoader = _strict(yaml.SafeLoader)
StrictCSafeLoader = _strict(yaml.CSafeLoader) if hasattr(yaml, "CSafeLoader") else None


class StrictSafeDumper(yaml.SafeDumper):
    """PyYAML's safe dumper, quoting every string this grammar would not read back as that string
    (``0o17``, ``1e3``, and all that YAML 1.1 quotes already): what the tool writes, it reads."""


StrictSafeDumper.yaml_implicit_resolvers = StrictSafeLoader.yaml_implicit_resolvers


def dump(data: Any) -> str:
    """YAML text of plain data that :func:`load` reads back as the same data."""
    return yaml.dump(data, Dumper=StrictSafeDumper, sort_keys=False, allow_unicode=True)


def load(text: str, fast: bool = True) -> Any:
    """Parse YAML text with the strict grammar (libyaml's parser when ``fast`` and available).
    Ambiguous literals come back as :class:`Ambiguous` (see :func:`find_ambiguous`)."""
    if fast and StrictCSafeLoader is not None:
        return yaml.load(text, Loader=StrictCSafeLoader)  # noqa: S506 - libyaml's SafeLoader, stricter
    return yaml.load(text, Loader=StrictSafeLoader)  # noqa: S506 - PyYAML's SafeLoader, stricter


def find_ambiguous(data: Any) -> tuple[str, Ambiguous] | None:
    """The first refused literal in parsed data, with its dotted path (keys and list indices), or None."""
    stack: list[tuple[Any, str]] = [(data, "")]
    seen: set[int] = set()
    while stack:
        node, path = stack.pop()
        if isinstance(node, Ambiguous):
            return path, node
        if isinstance(node, (dict, list)):
            if id(node) in seen:
                continue
            seen.add(id(node))
            items = node.items() if isinstance(node, dict) else enumerate(node)
            children = []
            for k, v in items:
                if isinstance(k, Ambiguous):
                    return (f"{path}.{k.text}" if path else k.text), k
                children.append((v, f"{path}.{k}" if path else str(k)))
            stack.extend(reversed(children))
    return None


__all__ = ["AMBIGUOUS_TAG", "Ambiguous", "StrictCSafeLoader", "StrictSafeDumper", "StrictSafeLoader", "dump", "find_ambiguous",
           "load"]
