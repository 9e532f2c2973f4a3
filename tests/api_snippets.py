"""The code snippets of docs/api.md, so that tests run exactly what the documentation shows."""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "api.md"
_BLOCK = re.compile(r"<!-- snippet: (\w+) -->\s*```python\n(.*?)```", re.S)


def snippet(name: str) -> str:
    """The code of the block marked ``<!-- snippet: NAME -->`` in docs/api.md."""
    found = dict(_BLOCK.findall(DOC.read_text(encoding="utf-8")))
    if name not in found:
        raise KeyError(f"docs/api.md has no snippet {name!r}; it has {', '.join(found)}")
    return found[name]


def code_lines(code: str) -> list[str]:
    """The lines of user code (blank lines and comments not counted)."""
    return [l for l in code.splitlines() if l.strip() and not l.strip().startswith("#")]


def run_snippet(name: str, **names) -> dict:
    """Execute a snippet in a fresh namespace (with ``names`` predefined) and return the namespace."""
    ns: dict = dict(names)
    exec(compile(snippet(name), f"docs/api.md:{name}", "exec"), ns)  # noqa: S102 - our own documentation
    return ns
