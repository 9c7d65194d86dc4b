"""The THB rail: a baht stablecoin backed 1:1 by a reserve bank account (see rail.py)."""
