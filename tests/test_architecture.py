"""The one-way architecture holds (docs/architecture.md): the import-linter contracts are
kept, an upward import breaks them, no import hides inside a function, and the module graph
in the docs is the code's."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

from tests.architecture_graph import DOC, mermaid, rewrite

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "ketaclinic"
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
# A lazy import says why on its line or the line above (app loading, for instance).
LAZY_REASONS = ("App loading", "lazy:")


def _lint_imports(cwd: Path, pythonpath: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [LINT_IMPORTS, "--no-cache"],
        cwd=cwd,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(pythonpath)},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_every_contract_is_kept() -> None:
    result = _lint_imports(ROOT, ROOT / "src")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_an_upward_import_breaks_the_layers(tmp_path: Path) -> None:
    """The patients app (below the domain apps) importing charting: CI fails, naming it."""
    copy = tmp_path / "src" / "ketaclinic"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "patients" / "probe.py").write_text(
        "from ketaclinic.charting.models import TreatmentSession  # an upward import\n"
    )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    result = _lint_imports(tmp_path, tmp_path / "src")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "ketaclinic.patients is not allowed to import ketaclinic.charting" in result.stdout
    assert "ketaclinic.patients.probe -> ketaclinic.charting.models" in result.stdout


def _imports_inside_functions(path: Path) -> list[str]:
    source = path.read_text()
    lines = source.splitlines()
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for inner in ast.walk(node):
            module = (
                inner.module
                if isinstance(inner, ast.ImportFrom)
                else ",".join(a.name for a in inner.names)
                if isinstance(inner, ast.Import)
                else None
            )
            if not module or "ketaclinic" not in module:
                continue
            said = " ".join(lines[max(0, inner.lineno - 2) : inner.lineno])
            if not any(reason in said for reason in LAZY_REASONS):
                found.append(f"{path.relative_to(ROOT)}:{inner.lineno}: {lines[inner.lineno - 1]}")
    return found


def test_no_import_hides_inside_a_function() -> None:
    code = [
        path
        for path in PACKAGE.rglob("*.py")
        if "tests" not in path.parts
        and "migrations" not in path.parts
        and path.name != "conftest.py"
    ]
    assert len(code) > 100
    hidden = [line for path in code for line in _imports_inside_functions(path)]
    assert hidden == [], "\n".join(hidden)


def test_the_module_graph_in_the_docs_is_the_codes() -> None:
    text = DOC.read_text()
    assert rewrite(text) == text, "run: .venv/bin/python tests/architecture_graph.py"
    graph = mermaid()
    assert "charting --> register" in graph and "register --> charting" not in graph
    assert "home --> plugins" in graph and "accounts --> measures" not in graph
