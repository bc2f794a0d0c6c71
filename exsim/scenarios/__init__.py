"""Index price paths: GBM, a flash-crash shape, a constant; each a pure function of the seed."""

from exsim.scenarios.paths import IndexPath, make_path

__all__ = ["IndexPath", "make_path"]
