"""Chain access for GridTokenX: program clients built from the committed IDLs, and the
in-process LiteSVM backend (the embedded default) that executes the real programs."""

from aggregator.chain.energy_token import DECIMALS, WH_PER_GRID, EnergyToken, mint_supply, token_amount
from aggregator.chain.litesvm import ChainError, LocalChain, TxResult
from aggregator.chain.programs import GtxProgram, ProgramError, localnet_ids
from aggregator.chain.registry import CONSUMER, PROSUMER, USER_TYPES, Registry

__all__ = [
    "CONSUMER", "DECIMALS", "PROSUMER", "WH_PER_GRID", "EnergyToken", "mint_supply", "token_amount", "USER_TYPES", "ChainError", "GtxProgram", "LocalChain", "ProgramError",
    "Registry", "TxResult", "localnet_ids",
]
