"""The node's JSON-RPC and WebSocket surface, used as a wallet or SDK uses it: over real
sockets (httpx, websockets), against a node subprocess with the programs deployed."""

from __future__ import annotations

import asyncio
import base64
import json

import httpx
import pytest
import websockets
from solders.hash import Hash
from solders.keypair import Keypair
from solders.system_program import TransferParams, transfer
from solders.transaction import Transaction

from aggregator.chain.programs import localnet_ids
from aggregator.chain.registry import Registry
from devservers.processes import NodeProcess


@pytest.fixture
def node(tmp_path):
    authority = Keypair()
    proc = NodeProcess(tmp_path / "chain", extra=["--upgrade-authority", str(authority.pubkey())])
    proc.ready()
    try:
        yield proc, authority
    finally:
        proc.stop()


def call(url: str, method: str, params: list | None = None) -> dict:
    reply = httpx.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}, timeout=10)
    return reply.json()


def signed(url: str, instructions: list, payer: Keypair, signers: list[Keypair]) -> str:
    blockhash = Hash.from_string(call(url, "getLatestBlockhash")["result"]["value"]["blockhash"])
    tx = Transaction.new_signed_with_payer(instructions, payer.pubkey(), signers, blockhash)
    return base64.b64encode(bytes(tx)).decode()


def test_reads_program_accounts_simulate_and_blockhash_validity(node):
    proc, authority = node
    url = proc.url
    registry = Registry()
    # programs are deployed with the upgradeable loader and the given upgrade authority
    program = call(url, "getAccountInfo", [str(registry.program_id), {"encoding": "base64"}])["result"]["value"]
    assert program["executable"] and program["owner"] == "BPFLoaderUpgradeab1e11111111111111111111111"
    loaders = call(url, "getProgramAccounts", ["BPFLoaderUpgradeab1e11111111111111111111111",
                                               {"encoding": "base64", "filters": [{"dataSize": 36}]}])["result"]
    assert {a["pubkey"] for a in loaders} == {str(p) for p in localnet_ids().values()}
    assert call(url, "requestAirdrop", [str(authority.pubkey()), 10**10])["result"]
    oracle = Keypair()
    init = [registry.initialize(authority.pubkey(), oracle.pubkey()), registry.token.initialize(authority.pubkey())]
    # simulate runs without committing
    sim = call(url, "simulateTransaction", [signed(url, init, authority, [authority]), {"encoding": "base64"}])
    assert sim["result"]["value"]["err"] is None and sim["result"]["value"]["unitsConsumed"] > 0
    assert call(url, "getAccountInfo", [str(registry.config_address())])["result"]["value"] is None
    sig = call(url, "sendTransaction", [signed(url, init, authority, [authority]), {"encoding": "base64"}])["result"]
    assert call(url, "getSignatureStatuses", [[sig]])["result"]["value"][0]["confirmationStatus"] == "finalized"
    tx = call(url, "getTransaction", [sig, {"encoding": "base64"}])["result"]
    assert tx["meta"]["err"] is None and any("invoke" in line for line in tx["meta"]["logMessages"])
    history = call(url, "getSignaturesForAddress", [str(registry.program_id)])["result"]
    assert [h["signature"] for h in history] == [sig]
    # memcmp on the account discriminator (base64 bytes) finds the registry's config
    config = call(url, "getAccountInfo", [str(registry.config_address()), {"encoding": "base64"}])["result"]["value"]
    discriminator = base64.b64decode(config["data"][0])[:8]
    configs = call(url, "getProgramAccounts", [str(registry.program_id), {"encoding": "base64", "filters": [
        {"memcmp": {"offset": 0, "bytes": base64.b64encode(discriminator).decode(), "encoding": "base64"}}]}])["result"]
    assert [c["pubkey"] for c in configs] == [str(registry.config_address())]
    none = call(url, "getProgramAccounts", [str(registry.program_id), {"filters": [
        {"memcmp": {"offset": 0, "bytes": "1111111111"}}]}])["result"]
    assert none == []
    # the GRID mint is a token mint; a blockhash handed out is valid, a made-up one is not
    latest = call(url, "getLatestBlockhash")["result"]["value"]["blockhash"]
    assert call(url, "isBlockhashValid", [latest])["result"]["value"] is True
    assert call(url, "isBlockhashValid", [str(Hash.new_unique())])["result"]["value"] is False
    stale = Transaction.new_signed_with_payer([transfer(TransferParams(
        from_pubkey=authority.pubkey(), to_pubkey=oracle.pubkey(), lamports=1))], authority.pubkey(), [authority],
        Hash.new_unique())
    refused = call(url, "sendTransaction", [base64.b64encode(bytes(stale)).decode(), {"encoding": "base64"}])
    assert "Blockhash not found" in refused["error"]["message"]
    assert call(url, "getMinimumBalanceForRentExemption", [165])["result"] > 0
    assert call(url, "getVersion")["result"]["solana-core"]
    assert call(url, "noSuchMethod")["error"]["code"] == -32601


def test_subscriptions_account_logs_signature(node):
    proc, authority = node
    url = proc.url
    ws_url = url.replace("http://", "ws://") + "/"
    payee = Keypair()
    assert call(url, "requestAirdrop", [str(authority.pubkey()), 10**10])["result"]

    async def scenario() -> None:
        async with websockets.connect(ws_url) as ws:
            async def subscribe(method: str, params: list) -> int:
                await ws.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}))
                return json.loads(await ws.recv())["result"]

            account_sub = await subscribe("accountSubscribe", [str(payee.pubkey()), {"encoding": "base64"}])
            logs_sub = await subscribe("logsSubscribe", [{"mentions": [str(payee.pubkey())]}])
            raw = signed(url, [transfer(TransferParams(from_pubkey=authority.pubkey(), to_pubkey=payee.pubkey(),
                                                       lamports=123_456))], authority, [authority])
            sig_sub = await subscribe("signatureSubscribe", [
                str(Transaction.from_bytes(base64.b64decode(raw)).signatures[0])])
            reply = await asyncio.to_thread(call, url, "sendTransaction", [raw, {"encoding": "base64"}])
            got = {}
            while len(got) < 3:
                message = json.loads(await asyncio.wait_for(ws.recv(), 10))
                got[message["params"]["subscription"]] = message
            assert got[account_sub]["method"] == "accountNotification"
            assert got[account_sub]["params"]["result"]["value"]["lamports"] == 123_456
            assert got[logs_sub]["params"]["result"]["value"]["signature"] == reply["result"]
            assert got[sig_sub]["params"]["result"]["value"] == {"err": None}
            await ws.send(json.dumps({"jsonrpc": "2.0", "id": 2, "method": "accountUnsubscribe",
                                      "params": [account_sub]}))
            assert json.loads(await ws.recv())["result"] is True

    asyncio.run(scenario())


def test_a_second_node_on_one_data_dir_is_refused(node, tmp_path):
    proc, _ = node
    second = NodeProcess(tmp_path / "chain")
    assert second.proc.wait(60) == 2
    assert "another node holds" in second.stderr_text()
    second.stop()
