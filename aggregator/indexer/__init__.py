"""Chain events → PostgreSQL (chain wins): the indexer loop, its storage and read API."""

from aggregator.indexer.decode import DecodedEvent, DecodeError, decode_transaction
from aggregator.indexer.router import router
from aggregator.indexer.service import Indexer, IndexerError

__all__ = ["DecodeError", "DecodedEvent", "Indexer", "IndexerError", "decode_transaction", "router"]
