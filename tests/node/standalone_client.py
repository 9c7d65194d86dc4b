"""A newcomer's client, written from the README, the envelope spec and the IDLs alone: it
imports nothing of the project (HTTP, Solana JSON-RPC, solders for keys and transactions,
and the `mosquitto_pub` command).

    python standalone_client.py onboard API_URL RPC_URL MQTT_PORT STATE_FILE
    python standalone_client.py check   API_URL RPC_URL MQTT_PORT STATE_FILE

`onboard` creates an owner wallet and a device key, registers the user and the meter with
the transactions the REST answers return (signed here, relayed), publishes one signed
reading before the meter's registration lands and two after, and waits for GRID on chain.
`check` (after the aggregator was killed and restarted) republishes the same readings and
verifies that nothing is minted twice. Both print one JSON line of what they saw.
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.transaction import Transaction

TOKEN_PROGRAM = Pubkey.from_string("TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA")
ATA_PROGRAM = Pubkey.from_string("ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL")


def rpc(url: str, method: str, params: list) -> dict:
    reply = httpx.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params}, timeout=30).json()
    if "error" in reply:
        raise RuntimeError(f"{method}: {reply['error']}")
    return reply["result"]


def signed_request(api: str, wallet: Keypair, purpose: str, fields: dict[str, str]) -> dict[str, str]:
    nonce = httpx.post(f"{api}/api/auth/challenge", json={"wallet": str(wallet.pubkey()), "purpose": purpose},
                       timeout=30).json()["nonce"]
    lines = [f"GridTokenX {purpose}", f"wallet: {wallet.pubkey()}", f"nonce: {nonce}"]
    lines += [f"{k}: {v}" for k, v in sorted(fields.items())]
    return {"nonce": nonce, "signature": str(wallet.sign_message("\n".join(lines).encode()))}


def sign_and_relay(api: str, encoded: str, wallet: Keypair) -> str:
    tx = Transaction.from_bytes(base64.b64decode(encoded))
    tx.sign([wallet], tx.message.recent_blockhash)
    reply = httpx.post(f"{api}/api/transactions", json={"transaction": base64.b64encode(bytes(tx)).decode()},
                       timeout=60)
    assert reply.status_code == 201, reply.text
    return reply.json()["signature"]


def envelope(device: Keypair, meter: str, seq: int, ts: int, exp_wh: int) -> str:
    payload = json.dumps({"kind": "reading", "meter": meter, "seq": seq, "ts": ts, "clk": 1, "int_s": 60,
                          "imp_wh": 100, "exp_wh": exp_wh, "v_dv": 2300, "i_ma": 1000, "p_w": -500,
                          "pf_milli": 990, "f_chz": 5000, "fw": "1.0.0"}, separators=(",", ":")).encode()
    sig = bytes(device.sign_message(payload))
    return json.dumps({"v": 1, "meter": meter, "payload": base64.b64encode(payload).decode(),
                       "sig": base64.b64encode(sig).decode()}, separators=(",", ":"))


def publish(port: int, meter: str, message: str) -> None:
    subprocess.run(["mosquitto_pub", "-p", str(port), "-q", "1", "-t", f"gtx/v1/meters/{meter}/readings",
                    "-m", message], check=True, timeout=30)


def grid_balance(rpc_url: str, owner: Pubkey) -> int:
    token_idl = json.loads((Path(__file__).resolve().parents[2] / "programs/idl/energy_token.json").read_text())
    token_program_id = Pubkey.from_string(token_idl["address"])  # Anchor's IDL format
    mint = Pubkey.find_program_address([b"grid_mint"], token_program_id)[0]
    ata = Pubkey.find_program_address([bytes(owner), bytes(TOKEN_PROGRAM), bytes(mint)], ATA_PROGRAM)[0]
    if rpc(rpc_url, "getAccountInfo", [str(ata), {"encoding": "base64"}])["value"] is None:
        return 0
    return int(rpc(rpc_url, "getTokenAccountBalance", [str(ata)])["value"]["amount"])


def wait_for(what: str, check, timeout_s: float = 90.0):
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.5)


def read_token(api: str, wallet: Keypair) -> dict[str, str]:
    """The header that reads the wallet's private data (POST /api/auth/token)."""
    reply = httpx.post(f"{api}/api/auth/token", json={"wallet": str(wallet.pubkey()),
                                                       **signed_request(api, wallet, "read_token", {})}, timeout=30)
    assert reply.status_code == 201, reply.text
    return {"Authorization": f"Bearer {reply.json()['token']}"}


def confirmed_mints(api: str, meter: str, auth: dict[str, str]) -> list[dict]:
    return [m for m in httpx.get(f"{api}/api/mints", params={"meter_id": meter}, headers=auth, timeout=30).json()
            if m["state"] == "confirmed"]


def onboard(api: str, rpc_url: str, port: int, state_file: Path) -> dict:
    owner, device = Keypair(), Keypair()
    meter = "mtr-" + hashlib.sha256(bytes(device.pubkey())).hexdigest()[:8]
    rpc(rpc_url, "requestAirdrop", [str(owner.pubkey()), 2_000_000_000])
    wait_for("the airdrop", lambda: rpc(rpc_url, "getBalance", [str(owner.pubkey())])["value"] > 0)
    user = httpx.post(f"{api}/api/users", json={
        "wallet": str(owner.pubkey()), "role": "prosumer",
        **signed_request(api, owner, "register_user", {"role": "prosumer"})}, timeout=30).json()
    assert user["chain_state"] == "pending" and user["registration_tx"], user
    sign_and_relay(api, user["registration_tx"], owner)
    device_hex = bytes(device.pubkey()).hex()
    registered = httpx.post(f"{api}/api/meters", json={
        "meter_id": meter, "owner_wallet": str(owner.pubkey()), "device_public_key": device_hex,
        "location": "roof, block 7", "meter_type": "solar",
        **signed_request(api, owner, "register_meter", {"meter_id": meter, "device_public_key": device_hex})},
        timeout=30)
    assert registered.status_code == 201, registered.text
    body = registered.json()
    assert body["chain_state"] == "pending" and body["location"] == "roof, block 7", body
    now = int(time.time())
    readings = [envelope(device, meter, seq, now - 600 + 60 * seq, exp) for seq, exp in
                ((1, 1_000), (2, 1_500), (3, 2_250))]
    publish(port, meter, readings[0])  # before the meter is on chain
    sign_and_relay(api, body["registration_tx"], owner)
    auth = read_token(api, owner)
    wait_for("the meter to become active",
             lambda: httpx.get(f"{api}/api/meters/{meter}", headers=auth, timeout=30).json()["chain_state"]
             == "active")
    for message in readings[1:]:
        publish(port, meter, message)
    wait_for("GRID on chain", lambda: sum(m["minted_wh"] for m in confirmed_mints(api, meter, auth)) >= 1_250)
    balance = grid_balance(rpc_url, owner.pubkey())
    state = {"owner": str(owner.pubkey()), "owner_secret": list(bytes(owner)), "meter": meter,
             "readings": readings, "grid": balance,
             "minted_wh": sum(m["minted_wh"] for m in confirmed_mints(api, meter, auth)),
             "user_state": httpx.get(f"{api}/api/users/{owner.pubkey()}", headers=auth,
                                     timeout=30).json()["chain_state"]}
    state_file.write_text(json.dumps(state))
    return state


def check(api: str, rpc_url: str, port: int, state_file: Path) -> dict:
    state = json.loads(state_file.read_text())
    owner, meter = Pubkey.from_string(state["owner"]), state["meter"]
    auth = read_token(api, Keypair.from_bytes(bytes(state["owner_secret"])))
    before = grid_balance(rpc_url, owner)
    for message in state["readings"]:  # a replay of everything: refused as duplicates
        publish(port, meter, message)
    time.sleep(5)
    mints = confirmed_mints(api, meter, auth)
    return {"grid_before_restart": state["grid"], "grid_after_restart": before,
            "grid_after_replay": grid_balance(rpc_url, owner), "minted_wh": sum(m["minted_wh"] for m in mints),
            "accepted": httpx.get(f"{api}/api/meters/{meter}", headers=auth, timeout=30).json()["accepted_count"]}


if __name__ == "__main__":
    command, api, rpc_url, port, state_file = sys.argv[1:6]
    run = onboard if command == "onboard" else check
    print(json.dumps(run(api, rpc_url, int(port), Path(state_file))))
