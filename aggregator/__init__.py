"""GridTokenX cloud aggregator: ingests signed meter readings, validates and stores them.

Public entry points: :func:`aggregator.app.create_app` (FastAPI factory) and
``python -m aggregator`` (``serve``, ``migrate``).
"""
