"""Two aggregator replicas on one PostgreSQL, one broker (MQTT shared subscription) and one
chain node, with leader election: the leader is killed with SIGKILL mid-stream, the other
takes over minting, and every reading is ingested and minted exactly once."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from devservers import AggregatorProcess, MosquittoBroker, free_tcp_port, scratch_postgres
from aggregator.chain.bootstrap import ensure_keypair
from devservers.processes import NodeProcess

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("standalone_client", Path(__file__).with_name("standalone_client.py"))
client = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(client)

READINGS = 30


def _leads_minter(replica: AggregatorProcess) -> bool:
    try:
        return "minter" in httpx.get(replica.url + "/readyz", timeout=5).json().get("leader_of", [])
    except httpx.TransportError:
        return False


def test_leader_killed_mid_stream_every_reading_minted_once():
    with tempfile.TemporaryDirectory(prefix="gtx-replicas-") as tmp, scratch_postgres() as pg:
        _replicas(Path(tmp), pg.dsn())


def _replicas(tmp: Path, dsn: str) -> None:
    keys = tmp / "keys"
    broker = MosquittoBroker(tmp / "mq")
    broker.start()
    authority_env = {**os.environ, "PYTHONPATH": str(ROOT)}
    # chain init signs every initialize with the key dir's deployer: the programs' upgrade authority
    deployer = ensure_keypair(keys, "deployer")
    node = NodeProcess(tmp / "chain", extra=["--upgrade-authority", str(deployer.pubkey())])
    replicas: list[AggregatorProcess] = []
    try:
        node.ready()
        init = subprocess.run([sys.executable, "-m", "aggregator", "chain", "init", "--url", node.url,
                               "--key-dir", str(keys)], cwd=ROOT, env=authority_env, capture_output=True,
                              text=True, timeout=120)
        assert init.returncode == 0, init.stderr
        manifest = json.loads((keys / "chain.json").read_text())

        def replica(i: int, port: int | None = None) -> AggregatorProcess:
            return AggregatorProcess({
                "GTX_DATABASE_URL": dsn, "GTX_DATA_DIR": str(tmp / f"replica{i}"), "GTX_LEADER_ELECTION": "true",
                "GTX_CHAIN_BACKEND": "rpc", "GTX_CHAIN_RPC_URL": node.url,
                "GTX_CHAIN_ORACLE_KEYPAIR": str(keys / "oracle.json"),
                "GTX_CHAIN_MATCHER_KEYPAIR": str(keys / "matcher.json"),
                "GTX_CHAIN_ISSUER_KEYPAIR": str(keys / "issuer.json"),
                "GTX_CHAIN_MARKETS": json.dumps(manifest["markets"]), "GTX_MQTT_ENABLED": "true",
                "GTX_MQTT_PORT": str(broker.port), "GTX_MQTT_SHARE_GROUP": "gtx",
                "GTX_MQTT_CLIENT_ID": f"gtx-aggregator-{i}", "GTX_INDEXER_POLL_S": "0.5",
                "GTX_MINT_SWEEP_S": "2", "GTX_LOG_LEVEL": "WARNING"}, port=port)

        replicas = [replica(0), replica(1)]
        for r in replicas:
            r.ready(180)
        client.wait_for("a minter leader", lambda: any(_leads_minter(r) for r in replicas), 30)
        leader_index = next(i for i, r in enumerate(replicas) if _leads_minter(r))
        leader, follower = replicas[leader_index], replicas[1 - leader_index]
        assert not _leads_minter(follower)

        # a user and a meter, onboarded through the follower
        seen_state = tmp / "state.json"
        owner, device = client.Keypair(), client.Keypair()
        meter = "mtr-replica"
        api = follower.url
        client.rpc(node.url, "requestAirdrop", [str(owner.pubkey()), 2_000_000_000])
        user = httpx.post(f"{api}/api/users", json={"wallet": str(owner.pubkey()), "role": "prosumer",
                                                    **client.signed_request(api, owner, "register_user",
                                                                            {"role": "prosumer"})}, timeout=30).json()
        client.sign_and_relay(api, user["registration_tx"], owner)
        device_hex = bytes(device.pubkey()).hex()
        body = httpx.post(f"{api}/api/meters", json={
            "meter_id": meter, "owner_wallet": str(owner.pubkey()), "device_public_key": device_hex,
            **client.signed_request(api, owner, "register_meter", {"meter_id": meter, "device_public_key": device_hex})},
            timeout=30).json()
        client.sign_and_relay(api, body["registration_tx"], owner)
        auth = client.read_token(api, owner)
        client.wait_for("the meter on chain",
                        lambda: httpx.get(f"{api}/api/meters/{meter}", headers=auth, timeout=30).json()["chain_state"] == "active")

        now = int(time.time())
        exports = [1_000 + 37 * seq for seq in range(1, READINGS + 1)]
        for seq in range(1, READINGS + 1):
            client.publish(broker.port, meter, client.envelope(device, meter, seq, now - 60 * (READINGS + 2 - seq),
                                                               exports[seq - 1]))
            if seq == READINGS // 2:
                leader.proc.send_signal(signal.SIGKILL)
                leader.proc.wait(30)
                leader.stop()
                client.wait_for("the follower to lead", lambda: _leads_minter(follower), 30)
        # the killed replica's broker session may hold messages in flight to it: it comes back
        replicas[leader_index] = replica(leader_index, port=leader.port)
        replicas[leader_index].ready(180)
        due = exports[-1] - exports[0]
        client.wait_for("every reading ingested",
                        lambda: httpx.get(f"{api}/api/meters/{meter}", headers=auth, timeout=30).json()["accepted_count"] == READINGS,
                        120)
        client.wait_for("every reading minted",
                        lambda: sum(m["minted_wh"] for m in client.confirmed_mints(api, meter, auth)) == due, 120)
        time.sleep(3)  # nothing more may arrive
        assert sum(m["minted_wh"] for m in client.confirmed_mints(api, meter, auth)) == due
        reconciliation = httpx.get(f"{api}/api/meters/{meter}/reconciliation", headers=auth, timeout=30).json()
        assert reconciliation["minted_wh"] == due and reconciliation["consistent"], reconciliation
        grid = client.grid_balance(node.url, owner.pubkey())
        assert grid > 0
        seen_state.write_text(json.dumps({"grid": grid}))
    finally:
        for r in replicas:
            r.stop()
        node.stop()
        broker.stop()
