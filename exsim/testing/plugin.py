"""pytest plugin (entry point ``pytest11: exsim``): the ``exsim_exchange`` and ``exsim_factory``
fixtures, available in any project where exsim is installed.

* ``exsim_exchange``: a running :class:`~exsim.testing.SimExchange` with the
  defaults, or configured by ``@pytest.mark.exsim(config=..., seed=...,
  steer_index=...)`` on the test (``config``: a dict, a TOML path or a Config).
* ``exsim_factory``: ``ex = exsim_factory(config, seed=...)`` starts one more
  exchange each call, for tests that need several or build the config in the body.

Both run inside the test's trio run (pytest-trio); the plugin marks async tests
that use them as trio tests, so ``trio_mode`` is not needed, and tells a sync test
or a missing pytest-trio what to change instead of failing obscurely.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import trio

from exsim.config import Config
from exsim.testing.harness import SimExchange, open_exchange

FIXTURES = ("exsim_exchange", "exsim_factory")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "exsim(config=None, seed=None, steer_index=True): how the "
        "exsim_exchange fixture builds its exchange")


def _uses_exsim(item: pytest.Item) -> bool:
    return any(name in getattr(item, "fixturenames", ()) for name in FIXTURES)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if (_uses_exsim(item) and isinstance(item, pytest.Function)
                and inspect.iscoroutinefunction(item.obj)
                and item.get_closest_marker("trio") is None):
            item.add_marker(pytest.mark.trio)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    if not _uses_exsim(item):
        return
    used = next(name for name in FIXTURES if name in getattr(item, "fixturenames", ()))
    if not item.config.pluginmanager.hasplugin("trio"):
        pytest.fail(f"{item.name} uses the {used} fixture, which runs inside trio: install "
                    "pytest-trio (exsim's `test` extra: pip install -e 'path/to/exsim[test]')",
                    pytrace=False)
    if isinstance(item, pytest.Function) and not inspect.iscoroutinefunction(item.obj):
        pytest.fail(f"{item.name} uses the {used} fixture, which runs inside trio: write the "
                    f"test as `async def {item.name}(...)` and drive the exchange with "
                    "`await ex.advance(seconds)`", pytrace=False)


@pytest.fixture
async def exsim_exchange(request: pytest.FixtureRequest) -> AsyncIterator[SimExchange]:
    """A running exchange: defaults, or ``@pytest.mark.exsim(config=..., seed=...)``."""
    marker = request.node.get_closest_marker("exsim")
    kwargs: dict[str, Any] = {}
    if marker is not None:
        if marker.args:
            raise pytest.UsageError("@pytest.mark.exsim takes keywords: "
                                    "config=..., seed=..., steer_index=...")
        kwargs = dict(marker.kwargs)
        unknown = set(kwargs) - {"config", "seed", "steer_index"}
        if unknown:
            raise pytest.UsageError(f"@pytest.mark.exsim: unknown keyword {sorted(unknown)[0]!r}; "
                                    "use config=, seed=, steer_index=")
    async with open_exchange(**kwargs) as ex:
        yield ex


@pytest.fixture
async def exsim_factory() -> AsyncIterator[Callable[..., SimExchange]]:
    """``exsim_factory(config=None, *, seed=None, steer_index=True)`` -> a running exchange."""
    async with trio.open_nursery() as nursery:

        def make(config: Config | dict[str, Any] | str | Path | None = None, *,
                 seed: int | None = None, steer_index: bool = True) -> SimExchange:
            ex = SimExchange(config, seed=seed, steer_index=steer_index)
            ex.start(nursery)
            return ex

        yield make
        nursery.cancel_scope.cancel()
