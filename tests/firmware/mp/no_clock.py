# The app with a clock that never syncs (an ESP32 without NTP): every reading
# is marked clk=0, ts=0, and the failed sync is logged and retried later.
import gc
import sys

import start
from hw import posix


class UnsetClock:
    def now(self):
        return (0, False)

    def sync(self, host):
        return False


class Board:
    pass


hw = Board()
for name in ("uart", "rng", "Watchdog", "Led", "Network", "data_root"):
    setattr(hw, name, getattr(posix, name))
hw.Clock = UnsetClock
root = hw.data_root()
cfg, model = start.load_config(root + "config.json")
signer = start.load_key(root, hw)
for name in start._APP_MODULES:  # staged like start.boot()
    __import__(name)
    gc.collect()
del start
sys.modules.pop("start")
import app

a = app.App(cfg, hw, model, signer, root)
print("pending after run", a.run(2))
