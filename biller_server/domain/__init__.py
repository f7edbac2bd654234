"""The domain: every rule about money and state, by area (``billing``, ``upload``, ``payments``, ``reports``).

It imports no layer above it (channels, http, clients, jobs, cli): tests/test_architecture.py checks.
"""
