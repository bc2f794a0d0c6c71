"""``Arg[T]``: the type of a request argument that the core checks itself.

The core's requests (:class:`~exsim.core.engine.ExchangeCore`'s ``submit``,
``cancel``, ``deposit`` ...) accept any value and turn a wrong one into a
``REJECTED`` event with a reason code, never an exception.  To readers, IDEs and
type checkers ``Arg[int]`` is ``int``: what a caller should pass.

Compiled code checks argument types on entry and would raise ``TypeError``.  So when
``setup.py`` compiles the core with mypyc, it type-checks it with this module
replaced by one where ``Arg[T]`` is ``T | object`` (mypy's ``--shadow-file``): the
compiled methods then take anything, as the .py ones do.  A method must therefore
narrow an ``Arg`` (``type(x) is int``, ``_is_int(x)``, ``isinstance``, ``x is
BUY``) before it uses it as a ``T``; the mypyc build checks that view and fails
otherwise (the install then falls back to pure Python, or stops under
``EXSIM_COMPILE=1``).
"""

from __future__ import annotations

from typing import Annotated, TypeAlias, TypeVar

T = TypeVar("T")

Arg: TypeAlias = Annotated[T, "any value is accepted; a bad one is a REJECTED event"]

__all__ = ["Arg"]
