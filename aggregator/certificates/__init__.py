"""Certificates: owner-requested issuance of a meter's minted production (validated by
the issuer key this service holds), and the certificates the chain recorded (indexed)."""

from aggregator.certificates.desk import CertificateDesk, local_certificate_desk, rpc_certificate_desk
from aggregator.certificates.router import router

__all__ = ["CertificateDesk", "local_certificate_desk", "router", "rpc_certificate_desk"]
