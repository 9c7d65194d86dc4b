"""The trading program's IDL and Rust interface are what interface.toml generates, and the
deployed program agrees with them: discriminators, errors, account layouts, events."""

from __future__ import annotations

import hashlib
import re
import tomllib

from aggregator.chain.trading import ASK
from tools.idl.gen import PROGRAMS, common_errors, outputs
from tests.programs.trading_helpers import floor  # noqa: F401  (fixture)

SPEC = tomllib.loads((PROGRAMS / "trading" / "interface.toml").read_text())
RUST = (PROGRAMS / "trading" / "src" / "interface.rs").read_text()


def rust_discriminator(module: str) -> list[int]:
    block = RUST[RUST.index(f"pub mod {module} {{"):]
    return [int(x) for x in re.search(r"DISCRIMINATOR: \[u8; 8\] = \[([^\]]*)\]", block).group(1).split(",")]


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def test_committed_files_are_what_the_interface_generates():
    for path, text in outputs("trading").items():
        assert path.read_text() == text, f"{path} is stale: run `python -m tools.idl trading`"


def test_discriminators_follow_anchor_and_match_the_program_constants():
    for ix in SPEC["instructions"]:
        assert rust_discriminator(ix["name"]) == list(hashlib.sha256(f"global:{ix['name']}".encode()).digest()[:8])
    for acc in SPEC["accounts"]:
        assert rust_discriminator(snake(acc["name"])) == list(
            hashlib.sha256(f"account:{acc['name']}".encode()).digest()[:8])
    for ev in SPEC["events"]:
        assert rust_discriminator(snake(ev["name"])) == list(hashlib.sha256(f"event:{ev['name']}".encode()).digest()[:8])


def test_idl_lists_the_shared_errors_then_the_trading_errors_from_6100(floor):
    errors = floor.trading.program.errors
    assert {c: e.name for c, e in errors.items()} == {e["code"]: e["name"] for e in common_errors() + SPEC["errors"]}
    own = sorted(e["code"] for e in SPEC["errors"])
    assert own == list(range(6100, 6100 + len(own)))


def test_idl_instructions_and_accounts_match_the_interface(floor):
    idl = floor.trading.program.idl_json
    assert [i["name"] for i in idl["instructions"]] == [
        "initializeMarket", "placeOrder", "cancelOrder", "expireOrder", "settleFills", "refundImprovement", "deposit",
        "withdraw"]
    settle = next(i for i in idl["instructions"] if i["name"] == "settleFills")
    assert [(a["name"], a["isMut"], a["isSigner"]) for a in settle["accounts"]] == [
        ("matcher", False, True), ("market", True, False), ("gridVault", True, False), ("paymentVault", True, False),
        ("feeAccount", True, False), ("tokenProgram", False, False)]
    assert settle["args"][-1] == {"name": "sizesWh", "type": {"vec": "u64"}}


def test_account_sizes_on_chain_match_the_idl_layouts(floor):
    order = floor.ask(floor.traders[0], 100_000, 1_000)
    balance = floor.deposit(floor.traders[0], ASK, 1_000)
    layouts = floor.trading.program.client.coder.accounts._accounts_layout  # noqa: SLF001
    for address, name in ((floor.market.address, "Market"), (order, "Order"), (balance, "Balance")):
        data = bytes(floor.chain.account(address).data)
        assert floor.trading.program.account_name(data) == name
        assert len(data) == 8 + layouts[name].sizeof()
    assert floor.order(order).side == ASK
