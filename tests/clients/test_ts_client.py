"""The TypeScript client generated with Codama (clients/ts) builds from the IDLs and sends a
real transaction: a node process using only that client and @solana/kit initializes the
registry as the programs' upgrade authority and registers a wallet on a localnet this test
starts (tools/localnet, JSON-RPC); the test reads the effect back from the chain."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess

import httpx
import pytest
from solders.pubkey import Pubkey

from aggregator.chain import CONSUMER, Registry
from aggregator.chain.programs import LOCALNET_DEPLOYER_PATH, ROOT, localnet_deployer
from devservers.processes import LocalnetProcess

CLIENT = ROOT / "clients" / "ts"
SCRIPT = ROOT / "tests" / "clients" / "register_user.mjs"


@pytest.fixture(scope="module")
def built_client() -> None:
    assert shutil.which("node") and shutil.which("npm"), "node and npm are needed (scripts/setup.sh)"
    if not (CLIENT / "node_modules").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=CLIENT, check=True, timeout=600)
    done = subprocess.run(["npm", "run", "build"], cwd=CLIENT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    # the committed generated code is what Codama makes from the committed IDLs
    status = subprocess.run(["git", "status", "--porcelain", "--", "src"], cwd=CLIENT, capture_output=True,
                            text=True, check=True)
    assert status.stdout == "", f"clients/ts/src is stale; run `npm run build` there:\n{status.stdout}"


def test_generated_client_registers_a_wallet_on_localnet(built_client):
    net = LocalnetProcess()
    try:
        net.ready()
        done = subprocess.run(["node", str(SCRIPT), net.url, str(LOCALNET_DEPLOYER_PATH)],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        result = json.loads(done.stdout.strip().splitlines()[-1])
        assert (result["userType"], result["status"]) == ("Consumer", "Active")
        registry = Registry()
        wallet = Pubkey.from_string(result["wallet"])
        assert Pubkey.from_string(result["user"]) == registry.user_address(wallet)
        # the effect, read from the chain by this process
        answer = httpx.post(net.url, json={"jsonrpc": "2.0", "id": 1, "method": "getAccountInfo",
                                           "params": [result["user"], {"encoding": "base64"}]}).json()
        value = answer["result"]["value"]
        assert value["owner"] == str(registry.program_id)
        user = registry.decode(base64.b64decode(value["data"][0]))
        assert (user.wallet, user.user_type, user.status) == (wallet, CONSUMER, 1)
        assert str(user.registered_at) == result["registeredAt"]
        config = httpx.post(net.url, json={"jsonrpc": "2.0", "id": 2, "method": "getAccountInfo",
                                           "params": [str(registry.config_address()), {"encoding": "base64"}]}).json()
        cfg = registry.decode(base64.b64decode(config["result"]["value"]["data"][0]))
        assert cfg.authority == localnet_deployer().pubkey()
        assert cfg.user_count == 1
    finally:
        net.stop()
