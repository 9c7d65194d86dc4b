"""Shared pytest helpers: real servers started, health-checked and torn down.

Modules:
    tests.support.mosquitto  re-exports tools.mosquitto.MosquittoBroker (a real mosquitto)
    tests.support.fixtures   pytest plugin exposing the helpers as fixtures;
                             listed in tests/conftest.py ``pytest_plugins``
"""
