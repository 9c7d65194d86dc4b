"""Meters wired to the Pi directly: Modbus polling, conversion, the gateway's signing key."""

from edge_gateway.meters.convert import decode_block
from edge_gateway.meters.modbus import ModbusLine
from edge_gateway.meters.poller import FW_VERSION, DirectMeterPoller
from edge_gateway.meters.signing_key import check_signing_key, load_or_create_signing_key, public_key_hex

__all__ = [
    "FW_VERSION", "DirectMeterPoller", "ModbusLine", "check_signing_key", "decode_block",
    "load_or_create_signing_key", "public_key_hex",
]
