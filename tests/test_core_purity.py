"""The core stays pure: standard library only, never an HTTP client, ORM or tracker library."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import impactlink.core

FORBIDDEN = ("httpx", "sqlmodel", "sqlalchemy", "github", "jira")
CORE = Path(impactlink.core.__file__).parent

# Imports every module of impactlink.core in a fresh interpreter, then prints what it loaded.
PROBE = """
import importlib, pkgutil, sys
import impactlink.core
for info in pkgutil.walk_packages(impactlink.core.__path__, "impactlink.core."):
    importlib.import_module(info.name)
{extra}
forbidden = {forbidden!r}
print(" ".join(sorted(m for m in sys.modules if m.split(".")[0] in forbidden)))
print(" ".join(sorted(m for m in sys.modules if m.startswith("impactlink.core."))))
"""


def loaded_after_importing_core(extra: str = "") -> tuple[list[str], list[str]]:
    code = PROBE.format(extra=extra, forbidden=FORBIDDEN)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60).stdout.splitlines()
    return out[0].split(), out[1].split()


def test_importing_the_core_loads_no_io_library() -> None:
    forbidden, core_modules = loaded_after_importing_core()
    assert forbidden == []
    expected = {f"impactlink.core.{p.stem}" for p in CORE.glob("*.py") if p.stem != "__init__"}
    assert expected <= set(core_modules)


@pytest.mark.parametrize("library", ["httpx", "sqlmodel"])
def test_the_probe_would_see_a_forbidden_import(library: str) -> None:
    pytest.importorskip(library)
    forbidden, _ = loaded_after_importing_core(extra=f"import {library}")
    assert library in forbidden


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


# The model pins Snowball English stemming (IMPACT_MODEL.md, "Tokens"): the one library the
# core may use, a pure function like the standard library's.
STEMMERS = {"Stemmer", "snowballstemmer"}


@pytest.mark.parametrize("path", sorted(CORE.glob("*.py")), ids=lambda p: p.name)
def test_core_modules_import_only_the_standard_library_and_the_core(path: Path) -> None:
    outside = {name for name in imported_modules(path)
               if name.split(".")[0] not in sys.stdlib_module_names
               and name != "impactlink.core" and not name.startswith("impactlink.core.")}
    allowed = STEMMERS if path.name == "text.py" else set()
    assert outside <= allowed
