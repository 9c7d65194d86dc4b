"""The IDLs in Anchor's current (0.30+) format are generated from interface.toml and match
the programs: up to date, discriminators, flags, PDA seeds that derive the addresses the
Python clients use, enum types, constants, events and errors."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import pytest
from solders.pubkey import Pubkey

from aggregator.chain import Registry
from aggregator.chain.certificates import Certificates
from aggregator.chain.programs import ROOT, program_data_address
from aggregator.chain.trading import MAX_FILLS, Trading
from aggregator.chain.registry import MAX_SETTLE_METERS

PROGRAMS = ["certificates", "energy_token", "registry", "trading"]


def current(name: str) -> dict:
    return json.loads((ROOT / "programs" / "idl" / f"{name}.json").read_text())


def legacy(name: str) -> dict:
    return json.loads((ROOT / "programs" / "idl" / "legacy" / f"{name}.json").read_text())


def test_committed_idls_are_up_to_date_with_the_interfaces():
    done = subprocess.run([sys.executable, "-m", "tools.idl", "--check"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("name", PROGRAMS)
def test_current_idl_has_the_anchor_030_shape(name):
    idl, old = current(name), legacy(name)
    assert idl["address"] == old["metadata"]["address"]
    assert idl["metadata"]["name"] == name and idl["metadata"]["spec"] == "0.1.0"
    for ix, old_ix in zip(idl["instructions"], old["instructions"], strict=True):
        assert bytes(ix["discriminator"]) == hashlib.sha256(f"global:{ix['name']}".encode()).digest()[:8]
        flags = [(bool(a.get("writable")), bool(a.get("signer"))) for a in ix["accounts"]]
        assert flags == [(a["isMut"], a["isSigner"]) for a in old_ix["accounts"]]
        assert ix["docs"]
    for kind, namespace in (("accounts", "account"), ("events", "event")):
        for item in idl[kind]:
            assert bytes(item["discriminator"]) == hashlib.sha256(f"{namespace}:{item['name']}".encode()).digest()[:8]
    type_names = {t["name"] for t in idl["types"]}
    assert {a["name"] for a in idl["accounts"]} | {e["name"] for e in idl["events"]} <= type_names
    assert idl["errors"] == old["errors"]
    text = json.dumps(idl)
    assert "publicKey" not in text and "isMut" not in text


def _account(idl: dict, ix: str, account: str) -> dict:
    (i,) = [i for i in idl["instructions"] if i["name"] == ix]
    (a,) = [a for a in i["accounts"] if a["name"] == account]
    return a


def _derive(entry: dict, program: str, accounts: dict[str, Pubkey], args: dict[str, bytes]) -> Pubkey:
    seeds = []
    for seed in entry["pda"]["seeds"]:
        if seed["kind"] == "const":
            seeds.append(bytes(seed["value"]))
        elif seed["kind"] == "account":
            seeds.append(bytes(accounts[seed["path"]]))
        else:
            seeds.append(args[seed["path"]])
    owner = Pubkey(bytes(entry["pda"]["program"]["value"])) if "program" in entry["pda"] else Pubkey.from_string(program)
    return Pubkey.find_program_address(seeds, owner)[0]


def test_pda_seeds_derive_the_addresses_the_clients_use():
    registry, trading, certs = Registry(), Trading(), Certificates()
    wallet, mint = Pubkey.new_unique(), Pubkey.new_unique()
    reg, tr = current("registry"), current("trading")
    assert _derive(_account(reg, "register_user", "user"), reg["address"], {"wallet": wallet}, {}) == \
        registry.user_address(wallet)
    assert _derive(_account(reg, "register_meter", "meter"), reg["address"], {},
                   {"meter_id": b"M-1".ljust(32, b"\0")}) == registry.meter_address("M-1")
    assert _derive(_account(reg, "settle_and_mint", "mint"), reg["address"], {}, {}) == registry.token.mint_address()
    assert _derive(_account(reg, "settle_and_mint", "registry_minter"), reg["address"], {}, {}) == registry.minter_address()
    market_entry = _account(tr, "initialize_market", "market")
    for slot in (0, 900):
        market = _derive(market_entry, tr["address"], {"authority": wallet, "payment_mint": mint},
                         {"auction_slot_secs": slot.to_bytes(4, "little")})
        assert market == trading.market_address(wallet, mint, slot)
        assert _derive(_account(tr, "deposit", "balance"), tr["address"], {"market": market, "owner": wallet}, {}) == \
            trading.balance_address(market, wallet)
    assert _account(current("certificates"), "initialize", "program_data")["address"] == \
        str(program_data_address(certs.program.program_id))
    assert _account(reg, "settle_and_mint", "energy_token_program")["address"] == str(registry.token.program_id)


def test_enums_constants_and_extra_account_groups():
    tr, reg, certs = current("trading"), current("registry"), current("certificates")
    types = {t["name"]: t for name in PROGRAMS for t in current(name)["types"]}
    assert [v["name"] for v in types["OrderSide"]["type"]["variants"]] == ["Bid", "Ask"]
    assert [v["name"] for v in types["UserType"]["type"]["variants"]] == ["Prosumer", "Consumer"]
    assert [v["name"] for v in types["CertificateStatus"]["type"]["variants"]][:2] == ["Pending", "Valid"]
    order_side = next(f for f in types["Order"]["type"]["fields"] if f["name"] == "side")
    assert order_side["type"] == {"defined": {"name": "OrderSide"}}
    assert {"name": "MAX_FILLS", "value": str(MAX_FILLS)}.items() <= next(
        c for c in tr["constants"] if c["name"] == "MAX_FILLS").items()
    assert next(c for c in reg["constants"] if c["name"] == "MAX_SETTLE_METERS")["value"] == str(MAX_SETTLE_METERS)
    settle = next(i for i in tr["instructions"] if i["name"] == "settle_fills")
    assert any("groups of 4" in d and "bid_order (writable" in d for d in settle["docs"])
    mint = next(i for i in reg["instructions"] if i["name"] == "settle_and_mint")
    assert any("1 to 16 groups of 2" in d for d in mint["docs"])
    assert certs["types"] and next(e for e in certs["errors"] if e["code"] == 6012)["name"] == "NotUpgradeAuthority"


@pytest.mark.parametrize("name", PROGRAMS)
def test_every_account_layout_has_compile_time_size_and_offset_assertions_and_views(name):
    import tomllib

    spec = tomllib.loads((ROOT / "programs" / name / "interface.toml").read_text())
    rust = (ROOT / "programs" / name / "src" / "interface.rs").read_text()
    for account in spec["accounts"]:
        module = rust.split(f"pub mod {_snake(account['name'])} {{", 1)[1].split("\n    }\n", 1)[0]
        assert "const _: () = assert!(core::mem::size_of::<Layout>() == LEN);" in module
        for field in account["fields"]:
            assert f"core::mem::offset_of!(Layout, {field['name']}) == {field['name'].upper()}" in module
            assert f"pub fn {field['name']}(&self)" in module and f"pub fn set_{field['name']}(" in module
        assert "pub struct View<'a>" in module and "pub struct ViewMut<'a>" in module


def _snake(name: str) -> str:
    import re

    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()
