"""Build script: the exchange core compiled with mypyc when possible, pure Python otherwise.

Everything about the package is in pyproject.toml; this file only adds the optional
compiled core.  ``pip install .`` and ``pip install -e .`` compile the modules in
:data:`COMPILED` with mypyc (mypy is a build requirement) into one extension
(``exsim_core__mypyc``, beside the package) plus a small shim per module, next to
its .py file.
Without a C compiler, or if mypyc or the compiler fails, the install goes on as pure
Python: the .py files are the reference implementation and run the same.

``EXSIM_COMPILE`` (environment, read at build time): ``0`` never compiles, ``1``
makes a failed compile fail the install (CI, benchmarks), unset or ``auto`` compiles
when it can.

The build records, in ``exsim/core/_compiled.json`` beside the extensions, the
compiled modules and a sha256 of every source in exsim/core they were built from.  At
import, ``exsim/core/__init__.py`` compares them with the .py files and loads every
compiled module from source instead (all or nothing), with one warning, when any has
changed since the build: an editable install then never runs stale compiled code.
``EXSIM_PURE=1`` at run time does the same without the warning.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import traceback
from typing import Any

from setuptools import Distribution, setup
from setuptools.command.build_ext import build_ext

PACKAGE_DIR = os.path.join("exsim", "core")
COMPILED = [
    "accounts",
    "adl",
    "clearing",
    "engine",
    "funding",
    "liquidation",
    "margin",
    "markprice",
    "symbols",
]
"""Modules of exsim.core compiled together (they call each other natively).  Not
book.py (its ``Level`` subclasses ``OrderedDict``, which mypyc cannot compile), nor
orders.py, events.py and units.py (IntEnums and an attrs class with a computed field,
which compiled differently: docs/performance.md)."""

GROUP = "exsim_core"  # the shared library: exsim_core__mypyc.*.so, beside the package
MANIFEST = "_compiled.json"

HINTS = os.path.join(PACKAGE_DIR, "hints.py")
COMPILED_HINTS = '''"""exsim/core/hints.py as the mypyc build sees it: an Arg takes any value."""
from typing import Annotated, TypeAlias, TypeVar, Union

T = TypeVar("T")

Arg: TypeAlias = Annotated[Union[T, object], "any value"]
'''
"""Compiled code checks argument types on entry; exsim/core/hints.py explains why the
requests' ``Arg[...]`` parameters are ``object`` to mypyc."""


def _mode() -> str:
    mode = os.environ.get("EXSIM_COMPILE", "auto").strip().lower() or "auto"
    if mode not in ("0", "1", "auto"):
        raise SystemExit(f"EXSIM_COMPILE must be 0, 1 or auto, got {mode!r}")
    return mode


def _say(message: str) -> None:
    print(f"exsim setup: {message}", file=sys.stderr, flush=True)


def source_digests() -> dict[str, str]:
    """sha256 of every source the compiled modules were built from, by file name.

    All of exsim/core but its ``__init__`` (the import guard that checks these): the
    compiled modules also depend on the interpreted ones, whose ``Final`` constants
    (``BUY``, ``INF``, the event kinds) mypyc copies into the compiled code.
    """
    out = {}
    for name in sorted(os.listdir(PACKAGE_DIR)):
        if name.endswith(".py") and name != "__init__.py":
            with open(os.path.join(PACKAGE_DIR, name), "rb") as f:
                out[name] = hashlib.sha256(f.read()).hexdigest()
    return out


def mypyc_extensions() -> list[Any]:
    """The mypyc extensions, or [] (and why) when they cannot be generated."""
    try:
        from mypyc.build import mypycify
    except ImportError as e:
        _say(f"mypyc not available ({e}); installing the pure-Python core")
        return []
    target = os.path.join("build", "mypyc")
    os.makedirs(target, exist_ok=True)
    shadow = os.path.join(target, "compiled_hints.py")
    with open(shadow, "w") as f:
        f.write(COMPILED_HINTS)
    paths = [os.path.join(PACKAGE_DIR, name + ".py") for name in COMPILED]
    try:
        # the type-check settings are pyproject.toml's [tool.mypy] (strict)
        return mypycify(["--shadow-file", HINTS, shadow, *paths], opt_level="3",
                        group_name=GROUP, target_dir=target)
    except (Exception, SystemExit):  # mypycify exits on type errors
        _say("mypyc could not compile the core; installing the pure-Python core:\n"
             + traceback.format_exc(limit=3))
        return []


BUILDS = {"build", "build_ext", "bdist_wheel", "editable_wheel", "develop", "install",
          "bdist_egg"}
"""setup.py commands that build extensions (the others only need the metadata)."""


class CoreDistribution(Distribution):
    """A distribution with extensions unless EXSIM_COMPILE=0 (a platform wheel)."""

    def has_ext_modules(self) -> bool:
        return _mode() != "0" or super().has_ext_modules()


class BuildCore(build_ext):
    """build_ext that generates the mypyc extensions late and tolerates their failure."""

    def finalize_options(self) -> None:
        # Generated here, not at import of setup.py, and only by a command that builds:
        # egg_info finalizes build_ext too (to list sources), in every PEP 517 hook.
        self.digests = source_digests()  # of what mypyc reads, before it reads it
        commands = set(sys.argv[1:])
        in_place = bool(self.inplace or getattr(self, "editable_mode", False)
                        or {"editable_wheel", "develop"} & commands)
        if _mode() == "0" or not BUILDS & commands:
            pass
        elif in_place and self._in_place_build_is_fresh():
            if not self.distribution.ext_modules:  # once (build_ext may be finalized twice)
                _say("the compiled core in the source tree is up to date: not rebuilt")
            self.distribution.ext_modules = []
        elif not self.distribution.ext_modules:
            exts = mypyc_extensions()
            if not exts and _mode() == "1":
                raise SystemExit("exsim setup: EXSIM_COMPILE=1 and mypyc failed")
            self.distribution.ext_modules = exts
        super().finalize_options()

    def run(self) -> None:
        if not self.extensions:
            return
        try:
            super().run()
        except Exception:  # no compiler, compiler error: all or nothing
            if _mode() == "1":
                raise
            _say("the C build of the core failed; installing the pure-Python core:\n"
                 + traceback.format_exc(limit=3))
            self._remove_outputs()
            return
        self._write_manifest()

    def _in_place_build_is_fresh(self) -> bool:
        """An editable reinstall of unchanged sources keeps the extensions already there.

        The same test as the import guard's (exsim/core/__init__.py): a build record
        whose sources all still have their hash, and every extension present for this
        Python.
        """
        import importlib.machinery

        try:
            with open(os.path.join(PACKAGE_DIR, MANIFEST)) as f:
                record = json.load(f)
        except (OSError, ValueError):
            return False
        suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
        wanted = [os.path.join(PACKAGE_DIR, name + suffix) for name in COMPILED]
        wanted.append(GROUP + "__mypyc" + suffix)
        return (isinstance(record, dict) and record.get("sources") == self.digests
                and record.get("modules") == [f"exsim.core.{name}" for name in COMPILED]
                and record.get("group") == GROUP and all(map(os.path.exists, wanted)))

    def _package_dirs(self) -> list[str]:
        """Where the extensions went: the build tree, and the source tree if in place."""
        dirs = [os.path.join(self.build_lib, PACKAGE_DIR)]
        if self.inplace or getattr(self, "editable_mode", False):
            dirs.append(os.path.abspath(PACKAGE_DIR))
        return dirs

    def _remove_outputs(self) -> None:
        built = [self.get_ext_filename(self.get_ext_fullname(e.name)) for e in self.extensions]
        roots = [self.build_lib]
        if self.inplace or getattr(self, "editable_mode", False):
            roots.append(os.path.abspath("."))
        for root in roots:
            for rel in [*built, os.path.join(PACKAGE_DIR, MANIFEST)]:
                path = os.path.join(root, rel)
                if os.path.exists(path):
                    os.remove(path)

    def _write_manifest(self) -> None:
        record = {"modules": [f"exsim.core.{name}" for name in COMPILED],
                  "sources": self.digests, "group": GROUP, "mypy": _mypy_version(),
                  "python": sys.version.split()[0]}
        for d in self._package_dirs():
            os.makedirs(d, exist_ok=True)
            with open(os.path.join(d, MANIFEST), "w") as f:
                json.dump(record, f, indent=1, sort_keys=True)
                f.write("\n")


def _mypy_version() -> str | None:
    try:
        from mypy.version import __version__
    except ImportError:
        return None
    return __version__


setup(distclass=CoreDistribution, cmdclass={"build_ext": BuildCore})
