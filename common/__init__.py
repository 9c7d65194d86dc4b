"""Code shared by the edge gateway, the aggregator and the test tools.

Only wire formats live here, so every CPython component parses and verifies
meter data the same way the firmware produces it (see docs/envelope.md).

Public modules:
    common.envelope  signed meter envelope v1: build/sign, parse, verify, topics
"""
