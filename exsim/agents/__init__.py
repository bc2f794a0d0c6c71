"""Built-in strategies, by the short names a config can use in ``[[agents]] class``."""

from exsim.agents.arbitrageur import Arbitrageur
from exsim.agents.informed import InformedTrader
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
    "informed": InformedTrader,
}

__all__ = ["BUILTIN", "Arbitrageur", "InformedTrader", "LeveragedTrader", "MarketMaker",
           "NoiseTrader", "ShockAgent"]
