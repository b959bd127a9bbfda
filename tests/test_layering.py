"""Layering and packaging, checked on the source with ``ast`` (nothing here imports the modules it
judges, except for the doctests at the end).

* ``certloop.checker`` (folder ``checker/``) is the generic engine: it imports nothing of ours
  outside ``certloop.checker`` -- never ``certloop.model``, ``certloop.properties`` or the CLI
  package ``certloop``.  ``certloop.model`` never imports ``certloop.properties`` or the CLI.
* Only ``checker/smt.py`` imports z3.
* Every import of our code is spelled ``certloop.<...>``: no ``import checker``, ``from model
  import ...``, no relative imports (the folders are installed under other names).
* Every folder with an ``__init__.py`` is a package listed in ``pyproject.toml``.
"""

from __future__ import annotations

import ast
import doctest
import importlib
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = {"checker": "certloop.checker", "model": "certloop.model", "properties": "certloop.properties",
           "certloop": "certloop"}
OURS = {"checker", "model", "properties", "certloop", "cli"}


def _sources(folder: str) -> list[Path]:
    return sorted(p for p in (ROOT / folder).rglob("*.py") if "__pycache__" not in p.parts)


def _imports(path: Path) -> list[tuple[int, str, int]]:
    """``(line, absolute-or-relative module name, level)`` for every import in the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    out = []
    for node in ast.walk(tree):                     # also imports inside functions
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name, 0) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            out.append((node.lineno, mod, node.level))
            if mod == "certloop" and node.level == 0:   # from certloop import cli, model, ...
                out += [(node.lineno, f"certloop.{a.name}", 0) for a in node.names]
    return out


def _all_sources() -> list[Path]:
    return [p for f in FOLDERS for p in _sources(f)]


def test_sources_found():
    assert (ROOT / "checker" / "expr.py") in _sources("checker")
    assert len(_all_sources()) > 10


def _ours(mod: str) -> str | None:
    """The layer of one of our modules (``checker``, ``model``, ``properties``, ``cli``), else None."""
    parts = mod.split(".")
    if parts[0] != "certloop" or len(parts) == 1 or parts[1].startswith("__"):
        return None                 # not ours, or the bare package (``__version__``)
    return parts[1] if parts[1] in ("checker", "model", "properties") else "cli"


@pytest.mark.parametrize("folder,forbidden", [
    ("checker", {"model", "properties", "cli"}),
    ("model", {"properties", "cli"}),
    ("properties", {"cli"}),
])
def test_layers_import_downwards_only(folder, forbidden):
    bad = []
    for path in _sources(folder):
        for line, mod, level in _imports(path):
            if level == 0 and _ours(mod) in forbidden:
                bad.append(f"{path.relative_to(ROOT)}:{line}: imports {mod}")
    assert not bad, "\n".join(bad)


def test_checker_imports_nothing_of_ours_but_checker():
    bad = []
    for path in _sources("checker"):
        for line, mod, level in _imports(path):
            if level == 0 and mod.split(".")[0] == "certloop" and not mod.startswith("certloop.checker"):
                if mod != "certloop.checker":
                    bad.append(f"{path.relative_to(ROOT)}:{line}: imports {mod}")
    assert not bad, "\n".join(bad)


def test_only_smt_imports_z3():
    users = sorted({str(p.relative_to(ROOT)) for p in _all_sources()
                    for _, mod, level in _imports(p) if level == 0 and mod.split(".")[0] == "z3"})
    assert users in ([], ["checker/smt.py"]), users


def test_every_import_of_ours_is_spelled_certloop():
    bad = []
    for path in _all_sources() + sorted((ROOT / "tests").glob("*.py")):
        for line, mod, level in _imports(path):
            if level > 0:
                bad.append(f"{path.relative_to(ROOT)}:{line}: relative import (level {level}) of {mod!r}")
            elif mod.split(".")[0] in OURS - {"certloop"}:
                bad.append(f"{path.relative_to(ROOT)}:{line}: `{mod}` must be spelled certloop.{mod}")
    assert not bad, "\n".join(bad)


def _pyproject() -> dict:
    with open(ROOT / "pyproject.toml", "rb") as f:
        return tomllib.load(f)


def _package_dirs() -> dict[str, Path]:
    """Every folder holding an ``__init__.py`` under our four top folders, by package name."""
    out = {}
    for folder, pkg in FOLDERS.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder)
            name = ".".join([pkg, *rel.parts]) if rel.parts else pkg
            out[name] = init.parent
    return out


def test_every_package_is_listed_in_pyproject():
    st = _pyproject()["tool"]["setuptools"]
    listed = set(st["packages"])
    found = _package_dirs()
    assert set(found) - listed == set(), "packages missing from [tool.setuptools] packages"
    assert listed - set(found) == set(), "listed packages without an __init__.py folder"


def test_package_dir_mapping_points_at_the_folders():
    st = _pyproject()["tool"]["setuptools"]
    pdir = st["package-dir"]
    for name, path in _package_dirs().items():
        # setuptools resolves a package through the longest mapped prefix
        parts = name.split(".")
        for k in range(len(parts), 0, -1):
            prefix = ".".join(parts[:k])
            if prefix in pdir:
                resolved = ROOT / pdir[prefix] / Path(*parts[k:]) if parts[k:] else ROOT / pdir[prefix]
                break
        else:
            resolved = ROOT / Path(*parts)
        assert resolved.resolve() == path.resolve(), name


@pytest.mark.parametrize("mod", ["certloop.checker.expr", "certloop.checker.spec", "certloop.checker.examples",
                                 "certloop.checker.vector", "certloop.checker.explore",
                                 "certloop.checker.liveness", "certloop.checker.check"])
def test_doctests(mod):
    m = importlib.import_module(mod)
    res = doctest.testmod(m, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert res.failed == 0
    if mod in ("certloop.checker.expr", "certloop.checker.spec", "certloop.checker.examples"):
        assert res.attempted > 0


def test_the_scanner_sees_what_it_must(tmp_path):
    src = tmp_path / "bad.py"
    src.write_text(
        "import z3\n"
        "from certloop import cli\n"
        "from . import expr\n"
        "def f():\n"
        "    import checker.expr\n"
        "    from certloop.model.apiserver import X\n")
    imps = _imports(src)
    mods = {m for _, m, lvl in imps if lvl == 0}
    assert {"z3", "certloop", "certloop.cli", "checker.expr", "certloop.model.apiserver"} <= mods
    assert any(lvl == 1 for _, _, lvl in imps)
    assert _ours("certloop.cli") == "cli" and _ours("certloop.runner") == "cli"
    assert _ours("certloop.model.apiserver") == "model" and _ours("numpy") is None
    assert _ours("certloop") is None and _ours("certloop.__version__") is None
