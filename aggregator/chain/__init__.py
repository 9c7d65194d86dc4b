"""Chain access for GridTokenX: program clients built from the committed IDLs, one backend
interface with two implementations (LiteSVM in-process, the embedded default; Solana
JSON-RPC for clusters), and the minting service the aggregator drives."""

from aggregator.chain.energy_token import DECIMALS, EnergyToken, mint_supply, token_amount
from aggregator.chain.errors import ChainClientError, ChainError, ChainSetupError, HistoryError
from aggregator.chain.litesvm import LocalChain
from aggregator.chain.programs import GtxProgram, ProgramError, localnet_ids
from aggregator.chain.registry import CONSUMER, PROSUMER, USER_TYPES, Registry
from aggregator.chain.transactions import TxResult

__all__ = [
    "CONSUMER", "DECIMALS", "PROSUMER", "EnergyToken", "mint_supply", "token_amount", "USER_TYPES",
    "ChainClientError", "ChainError", "ChainSetupError", "HistoryError", "GtxProgram", "LocalChain", "ProgramError",
    "Registry", "TxResult", "localnet_ids",
]
