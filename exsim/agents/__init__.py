"""Built-in strategies, by the short names a config can use in ``[[agents]] class``."""

from exsim.agents.market_maker import MarketMaker
from exsim.agents.noise import NoiseTrader

BUILTIN = {"noise": NoiseTrader, "market_maker": MarketMaker}

__all__ = ["BUILTIN", "MarketMaker", "NoiseTrader"]
