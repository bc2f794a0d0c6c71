"""Index price paths: GBM, a flash-crash shape, a constant; each a pure function of the seed."""

from exsim.scenarios.index_path import IndexPath
from exsim.scenarios.paths import make_path

__all__ = ["IndexPath", "make_path"]
