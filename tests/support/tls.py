"""A throwaway PKI for TLS tests: one CA and a broker certificate for 127.0.0.1.

Made with the ``openssl`` command (installed by scripts/setup.sh); EC P-256
keys, valid for two days, SAN IP:127.0.0.1 and DNS:localhost.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Pki", "make_pki"]


@dataclass(frozen=True)
class Pki:
    ca_cert: Path  # PEM
    ca_der: Path
    server_cert: Path
    server_key: Path
    other_ca_cert: Path  # a CA that did not sign the broker (must be refused)


def _openssl(*args: str, cwd: Path) -> None:
    proc = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)}: {proc.stderr}")


def _ca(name: str, cwd: Path) -> None:
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.crt", "-days", "2",
             "-subj", f"/CN={name}", cwd=cwd)


def make_pki(directory: Path) -> Pki:
    directory.mkdir(parents=True, exist_ok=True)
    _ca("gtx-test-ca", directory)
    _ca("gtx-other-ca", directory)
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1", cwd=directory)
    (directory / "san.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "gtx-test-ca.crt", "-CAkey",
             "gtx-test-ca.key", "-CAcreateserial", "-out", "server.crt", "-days", "2",
             "-extfile", "san.cnf", cwd=directory)
    _openssl("x509", "-in", "gtx-test-ca.crt", "-outform", "DER", "-out", "gtx-test-ca.der",
             cwd=directory)
    return Pki(ca_cert=directory / "gtx-test-ca.crt", ca_der=directory / "gtx-test-ca.der",
                   server_cert=directory / "server.crt", server_key=directory / "server.key",
                   other_ca_cert=directory / "gtx-other-ca.crt")
