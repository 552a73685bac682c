"""NATS authorization for participants: mutual TLS plus per-participant subject permissions.

The registry renders the NATS server's configuration from the participants that are active and
asks the server to reload it. Mechanism chosen over an auth callout: see docs/security.md.
"""
