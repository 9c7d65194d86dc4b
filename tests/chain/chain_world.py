"""Real programs on either chain backend, set up the way tests need them.

`serve_localnet` runs tools/localnet (LiteSVM behind real HTTP JSON-RPC) in a thread so
the RPC backend is exercised over the wire; `World` initialises the registry and the GRID
token, registers owners and meters, and settles readings, through any backend.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import uvicorn
from solders.keypair import Keypair

from aggregator.chain.programs import localnet_deployer
from aggregator.chain import PROSUMER, LocalChain, Registry, TxResult
from aggregator.chain.backend import ChainBackend, LiteSvmBackend, RpcBackend
from devservers import free_tcp_port
from tools.localnet import Localnet, create_app

REGISTRY = Registry()
PROGRAMS = [REGISTRY.program, REGISTRY.token.program]


@contextmanager
def serve_localnet(chain: LocalChain | None = None, *, localnet: Localnet | None = None) -> Iterator[str]:
    """Serve `localnet`, or `chain` (default: registry + energy_token), over JSON-RPC; yield its
    URL once healthy."""
    localnet = localnet or Localnet(chain or LocalChain(PROGRAMS))
    port = free_tcp_port()
    server = uvicorn.Server(uvicorn.Config(create_app(localnet), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 15
    try:
        while True:
            try:
                if httpx.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "getHealth"}).json()["result"] == "ok":
                    break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def make_backend(kind: str, rpc_url: str | None = None) -> ChainBackend:
    if kind == "litesvm":
        return LiteSvmBackend(LocalChain(PROGRAMS))
    if rpc_url is None:
        raise ValueError("the rpc backend needs a URL")
    return RpcBackend(rpc_url, PROGRAMS)


async def funded(backend: ChainBackend, lamports: int = 10**10, keypair: Keypair | None = None) -> Keypair:
    kp = keypair or Keypair()
    if isinstance(backend, LiteSvmBackend):
        backend.chain.fund(kp.pubkey(), lamports)
    elif isinstance(backend, RpcBackend):
        await backend.client.request_airdrop(kp.pubkey(), lamports)
    else:
        raise TypeError(f"cannot fund on {type(backend).__name__}")
    return kp


class World:
    """An initialised registry and GRID token with an oracle, on one backend."""

    def __init__(self, backend: ChainBackend) -> None:
        self.backend = backend
        self.registry = REGISTRY

    async def start(self) -> "World":
        self.authority = await deployer(self.backend)
        self.oracle = await funded(self.backend)
        self.init = await self.backend.send([
            REGISTRY.initialize(self.authority.pubkey(), self.oracle.pubkey()),
            REGISTRY.token.initialize(self.authority.pubkey())], [self.authority])
        return self

    async def owner(self) -> Keypair:
        """A registered prosumer with a GRID token account."""
        kp = await funded(self.backend)
        await self.backend.send([REGISTRY.register_user(kp.pubkey(), PROSUMER),
                                 REGISTRY.token.create_token_account(kp.pubkey(), kp.pubkey())], [kp])
        return kp

    async def meter(self, owner: Keypair, meter_id: str, device_key: bytes = bytes(32)) -> TxResult:
        return await self.backend.send([REGISTRY.register_meter(owner.pubkey(), meter_id, device_key, "lab")],
                                       [owner])

    async def meter_account(self, meter_id: str):
        account = await self.backend.account(REGISTRY.meter_address(meter_id))
        assert account is not None, meter_id
        return REGISTRY.decode(account.data)

    async def settle(self, deltas: list[tuple[str, int, int]], *, check: bool = True) -> TxResult:
        """Add (meter id, production Wh, consumption Wh) to each meter's totals and settle them
        all in one transaction, as the minter does."""
        instructions, owners = [], []
        for meter_id, production_wh, consumption_wh in deltas:
            m = await self.meter_account(meter_id)
            instructions.append(REGISTRY.submit_readings(
                self.oracle.pubkey(), meter_id, m.total_production_wh + production_wh,
                m.total_consumption_wh + consumption_wh, max(m.last_reading_at, 1)))
            owners.append((meter_id, m.owner))
        instructions.append(REGISTRY.settle_and_mint(owners))
        return await self.backend.send(instructions, [self.oracle], check=check)


async def deployer(backend: ChainBackend) -> Keypair:
    """The localnet deployer, funded: the programs' upgrade authority, whom initialize requires."""
    return await funded(backend, keypair=localnet_deployer())
