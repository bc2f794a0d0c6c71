"""exsim's test kit: a live simulated exchange inside your own (pytest-)trio tests.

``async with open_exchange(config) as ex`` (or pytest's ``exsim_exchange`` fixture,
registered by installing exsim) gives a running :class:`SimExchange`: add funded
traders and agents, steer the index, run simulated time, await events, and assert
on the ledger.  See docs/testing.md.
"""

from exsim.testing.harness import AgentCrashed, EventTimeout, Seen, SimExchange, open_exchange
from exsim.testing.index import SteeredIndex, UsageError

__all__ = ["AgentCrashed", "EventTimeout", "Seen", "SimExchange", "SteeredIndex", "UsageError",
           "open_exchange"]
