"""Built-in strategies, by the short names a config can use in ``[[agents]] class``."""

from exsim.agents.arbitrageur import Arbitrageur
from exsim.agents.leveraged import LeveragedTrader
from exsim.agents.market_maker import MarketMaker
from exsim.agents.noise import NoiseTrader
from exsim.agents.shock import ShockAgent

BUILTIN = {
    "noise": NoiseTrader,
    "market_maker": MarketMaker,
    "leveraged": LeveragedTrader,
    "arbitrageur": Arbitrageur,
    "shock": ShockAgent,
}

__all__ = ["BUILTIN", "Arbitrageur", "LeveragedTrader", "MarketMaker", "NoiseTrader",
           "ShockAgent"]
