"""exsim: an exchange simulator for crypto perpetual futures.

The pure, integer-exact exchange core lives in :mod:`exsim.core`; strategies
subclass :class:`exsim.Agent`.
"""

from exsim.agent import Agent, Context

__version__ = "0.1.0"

__all__ = ["Agent", "Context", "__version__"]
