"""Meters: owner-signed registration of a device public key, status, listings."""
