"""Flower apps used by the integration tests (importable as ``apps.<module>:<attr>``)."""
