"""Runs first on every ESP32 boot. Kept trivial so a broken app can still be
reached over the USB REPL (mpremote) to redeploy; the real work is main.py."""

import gc

gc.collect()
