"""Firmware version, carried in every record's ``fw`` field."""

FW_VERSION = "1.0.0"
