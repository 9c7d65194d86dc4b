"""Shared pytest helpers: real servers started, health-checked and torn down.

Modules:
    tests.support.mosquitto  MosquittoBroker (a real mosquitto on a free port)
    tests.support.fixtures   pytest plugin exposing the helpers as fixtures;
                             listed in tests/conftest.py ``pytest_plugins``
"""
