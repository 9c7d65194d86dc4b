"""First-start bootstrap of a chain: ``python -m aggregator chain init``.

Idempotent: every step first reads the chain and does only what is missing, and says what
it did. Against any JSON-RPC endpoint (the embedded node, a local validator, devnet):

1. keys: ``deployer``, ``oracle``, ``matcher``, ``issuer`` (and, on dev chains, the demo
   ``payment-mint``) in the key directory, as Solana CLI keypair files (a JSON array of 64
   bytes), mode 0600 in a 0700 directory; existing files are kept.
2. funds: on dev chains (``requestAirdrop`` answers), each key is topped up to
   :data:`DEV_FUNDING_LAMPORTS`.
3. programs: each program of ``Anchor.toml`` must be deployed (executable) at its id; its
   upgrade authority (from the upgradeable loader's ProgramData account) is reported.
   The embedded node deploys them with the deployer as upgrade authority; on a cluster
   ``solana program deploy`` does (README). Every ``initialize`` is signed by the deployer,
   so a program that admits only its upgrade authority to ``initialize`` accepts it.
4. registry (oracle = the oracle key), energy token, certificates (issuer = the issuer
   key), and the configured markets (matcher = the matcher key; payment mint given, or on
   dev chains a 6-decimal demo token whose mint authority is the deployer).
5. ``chain.json`` beside the keys: the markets and payment mint, which ``serve`` reads.
"""

from __future__ import annotations

import json
import os
import stat
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from solana.rpc.async_api import AsyncClient
from solana.rpc.commitment import Confirmed
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.system_program import CreateAccountParams, create_account
from spl.token.constants import TOKEN_PROGRAM_ID
from spl.token.instructions import (
    InitializeMintParams,
    create_associated_token_account,
    get_associated_token_address,
    initialize_mint,
)

from aggregator.chain.backend import RpcBackend
from aggregator.chain.certificates import Certificates
from aggregator.chain.connect import deployed_programs, load_keypair
from aggregator.chain.errors import ChainSetupError
from aggregator.chain.programs import GtxProgram, localnet_ids
from aggregator.chain.registry import Registry
from aggregator.chain.trading import Trading

KEY_NAMES = ("deployer", "oracle", "matcher", "issuer")
DEV_FUNDING_LAMPORTS = 100 * 10**9
MANIFEST = "chain.json"
UPGRADEABLE_LOADER = Pubkey.from_string("BPFLoaderUpgradeab1e11111111111111111111111")
MINT_BYTES = 82
PAYMENT_DECIMALS = 6
CERTIFICATE_VALIDITY_SECS = 365 * 24 * 3600


@dataclass(frozen=True)
class MarketSpec:
    """One market to initialise (the embedded default: continuous, 1 Wh lots, 0.25 % fee)."""

    auction_slot_secs: int = 0
    fee_bps: int = 25
    lot_size_wh: int = 1
    tick_size: int = 1_000


@dataclass
class InitReport:
    done: list[str] = field(default_factory=list)
    keys: dict[str, str] = field(default_factory=dict)
    markets: list[str] = field(default_factory=list)
    payment_mint: str | None = None

    def say(self, line: str) -> None:
        self.done.append(line)


def key_path(key_dir: Path, name: str) -> Path:
    return key_dir / f"{name}.json"


def ensure_keypair(key_dir: Path, name: str, report: InitReport | None = None) -> Keypair:
    """The keypair file `name` in `key_dir`, created (mode 0600) when absent."""
    key_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = key_path(key_dir, name)
    if path.exists():
        return load_keypair(path)
    keypair = Keypair()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, stat.S_IRUSR | stat.S_IWUSR)
    with os.fdopen(fd, "w") as f:
        json.dump(list(bytes(keypair)), f)
    if report is not None:
        report.say(f"created keypair {path} ({keypair.pubkey()})")
    return keypair


def read_manifest(key_dir: Path) -> dict[str, Any]:
    path = key_dir / MANIFEST
    return json.loads(path.read_text()) if path.exists() else {}


async def _upgrade_authority(client: AsyncClient, program_id: Pubkey) -> Pubkey | None:
    programdata = Pubkey.find_program_address([bytes(program_id)], UPGRADEABLE_LOADER)[0]
    acc = (await client.get_account_info(programdata, commitment=Confirmed)).value
    if acc is None or len(acc.data) < 45 or struct.unpack_from("<I", bytes(acc.data))[0] != 3:
        return None
    return Pubkey.from_bytes(bytes(acc.data)[13:45]) if bytes(acc.data)[12] == 1 else None


async def chain_init(url: str, key_dir: Path, *, dev: bool | None = None,
                     markets: list[MarketSpec] | None = None, payment_mint: Pubkey | None = None) -> InitReport:
    """Bring the chain at `url` to the state the aggregator serves; idempotent.

    `dev` None: a dev chain is one whose ``requestAirdrop`` works."""
    report = InitReport()
    markets = [MarketSpec()] if markets is None else markets
    keys = {name: ensure_keypair(key_dir, name, report) for name in KEY_NAMES}
    report.keys = {name: str(k.pubkey()) for name, k in keys.items()}
    programs = deployed_programs() or [GtxProgram(n, pid) for n, pid in localnet_ids().items()]
    backend = RpcBackend(url, programs)
    client = backend.client
    try:
        try:
            await client.get_latest_blockhash()
        except Exception as exc:
            raise ChainSetupError(f"cannot reach the chain at {url}: {exc}") from exc
        # funds
        for name, kp in keys.items():
            balance = (await client.get_balance(kp.pubkey(), commitment=Confirmed)).value
            if balance >= DEV_FUNDING_LAMPORTS // 10:
                continue
            if dev is False:
                report.say(f"{name} {kp.pubkey()} holds {balance} lamports: fund it before use")
                continue
            async with httpx.AsyncClient(timeout=30) as http:
                answer = (await http.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "requestAirdrop",
                                                     "params": [str(kp.pubkey()),
                                                                DEV_FUNDING_LAMPORTS - balance]})).json()
            if "error" in answer:
                if dev:
                    raise ChainSetupError(f"airdrop to {name} failed: {answer['error'].get('message')}")
                dev = False
                report.say(f"{name} {kp.pubkey()} holds {balance} lamports (no faucet here): fund it before use")
                continue
            dev = True
            await backend._wait_for(_signature(answer["result"]))  # noqa: SLF001
            report.say(f"funded {name} {kp.pubkey()} with {(DEV_FUNDING_LAMPORTS - balance) / 1e9:g} SOL")
        # programs
        for program in programs:
            acc = (await client.get_account_info(program.program_id, commitment=Confirmed)).value
            if acc is None or not acc.executable:
                raise ChainSetupError(
                    f"program {program.name} is not deployed at {program.program_id} on {url}: deploy "
                    f"target/deploy/{program.name}.so with upgrade authority {key_path(key_dir, 'deployer')} "
                    f"(see README, 'Deploying to a cluster')")
            authority = await _upgrade_authority(client, program.program_id)
            report.say(f"program {program.name} {program.program_id} deployed; upgrade authority {authority}")
        deployer = keys["deployer"]
        registry = Registry()
        config = await backend.account(registry.config_address())
        if config is None:
            await backend.send([registry.initialize(deployer.pubkey(), keys["oracle"].pubkey())], [deployer])
            report.say(f"initialised registry (oracle {keys['oracle'].pubkey()})")
        else:
            oracle = registry.decode(bytes(config.data)).oracle_authority
            if oracle != keys["oracle"].pubkey():
                raise ChainSetupError(f"the registry's oracle is {oracle}, not {key_path(key_dir, 'oracle')} "
                                      f"({keys['oracle'].pubkey()})")
            report.say("registry already initialised")
        token = registry.token
        if await backend.account(token.config_address()) is None:
            await backend.send([token.initialize(deployer.pubkey())], [deployer])
            report.say(f"initialised energy token (GRID mint {token.mint_address()})")
        else:
            report.say("energy token already initialised")
        certificates = Certificates(registry_program_id=registry.program_id)
        if certificates.program_id in {p.program_id for p in programs}:
            cert_config = await backend.account(certificates.config_address())
            if cert_config is None:
                await backend.send([certificates.initialize(deployer.pubkey(), keys["issuer"].pubkey(),
                                                            CERTIFICATE_VALIDITY_SECS)], [deployer])
                report.say(f"initialised certificates (issuer {keys['issuer'].pubkey()})")
            else:
                report.say("certificates already initialised")
        trading = Trading(token=token)
        if markets and trading.program_id in {p.program_id for p in programs}:
            mint = payment_mint or await _dev_payment_mint(backend, key_dir, deployer, report, dev)
            report.payment_mint = str(mint)
            fee_account = get_associated_token_address(deployer.pubkey(), mint)
            if await backend.account(fee_account) is None:
                await backend.send([create_associated_token_account(deployer.pubkey(), deployer.pubkey(), mint)],
                                   [deployer])
                report.say(f"created fee account {fee_account}")
            for spec in markets:
                address = trading.market_address(deployer.pubkey(), mint, spec.auction_slot_secs)
                if await backend.account(address) is None:
                    await backend.send([trading.initialize_market(
                        deployer.pubkey(), mint, fee_account, matcher=keys["matcher"].pubkey(), fee_bps=spec.fee_bps,
                        lot_size_wh=spec.lot_size_wh, tick_size=spec.tick_size,
                        auction_slot_secs=spec.auction_slot_secs)], [deployer])
                    report.say(f"initialised market {address} (auction slot {spec.auction_slot_secs} s)")
                else:
                    report.say(f"market {address} already initialised")
                report.markets.append(str(address))
    finally:
        await backend.close()
    manifest = {"url": url, "keys": report.keys, "markets": report.markets, "payment_mint": report.payment_mint}
    (key_dir / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return report


def _signature(text: str):
    from solders.signature import Signature

    return Signature.from_string(text)


async def _dev_payment_mint(backend: RpcBackend, key_dir: Path, deployer: Keypair, report: InitReport,
                            dev: bool | None) -> Pubkey:
    mint = ensure_keypair(key_dir, "payment-mint", report)
    if await backend.account(mint.pubkey()) is not None:
        return mint.pubkey()
    if dev is False:
        raise ChainSetupError("markets need a payment mint on this cluster: pass --payment-mint (e.g. USDC's)")
    rent = (await backend.client.get_minimum_balance_for_rent_exemption(MINT_BYTES)).value
    await backend.send([
        create_account(CreateAccountParams(from_pubkey=deployer.pubkey(), to_pubkey=mint.pubkey(), lamports=rent,
                                           space=MINT_BYTES, owner=TOKEN_PROGRAM_ID)),
        initialize_mint(InitializeMintParams(decimals=PAYMENT_DECIMALS, program_id=TOKEN_PROGRAM_ID,
                                             mint=mint.pubkey(), mint_authority=deployer.pubkey())),
    ], [deployer, mint])
    report.say(f"created demo payment token {mint.pubkey()} ({PAYMENT_DECIMALS} decimals, mint authority deployer)")
    return mint.pubkey()
