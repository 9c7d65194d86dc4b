"""Shared pytest helpers: real servers started, health-checked and torn down.

Modules:
    tests.support.postgres   embedded PostgreSQL, a fresh database per test
    tests.support.micropython / firmware  the firmware on the MicroPython unix port
    tests.support.fixtures   pytest plugin exposing the helpers (and devservers.mosquitto) as fixtures;
                             listed in tests/conftest.py ``pytest_plugins``
"""
