"""Users: non-custodial registration with a wallet-signed, server-issued challenge."""
