"""The committed IDL and Rust interface are what interface.toml generates, and they agree
with the deployed program."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
import tomllib

from tools.idl.gen import PROGRAMS, ROOT, common_errors


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
