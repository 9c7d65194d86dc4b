"""The certificates IDL and Rust interface are what interface.toml generates, and they
agree with the deployed program: discriminators, errors, account sizes, event layouts."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
import tomllib

from aggregator.chain.certificates import IssueRequest
from tests.programs.certificates_fixtures import HOUR, T0, CertWorld, certs, world  # noqa: F401  (fixtures)
from tools.idl.gen import PROGRAMS, ROOT, Interface, common_errors, idl, rust

INTERFACE = PROGRAMS / "certificates" / "interface.toml"


def test_committed_idl_and_interface_are_generated_from_the_toml():
    proc = subprocess.run([sys.executable, "-m", "tools.idl", "--check", "certificates"], cwd=ROOT,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    iface = Interface.load("certificates")
    assert (PROGRAMS / "certificates" / "src" / "interface.rs").read_text() == rust(iface)
    assert certs_idl() == idl(iface)


def certs_idl() -> dict:
    import json

    return json.loads((PROGRAMS / "idl" / "legacy" / "certificates.json").read_text())


def test_instruction_discriminators_match_the_program_constants(certs):
    text = (PROGRAMS / "certificates" / "src" / "interface.rs").read_text()
    names = [ix["name"] for ix in certs.program.idl_json["instructions"]]
    assert names == ["initialize", "updateConfig", "issue", "validate", "transfer", "retire", "revoke", "expire"]
    for name in names:
        snake = re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()
        expected = list(hashlib.sha256(f"global:{snake}".encode()).digest()[:8])
        block = text[text.index(f"pub mod {snake} {{"):]
        consts = re.search(r"DISCRIMINATOR: \[u8; 8\] = \[([^\]]*)\]", block).group(1)
        assert [int(x) for x in consts.split(",")] == expected, name


def test_every_declared_instruction_is_routed_by_the_program(world: CertWorld):
    """An instruction the IDL declares never comes back as UnknownInstruction."""
    from solders.instruction import Instruction

    for ix in world.certs.program.idl_json["instructions"]:
        snake = re.sub(r"(?<!^)(?=[A-Z])", "_", ix["name"]).lower()
        data = hashlib.sha256(f"global:{snake}".encode()).digest()[:8]
        result = world.send([Instruction(world.certs.program_id, data, [])], [])
        assert result.custom_code != 6000, snake


def test_errors_are_the_shared_then_the_program_errors(certs):
    spec = tomllib.loads(INTERFACE.read_text())
    codes = {e["code"]: e["name"] for e in common_errors() + spec["errors"]}
    assert {c: e.name for c, e in certs.program.errors.items()} == codes
    assert sorted(e["code"] for e in spec["errors"]) == list(range(6100, 6100 + len(spec["errors"])))


def test_account_sizes_match_the_idl_layouts(world: CertWorld):
    owner = world.prosumer("IDL-1")
    world.produce("IDL-1", 100, T0)
    result, cert = world.issue(owner, IssueRequest("IDL-1", T0 - HOUR, T0, 100))
    assert result.ok, result.logs
    layouts = world.certs.program.client.coder.accounts._accounts_layout  # noqa: SLF001
    for address, name in ((world.certs.config_address(), "CertificatesConfig"),
                          (world.certs.tracker_address(world.meter("IDL-1")), "IssuanceTracker"),
                          (cert, "Certificate")):
        data = bytes(world.chain.account(address).data)
        assert world.certs.program.account_name(data) == name
        assert len(data) == 8 + layouts[name].sizeof(), name


def test_every_event_is_declared_and_decodes(world: CertWorld):
    owner = world.prosumer("IDL-2")
    world.produce("IDL-2", 100, T0)
    logs = []
    result, cert = world.issue(owner, IssueRequest("IDL-2", T0 - HOUR, T0, 50))
    logs += result.logs
    logs += world.send([world.certs.validate(world.issuer.pubkey(), cert)], [world.issuer]).logs
    buyer = world.chain.new_funded_keypair()
    logs += world.send([world.certs.transfer(owner.pubkey(), cert, buyer.pubkey())], [owner]).logs
    logs += world.send([world.certs.retire(buyer.pubkey(), cert)], [buyer]).logs
    world.chain.set_time(T0 + 10)
    world.produce("IDL-2", 100, T0 + 1)
    result, second = world.issue(owner, IssueRequest("IDL-2", T0, T0 + 1, 25))
    assert result.ok, result.logs
    logs += result.logs
    logs += world.send([world.certs.revoke(world.issuer.pubkey(), second, 2)], [world.issuer]).logs
    world.produce("IDL-2", 100, T0 + 2)
    result, third = world.issue(owner, IssueRequest("IDL-2", T0 + 1, T0 + 2, 25))
    assert result.ok, result.logs
    logs += result.logs
    world.chain.set_time(world.certificate(third).expires_at)
    logs += world.send([world.certs.expire(third)], []).logs
    logs += world.send([world.certs.update_config(world.authority.pubkey(), world.issuer.pubkey(), 5)],
                       [world.authority]).logs
    names = {e.name for e in world.certs.program.decode_events(logs)}
    declared = {e["name"] for e in world.certs.program.idl_json["events"]}
    assert names == declared == {"CertificatesConfigured", "CertificateIssued", "CertificateValidated",
                                 "CertificateTransferred", "CertificateRetired", "CertificateRevoked",
                                 "CertificateExpired"}
