"""The exchange core: pure, synchronous and integer-exact (docs/architecture.md).

Some of its modules may have been compiled with mypyc at install (``setup.py``): the
.py files stay the reference implementation, and the compiled ones must behave
identically (``tests/test_compiled.py``).  This module decides, once, before any of
them is imported, which of the two runs:

* compiled, when the build's record (``_compiled.json``, written beside the
  extensions) lists the compiled modules and the sha256 of every source of this
  package they were built from, and every source still has that hash;
* from the .py sources otherwise (all of them: compiled modules call each other
  natively, so a mix would run old code), with one warning when a compiled build is
  present but stale, as after editing ``engine.py`` in an editable install (rebuild
  with ``pip install -e .``), and silently when ``EXSIM_PURE=1`` is set.

:data:`COMPILED` tells which, and :data:`MODE` why.
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import sys
import warnings
from collections.abc import Mapping, Sequence
from types import ModuleType
from typing import NamedTuple

_HERE = os.path.dirname(os.path.abspath(__file__))
BUILD_RECORD = "_compiled.json"
REBUILD = "rebuild it with `pip install -e .` (or `pip install .`)"


class Plan(NamedTuple):
    compiled: bool
    mode: str  # "compiled", or "pure (...why)"
    from_source: frozenset[str]  # modules to load from their .py files
    warning: str | None


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() not in ("", "0", "false", "no")


def _extension_modules(directory: str, names: Sequence[str]) -> set[str]:
    """Module names of this package with a compiled extension in ``directory``."""
    suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
    found = set()
    for name in names:
        if name.endswith(suffixes):
            found.add(f"{__name__}.{name.split('.', 1)[0]}")
    return found


def _sha256(path: str) -> str | None:
    try:
        with open(path, "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()
    except OSError:
        return None


def _findable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _load_beside_package(module: str, directory: str) -> bool:
    """Load the shared library from beside the ``exsim`` package, if it is there.

    ``pip install -e .`` builds it in place, at the root of the source tree; an editable
    install that maps only the ``exsim`` package (a reinstall that found the build up to
    date) cannot import it from there by name, so the shims' ``import`` of it would
    fail.  Loaded here under its own name, it is found in ``sys.modules`` instead.
    """
    root = os.path.dirname(os.path.dirname(directory))
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        path = os.path.join(root, module + suffix)
        if os.path.isfile(path):
            spec = importlib.util.spec_from_file_location(module, path)
            if spec is None or spec.loader is None:
                return False
            lib = importlib.util.module_from_spec(spec)
            sys.modules[module] = lib
            try:
                spec.loader.exec_module(lib)
            except ImportError:
                del sys.modules[module]
                return False
            return True
    return False


def plan(directory: str = _HERE, environ: Mapping[str, str] = os.environ,
         find_lib: bool = True) -> Plan:
    """How to load the core in ``directory`` (this package's): see the module docstring."""
    try:
        present = _extension_modules(directory, os.listdir(directory))
    except OSError:
        present = set()
    record: object = None
    try:
        with open(os.path.join(directory, BUILD_RECORD)) as f:
            record = json.load(f)
    except (OSError, ValueError):
        pass
    if not isinstance(record, dict):
        record = {}
    listed, sources = record.get("modules"), record.get("sources")
    modules = set(listed) if isinstance(listed, list) else set()
    digests: dict[str, str] = dict(sources) if isinstance(sources, dict) else {}
    lib = f"{record.get('group')}__mypyc"  # the compiled modules' shared library
    everything = frozenset(present | modules)
    if not everything:
        return Plan(False, "pure (not compiled)", frozenset(), None)
    if _flag(environ.get("EXSIM_PURE")):
        return Plan(False, "pure (EXSIM_PURE)", everything, None)
    why = None
    if not modules or not digests:
        why = "compiled modules without a build record"
    elif modules != present:
        odd = sorted(name.rpartition(".")[2] for name in modules ^ present)
        why = f"the compiled build is incomplete or for another Python ({', '.join(odd)})"
    elif find_lib and not _findable(lib) and not _load_beside_package(lib, directory):
        why = f"the compiled build's library {lib} is missing"
    else:
        changed = [name for name, digest in sorted(digests.items())
                   if _sha256(os.path.join(directory, name)) != digest]
        if changed:
            why = f"{', '.join(changed)} changed since the core was compiled"
    if why is None:
        return Plan(True, "compiled", frozenset(), None)
    return Plan(False, "pure (stale build)", everything,
                f"exsim: {why}; running the pure-Python core instead (slower): {REBUILD}, "
                f"or set EXSIM_PURE=1 to run the .py files without this warning")


class SourceFinder(importlib.abc.MetaPathFinder):
    """Imports the named modules of this package from their .py files, never compiled."""

    def __init__(self, names: frozenset[str], directory: str = _HERE) -> None:
        self.names = names
        self.directory = directory

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if fullname not in self.names:
            return None
        source = os.path.join(self.directory, fullname.rpartition(".")[2] + ".py")
        return importlib.util.spec_from_file_location(fullname, source)


_plan = plan()
COMPILED: bool = _plan.compiled
"""Whether the compiled modules of the core run (else every module runs from its .py)."""
MODE: str = _plan.mode
"""``"compiled"`` or ``"pure (...)"``: not compiled, ``EXSIM_PURE`` set, or a stale build."""
if _plan.from_source:
    sys.meta_path.insert(0, SourceFinder(_plan.from_source))
if _plan.warning:
    warnings.warn(_plan.warning, RuntimeWarning, stacklevel=2)
del _plan
