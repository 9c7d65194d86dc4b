"""Adapters for the ESP32 port: UART + RS-485 direction pin, WLAN, WDT,
NTP, hardware RNG, status LED."""

import os
import time

import machine
import network
import ntptime

# The ESP32 port has counted from 2000-01-01 on older releases; readings
# always carry unix seconds.
_EPOCH_OFFSET = 946684800 if time.gmtime(0)[0] == 2000 else 0


class Rs485Uart:
    """machine.UART with a driver-enable (DE/RE) pin held high while sending."""

    def __init__(self, uart_id, baud, tx, rx, de, bits=8, parity=None, stop=1):
        self._de = machine.Pin(de, machine.Pin.OUT, value=0)
        self._uart = machine.UART(uart_id, baudrate=baud, bits=bits, parity=parity,
                                  stop=stop, tx=tx, rx=rx, timeout=0, timeout_char=2)
        self._char_us = 11_000_000 // baud

    def write(self, data):
        self._de.value(1)
        n = self._uart.write(data)
        # flush() returns when the TX FIFO is empty; the last character is
        # still in the shift register, so hold DE one character longer.
        self._uart.flush()
        time.sleep_us(self._char_us)
        self._de.value(0)
        return n

    def read(self, n):
        return self._uart.read(n)


def uart(meter_cfg, model):
    parity = {"N": None, "E": 0, "O": 1}[model["parity"]]
    return Rs485Uart(meter_cfg.uart_id, model["baud"], meter_cfg.tx_pin, meter_cfg.rx_pin,
                     meter_cfg.de_pin, model["bytesize"], parity, model["stopbits"])


class Clock:
    """RTC time; valid only after an NTP sync succeeded since boot."""

    def __init__(self):
        self._synced = False

    def now(self):
        if not self._synced:
            return (0, False)
        return (int(time.time()) + _EPOCH_OFFSET, True)

    def sync(self, host):
        ntptime.host = host
        try:
            ntptime.settime()
        except OSError:
            return self._synced
        self._synced = True
        return True


def rng(n):
    # os.urandom on the ESP32 reads the hardware RNG (true random with RF on).
    return os.urandom(n)


class Watchdog:
    def __init__(self, timeout_ms):
        self._wdt = machine.WDT(timeout=timeout_ms)

    def feed(self):
        self._wdt.feed()


class Led:
    """Solid on: ok; slow blink (toggles per loop): offline; off: meter error."""

    def __init__(self, pin):
        self._pin = machine.Pin(pin, machine.Pin.OUT, value=0) if pin >= 0 else None
        self._on = False

    def set(self, state):
        if self._pin is None:
            return
        if state == "ok":
            self._on = True
        elif state == "offline" or state == "booting":
            self._on = not self._on
        else:
            self._on = False
        self._pin.value(1 if self._on else 0)


class Network:
    """Station-mode Wi-Fi; ready() (re)starts the connection when down."""

    def __init__(self, wifi_cfg):
        self._cfg = wifi_cfg
        self._wlan = network.WLAN(network.STA_IF)
        self._wlan.active(True)
        self._last_try = None

    def ready(self):
        if self._wlan.isconnected():
            return True
        now = time.ticks_ms()
        if self._last_try is None or time.ticks_diff(now, self._last_try) > 10000:
            self._last_try = now
            self._wlan.connect(self._cfg.ssid, self._cfg.password)
        return False


def data_root():
    return "/"
