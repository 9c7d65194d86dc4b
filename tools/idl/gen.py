"""Generate Anchor IDLs and Rust interface constants from programs/<name>/interface.toml.

One source of truth per program: the TOML interface. From it come
  * programs/idl/<name>.json — the Anchor IDL in Anchor's current (0.30+) format: address,
    metadata, discriminators, writable/signer flags, PDA seeds and fixed addresses, account
    docs, the extra-account groups documented, enum types, constants, events and errors
    (what Anchor's and Codama's TypeScript clients load; clients/ts is generated from it);
  * programs/idl/legacy/<name>.json — the same interface in the legacy pre-0.30 format
    (`isMut`/`isSigner`) that anchorpy 0.21 — the Python clients and tests — loads;
  * programs/<name>/src/interface.rs — discriminators, account indices, byte offsets,
    sizes, seeds and error codes the on-chain program uses.
`--check` fails when a committed file differs from what the interface generates.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROGRAMS = ROOT / "programs"
IDL_DIR = PROGRAMS / "idl"
LEGACY_IDL_DIR = IDL_DIR / "legacy"
SYSTEM_PROGRAM = "11111111111111111111111111111111"
TOKEN_PROGRAM = "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA"

SCALARS = {"u8": 1, "u16": 2, "u32": 4, "u64": 8, "i32": 4, "i64": 8, "bool": 1, "publicKey": 32}


class InterfaceError(Exception):
    """The interface file is inconsistent; the message says where."""


def type_size(t: str) -> int:
    if t == "vec<u64>":
        raise InterfaceError("vec<u64> has no fixed size; it may only be the last argument")
    if t in SCALARS:
        return SCALARS[t]
    m = re.fullmatch(r"bytes(\d+)", t)
    if m:
        return int(m.group(1))
    raise InterfaceError(f"unsupported type {t!r}")


def idl_type(t: str):
    if t == "vec<u64>":
        return {"vec": "u64"}
    m = re.fullmatch(r"bytes(\d+)", t)
    return {"array": ["u8", int(m.group(1))]} if m else t


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def disc(namespace: str, name: str) -> bytes:
    return hashlib.sha256(f"{namespace}:{name}".encode()).digest()[:8]


@dataclass(frozen=True)
class Interface:
    name: str
    spec: dict
    address: str

    @classmethod
    def load(cls, name: str) -> Interface:
        path = PROGRAMS / name / "interface.toml"
        spec = tomllib.loads(path.read_text())
        if spec["program"]["name"] != name:
            raise InterfaceError(f"{path}: program.name must be {name!r}")
        codes = [e["code"] for e in common_errors() + spec.get("errors", [])]
        if len(codes) != len(set(codes)):
            raise InterfaceError(f"{path}: duplicate error codes")
        return cls(name, spec, program_address(name))


def common_errors() -> list[dict]:
    """Errors every program shares (programs/common/errors.toml), codes 6000-6099."""
    return tomllib.loads((PROGRAMS / "common" / "errors.toml").read_text())["errors"]


def program_address(name: str) -> str:
    """The localnet program id declared in Anchor.toml."""
    anchor = tomllib.loads((ROOT / "Anchor.toml").read_text())
    try:
        return anchor["programs"]["localnet"][name]
    except KeyError as exc:
        raise InterfaceError(f"Anchor.toml has no [programs.localnet] {name}") from exc


def _fields(fields: list[dict]) -> list[dict]:
    return [{"name": camel(f["name"]), "type": idl_type(f["type"])} for f in fields]


def idl(iface: Interface) -> dict:
    s = iface.spec
    out = {
        "version": s["program"]["version"],
        "name": iface.name,
        "docs": [s["program"]["docs"]],
        "instructions": [
            {
                "name": camel(ix["name"]),
                "docs": [ix["docs"]],
                "accounts": [
                    {"name": camel(a["name"]), "isMut": bool(a.get("mut")), "isSigner": bool(a.get("signer"))}
                    for a in ix["accounts"]
                ],
                "args": _fields(ix.get("args", [])),
            }
            for ix in s["instructions"]
        ],
        "accounts": [
            {"name": a["name"], "type": {"kind": "struct", "fields": _fields(a["fields"])}}
            for a in s.get("accounts", [])
        ],
        "events": [
            {"name": e["name"], "fields": [dict(f, index=False) for f in _fields(e["fields"])]}
            for e in s.get("events", [])
        ],
        "errors": [{"code": e["code"], "name": e["name"], "msg": e["msg"]}
                   for e in common_errors() + s.get("errors", [])],
        "metadata": {"address": iface.address},
    }
    return out


UPGRADEABLE_LOADER = "BPFLoaderUpgradeab1e11111111111111111111111"


# --- the Anchor 0.30+ IDL ---------------------------------------------------------------------

def idl_type_current(t: str, enum: str | None = None):
    if enum:
        return {"defined": {"name": enum}}
    if t == "publicKey":
        return "pubkey"
    return idl_type(t)


def _enum_of(spec: dict, container: str, field: str) -> str | None:
    enums = spec.get("enum_fields", {})
    return enums.get(f"{container}.{field}") or enums.get(field)


def _fields_current(spec: dict, container: str, fields: list[dict]) -> list[dict]:
    out = []
    for f in fields:
        item = {"name": f["name"]}
        if f.get("docs"):
            item["docs"] = [f["docs"]]
        item["type"] = idl_type_current(f["type"], _enum_of(spec, container, f["name"]))
        out.append(item)
    return out


def _seed(iface: Interface, ix: dict, seed: str) -> dict | None:
    """A seed spec: a bare string is a constant (a [[seeds]] value), "account:<name>" an
    account of the instruction, "arg:<name>" an argument of it."""
    kind, _, path = seed.partition(":") if ":" in seed else ("const", "", seed)
    if kind == "const":
        return {"kind": "const", "value": list(path.encode())}
    if kind == "account":
        if path not in {a["name"] for a in ix["accounts"]}:
            return None
        return {"kind": "account", "path": path}
    if kind == "arg":
        if path not in {a["name"] for a in ix.get("args", [])}:
            return None
        return {"kind": "arg", "path": path}
    raise InterfaceError(f"{iface.name}: unknown seed kind in {seed!r}")


def _account_current(iface: Interface, ix: dict, a: dict) -> dict:
    spec = iface.spec
    item: dict = {"name": a["name"]}
    if a.get("docs"):
        item["docs"] = [a["docs"]]
    if a.get("mut"):
        item["writable"] = True
    if a.get("signer"):
        item["signer"] = True
    fixed = {"system_program": SYSTEM_PROGRAM, "token_program": TOKEN_PROGRAM}
    fixed |= {f"{name}_program": address for name, address in
              tomllib.loads((ROOT / "Anchor.toml").read_text())["programs"]["localnet"].items()}
    if a["name"] in fixed:
        item["address"] = fixed[a["name"]]
    elif a["name"] == "program_data":
        from solders.pubkey import Pubkey

        item["address"] = str(Pubkey.from_bytes(program_data_address(iface.address)))
    pdas = spec.get("pdas", {})
    pda = pdas.get(f"{ix['name']}.{a['name']}") or pdas.get(a["name"])
    if pda and "address" not in item:
        seeds = [_seed(iface, ix, x) for x in pda["seeds"]]
        if all(seeds):
            item["pda"] = {"seeds": seeds}
            if pda.get("program"):
                from solders.pubkey import Pubkey

                program = bytes(Pubkey.from_string(program_address(pda["program"])))
                item["pda"]["program"] = {"kind": "const", "value": list(program)}
    return item


def _ix_docs(spec: dict, ix: dict) -> list[str]:
    docs = [ix["docs"]]
    extra = next((e for e in spec.get("extra_accounts", []) if e["instruction"] == ix["name"]), None)
    if extra:
        group = ", ".join(f"{g['name']} ({'writable' if g.get('mut') else 'read-only'}: {g['docs']})"
                          for g in extra["group"])
        docs.append(f"Extra accounts (after the fixed ones, as remaining accounts): {extra['min']} to "
                    f"{extra['max']} groups of {len(extra['group'])}, each: {group}. {extra.get('docs', '')}".rstrip())
    return docs


def idl_current(iface: Interface) -> dict:
    """The IDL in Anchor's 0.30+ format (spec 0.1.0)."""
    s = iface.spec
    types = []
    for e in s.get("enums", []):
        types.append({"name": e["name"], "docs": [e["docs"]],
                      "type": {"kind": "enum", "variants": [{"name": v} for v in e["variants"]]}})
    for a in s.get("accounts", []):
        types.append({"name": a["name"], "type": {"kind": "struct", "fields": _fields_current(s, a["name"], a["fields"])}})
    for e in s.get("events", []):
        types.append({"name": e["name"], "type": {"kind": "struct", "fields": _fields_current(s, e["name"], e["fields"])}})
    return {
        "address": iface.address,
        "metadata": {"name": iface.name, "version": s["program"]["version"], "spec": "0.1.0",
                     "description": s["program"]["docs"]},
        "docs": [s["program"]["docs"]],
        "instructions": [
            {
                "name": ix["name"],
                "docs": _ix_docs(s, ix),
                "discriminator": list(disc("global", ix["name"])),
                "accounts": [_account_current(iface, ix, a) for a in ix["accounts"]],
                "args": _fields_current(s, ix["name"], ix.get("args", [])),
            }
            for ix in s["instructions"]
        ],
        "accounts": [{"name": a["name"], "discriminator": list(disc("account", a["name"]))}
                     for a in s.get("accounts", [])],
        "events": [{"name": e["name"], "discriminator": list(disc("event", e["name"]))}
                   for e in s.get("events", [])],
        "errors": [{"code": e["code"], "name": e["name"], "msg": e["msg"]}
                   for e in common_errors() + s.get("errors", [])],
        "types": types,
        "constants": [{"name": c["name"], **({"docs": [c["docs"]]} if c.get("docs") else {}),
                       "type": c["type"], "value": str(c["value"])} for c in s.get("constants", [])],
    }


def program_data_address(program_address: str) -> bytes:
    """The ProgramData account of a program deployed with the upgradeable BPF loader."""
    from solders.pubkey import Pubkey

    address, _ = Pubkey.find_program_address([bytes(Pubkey.from_string(program_address))],
                                             Pubkey.from_string(UPGRADEABLE_LOADER))
    return bytes(address)


def constant_pda(program_address: str, seed: str) -> tuple[bytes, int]:
    """Address and canonical bump of a PDA whose seeds are constant, computed once here so
    the program need not search for the bump at run time."""
    from solders.pubkey import Pubkey

    address, bump = Pubkey.find_program_address([seed.encode()], Pubkey.from_string(program_address))
    return bytes(address), bump


def _rs_bytes(b: bytes) -> str:
    return "[" + ", ".join(str(x) for x in b) + "]"


def _offsets(lines: list[str], fields: list[dict], start: int, indent: str) -> int:
    off = start
    if fields and fields[-1]["type"] == "vec<u64>":
        *fixed, vec = fields
        off = _offsets(lines, fixed, start, indent)
        lines[-1] = f"{indent}/// `{vec['name']}`: Borsh vec (u32 little-endian count, then u64 items) from here."
        lines.append(f"{indent}pub const {vec['name'].upper()}: usize = {off};")
        lines.append(f"{indent}pub const MIN_LEN: usize = {off + 4};")
        return off + 4
    for f in fields:
        lines.append(f"{indent}pub const {f['name'].upper()}: usize = {off};")
        off += type_size(f["type"])
    lines.append(f"{indent}pub const LEN: usize = {off};")
    return off


def rust(iface: Interface) -> str:
    s = iface.spec
    L = [
        f"//! Interface of the `{iface.name}` program: generated by `python -m tools.idl` from",
        f"//! programs/{iface.name}/interface.toml. Do not edit; change the TOML and regenerate.",
        "//! Offsets are byte positions in the instruction or account data, discriminator included.",
        "#![allow(dead_code)]",
        "//! Program ids and constant PDAs are in `gtx_common::ids`.",
        "",
        "pub mod seeds {",
    ]
    for seed in s.get("seeds", []):
        L.append(f"    pub const {seed['name'].upper()}: &[u8] = b\"{seed['value']}\";")
    L += ["}", "", "pub mod ix {"]
    for ix in s["instructions"]:
        L.append(f"    pub mod {ix['name']} {{")
        L.append(f"        pub const DISCRIMINATOR: [u8; 8] = {_rs_bytes(disc('global', ix['name']))};")
        L.append(f"        pub const ACCOUNTS: usize = {len(ix['accounts'])};")
        L.append("        pub mod account {")
        for i, a in enumerate(ix["accounts"]):
            L.append(f"            pub const {a['name'].upper()}: usize = {i};")
        L.append("        }")
        L.append("        pub mod arg {")
        _offsets(L, ix.get("args", []), 8, "            ")
        L.append("        }")
        L.append("    }")
    L += ["}", "", "pub mod state {"]
    for a in s.get("accounts", []):
        L.append(f"    pub mod {snake(a['name'])} {{")
        L.append(f"        pub const DISCRIMINATOR: [u8; 8] = {_rs_bytes(disc('account', a['name']))};")
        _offsets(L, a["fields"], 8, "        ")
        L += _account_view(a)
        L.append("    }")
    L += ["}", "", "pub mod events {"]
    for e in s.get("events", []):
        L.append(f"    pub mod {snake(e['name'])} {{")
        L.append(f"        pub const DISCRIMINATOR: [u8; 8] = {_rs_bytes(disc('event', e['name']))};")
        _offsets(L, e["fields"], 8, "        ")
        L.append("    }")
    L += ["}", ""]
    L += _error_enum("Error", "Errors of this program (`ProgramError::Custom(code)`), after the shared ones.",
                     s.get("errors", []))
    return "\n".join(L)


_VIEW_SCALARS = {"u8": "u8", "u16": "u16", "u32": "u32", "u64": "u64", "i32": "i32", "i64": "i64"}


def _account_view(a: dict) -> list[str]:
    """A `#[repr(C, packed)]` mirror of the layout with compile-time checks that its size and
    every field offset are the constants above, and typed views over an account's bytes:
    `View` (read) and `ViewMut` (read and write), built only on data of the layout's length
    and discriminator, whose accessors compile to the same loads and stores as indexing by
    the offsets."""
    i = "        "
    L = [f"{i}/// The layout as a packed struct; the assertions below tie it to the offsets.",
         f"{i}#[repr(C, packed)]", f"{i}pub struct Layout {{", f"{i}    pub discriminator: [u8; 8],"]
    for f in a["fields"]:
        L.append(f"{i}    pub {f['name']}: [u8; {type_size(f['type'])}],")
    L += [f"{i}}}", f"{i}const _: () = assert!(core::mem::size_of::<Layout>() == LEN);"]
    for f in a["fields"]:
        L.append(f"{i}const _: () = assert!(core::mem::offset_of!(Layout, {f['name']}) == {f['name'].upper()});")
    getters, setters = [], []
    for f in a["fields"]:
        name, off, t = f["name"], f["name"].upper(), f["type"]
        if t in _VIEW_SCALARS:
            rt = _VIEW_SCALARS[t]
            n = type_size(t)
            getters += [f"{i}    #[inline(always)]",
                        f"{i}    pub fn {name}(&self) -> {rt} {{ {rt}::from_le_bytes(self.bytes::<{n}>({off})) }}"]
            setters += [f"{i}    #[inline(always)]",
                        f"{i}    pub fn set_{name}(&mut self, v: {rt}) {{ self.0[{off}..{off} + {n}].copy_from_slice(&v.to_le_bytes()) }}"]
        elif t == "bool":
            getters += [f"{i}    #[inline(always)]", f"{i}    pub fn {name}(&self) -> bool {{ self.0[{off}] != 0 }}"]
            setters += [f"{i}    #[inline(always)]", f"{i}    pub fn set_{name}(&mut self, v: bool) {{ self.0[{off}] = v as u8 }}"]
        else:
            n = type_size(t)
            getters += [f"{i}    #[inline(always)]",
                        f"{i}    pub fn {name}(&self) -> &[u8; {n}] {{ self.array_ref::<{n}>({off}) }}"]
            setters += [f"{i}    #[inline(always)]",
                        f"{i}    pub fn set_{name}(&mut self, v: &[u8; {n}]) {{ self.0[{off}..{off} + {n}].copy_from_slice(v) }}"]
    common = [
        f"{i}    #[inline(always)]",
        f"{i}    fn bytes<const N: usize>(&self, off: usize) -> [u8; N] {{ *self.array_ref::<N>(off) }}",
        f"{i}    #[inline(always)]",
        f"{i}    fn array_ref<const N: usize>(&self, off: usize) -> &[u8; N] {{",
        f"{i}        // SAFETY: `new` checked the length is LEN and every accessor's offset + N <= LEN.",
        f"{i}        unsafe {{ &*(self.0.as_ptr().add(off) as *const [u8; N]) }}",
        f"{i}    }}",
    ]
    for kind, ref in (("View", "&'a [u8]"), ("ViewMut", "&'a mut [u8]")):
        L += [f"{i}/// A typed {'read' if kind == 'View' else 'read-write'} view of the account's data.",
              f"{i}pub struct {kind}<'a>(pub {ref});",
              f"{i}impl<'a> {kind}<'a> {{",
              f"{i}    /// `None` unless `d` has the layout's length and discriminator.",
              f"{i}    #[inline(always)]",
              f"{i}    pub fn new(d: {ref}) -> Option<Self> {{",
              f"{i}        if d.len() == LEN && d[..8] == DISCRIMINATOR {{ Some(Self(d)) }} else {{ None }}",
              f"{i}    }}"]
        L += common + getters + (setters if kind == "ViewMut" else []) + [f"{i}}}"]
    return L


def _error_enum(name: str, doc: str, errors: list[dict]) -> list[str]:
    L = [f"/// {doc}", "#[derive(Clone, Copy, Debug, PartialEq, Eq)]", "#[repr(u32)]", f"pub enum {name} {{"]
    for e in errors:
        L += [f"    /// {e['msg']}", f"    {e['name']} = {e['code']},"]
    return L + ["}", ""]


def dispatch_rust(iface: Interface) -> str:
    """The program's instruction router: discriminator -> `crate::instructions::<name>::process`."""
    arms = "\n".join(
        f"        Some(d) if d == ix::{ix['name']}::DISCRIMINATOR => crate::instructions::{ix['name']}::process(ctx),"
        for ix in iface.spec["instructions"])
    return f"""//! Instruction routing of the `{iface.name}` program: generated by `python -m tools.idl` from
//! programs/{iface.name}/interface.toml (instructions in the order listed there). Do not edit.

use gtx_common::{{CommonError, Context}};
use pinocchio::{{error::ProgramError, AccountView, Address, ProgramResult}};

use crate::interface::{{ix, Error}};

impl From<Error> for ProgramError {{
    fn from(e: Error) -> Self {{
        ProgramError::Custom(e as u32)
    }}
}}

/// Route an instruction to its handler by its 8-byte discriminator.
pub fn process_instruction(program_id: &Address, accounts: &mut [AccountView], data: &[u8]) -> ProgramResult {{
    let ctx = Context {{ program_id, accounts, data }};
    match data.get(..8) {{
{arms}
        _ => Err(CommonError::UnknownInstruction.into()),
    }}
}}
"""


def common_rust() -> str:
    return "\n".join([
        "//! Shared program errors: generated by `python -m tools.idl` from programs/common/errors.toml.",
        "//! Do not edit; change the TOML and regenerate.",
        "",
        *_error_enum("CommonError", "Errors shared by every GridTokenX program (6000-6099).", common_errors()),
    ])


_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def _b58decode(s: str) -> bytes:
    n = 0
    for ch in s:
        n = n * 58 + _B58.index(ch)
    raw = n.to_bytes(32, "big")
    return raw


def outputs(name: str) -> dict[Path, str]:
    iface = Interface.load(name)
    return {
        IDL_DIR / f"{name}.json": json.dumps(idl_current(iface), indent=2) + "\n",
        LEGACY_IDL_DIR / f"{name}.json": json.dumps(idl(iface), indent=2) + "\n",
        PROGRAMS / name / "src" / "interface.rs": rust(iface),
        PROGRAMS / name / "src" / "dispatch.rs": dispatch_rust(iface),
    }


def ids_rust(names: list[str]) -> str:
    """Program ids and every constant-seed PDA with its canonical bump, per program, so
    programs neither search for bumps at run time nor depend on each other's crates."""
    anchor = tomllib.loads((ROOT / "Anchor.toml").read_text())["programs"]["localnet"]
    L = ["//! Program ids (Anchor.toml `[programs.localnet]`) and constant PDAs: generated by",
         "//! `python -m tools.idl`. A deployment under other ids regenerates this file.", ""]
    for name, address in sorted(anchor.items()):
        L.append(f"pub mod {name} {{")
        L.append(f"    pub const ID: [u8; 32] = {_rs_bytes(_b58decode(address))};")
        L.append("    /// The program's ProgramData account (upgradeable BPF loader, PDA `[program id]`).")
        L.append(f"    pub const PROGRAM_DATA: [u8; 32] = {_rs_bytes(program_data_address(address))};")
        if name in names:
            for seed in Interface.load(name).spec.get("seeds", []):
                if seed.get("constant_pda"):
                    pda, bump = constant_pda(address, seed["value"])
                    L.append(f"    /// PDA `[\"{seed['value']}\"]`.")
                    L.append(f"    pub const {seed['name'].upper()}: [u8; 32] = {_rs_bytes(pda)};")
                    L.append(f"    pub const {seed['name'].upper()}_BUMP: u8 = {bump};")
        L.append("}")
    return "\n".join(L) + "\n"


def all_outputs(names: list[str]) -> dict[Path, str]:
    out = {PROGRAMS / "common" / "src" / "errors.rs": common_rust(),
           PROGRAMS / "common" / "src" / "ids.rs": ids_rust(program_names())}
    for name in names:
        out.update(outputs(name))
    return out


def program_names() -> list[str]:
    return sorted(p.parent.name for p in PROGRAMS.glob("*/interface.toml"))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tools.idl", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("programs", nargs="*", help="program names (default: all with an interface.toml)")
    p.add_argument("--check", action="store_true", help="fail if generated files are stale")
    args = p.parse_args(argv)
    stale = []
    for path, text in all_outputs(args.programs or program_names()).items():
        current = path.read_text() if path.exists() else None
        if current == text:
            continue
        if args.check:
            stale.append(path.relative_to(ROOT))
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            print(f"wrote {path.relative_to(ROOT)}")
    if stale:
        print("stale generated files (run `python -m tools.idl`):", *stale, sep="\n  ", file=sys.stderr)
        return 1
    return 0
