"""GridTokenX hardware: the single source of truth for what we talk to on the wire.

- ``hardware.registers``: declarative register maps (one TOML file per meter model)
  and the generators for firmware constants and docs.
- ``hardware.profiles``: deterministic load profiles (rooftop solar, household, EV).
- ``hardware.emulators``: Modbus RTU (socat pty) and Modbus TCP emulated meters with
  fault injection, and the ``python -m hardware.emulators`` command.
- ``hardware.errors``: the typed errors raised by all of the above.
"""
