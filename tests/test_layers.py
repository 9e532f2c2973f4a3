"""The layers hold: ``sim`` <- ``experiments`` <- ``calibration`` <- the shell (``experiments.cli``,
``experiments.app``). A module imports only from its own layer and the layers to its left; the
shell may import everything. Every import counts: at the top, inside functions, relative ones, and
``importlib.import_module("...")`` with a literal name. See docs/architecture.md."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("sim", "experiments", "calibration")
SHELL = ("experiments.cli", "experiments.app")
RANK = {"sim": 0, "experiments": 1, "calibration": 2, "shell": 3}


def layer(module: str) -> str | None:
    """The layer of a dotted module name (None: not one of the project's packages)."""
    if any(module == s or module.startswith(s + ".") for s in SHELL):
        return "shell"
    top = module.split(".")[0]
    return top if top in PACKAGES else None


def imported_modules(path: Path, module: str) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in a file, wherever it stands."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            found += [(node.lineno, f"{base}.{a.name}" if a.name != "*" else base) for a in node.names]
        elif (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)
              and getattr(node.func, "attr", getattr(node.func, "id", None)) in ("import_module", "__import__")):
            found.append((node.lineno, node.args[0].value))
    return found


def layer_violations(root: Path = ROOT) -> list[str]:
    """Every import across the rule under ``root``'s sim/, experiments/ and calibration/."""
    out = []
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            rel = path.relative_to(root).with_suffix("")
            module = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
            here = layer(module)
            for line, target in imported_modules(path, module):
                there = layer(target)
                if there is not None and RANK[there] > RANK[here]:
                    out.append(f"{path.relative_to(root)}:{line}: {module} ({here}) imports {target} ({there})")
    return out


def test_every_import_respects_the_layers():
    assert layer_violations() == []


def test_the_checker_flags_planted_cross_layer_imports(tmp_path):
    for package in PACKAGES:
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "experiments" / "cli").mkdir()
    (tmp_path / "experiments" / "cli" / "__init__.py").write_text("import calibration.fit\nfrom ..app import page\n")
    (tmp_path / "sim" / "model.py").write_text("from experiments.case import run_case\n")
    (tmp_path / "experiments" / "case.py").write_text(
        "import sim\nfrom .scenario import x\n\ndef f():\n    from calibration.defaults import publish\n")
    (tmp_path / "experiments" / "whatif.py").write_text("import importlib\nimportlib.import_module('calibration.fit')\n")
    (tmp_path / "experiments" / "sweep.py").write_text("from . import app\n")
    (tmp_path / "calibration" / "fit.py").write_text("from experiments.cli import main\nfrom experiments import case\n")
    found = layer_violations(tmp_path)
    assert found == [
        "sim/model.py:1: sim.model (sim) imports experiments.case.run_case (experiments)",
        "experiments/case.py:5: experiments.case (experiments) imports calibration.defaults.publish (calibration)",
        "experiments/sweep.py:1: experiments.sweep (experiments) imports experiments.app (shell)",
        "experiments/whatif.py:2: experiments.whatif (experiments) imports calibration.fit (calibration)",
        "calibration/fit.py:1: calibration.fit (calibration) imports experiments.cli.main (shell)",
    ]
