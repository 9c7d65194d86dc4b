"""Typed errors for the hardware package, each carrying a stable reason code.

Hierarchy (catch the narrowest one you can handle)::

    HardwareError                 base; ``.reason`` is a stable snake_case code
    ├── RegisterMapError          a register map file is missing or inconsistent
    ├── ProfileError              a load profile was configured with impossible values
    ├── EmulatorError             an emulated meter could not start or was misused
    │   └── VirtualPortError      socat could not create or hand over the pty pair
    └── FaultError                a fault injection request makes no sense

Reason codes are part of the interface: tests and the command line print them, so
they never change meaning once published.
"""

from __future__ import annotations


class HardwareError(Exception):
    """Base class: every error from ``hardware`` has a machine-readable reason."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


class RegisterMapError(HardwareError):
    """A register map does not load or violates an invariant (overlap, bad block)."""


class ProfileError(HardwareError):
    """A load profile parameter is outside its physical range."""


class EmulatorError(HardwareError):
    """An emulated meter could not be started, reached, or was used out of order."""


class VirtualPortError(EmulatorError):
    """The socat pty pair could not be created, or socat died."""


class FaultError(HardwareError):
    """A fault injection request is invalid (unknown kind, bad count)."""
