"""Trading: markets from the chain, the relay of users' signed transactions, the indexed
order book and trades, and the matcher for markets whose matcher key this service holds."""

from aggregator.trading.desk import TradingDesk, local_desk, rpc_desk
from aggregator.trading.matcher import Matcher
from aggregator.trading.router import router

__all__ = ["Matcher", "TradingDesk", "local_desk", "router", "rpc_desk"]
