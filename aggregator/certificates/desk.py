"""The certificates program as this aggregator serves it, and the issuer key it holds.

* LiteSVM (in-process): :func:`local_certificate_desk` initialises the certificates
  program with a fresh governance authority and a fresh issuer key, because the
  in-process chain starts empty (like the trading desk's market).
* JSON-RPC: :func:`rpc_certificate_desk` checks that the program is initialised and, when
  ``GTX_CHAIN_ISSUER_KEYPAIR`` is set, that this key is the config's issuer; it never
  initialises anything on a real cluster. Without the key, certificates are indexed and
  served but no issuance is prepared.

The issuer signs only ``validate``: issuing is the meter owner's instruction, signed with
the owner's own key (``aggregator.certificates.service``).
"""

from __future__ import annotations

from dataclasses import dataclass

from solders.keypair import Keypair

from aggregator.chain.certificates import Certificates
from aggregator.chain.connect import Chain, load_keypair
from aggregator.chain.errors import ChainSetupError
from aggregator.config import ChainSettings

#: How long a certificate stays valid after the end of its interval on the in-process chain.
LOCAL_VALIDITY_SECS = 365 * 24 * 3600


@dataclass
class CertificateDesk:
    certificates: Certificates
    issuer: Keypair | None = None  # signs `validate`; None: issuance requests are refused
    authority: Keypair | None = None  # LiteSVM only: the governance authority (revoke, update_config)


def local_certificate_desk(chain: Chain, certificates: Certificates | None = None, *,
                           validity_secs: int = LOCAL_VALIDITY_SECS) -> CertificateDesk:
    """Initialise the certificates program on the in-process chain with fresh keys.

    An in-process chain that outlives an app (a test restarting the app on it) is already
    initialised, with an issuer key that died with the earlier app: its certificates are
    then served without issuance, unless the caller hands the earlier desk to the app."""
    certificates = certificates or Certificates(registry_program_id=chain.registry.program_id)
    local = chain.local_with(certificates.program, "local_certificate_desk")
    if local.account(certificates.config_address()) is not None:
        return CertificateDesk(certificates)
    authority, issuer = local.deployer(), local.new_funded_keypair()
    local.send([certificates.initialize(authority.pubkey(), issuer.pubkey(), validity_secs)], [authority])
    return CertificateDesk(certificates, issuer, authority)


async def rpc_certificate_desk(chain: Chain, settings: ChainSettings,
                               certificates: Certificates | None = None) -> CertificateDesk | None:
    """The cluster's certificates program, checked against the configured issuer key.

    None when the program is not initialised there and no issuer key is configured (the
    cluster has no certificates to serve); a configured key that cannot be used stops
    start-up with a message naming the file and the key."""
    certificates = certificates or Certificates(registry_program_id=chain.registry.program_id)
    issuer = load_keypair(settings.issuer_keypair) if settings.issuer_keypair is not None else None
    config = await chain.backend.account(certificates.config_address())
    if config is None:
        if issuer is None:
            return None
        raise ChainSetupError(f"GTX_CHAIN_ISSUER_KEYPAIR is set but the certificates program "
                              f"{certificates.program_id} is not initialised on this chain")
    on_chain = certificates.decode(bytes(config.data)).issuer
    if issuer is not None and on_chain != issuer.pubkey():
        raise ChainSetupError(f"GTX_CHAIN_ISSUER_KEYPAIR {settings.issuer_keypair} is {issuer.pubkey()}, "
                              f"but the certificates program's issuer is {on_chain}")
    return CertificateDesk(certificates, issuer)
