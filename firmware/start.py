"""Boot sequence: validate config, then load the app into the freed heap.

main.py calls ``boot()``, drops this module and runs the returned App.

Order matters on a 48 KB heap: the config validator and the table of all
meter models are needed only once, so they are loaded, used and unloaded
before the long-lived modules (signing, ring, MQTT) are imported.
"""

import gc
import sys


def hw_adapters():
    """The adapter module for this port (hw/esp32 or hw/posix)."""
    if sys.platform == "esp32":
        from hw import esp32 as hw
    else:
        from hw import posix as hw
    return hw


def _unload(name):
    sys.modules.pop(name, None)
    if "." in name:
        pkg_name, attr = name.rsplit(".", 1)
        pkg = sys.modules.get(pkg_name)
        if pkg is not None and attr in dir(pkg):
            delattr(pkg, attr)


def load_config(path):
    """(validated config, register map of its model); raises config.ConfigError."""
    import config

    try:
        cfg = config.load(path)
        from meter.regmap import MODELS

        return cfg, MODELS[cfg.meter.model]
    finally:
        _unload("config")
        _unload("meter.regmap")
        gc.collect()


# Long-lived modules, imported one at a time with a collection in between:
# loading a module leaves garbage that would otherwise split the heap into
# holes too small for the next module's qstr pool (measured: ~11 KB more peak
# heap when everything is imported in one go).
_APP_MODULES = (
    "signing.sha512",
    "signing.ed25519",
    "meter.modbus_rtu",
    "meter.reading",
    "signing.envelope",
    "transport.ring",
    "transport.mqtt",
    "transport.uplink",
    "app",
)


def load_key(root, hw):
    """The device Signer (created on first boot); the key store is unloaded."""
    from signing.keystore import load_or_create, public_key_hex

    try:
        signer, created = load_or_create(root + "key.ed25519", hw.rng)
        if created:
            print("key: generated new device key")
        print("key: public", public_key_hex(signer))
        return signer
    finally:
        _unload("signing.keystore")
        gc.collect()


def boot():
    """Load and validate config, load the key, wire everything; returns the App.

    main.py unloads this module before ``App.run()``: boot-only code should
    not hold heap for the life of the device.
    """
    hw = hw_adapters()
    root = hw.data_root()
    try:
        cfg, model = load_config(root + "config.json")
    except Exception as exc:
        print("config: invalid:", exc)
        raise
    signer = load_key(root, hw)
    for name in _APP_MODULES:
        __import__(name)
        gc.collect()
    import app

    return app.App(cfg, hw, model, signer, root)


def print_public_key():
    """Print the device public key, generating the key on first use
    (deploy.py runs this over the USB REPL)."""
    hw = hw_adapters()
    load_key(hw.data_root(), hw)
