"""The GridTokenX programs as seen from Python: ids, IDLs, anchorpy clients, PDAs.

Program ids come from Anchor.toml and IDLs from programs/idl/legacy/ (both generated from each
program's interface.toml), so every client — tests, demo, aggregator — builds the same
instructions and decodes the same accounts, events and errors.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import tomllib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from anchorpy import Context, Idl, Program, Provider, Wallet
from solana.rpc.async_api import AsyncClient
from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.pubkey import Pubkey

ROOT = Path(__file__).resolve().parents[2]
# anchorpy 0.21 loads the legacy (pre-0.30) IDL format; programs/idl/ has the current one.
IDL_DIR = ROOT / "programs" / "idl" / "legacy"
DEPLOY_DIR = ROOT / "target" / "deploy"
SYSTEM_PROGRAM = Pubkey.default()
UPGRADEABLE_LOADER = Pubkey.from_string("BPFLoaderUpgradeab1e11111111111111111111111")
# The localnet deployer: the upgrade authority of every program that LocalChain and
# tools/localnet deploy, hence the one key their `initialize` accepts. A public key pair for
# development chains only; a real cluster's deployer is whoever deploys with their own key.
LOCALNET_DEPLOYER_PATH = ROOT / "programs" / "keys" / "deployer-keypair.json"

# anchorpy needs a provider to exist; instructions are built offline and nothing is sent
# through this client, so its URL is never contacted.
_OFFLINE_URL = "http://127.0.0.1:9"


def idl_constant(program: str, name: str) -> int:
    """A constant of `program` as its current IDL (generated from interface.toml) states it."""
    idl = json.loads((ROOT / "programs" / "idl" / f"{program}.json").read_text())
    return int(next(c["value"] for c in idl["constants"] if c["name"] == name))


def idl_enum(program: str, name: str) -> dict[str, int]:
    """An enum type of `program`'s IDL: each variant's name (lower case) and value."""
    idl = json.loads((ROOT / "programs" / "idl" / f"{program}.json").read_text())
    kind = next(t["type"] for t in idl["types"] if t["name"] == name)
    return {v["name"].lower(): i for i, v in enumerate(kind["variants"])}


def localnet_ids() -> dict[str, Pubkey]:
    anchor = tomllib.loads((ROOT / "Anchor.toml").read_text())
    return {name: Pubkey.from_string(addr) for name, addr in anchor["programs"]["localnet"].items()}


def program_data_address(program_id: Pubkey) -> Pubkey:
    """A program's ProgramData account under the upgradeable BPF loader (PDA `[program id]`)."""
    return Pubkey.find_program_address([bytes(program_id)], UPGRADEABLE_LOADER)[0]


def localnet_deployer() -> Keypair:
    """The key pair that deploys the programs on development chains (their upgrade authority)."""
    return Keypair.from_bytes(bytes(json.loads(LOCALNET_DEPLOYER_PATH.read_text())))


@dataclass(frozen=True)
class ProgramError:
    """A custom program error decoded with the program's IDL."""

    code: int
    name: str
    msg: str


class GtxProgram:
    """One program: id, IDL, the anchorpy client, and decoding helpers."""

    def __init__(self, name: str, program_id: Pubkey | None = None) -> None:
        self.name = name
        self.idl_json: dict[str, Any] = json.loads((IDL_DIR / f"{name}.json").read_text())
        self.program_id = program_id or Pubkey.from_string(self.idl_json["metadata"]["address"])
        self.errors = {e["code"]: ProgramError(e["code"], e["name"], e["msg"]) for e in self.idl_json["errors"]}

    @cached_property
    def client(self) -> Program:
        idl = Idl.from_json(json.dumps(self.idl_json))
        return Program(idl, self.program_id, Provider(AsyncClient(_OFFLINE_URL), Wallet(Keypair())))

    @cached_property
    def program_data(self) -> Pubkey:
        return program_data_address(self.program_id)

    @property
    def so_path(self) -> Path:
        return DEPLOY_DIR / f"{self.name}.so"

    def ix(self, name: str, *args: Any, accounts: dict[str, Pubkey],
           remaining: list[AccountMeta] | None = None) -> Instruction:
        """Build instruction `name` (snake_case) with positional args, named accounts and
        any variable-length account list after them."""
        return self.client.instruction[name](*args, ctx=Context(accounts=accounts, remaining_accounts=remaining or []))

    def pda(self, *seeds: bytes) -> Pubkey:
        return Pubkey.find_program_address(list(seeds), self.program_id)[0]

    def decode_account(self, data: bytes) -> Any:
        return self.client.coder.accounts.decode(data)

    @cached_property
    def instruction_names(self) -> dict[bytes, str]:
        """Anchor discriminator (sha256("global:<snake_name>")[:8]) -> snake_case name, from the IDL."""
        names = [_snake(i["name"]) for i in self.idl_json["instructions"]]
        return {hashlib.sha256(f"global:{n}".encode()).digest()[:8]: n for n in names}

    def instruction_name(self, data: bytes) -> str | None:
        """Which of this program's instructions `data` encodes (None when none of them)."""
        return self.instruction_names.get(bytes(data[:8]))

    def account_name(self, data: bytes) -> str | None:
        for name, disc in self.client.coder.accounts.acc_name_to_discriminator.items():
            if data[:8] == disc:
                return name
        return None

    def decode_events(self, logs: list[str]) -> list[Any]:
        """Events in `Program data:` log lines emitted while this program ran."""
        me = str(self.program_id)
        events = []
        for emitter, payload in data_lines(logs):
            if emitter == me:
                event = self.client.coder.events.parse(base64.b64decode(payload))
                if event is not None:
                    events.append(event)
        return events


DATA_PREFIX = "Program data: "


def data_lines(logs: Sequence[str]) -> Iterator[tuple[str | None, str]]:
    """Every `Program data:` line of a transaction's logs, in order, as (address of the
    program that logged it, base64 payload); the emitter is found by following the
    invoke / success / failed lines of the call stack."""
    stack: list[str] = []
    for line in logs:
        parts = line.split()
        if len(parts) >= 3 and parts[0] == "Program" and parts[2] == "invoke":
            stack.append(parts[1])
        elif len(parts) >= 3 and parts[0] == "Program" and parts[2] in ("success", "failed:"):
            if stack:
                stack.pop()
        elif line.startswith(DATA_PREFIX):
            yield (stack[-1] if stack else None), line[len(DATA_PREFIX):]


def _snake(name: str) -> str:
    """An IDL's camelCase instruction name in the snake_case its discriminator hashes."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def meter_id_bytes(meter_id: str) -> bytes:
    """The on-chain form of a meter id: 1-32 printable ASCII bytes, zero-padded to 32."""
    raw = meter_id.encode("ascii")
    if not 1 <= len(raw) <= 32 or not all(0x21 <= b <= 0x7E for b in raw):
        raise ValueError(f"meter id must be 1-32 printable ASCII characters: {meter_id!r}")
    return raw.ljust(32, b"\0")


def label_bytes(text: str) -> bytes:
    """A free-text label (location) as a zero-padded 32-byte UTF-8 field."""
    raw = text.encode()
    if len(raw) > 32:
        raise ValueError(f"label longer than 32 bytes: {text!r}")
    return raw.ljust(32, b"\0")


def from_label(raw: bytes | list[int]) -> str:
    return bytes(raw).rstrip(b"\0").decode()
