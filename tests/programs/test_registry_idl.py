"""The committed IDLs and Rust interfaces of registry and energy_token are what interface.toml
generates, and they agree with the deployed programs; program ids match Anchor.toml."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
import tomllib

import pytest
from solders.keypair import Keypair

from aggregator.chain import PROSUMER
from tools.idl.gen import PROGRAMS, ROOT, camel, common_errors


def test_generated_files_are_current():
    proc = subprocess.run([sys.executable, "-m", "tools.idl", "--check"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_idl_discriminators_match_the_program_constants(registry):
    rust = (PROGRAMS / "registry" / "src" / "interface.rs").read_text()
    for ix in registry.program.idl_json["instructions"]:
        snake = re.sub(r"(?<!^)(?=[A-Z])", "_", ix["name"]).lower()
        expected = list(hashlib.sha256(f"global:{snake}".encode()).digest()[:8])
        block = rust[rust.index(f"pub mod {snake} {{"):]
        consts = re.search(r"DISCRIMINATOR: \[u8; 8\] = \[([^\]]*)\]", block).group(1)
        assert [int(x) for x in consts.split(",")] == expected, ix["name"]


def test_idl_errors_are_the_shared_and_program_errors(registry):
    spec = tomllib.loads((PROGRAMS / "registry" / "interface.toml").read_text())
    codes = {e["code"]: e["name"] for e in common_errors() + spec["errors"]}
    assert {c: e.name for c, e in registry.program.errors.items()} == codes
    assert all(6000 <= c < 6100 for c in (e["code"] for e in common_errors()))


def test_account_sizes_match_the_idl_layout(initialized, registry, authority):
    acc = initialized.account(registry.config_address())
    assert registry.program.account_name(acc.data) == "RegistryConfig"
    layout = registry.program.client.coder.accounts._accounts_layout["RegistryConfig"]  # noqa: SLF001
    assert len(acc.data) == 8 + layout.sizeof()


# --- registry and energy_token: every discriminator, layout and id --------------------------------

def _rust_block(program: str, section: str, module: str) -> str:
    """The body of `pub mod <module>` inside `pub mod <section>` of a generated interface.rs."""
    rust = (PROGRAMS / program / "src" / "interface.rs").read_text()
    start = rust.index(f"pub mod {section} {{")
    return rust[rust.index(f"    pub mod {module} {{", start):]


def _rust_discriminator(program: str, section: str, module: str) -> list[int]:
    consts = re.search(r"DISCRIMINATOR: \[u8; 8\] = \[([^\]]*)\]", _rust_block(program, section, module)).group(1)
    return [int(x) for x in consts.split(",")]


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


@pytest.mark.parametrize("program", ["registry", "energy_token"])
def test_account_and_event_discriminators_follow_anchor(program):
    spec = tomllib.loads((PROGRAMS / program / "interface.toml").read_text())
    for ix in spec["instructions"]:
        assert _rust_discriminator(program, "ix", ix["name"]) == list(
            hashlib.sha256(f"global:{ix['name']}".encode()).digest()[:8]), ix["name"]
    for acc in spec["accounts"]:
        assert _rust_discriminator(program, "state", _snake(acc["name"])) == list(
            hashlib.sha256(f"account:{acc['name']}".encode()).digest()[:8]), acc["name"]
    for ev in spec["events"]:
        assert _rust_discriminator(program, "events", _snake(ev["name"])) == list(
            hashlib.sha256(f"event:{ev['name']}".encode()).digest()[:8]), ev["name"]


@pytest.mark.parametrize("program", ["registry", "energy_token"])
def test_idl_instructions_mirror_the_interface_in_the_legacy_anchor_format(program):
    spec = tomllib.loads((PROGRAMS / program / "interface.toml").read_text())
    idl = json.loads((PROGRAMS / "idl" / "legacy" / f"{program}.json").read_text())
    assert idl["name"] == program
    assert [i["name"] for i in idl["instructions"]] == [camel(i["name"]) for i in spec["instructions"]]
    for ix, declared in zip(idl["instructions"], spec["instructions"]):
        assert [(a["name"], a["isMut"], a["isSigner"]) for a in ix["accounts"]] == [
            (camel(a["name"]), a.get("mut", False), a.get("signer", False)) for a in declared["accounts"]]
    assert [a["name"] for a in idl["accounts"]] == [a["name"] for a in spec["accounts"]]
    assert [e["name"] for e in idl["events"]] == [e["name"] for e in spec["events"]]


def test_energy_token_idl_errors_are_the_shared_and_program_errors(token):
    spec = tomllib.loads((PROGRAMS / "energy_token" / "interface.toml").read_text())
    assert {c: e.name for c, e in token.program.errors.items()} == {
        e["code"]: e["name"] for e in common_errors() + spec["errors"]}
    own = sorted(e["code"] for e in spec["errors"])
    assert own == list(range(6100, 6100 + len(own)))


def test_user_meter_and_token_config_sizes_match_the_idl_layouts(initialized, registry, token):
    wallet = initialized.new_funded_keypair()
    initialized.send([registry.register_user(wallet.pubkey(), PROSUMER),
                      registry.register_meter(wallet.pubkey(), "IDL-1", bytes(32), "roof")], [wallet])
    for gtx, address, name in ((registry.program, registry.user_address(wallet.pubkey()), "User"),
                               (registry.program, registry.meter_address("IDL-1"), "Meter"),
                               (token.program, token.config_address(), "TokenConfig")):
        data = bytes(initialized.account(address).data)
        assert gtx.account_name(data) == name
        assert len(data) == 8 + gtx.client.coder.accounts._accounts_layout[name].sizeof()  # noqa: SLF001


def test_program_ids_are_the_development_keypairs_and_the_idl_addresses():
    anchor = tomllib.loads((ROOT / "Anchor.toml").read_text())["programs"]["localnet"]
    assert set(anchor) == {"registry", "energy_token", "trading", "certificates"}
    for name, address in anchor.items():
        secret = json.loads((PROGRAMS / "keys" / f"{name}-keypair.json").read_text())
        assert str(Keypair.from_bytes(bytes(secret)).pubkey()) == address, name
        assert json.loads((PROGRAMS / "idl" / "legacy" / f"{name}.json").read_text())["metadata"]["address"] == address, name
