"""Every package declares, in its pyproject.toml, the distributions its code imports.

A container image or a user's ``pip install`` gets only what is declared; a module that arrives
through another package's dependencies (pydantic through pydantic-settings, starlette through
fastapi) or through a sibling's (the coordinator once imported the client SDK without naming
it) works on this machine and breaks where that other package changes.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from functools import cache
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = [
    "core",
    "tasks",
    "client-sdk",
    "services/kit",
    "services/coordinator",
    "services/registry",
    "services/metrics",
    "services/gateway",
    "services/contribution",
    "tools",
    "bench",
    "cli",
]
# openmined-psi pins protobuf==6.30.2, older than Flower's gRPC needs: make install and the
# client image install it with --no-deps, so no package may declare it (pip would resolve the pin).
NOT_DECLARABLE = {"private_set_intersection"}


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared(package: str) -> set[str]:
    project = tomllib.loads((ROOT / package / "pyproject.toml").read_text())["project"]
    return {
        _normalized(re.split(r"[\[<>=!~; ]", spec, maxsplit=1)[0])
        for spec in project.get("dependencies", [])
    }


def _imported(package: str) -> dict[str, str]:
    """Top-level modules imported by ``package``'s code (not its own), with a file for each."""
    directory = ROOT / package
    own = {
        path.name
        for path in directory.iterdir()
        if path.name.startswith("consortium_") and path.is_dir() and "." not in path.name
    }
    found: dict[str, str] = {}
    for path in sorted(directory.glob("consortium_*/**/*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top not in own:
                    found.setdefault(top, str(path.relative_to(ROOT)))
    return found


@cache
def _distributions() -> dict[str, list[str]]:
    return packages_distributions()


@pytest.mark.parametrize("package", PACKAGES)
def test_each_imported_distribution_is_declared(package: str) -> None:
    declared = _declared(package)
    undeclared = []
    for module, where in _imported(package).items():
        if module in NOT_DECLARABLE:
            continue
        distributions = _distributions().get(module)
        assert distributions, f"{where} imports {module}, which no installed distribution provides"
        if not any(_normalized(d) in declared for d in distributions):
            undeclared.append(f"{module} ({'/'.join(distributions)}, imported in {where})")
    assert not undeclared, f"{package}/pyproject.toml does not declare: {', '.join(undeclared)}"


def test_the_scan_sees_imports() -> None:
    """The scan finds what a package is known to import, so an empty result means something."""
    imported = _imported("services/coordinator")
    assert {"flwr", "consortium_client", "sqlalchemy"} <= imported.keys()
    assert "consortium_coordinator" not in imported
