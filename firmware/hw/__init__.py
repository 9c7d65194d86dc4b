"""Thin hardware adapters; everything outside hw/ is port-independent.

Each adapter module (esp32.py on the device, posix.py on the MicroPython
unix port) provides the same functions:

    uart(meter_cfg, model)  UART-like object for meter/modbus_rtu.py
    Clock()                 .now() -> (unix_s, valid), .sync(host) -> bool
    rng(n)                  n bytes from the hardware RNG
    Watchdog(timeout_ms)    .feed()
    Led(pin)                .set(state), state one of: booting, ok (online,
                            last read good), offline (readings queued on
                            flash), meter_error (last Modbus read failed)
    Network(wifi_cfg)       .ready() -> bool (starts/keeps the link)
    data_root()             directory prefix for config, key and ring files
"""
