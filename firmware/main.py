"""Device entry point (runs after boot.py)."""

import start

start.main()
