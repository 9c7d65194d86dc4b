"""Open the chain the settings name: the in-process LiteSVM default, or a JSON-RPC cluster.

Returns a :class:`Chain` with the backend, the registry client, the oracle key and, for
LiteSVM, the in-process :class:`LocalChain` itself (the demo and tests register wallets
on it). The aggregator mints through it with ``aggregator.minting.chain.ChainService``.
"""

from __future__ import annotations

import json
import logging
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from solders.keypair import Keypair

from aggregator.chain.backend import ChainBackend, LiteSvmBackend, RpcBackend
from aggregator.chain.errors import ChainSetupError
from aggregator.chain.litesvm import LocalChain
from aggregator.chain.programs import DEPLOY_DIR, IDL_DIR, GtxProgram, localnet_ids
from aggregator.chain.registry import Registry

log = logging.getLogger("aggregator.chain")


@dataclass
class Chain:
    backend: ChainBackend
    registry: Registry
    oracle: Keypair
    local: LocalChain | None = None  # set for the in-process LiteSVM backend

    async def close(self) -> None:
        await self.backend.close()

    def local_with(self, program: GtxProgram, who: str) -> LocalChain:
        """The in-process chain with `program` deployed, for `who` to set up on; a setup
        error names what is missing."""
        if self.local is None:
            raise ChainSetupError(f"{who} needs the in-process LiteSVM chain")
        if program.program_id not in self.local.programs:
            raise ChainSetupError(f"{program.so_path} is missing: build the programs with `./gtx build`")
        return self.local


def deployed_programs() -> list[GtxProgram]:
    """Every program of Anchor.toml whose IDL and build are present."""
    return [GtxProgram(name, pid) for name, pid in localnet_ids().items()
            if (IDL_DIR / f"{name}.json").exists() and (DEPLOY_DIR / f"{name}.so").exists()]


#: Set to 1 to load keypair files that group or others may read (e.g. a key mounted from
#: a secrets store that cannot set modes); by default such a file stops the start.
ALLOW_SHARED_KEY_FILES_ENV = "GTX_ALLOW_SHARED_KEY_FILES"


def load_keypair(path: Path) -> Keypair:
    """A Solana CLI keypair file: a JSON array of the 64 secret-key bytes.

    The file must not be readable by group or others (``chmod 600``), as ``ssh`` insists
    for its keys: the oracle, matcher and issuer keys move tokens and certificates.
    ``GTX_ALLOW_SHARED_KEY_FILES=1`` lifts the check."""
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except OSError as exc:
        raise ChainSetupError(f"cannot read keypair {path}: {exc}") from exc
    if mode & 0o077 and os.environ.get(ALLOW_SHARED_KEY_FILES_ENV, "") not in ("1", "true"):
        raise ChainSetupError(f"keypair {path} has mode {mode:04o}: group or others may read it; "
                              f"chmod 600 {path} (or set {ALLOW_SHARED_KEY_FILES_ENV}=1)")
    try:
        raw = json.loads(Path(path).read_text())
        return Keypair.from_bytes(bytes(raw))
    except (OSError, ValueError, TypeError) as exc:
        raise ChainSetupError(f"cannot read keypair {path}: {exc}") from exc


def local_chain(registry: Registry | None = None) -> Chain:
    """LiteSVM in-process with every built program; registry and GRID mint initialised."""
    registry = registry or Registry()
    for program in (registry.program, registry.token.program):
        if not program.so_path.exists():
            raise ChainSetupError(f"{program.so_path} is missing: build the programs with `./gtx build`")
    local = LocalChain(deployed_programs())
    authority, oracle = local.deployer(), local.new_funded_keypair(10**12)
    local.send([registry.initialize(authority.pubkey(), oracle.pubkey()),
                registry.token.initialize(authority.pubkey())], [authority])
    backend = LiteSvmBackend(local)
    return Chain(backend, registry, oracle, local)


async def rpc_chain(url: str, oracle_keypair: Path, registry: Registry | None = None) -> Chain:
    """A JSON-RPC cluster whose registry names this oracle; checked before use."""
    registry = registry or Registry()
    oracle = load_keypair(oracle_keypair)
    backend = RpcBackend(url, deployed_programs() or [registry.program, registry.token.program])
    try:
        config = await backend.account(registry.config_address())
    except Exception as exc:
        await backend.close()
        raise ChainSetupError(f"cannot reach the chain at {url}: {exc}") from exc
    if config is None:
        await backend.close()
        raise ChainSetupError(f"the registry {registry.program_id} is not initialised on {url}")
    oracle_authority = registry.decode(config.data).oracle_authority
    if oracle_authority != oracle.pubkey():
        await backend.close()
        raise ChainSetupError(f"{oracle_keypair} is {oracle.pubkey()}, but the registry's oracle is {oracle_authority}")
    return Chain(backend, registry, oracle)


class ChainTarget(Protocol):
    """Which chain to open (``aggregator.config.ChainSettings`` is one)."""

    @property
    def backend(self) -> str: ...
    @property
    def rpc_url(self) -> str | None: ...
    @property
    def oracle_keypair(self) -> Path | None: ...


async def open_chain(settings: ChainTarget) -> Chain | None:
    """``none``: no chain; ``litesvm``: :func:`local_chain`; ``rpc``: :func:`rpc_chain`."""
    if settings.backend == "none":
        return None
    if settings.backend == "litesvm":
        chain = local_chain()
        log.info("chain: LiteSVM in-process", extra={"fields": {"oracle": str(chain.oracle.pubkey())}})
        return chain
    if settings.rpc_url is None or settings.oracle_keypair is None:
        raise ChainSetupError("the rpc backend needs an RPC URL and the oracle's keypair file")
    chain = await rpc_chain(settings.rpc_url, settings.oracle_keypair)
    log.info("chain: JSON-RPC", extra={"fields": {"url": settings.rpc_url, "oracle": str(chain.oracle.pubkey())}})
    return chain
