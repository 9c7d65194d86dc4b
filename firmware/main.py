"""Device entry point (runs after boot.py): boot, drop the boot code, run."""

import sys

import start

app = start.boot()
del start
sys.modules.pop("start")
app.run()
