"""exsim: an exchange simulator for crypto perpetual futures.

The pure, integer-exact exchange core lives in :mod:`exsim.core`.
"""

__version__ = "0.1.0"
